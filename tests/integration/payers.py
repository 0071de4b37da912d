"""Accounts with a billing profile, made the way the bot makes them (for payment tests)."""

from __future__ import annotations

from billing.runtime import runtime


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
