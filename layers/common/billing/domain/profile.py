"""The Payer's billing profile (SPEC §6, §7, §10 `/billing`) and the rules for paying with it.

Every change is a pure function from a profile to a new one, refusing bad input with a typed
error before anything is stored. Whether a payment method may be used follows from the
profile alone: `require_can_pay` is the single gate every payment passes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from billing.domain.money import Currency
from billing.domain.tax import EU_COUNTRIES, TaxProfile, normalize_country, normalize_vat_id
from billing.errors import (
    CountryContradiction,
    CountryNotVerified,
    InvalidPhoneNumber,
    InvalidProfileValue,
    InvalidVatId,
    ProfileIncomplete,
    UnsupportedCurrency,
)

LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"
MAX_TEXT = 200
MAX_TAX_NUMBER = 50  # the longest EU VAT id is 14 characters; foreign tax numbers vary

# --- payment methods (SPEC §7) ------------------------------------------------------------


@dataclass(frozen=True)
class _MethodInfo:
    label: str
    currencies: tuple[Currency, ...]
    requires_verification: bool
    saves_card: bool


class PaymentMethod(StrEnum):
    TELEGRAM_CARD = "telegram_card"
    STRIPE_CARD = "stripe_card"
    PAYPAL = "paypal"
    CRYPTO = "crypto"
    PARTNER_CARD = "partner_card"  # a Russian acquirer through the partner (YooKassa)
    STARS = "stars"  # Telegram Stars
    BANK_TRANSFER = "bank_transfer"

    @classmethod
    def parse(cls, value: str) -> PaymentMethod:
        """From untrusted input (callback data, stored text)."""
        try:
            return cls(value.strip().lower() if isinstance(value, str) else value)
        except ValueError:
            allowed = ", ".join(method.value for method in cls)
            raise InvalidProfileValue(
                f"unknown payment method {value!r} (use one of {allowed})", reason="unknown_method"
            ) from None

    @property
    def label(self) -> str:
        """English name for messages and logs; the bot has its own translated titles."""
        return _METHODS[self].label

    @property
    def currencies(self) -> tuple[Currency, ...]:
        return _METHODS[self].currencies

    @property
    def requires_verification(self) -> bool:
        """Marked "requires tax-status verification" in SPEC §6 (cards and PayPal)."""
        return _METHODS[self].requires_verification

    @property
    def saves_card(self) -> bool:
        """Can keep a card for off-session auto-renewal charges (SPEC §5.4)."""
        return _METHODS[self].saves_card

    def supports(self, currency: Currency) -> bool:
        return currency in _METHODS[self].currencies


_EUR, _USD, _RUB = Currency.EUR, Currency.USD, Currency.RUB
_METHODS: dict[PaymentMethod, _MethodInfo] = {
    PaymentMethod.TELEGRAM_CARD: _MethodInfo("card in Telegram", (_EUR, _USD, _RUB), True, False),
    PaymentMethod.STRIPE_CARD: _MethodInfo("card via Stripe", (_EUR, _USD), True, True),
    PaymentMethod.PAYPAL: _MethodInfo("PayPal", (_EUR, _USD), True, False),
    PaymentMethod.CRYPTO: _MethodInfo("crypto", (_EUR, _USD, _RUB), False, False),
    PaymentMethod.PARTNER_CARD: _MethodInfo("card for Russia", (_RUB,), True, True),
    # Stars are bought from Apple, Google or Fragment, not with a card here: no verification.
    PaymentMethod.STARS: _MethodInfo("Telegram Stars", (_EUR, _USD, _RUB), False, False),
    PaymentMethod.BANK_TRANSFER: _MethodInfo("bank transfer", (_EUR, _USD, _RUB), False, False),
}


# --- the profile --------------------------------------------------------------------------


# Which provider keeps the cards a method saves (SPEC §7: one card per such method).
CARD_PROVIDERS = {PaymentMethod.STRIPE_CARD: "stripe", PaymentMethod.PARTNER_CARD: "yookassa"}


@dataclass(frozen=True)
class SavedCard:
    """A card kept at a provider for off-session renewals; we only hold its reference."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    provider_ref: str  # Stripe PaymentMethod id (pm_...), YooKassa payment_method.id
    customer_ref: str | None = None  # Stripe Customer id (cus_...) the method is attached to
    provider: str = "stripe"  # "stripe" or "yookassa" (CARD_PROVIDERS)

    def __post_init__(self) -> None:
        if not (len(self.last4) == 4 and self.last4.isascii() and self.last4.isdigit()):
            raise InvalidProfileValue(f"card last4 must be 4 digits, got {self.last4!r}")
        if not 1 <= self.exp_month <= 12:
            raise InvalidProfileValue(f"card expiry month must be 1-12, got {self.exp_month}")
        if not 2000 <= self.exp_year <= 2200:
            raise InvalidProfileValue(f"card expiry year looks wrong: {self.exp_year}")
        if not self.provider_ref.strip():
            raise InvalidProfileValue("a saved card needs its provider reference")
        if self.provider not in CARD_PROVIDERS.values():
            raise InvalidProfileValue(f"cards are not kept at {self.provider!r}")

    @property
    def method(self) -> PaymentMethod:
        """The method whose payments saved it, and whose renewals charge it."""
        return next(m for m, provider in CARD_PROVIDERS.items() if provider == self.provider)

    def is_expired(self, today: date) -> bool:
        """Cards are valid through the last day of their expiry month."""
        return (today.year, today.month) > (self.exp_year, self.exp_month)


@dataclass(frozen=True)
class BillingProfile:
    """What `/billing` shows and edits. Empty for a new account."""

    country: str | None = None
    name: str | None = None
    address: str | None = None
    vat_id: str | None = None
    payment_method: PaymentMethod | None = None
    saved_card: SavedCard | None = None  # at Stripe: pays EUR and USD renewals
    partner_card: SavedCard | None = None  # at YooKassa: pays RUB renewals
    # Where the 54-FZ fiscal receipt of a card-for-Russia payment is sent: an e-mail address
    # or a phone number (+E.164), asked once in /billing.
    receipt_contact: str | None = None
    phone_country: str | None = None  # from the user's own shared contact; the number is not kept
    verified_by_support: bool = False  # support confirmed `country` by hand (SPEC §6, §9)
    flagged_for_support: str | None = None  # why support should look (card country contradicts)
    language: str = DEFAULT_LANGUAGE


def with_country(profile: BillingProfile, code: str) -> BillingProfile:
    country = normalize_country(code)
    if country == profile.country:
        return profile
    # A VAT id is checked against one country, and support's verification confirmed the
    # old country: neither says anything about the new one.
    return replace(profile, country=country, vat_id=None, verified_by_support=False)


def with_name(profile: BillingProfile, text: str) -> BillingProfile:
    return replace(profile, name=_clean_text(text, "name"))


def with_address(profile: BillingProfile, text: str) -> BillingProfile:
    # People paste addresses over several lines; invoices print them on one.
    if isinstance(text, str):
        text = ", ".join(line.strip() for line in text.splitlines() if line.strip())
    return replace(profile, address=_clean_text(text, "address"))


def with_vat_id(profile: BillingProfile, raw: str) -> BillingProfile:
    if profile.country is None:
        raise ProfileIncomplete(
            "set your country before the VAT id", missing=("country",), reason="vat_before_country"
        )
    if isinstance(raw, str) and (len(raw.strip()) > MAX_TAX_NUMBER or _has_control(raw.strip())):
        raise InvalidVatId(
            f"VAT id must be at most {MAX_TAX_NUMBER} plain characters",
            reason="too_long",
            max=MAX_TAX_NUMBER,
        )
    return replace(profile, vat_id=normalize_vat_id(raw, profile.country))


def without_vat_id(profile: BillingProfile) -> BillingProfile:
    return replace(profile, vat_id=None)


def with_payment_method(profile: BillingProfile, method: PaymentMethod | str) -> BillingProfile:
    return replace(profile, payment_method=PaymentMethod.parse(method))


def with_saved_card(profile: BillingProfile, card: SavedCard) -> BillingProfile:
    if card.provider == "yookassa":
        return replace(profile, partner_card=card)
    return replace(profile, saved_card=card)


def without_saved_card(profile: BillingProfile, provider: str = "stripe") -> BillingProfile:
    if provider == "yookassa":
        return replace(profile, partner_card=None)
    return replace(profile, saved_card=None)


def saved_cards(profile: BillingProfile) -> tuple[SavedCard, ...]:
    return tuple(card for card in (profile.saved_card, profile.partner_card) if card is not None)


def card_for(profile: BillingProfile, currency: Currency) -> SavedCard | None:
    """The saved card that can pay a renewal in `currency` (SPEC §5.4): a card is charged
    only through the method that saved it, and only in a currency that method takes."""
    return next((c for c in saved_cards(profile) if c.method.supports(currency)), None)


MAX_EMAIL = 254  # RFC 5321's limit on a forward path


def with_receipt_contact(profile: BillingProfile, text: str) -> BillingProfile:
    """An e-mail address (kept as typed, domain lower-cased) or a phone number (kept as
    +E.164) for fiscal receipts; anything else is refused with what to type."""
    raw = text.strip() if isinstance(text, str) else ""
    if "@" in raw:
        local, _, domain = raw.rpartition("@")
        domain = domain.lower()
        if (
            len(raw) > MAX_EMAIL
            or not local
            or _has_control(raw)
            or any(char.isspace() for char in raw)
            or "@" in local
            or not re.fullmatch(r"[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)+", domain)
        ):
            raise InvalidProfileValue(f"{raw[:60]!r} is not an e-mail address", reason="contact")
        return replace(profile, receipt_contact=f"{local}@{domain}")
    return replace(profile, receipt_contact=e164(raw))


def e164(phone_number: str) -> str:
    """A valid phone number as +E.164 (Telegram shares them without the '+')."""
    text = phone_number.strip() if isinstance(phone_number, str) else ""
    import phonenumbers  # on the paths that read a phone number only

    try:
        number = phonenumbers.parse(text if text.startswith("+") else "+" + text, None)
    except phonenumbers.NumberParseException:
        raise InvalidProfileValue(
            f"{text[:60]!r} is not an e-mail or phone", reason="contact"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidProfileValue(f"{text[:60]!r} is not an e-mail or phone", reason="contact")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def with_phone(profile: BillingProfile, phone_number: str) -> BillingProfile:
    return replace(profile, phone_country=phone_country(phone_number))


def with_support_verification(profile: BillingProfile) -> BillingProfile:
    """Support confirmed the declared country by hand; that also settles any flag."""
    if profile.country is None:
        raise ProfileIncomplete(
            "the payer has not set a country yet, so there is nothing to verify",
            missing=("country",),
        )
    return replace(profile, verified_by_support=True, flagged_for_support=None)


def with_flag(profile: BillingProfile, reason: str) -> BillingProfile:
    return replace(profile, flagged_for_support=_clean_text(reason, "flag reason"))


def phone_country(phone_number: str) -> str:
    """ISO country of a phone number as Telegram shares it (often without the '+')."""
    text = phone_number.strip() if isinstance(phone_number, str) else ""
    if not text:
        raise InvalidPhoneNumber("the phone number is empty", reason="invalid")
    international = text if text.startswith("+") else "+" + text
    import phonenumbers  # on the one path that reads a phone number (58 modules)

    try:
        number = phonenumbers.parse(international, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(f"{text!r} is not a phone number", reason="invalid") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"{text!r} is not a valid phone number", reason="invalid")
    region = phonenumbers.region_code_for_number(number)
    # "001" marks non-geographic numbers (Telegram's anonymous +888 numbers, satellite
    # phones): valid, but evidence of no country.
    if region is None or region in (phonenumbers.UNKNOWN_REGION, "001"):
        raise InvalidPhoneNumber(
            f"the phone number {text} belongs to no country; support can verify your country"
            " by hand",
            reason="no_country",
        )
    return normalize_country(region)


# --- paying ----------------------------------------------------------------------------


def tax_profile(profile: BillingProfile) -> TaxProfile:
    if profile.country is None:
        raise ProfileIncomplete(
            "set your country in /billing before paying", missing=("country",), reason="no_country"
        )
    return TaxProfile(profile.country, profile.vat_id)


class Verification(StrEnum):
    NOT_NEEDED = "not_needed"
    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    CONTRADICTION = "contradiction"


def has_valid_vat_id(profile: BillingProfile) -> bool:
    """An EU VAT id, checked for the declared country when it was stored. Outside the EU a
    tax number is kept as typed and checked by nobody, so it proves nothing."""
    return profile.vat_id is not None and profile.country in EU_COUNTRIES


def verification_for(profile: BillingProfile, method: PaymentMethod) -> Verification:
    """SPEC §6: two non-contradictory pieces of evidence (declared country, phone country)."""
    if not method.requires_verification or has_valid_vat_id(profile):
        return Verification.NOT_NEEDED
    if profile.country is not None and profile.verified_by_support:
        return Verification.VERIFIED
    if profile.phone_country is None or profile.country is None:
        return Verification.UNVERIFIED
    if profile.phone_country == profile.country:
        return Verification.VERIFIED
    return Verification.CONTRADICTION


def require_can_pay(profile: BillingProfile, method: PaymentMethod, currency: Currency) -> None:
    """Refuses, with the reason, a payment this profile may not make with this method."""
    tax = tax_profile(profile)
    if not method.supports(currency):
        accepted = ", ".join(method.currencies)
        raise UnsupportedCurrency(f"{method.label} does not accept {currency}; it takes {accepted}")
    if method is PaymentMethod.BANK_TRANSFER:
        # The payment order is made out to the company (SPEC §7).
        missing = [
            field
            for field, value in (("name", profile.name), ("address", profile.address))
            if value is None
        ]
        if tax.in_eu and profile.vat_id is None:
            missing.append("vat_id")
        if missing:
            wanted = ", ".join(_FIELD_TITLES[field] for field in missing)
            raise ProfileIncomplete(
                f"a bank transfer needs your company's {wanted} in /billing first",
                missing=tuple(missing),
                reason="bank_transfer",
            )
    if method is PaymentMethod.PARTNER_CARD and profile.receipt_contact is None:
        # 54-FZ: the acquirer sends a fiscal receipt with every payment and refund.
        raise ProfileIncomplete(
            "a card payment for Russia needs an e-mail or phone for its receipt in /billing",
            missing=("receipt_contact",),
            reason="receipt",
        )
    match verification_for(profile, method):
        case Verification.UNVERIFIED:
            raise CountryNotVerified(
                f"to pay by {method.label}, share your phone number with the bot to confirm"
                " your country (or add your EU VAT id, or choose another payment method)",
                method=method.value,
            )
        case Verification.CONTRADICTION:
            assert profile.phone_country is not None and profile.country is not None
            raise CountryContradiction(
                f"your phone number is from {profile.phone_country} but your billing country"
                f" is {profile.country}; support can verify it by hand",
                phone_country=profile.phone_country,
                country=profile.country,
            )
        case Verification.NOT_NEEDED | Verification.VERIFIED:
            return


# --- helpers --------------------------------------------------------------------------------

_FIELD_TITLES = {
    "country": "country",
    "name": "name",
    "address": "address",
    "vat_id": "VAT id",
    "receipt_contact": "e-mail or phone for receipts",
}

# Control characters and line/paragraph separators would break invoices and messages.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _has_control(text: str) -> bool:
    return any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in text)


def _clean_text(text: str, what: str) -> str:
    if not isinstance(text, str):
        raise InvalidProfileValue(f"{what} must be text", reason="empty")
    cleaned = text.strip()
    if not cleaned:
        raise InvalidProfileValue(f"{what} is empty", reason="empty")
    if len(cleaned) > MAX_TEXT:
        raise InvalidProfileValue(
            f"{what} is too long: at most {MAX_TEXT} characters", reason="too_long", max=MAX_TEXT
        )
    if _has_control(cleaned):
        raise InvalidProfileValue(f"{what} contains control characters", reason="control")
    return cleaned


def normalize_language(language: str | None) -> str:
    """The bot speaks English and Russian; anything else reads as English."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE
