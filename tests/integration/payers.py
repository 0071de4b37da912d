"""Accounts with a billing profile, made the way the bot makes them (for payment tests)."""

from __future__ import annotations

from billing.domain.profile import SavedCard
from billing.runtime import runtime
from local.localstripe_peer import LocalStripe


def payer(
    user_id: int,
    country: str,
    *,
    phone: str | None = None,
    name: str | None = None,
    address: str | None = None,
    vat_id: str | None = None,
) -> None:
    """An account (as /start makes it) with a country and, if given, a shared phone (the
    country evidence SPEC §6 asks for), a name, an address and a VAT id."""
    rt = runtime()
    rt.accounts.ensure(
        user_id,
        now=rt.clock.now(),
        language="en",
        first_name=f"user{user_id}",
        username=None,
        start_parameter=None,
    )
    rt.profiles.set_country(user_id, country)
    if phone is not None:
        rt.profiles.share_phone(user_id, phone, contact_user_id=user_id)
    if name is not None:
        rt.profiles.set_name(user_id, name)
    if address is not None:
        rt.profiles.set_address(user_id, address)
    if vat_id is not None:
        rt.profiles.set_vat_id(user_id, vat_id)


def saved_card(localstripe: LocalStripe, user_id: int, number: str) -> tuple[str, str]:
    """A card the Payer saved at Stripe (a customer with the card attached), kept on the
    profile as Checkout with "save card" keeps it. Returns (customer id, payment method)."""
    customer = localstripe.create_customer(payer_id=str(user_id))
    method = localstripe.create_card_payment_method(number)
    localstripe.attach(method, customer)
    runtime().profiles.save_card(
        user_id,
        SavedCard("visa", number[-4:], 12, 2034, provider_ref=method, customer_ref=customer),
    )
    return customer, method
