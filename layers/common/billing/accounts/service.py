"""Billing-profile use cases: read the account, apply a pure profile change, save it under
the account's version. Bad input raises its typed error before anything is written."""

from __future__ import annotations

from collections.abc import Callable, Collection

from billing.clock import Clock
from billing.domain import profile as rules
from billing.domain.profile import BillingProfile, PaymentMethod, SavedCard
from billing.domain.tax import EU_COUNTRIES, VatIdVerifier
from billing.errors import (
    ConcurrentModification,
    ForeignContact,
    InvalidProfileValue,
    InvalidVatId,
    NotAllowed,
    NotFound,
)
from billing.store.accounts import AccountsRepository
from billing.store.transactions import StaleWrite

MAX_ATTEMPTS = 5


class ProfileService:
    def __init__(
        self,
        accounts: AccountsRepository,
        clock: Clock,
        vat_verifier: VatIdVerifier | None = None,
    ) -> None:
        self._accounts = accounts
        self._clock = clock
        self._vat_verifier = vat_verifier

    def profile(self, user_id: int) -> BillingProfile:
        """The user's profile; an empty one for a user the bot has not met."""
        account = self._accounts.get(user_id)
        return account.profile if account is not None else BillingProfile()

    # --- what the Payer edits in /billing ---------------------------------------------

    def set_country(self, user_id: int, code: str) -> BillingProfile:
        return self._change(user_id, lambda p: rules.with_country(p, code))

    def set_name(self, user_id: int, text: str) -> BillingProfile:
        return self._change(user_id, lambda p: rules.with_name(p, text))

    def set_address(self, user_id: int, text: str) -> BillingProfile:
        return self._change(user_id, lambda p: rules.with_address(p, text))

    def set_vat_id(self, user_id: int, raw: str) -> BillingProfile:
        return self._change(user_id, lambda p: self._checked_vat_id(rules.with_vat_id(p, raw)))

    def clear_vat_id(self, user_id: int) -> BillingProfile:
        return self._change(user_id, rules.without_vat_id)

    def set_payment_method(self, user_id: int, method: PaymentMethod | str) -> BillingProfile:
        return self._change(user_id, lambda p: rules.with_payment_method(p, method))

    def remove_saved_card(self, user_id: int, provider: str = "stripe") -> BillingProfile:
        """Forgets the card here; detaching it at the provider is the payments code's job."""
        return self._change(user_id, lambda p: rules.without_saved_card(p, provider))

    def set_receipt_contact(self, user_id: int, text: str) -> BillingProfile:
        return self._change(user_id, lambda p: rules.with_receipt_contact(p, text))

    def share_phone(
        self, user_id: int, phone_number: str, *, contact_user_id: int | None
    ) -> BillingProfile:
        """A contact shared with the bot. Only the user's own contact (Telegram sets its
        user_id) is evidence of where the user lives."""
        if contact_user_id != user_id:
            raise ForeignContact(
                "please share your own contact with the button below, not someone else's"
            )
        return self._change(user_id, lambda p: rules.with_phone(p, phone_number))

    # --- payments and support ------------------------------------------------------------

    def save_card(self, user_id: int, card: SavedCard) -> BillingProfile:
        """Keep the card the Payer agreed to save (Stripe or YooKassa, off-session
        renewals); it replaces the card that provider kept before."""
        if card.is_expired(self._clock.now().date()):
            raise InvalidProfileValue(
                f"card ending {card.last4} expired {card.exp_month:02d}/{card.exp_year}",
                reason="card_expired",
                last4=card.last4,
            )
        return self._change(user_id, lambda p: rules.with_saved_card(p, card))

    def verify_country_by_support(
        self, user_id: int, admin_id: int, admin_ids: Collection[int]
    ) -> BillingProfile:
        if admin_id not in admin_ids:
            raise NotAllowed("only support can verify a payer's country")
        return self._change(user_id, rules.with_support_verification)

    def flag(self, user_id: int, reason: str) -> BillingProfile:
        """Ask support to look at this Payer (e.g. the card's country contradicts)."""
        return self._change(user_id, lambda p: rules.with_flag(p, reason))

    # --- plumbing ------------------------------------------------------------------------

    def _change(
        self, user_id: int, step: Callable[[BillingProfile], BillingProfile]
    ) -> BillingProfile:
        for _ in range(MAX_ATTEMPTS):
            account = self._accounts.get(user_id)
            if account is None:
                raise NotFound(f"account {user_id} does not exist; send /start first")
            updated = step(account.profile)
            if updated == account.profile:
                return updated
            try:
                saved = self._accounts.save_profile(
                    user_id, updated, expected_version=account.version
                )
            except StaleWrite:
                continue  # someone saved in between: re-read and apply the change to theirs
            return saved.profile
        raise ConcurrentModification(f"the billing profile of {user_id} kept changing; try again")

    def _checked_vat_id(self, profile: BillingProfile) -> BillingProfile:
        """Refuse an EU VAT id the registry (VIES) says is not registered; when it cannot
        answer, the offline check (format, check digits) stands."""
        vat_id = profile.vat_id
        if self._vat_verifier is None or vat_id is None or profile.country not in EU_COUNTRIES:
            return profile
        if self._vat_verifier.is_registered(vat_id) is False:
            raise InvalidVatId(
                f"VAT id {vat_id} is not registered in VIES", reason="not_registered"
            )
        return profile
