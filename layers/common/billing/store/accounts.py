"""Accounts: one item per Telegram user (sk = "profile"), holding the billing profile.

The profile is one JSON attribute, replaced as a whole under an optimistic lock on the
item's `version`. The language is the account's own attribute (it changes outside `/billing`
and needs no lock); a profile read from here carries it, and `save_profile` never writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from billing.domain.profile import (
    LANGUAGES,
    BillingProfile,
    PaymentMethod,
    SavedCard,
    normalize_language,
)
from billing.errors import InvalidProfileValue, NotFound
from billing.store import reads
from billing.store.codec import iso, parse_iso
from billing.store.models import AccountModel
from billing.store.transactions import StaleWrite

PROFILE = "profile"
_CONDITION_FAILED = "ConditionalCheckFailedException"


def _pk(user_id: int) -> str:
    return f"user#{user_id}"


@dataclass(frozen=True)
class Account:
    user_id: int
    created_at: datetime
    language: str | None
    first_name: str | None
    username: str | None
    start_parameter: str | None
    version: int = 1
    profile: BillingProfile = field(default_factory=BillingProfile)

    def __post_init__(self) -> None:
        # The account's language is the only copy; the profile mirrors it.
        language = normalize_language(self.language)
        if self.profile.language != language:
            object.__setattr__(self, "profile", replace(self.profile, language=language))


def _account(model: AccountModel) -> Account:
    return Account(
        user_id=int(model.user_id),
        created_at=parse_iso(model.created_at),
        language=model.language,
        first_name=model.first_name,
        username=model.username,
        start_parameter=model.start_parameter,
        version=int(model.version),
        profile=profile_from_json(model.profile, model.language),
    )


# --- the profile as JSON -------------------------------------------------------------------


def profile_to_json(profile: BillingProfile) -> dict[str, Any]:
    return {
        "country": profile.country,
        "name": profile.name,
        "address": profile.address,
        "vat_id": profile.vat_id,
        "payment_method": profile.payment_method.value if profile.payment_method else None,
        "saved_card": _card_json(profile.saved_card),
        "partner_card": _card_json(profile.partner_card),
        "receipt_contact": profile.receipt_contact,
        "phone_country": profile.phone_country,
        "verified_by_support": profile.verified_by_support,
        "flagged_for_support": profile.flagged_for_support,
    }


def profile_from_json(data: object, language: str | None) -> BillingProfile:
    """Tolerant of missing keys (items written before a field existed read as its default)."""
    stored: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    return BillingProfile(
        country=_text(stored, "country"),
        name=_text(stored, "name"),
        address=_text(stored, "address"),
        vat_id=_text(stored, "vat_id"),
        payment_method=_method(stored.get("payment_method")),
        saved_card=_card(stored.get("saved_card")),
        partner_card=_card(stored.get("partner_card")),
        receipt_contact=_text(stored, "receipt_contact"),
        phone_country=_text(stored, "phone_country"),
        verified_by_support=stored.get("verified_by_support") is True,
        flagged_for_support=_text(stored, "flagged_for_support"),
        language=normalize_language(language),
    )


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _method(value: object) -> PaymentMethod | None:
    # A method withdrawn from the product reads as "none chosen": the Payer picks again.
    if not isinstance(value, str):
        return None
    try:
        return PaymentMethod.parse(value)
    except InvalidProfileValue:
        return None


def _card_json(card: SavedCard | None) -> dict[str, Any] | None:
    if card is None:
        return None
    return {
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "provider_ref": card.provider_ref,
        "customer_ref": card.customer_ref,
        "provider": card.provider,
    }


def _card(value: object) -> SavedCard | None:
    # An unreadable card cannot be charged anyway; the Payer is asked to save one again.
    if not isinstance(value, Mapping):
        return None
    try:
        return SavedCard(
            brand=str(value["brand"]),
            last4=str(value["last4"]),
            exp_month=int(value["exp_month"]),
            exp_year=int(value["exp_year"]),
            provider_ref=str(value["provider_ref"]),
            customer_ref=_text(value, "customer_ref"),
            provider=_text(value, "provider") or "stripe",  # cards saved before: Stripe's
        )
    except (KeyError, TypeError, ValueError, InvalidProfileValue):
        return None


# --- repository ----------------------------------------------------------------------------


class AccountsRepository:
    def get(self, user_id: int, *, fresh: bool = False) -> Account | None:
        """Once per operation (store/reads.py), unless `fresh`."""
        model = reads.get(AccountModel, _pk(user_id), PROFILE, fresh=fresh)
        return _account(model) if model is not None else None

    def ensure(
        self,
        user_id: int,
        *,
        now: datetime,
        language: str | None,
        first_name: str | None,
        username: str | None,
        start_parameter: str | None,
    ) -> tuple[Account, bool]:
        """The user's account, created on first contact (every account starts on Free)
        with an empty billing profile.

        Returns (account, created). A deep-link parameter is kept from the first /start.
        An account this operation has already read is returned as read, nothing written.
        """
        seen, existing = reads.known(AccountModel, _pk(user_id), PROFILE)
        if seen and existing is not None:
            return _account(existing), False
        model = AccountModel(
            _pk(user_id),
            PROFILE,
            user_id=user_id,
            created_at=iso(now),
            language=language,
            first_name=first_name,
            username=username,
            start_parameter=start_parameter,
            profile=profile_to_json(BillingProfile()),
        )
        try:
            with reads.writing():
                model.save(condition=AccountModel.pk.does_not_exist())
        except PutError as error:
            if error.cause_response_code != _CONDITION_FAILED:
                raise
            account = self.get(user_id, fresh=True)
            if account is None:  # pragma: no cover - deleted between the two calls
                raise
            return account, False
        reads.wrote(model)
        return _account(model), True

    def save_profile(
        self, user_id: int, profile: BillingProfile, *, expected_version: int
    ) -> Account:
        """Replace the billing profile if the account is still at `expected_version`.

        Raises StaleWrite when someone saved in between (or the account is gone); the
        caller reads again and re-applies its change. The language is not written here.
        """
        model = AccountModel(_pk(user_id), PROFILE)
        try:
            with reads.writing():
                written = model.update(
                    actions=[
                        AccountModel.profile.set(profile_to_json(profile)),
                        AccountModel.version.set(expected_version + 1),
                    ],
                    condition=AccountModel.version == expected_version,
                )
        except UpdateError as error:
            if error.cause_response_code != _CONDITION_FAILED:
                raise
            raise StaleWrite(
                f"account {user_id} changed since version {expected_version} was read"
            ) from error
        reads.wrote(model, written["Attributes"])  # the whole item after the update
        return _account(model)

    def set_language(self, user_id: int, language: str) -> Account:
        if language not in LANGUAGES:
            raise InvalidProfileValue(
                f"language must be one of {', '.join(LANGUAGES)}, got {language!r}"
            )
        model = AccountModel(_pk(user_id), PROFILE)
        try:
            with reads.writing():
                written = model.update(
                    actions=[AccountModel.language.set(language)],
                    condition=AccountModel.pk.exists(),
                )
        except UpdateError as error:
            if error.cause_response_code != _CONDITION_FAILED:
                raise
            raise NotFound(f"account {user_id} does not exist; send /start first") from error
        reads.wrote(model, written["Attributes"])
        return _account(model)
