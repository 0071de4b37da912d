"""Billing profile rules (SPEC §6, §7): editing, country verification, who may pay how."""

from __future__ import annotations

from datetime import date

import pytest

from billing.domain.money import Currency
from billing.domain.profile import (
    BillingProfile,
    PaymentMethod,
    SavedCard,
    Verification,
    phone_country,
    require_can_pay,
    tax_profile,
    verification_for,
    with_address,
    with_country,
    with_flag,
    with_name,
    with_payment_method,
    with_phone,
    with_saved_card,
    with_support_verification,
    with_vat_id,
    without_saved_card,
    without_vat_id,
)
from billing.domain.tax import TaxProfile
from billing.errors import (
    CountryContradiction,
    CountryNotVerified,
    InvalidCountry,
    InvalidPhoneNumber,
    InvalidProfileValue,
    InvalidVatId,
    ProfileIncomplete,
    UnsupportedCurrency,
)

EUR, USD, RUB = Currency.EUR, Currency.USD, Currency.RUB
TG, STRIPE, PAYPAL, CRYPTO, BANK = (
    PaymentMethod.TELEGRAM_CARD,
    PaymentMethod.STRIPE_CARD,
    PaymentMethod.PAYPAL,
    PaymentMethod.CRYPTO,
    PaymentMethod.BANK_TRANSFER,
)
DE_VAT = "DE136695976"
EMPTY = BillingProfile()
CARD = SavedCard("visa", "4242", 12, 2030, "pm_123", "cus_1")


def profile(**fields: object) -> BillingProfile:
    return BillingProfile(**fields)  # type: ignore[arg-type]


# --- payment methods -------------------------------------------------------------------


def test_methods_follow_the_spec_table() -> None:
    assert TG.currencies == (EUR, USD, RUB)
    assert STRIPE.currencies == (EUR, USD)
    assert PAYPAL.currencies == (EUR, USD)
    assert CRYPTO.currencies == (EUR, USD, RUB)
    assert BANK.currencies == (EUR, USD, RUB)
    assert PaymentMethod.PARTNER_CARD.currencies == (RUB,)
    assert PaymentMethod.STARS.currencies == (EUR, USD, RUB)
    # SPEC §6: both card methods and PayPal; Stars are no card.
    assert {m for m in PaymentMethod if m.requires_verification} == {
        TG,
        STRIPE,
        PAYPAL,
        PaymentMethod.PARTNER_CARD,
    }
    assert {m for m in PaymentMethod if m.saves_card} == {STRIPE, PaymentMethod.PARTNER_CARD}
    assert not STRIPE.supports(RUB) and TG.supports(RUB)


def test_a_method_from_untrusted_text_is_parsed_or_refused() -> None:
    assert PaymentMethod.parse(" PayPal ") is PAYPAL
    assert with_payment_method(EMPTY, "crypto").payment_method is CRYPTO
    with pytest.raises(InvalidProfileValue, match="unknown payment method 'cash'"):
        with_payment_method(EMPTY, "cash")


# --- editing -------------------------------------------------------------------------


def test_country_is_normalized_and_refused_when_unknown() -> None:
    assert with_country(EMPTY, " de ").country == "DE"
    with pytest.raises(InvalidCountry):
        with_country(EMPTY, "XX")


def test_vat_id_needs_the_country_first() -> None:
    with pytest.raises(ProfileIncomplete, match="set your country before the VAT id") as error:
        with_vat_id(EMPTY, DE_VAT)
    assert error.value.missing == ("country",)


def test_vat_id_is_checked_for_the_country() -> None:
    german = with_country(EMPTY, "DE")
    assert with_vat_id(german, "136 695 976").vat_id == DE_VAT
    with pytest.raises(InvalidVatId, match="must start with DE"):
        with_vat_id(german, "LT100018548216")
    with pytest.raises(InvalidVatId, match="check digits"):
        with_vat_id(german, "DE136695977")
    assert without_vat_id(with_vat_id(german, DE_VAT)).vat_id is None


def test_changing_the_country_drops_the_vat_id_and_support_verification() -> None:
    german = with_support_verification(with_vat_id(with_country(EMPTY, "DE"), DE_VAT))
    assert german.verified_by_support
    same = with_country(german, "de")
    assert same == german  # setting the same country again changes nothing
    moved = with_country(german, "FR")
    assert moved.country == "FR" and moved.vat_id is None and not moved.verified_by_support


def test_name_and_address_are_stripped_bounded_and_plain() -> None:
    assert with_name(EMPTY, "  ООО «Ромашка» ").name == "ООО «Ромашка»"
    assert with_address(EMPTY, "Gedimino pr. 1\n  Vilnius \n\nLT-01103").address == (
        "Gedimino pr. 1, Vilnius, LT-01103"
    )
    assert with_name(EMPTY, "x" * 200).name == "x" * 200
    with pytest.raises(InvalidProfileValue, match="name is empty"):
        with_name(EMPTY, "   ")
    with pytest.raises(InvalidProfileValue, match="at most 200"):
        with_name(EMPTY, "x" * 201)
    with pytest.raises(InvalidProfileValue, match="control characters"):
        with_name(EMPTY, "Acme\x00Ltd")
    with pytest.raises(InvalidProfileValue, match="control characters"):
        with_name(EMPTY, "Acme\nLtd")
    with pytest.raises(InvalidProfileValue, match="address contains control"):
        with_address(EMPTY, "Main St\x1b[31m")


def test_saved_card_is_kept_and_removed() -> None:
    with_card = with_saved_card(EMPTY, CARD)
    assert with_card.saved_card == CARD
    assert without_saved_card(with_card).saved_card is None
    assert not CARD.is_expired(date(2030, 12, 31)) and CARD.is_expired(date(2031, 1, 1))
    with pytest.raises(InvalidProfileValue, match="last4"):
        SavedCard("visa", "42", 12, 2030, "pm_1")


def test_support_verification_needs_a_country_and_settles_the_flag() -> None:
    with pytest.raises(ProfileIncomplete, match="nothing to verify"):
        with_support_verification(EMPTY)
    flagged = with_flag(with_country(EMPTY, "DE"), "card issued in US")
    assert flagged.flagged_for_support == "card issued in US"
    verified = with_support_verification(flagged)
    assert verified.verified_by_support and verified.flagged_for_support is None


# --- phone numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("+49 30 123456", "DE"),
        ("37060000000", "LT"),  # Telegram shares numbers without the '+'
        ("+37060000000", "LT"),
        ("79991234567", "RU"),
        ("16135550123", "CA"),  # +1 is shared by several countries
        ("12025550123", "US"),
    ],
)
def test_phone_country(number: str, country: str) -> None:
    assert phone_country(number) == country
    assert with_phone(EMPTY, number).phone_country == country


@pytest.mark.parametrize("number", ["garbage", "", "   ", "+1 555", "4412", "+99912345"])
def test_a_number_that_is_no_phone_number_is_refused(number: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        with_phone(EMPTY, number)


def test_a_number_of_no_country_is_refused_with_the_way_out() -> None:
    # +882 16 is an international network range (region "001"), like Telegram's +888.
    with pytest.raises(InvalidPhoneNumber, match="no country; support can verify"):
        phone_country("+882 16 0000 0000")


# --- tax profile and verification --------------------------------------------------------


def test_tax_profile_needs_the_country() -> None:
    with pytest.raises(ProfileIncomplete, match=r"set your country in /billing before paying"):
        tax_profile(EMPTY)
    assert tax_profile(profile(country="DE", vat_id=DE_VAT)) == TaxProfile("DE", DE_VAT)


@pytest.mark.parametrize(
    ("fields", "method", "expected"),
    [
        # methods that need no verification
        ({}, CRYPTO, Verification.NOT_NEEDED),
        ({"country": "DE", "phone_country": "US"}, BANK, Verification.NOT_NEEDED),
        # an EU VAT id is the evidence (B2B)
        ({"country": "DE", "vat_id": DE_VAT}, STRIPE, Verification.NOT_NEEDED),
        ({"country": "DE", "vat_id": DE_VAT, "phone_country": "US"}, TG, Verification.NOT_NEEDED),
        # a tax number outside the EU is checked by nobody, so it is no evidence
        ({"country": "US", "vat_id": "12-3456789"}, PAYPAL, Verification.UNVERIFIED),
        # declared and phone country agree
        ({"country": "DE", "phone_country": "DE"}, STRIPE, Verification.VERIFIED),
        # support looked, even over a contradiction
        ({"country": "DE", "verified_by_support": True}, TG, Verification.VERIFIED),
        (
            {"country": "DE", "phone_country": "RU", "verified_by_support": True},
            PAYPAL,
            Verification.VERIFIED,
        ),
        # the phone says otherwise
        ({"country": "DE", "phone_country": "RU"}, TG, Verification.CONTRADICTION),
        # no second piece of evidence yet
        ({"country": "DE"}, STRIPE, Verification.UNVERIFIED),
        ({"phone_country": "DE"}, STRIPE, Verification.UNVERIFIED),
        ({}, PAYPAL, Verification.UNVERIFIED),
    ],
)
def test_verification(fields: dict[str, object], method: PaymentMethod, expected: str) -> None:
    assert verification_for(profile(**fields), method) is expected


# --- who may pay how ---------------------------------------------------------------------


def test_payment_needs_the_country() -> None:
    with pytest.raises(ProfileIncomplete, match="set your country in /billing before paying"):
        require_can_pay(EMPTY, CRYPTO, EUR)


def test_a_method_refuses_a_currency_it_does_not_take() -> None:
    verified = profile(country="DE", phone_country="DE")
    with pytest.raises(
        UnsupportedCurrency, match="card via Stripe does not accept RUB; it takes EUR, USD"
    ):
        require_can_pay(verified, STRIPE, RUB)
    with pytest.raises(UnsupportedCurrency, match="PayPal does not accept RUB"):
        require_can_pay(verified, PAYPAL, RUB)
    require_can_pay(verified, TG, RUB)


def test_an_unverified_country_is_refused_with_how_to_verify() -> None:
    with pytest.raises(CountryNotVerified, match="share your phone number") as error:
        require_can_pay(profile(country="DE"), STRIPE, EUR)
    assert not isinstance(error.value, CountryContradiction)
    assert "confirm your country" in error.value.message


def test_a_contradiction_is_refused_and_points_to_support() -> None:
    payer = profile(country="DE", phone_country="RU")
    with pytest.raises(CountryContradiction) as error:
        require_can_pay(payer, TG, EUR)
    assert error.value.message == (
        "your phone number is from RU but your billing country is DE; support can verify it by hand"
    )
    assert (error.value.phone_country, error.value.country) == ("RU", "DE")
    # crypto does not ask
    require_can_pay(payer, CRYPTO, EUR)


def test_bank_transfer_needs_the_company_details() -> None:
    with pytest.raises(ProfileIncomplete, match="name, address, VAT id") as error:
        require_can_pay(profile(country="DE"), BANK, EUR)
    assert error.value.missing == ("name", "address", "vat_id")
    with pytest.raises(ProfileIncomplete, match="needs your company's VAT id") as error:
        require_can_pay(profile(country="LT", name="UAB A", address="Vilnius"), BANK, EUR)
    assert error.value.missing == ("vat_id",)
    # outside the EU no VAT id is asked for
    with pytest.raises(ProfileIncomplete, match="needs your company's address"):
        require_can_pay(profile(country="US", name="Acme"), BANK, USD)
    require_can_pay(profile(country="US", name="Acme", address="NYC"), BANK, USD)
    require_can_pay(profile(country="DE", name="A", address="B", vat_id=DE_VAT), BANK, RUB)


def test_everything_in_order_can_pay() -> None:
    payer = profile(country="DE", phone_country="DE")
    for method in (TG, STRIPE, PAYPAL, CRYPTO):
        require_can_pay(payer, method, EUR)
