"""Typed errors of the billing domain and use cases.

Each carries a stable `code` (for logs and metrics), a message a support person can read (in
English, for logs and the admin screens), and for people in the chat a `reason` and `facts`:
the bot shows the catalog's sentence `error_<code>_<reason>` (or `error_<code>`) filled with
the facts in the reader's language (billing.bot.texts.error_text), so no internal key, id or
English sentence of the code reaches a user. Raising one never leaves a partial write
behind: use cases validate before they write, and every write is a single DynamoDB
transaction.
"""

from __future__ import annotations


class BillingError(Exception):
    code = "billing_error"

    def __init__(self, message: str, *, reason: str = "", **facts: object) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.facts = facts


class CatalogError(BillingError):
    """The catalog data file itself is invalid (raised at load)."""

    code = "catalog_invalid"


class UnknownProduct(BillingError):
    code = "unknown_product"


class UnknownOption(BillingError):
    code = "unknown_option"


class InvalidOptionValue(BillingError):
    code = "invalid_option_value"


class InvalidPeriod(BillingError):
    code = "invalid_period"


class UnsupportedCurrency(BillingError):
    code = "unsupported_currency"


class CurrencyMismatch(BillingError):
    code = "currency_mismatch"


class InvalidAmount(BillingError):
    code = "invalid_amount"


class InvalidCountry(BillingError):
    code = "invalid_country"


class InvalidVatId(BillingError):
    code = "invalid_vat_id"


class InsufficientFunds(BillingError):
    code = "insufficient_funds"

    def __init__(self, message: str, *, missing: int, currency: str, **facts: str) -> None:
        super().__init__(message, **facts)
        self.missing = missing
        self.currency = currency


class NotAllowed(BillingError):
    code = "not_allowed"


class NotFound(BillingError):
    code = "not_found"


class InvalidState(BillingError):
    """The object is not in a state that allows the action (expired, already active, ...)."""

    code = "invalid_state"


class ConcurrentModification(BillingError):
    """Another writer won the race too many times in a row; the caller may retry later."""

    code = "concurrent_modification"


# --- Billing profile (SPEC §6, §7) -------------------------------------------------------


class InvalidProfileValue(BillingError):
    """A name, address, payment method or card detail that cannot be stored as given."""

    code = "invalid_profile_value"


class InvalidPhoneNumber(BillingError):
    code = "invalid_phone_number"


class ForeignContact(BillingError):
    """A shared contact that is not the user's own: it proves nothing about their country."""

    code = "foreign_contact"


class ProfileIncomplete(BillingError):
    """The billing profile lacks what the action needs; `missing` names the fields
    ("country", "name", "address", "vat_id") so the bot can ask for exactly those."""

    code = "profile_incomplete"

    def __init__(self, message: str, *, missing: tuple[str, ...], reason: str = "") -> None:
        super().__init__(message, reason=reason, missing=missing)
        self.missing = missing


class CountryNotVerified(BillingError):
    """The payment method needs the Payer's country verified and it is not (yet)."""

    code = "country_unverified"


class CountryContradiction(CountryNotVerified):
    """The shared phone number's country differs from the declared one; support decides."""

    code = "country_contradiction"

    def __init__(self, message: str, *, phone_country: str, country: str) -> None:
        super().__init__(message, phone_country=phone_country, country=country)
        self.phone_country = phone_country
        self.country = country
