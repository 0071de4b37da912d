"""VAT cases of SPEC §6 on one concrete quote, plus country and VAT id validation.

The quote: Softphone, 5 accounts with recording, 12 months, EUR:
subtotal 2500 x 12 = 30000, discount 10 % = 3000, net 27000.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.domain.catalog import default_catalog
from billing.domain.money import Currency
from billing.domain.pricing import Quote, build_quote
from billing.domain.tax import (
    EU_COUNTRIES,
    EU_VAT_RATES,
    NOT_SUBJECT,
    REVERSE_CHARGE,
    SELLER_COUNTRY,
    OfflineVatIdVerifier,
    TaxProfile,
    VatDecision,
    VatIdVerifier,
    normalize_country,
    normalize_vat_id,
    vat_for,
)
from billing.errors import InvalidCountry, InvalidVatId

DE_VAT_ID = "DE136695976"  # check digits valid
GR_VAT_ID = "EL094259216"
LT_VAT_ID = "LT100018548216"


def quote_for(country: str, vat_id: str | None = None) -> Quote:
    tax = TaxProfile.create(country, vat_id)
    options = {"sip_accounts": 5, "recording": "on"}
    quote = build_quote(default_catalog(), "softphone", options, 12, Currency.EUR, tax)
    assert (quote.subtotal, quote.discount, quote.net) == (30000, 3000, 27000)
    return quote


def summary(quote: Quote) -> tuple[Decimal, int, int, str | None]:
    return quote.vat_rate, quote.vat, quote.total, quote.note


# --- one test per SPEC §6 case ------------------------------------------------------------


def test_payer_in_lithuania_pays_21_percent() -> None:
    assert summary(quote_for("LT")) == (Decimal(21), 5670, 32670, None)


def test_payer_in_lithuania_with_a_vat_id_still_pays_21_percent() -> None:
    assert summary(quote_for("LT", LT_VAT_ID)) == (Decimal(21), 5670, 32670, None)


def test_other_eu_payer_with_valid_vat_id_is_reverse_charged() -> None:
    assert summary(quote_for("DE", DE_VAT_ID)) == (Decimal(0), 0, 27000, REVERSE_CHARGE)
    assert REVERSE_CHARGE == "reverse charge"


def test_other_eu_payer_without_vat_id_pays_the_country_rate() -> None:
    assert summary(quote_for("DE")) == (Decimal(19), 5130, 32130, None)


def test_finland_rate_has_a_decimal_place() -> None:
    # 27000 x 25.5 % = 6885
    assert summary(quote_for("FI")) == (Decimal("25.5"), 6885, 33885, None)


def test_payer_outside_the_eu_pays_no_vat() -> None:
    assert summary(quote_for("US")) == (Decimal(0), 0, 27000, NOT_SUBJECT)
    assert NOT_SUBJECT == "not subject to EU VAT"


def test_payer_outside_the_eu_with_a_tax_number_still_pays_no_vat() -> None:
    assert summary(quote_for("CH", "CHE-123.456.788 MWST")) == (Decimal(0), 0, 27000, NOT_SUBJECT)


def test_greek_payer_with_an_el_vat_id_is_reverse_charged() -> None:
    assert summary(quote_for("GR", GR_VAT_ID)) == (Decimal(0), 0, 27000, REVERSE_CHARGE)


def test_greek_payer_without_vat_id_pays_24_percent() -> None:
    assert summary(quote_for("GR")) == (Decimal(24), 6480, 33480, None)


def test_invalid_vat_id_is_refused() -> None:
    with pytest.raises(InvalidVatId) as error:
        quote_for("DE", "DE136695977")
    assert error.value.message == "VAT id DE136695977 is not valid: wrong check digits"


def test_vat_id_of_another_country_is_refused() -> None:
    with pytest.raises(InvalidVatId) as error:
        quote_for("DE", GR_VAT_ID)
    assert error.value.message == (
        "VAT id EL094259216 does not belong to country DE: it must start with DE"
    )


def test_invalid_country_is_refused() -> None:
    with pytest.raises(InvalidCountry) as error:
        quote_for("XY")
    assert error.value.message == (
        "country must be a 2-letter ISO 3166-1 code such as DE, LT or US, got 'XY'"
    )


# --- the data -----------------------------------------------------------------------------


def test_rates_are_the_spec_table() -> None:
    spec = "AT 20, BE 21, BG 20, HR 25, CY 19, CZ 21, DK 25, EE 24, FI 25.5, FR 20, DE 19, GR 24"
    spec += ", HU 27, IE 23, IT 22, LV 21, LT 21, LU 17, MT 18, NL 21, PL 23, PT 23, RO 21"
    spec += ", SK 23, SI 22, ES 21, SE 25"
    expected = {c: Decimal(r) for c, r in (item.split() for item in spec.split(", "))}
    assert dict(EU_VAT_RATES) == expected
    assert len(EU_COUNTRIES) == 27
    assert SELLER_COUNTRY == "LT"


# --- countries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"), [("de", "DE"), (" us ", "US"), ("Gr", "GR"), ("JP", "JP")]
)
def test_country_codes_are_normalized(raw: str, code: str) -> None:
    assert normalize_country(raw) == code


@pytest.mark.parametrize("raw", ["", "D", "DEU", "UK", "ZZ", "1A"])
def test_unknown_country_codes_are_refused(raw: str) -> None:
    with pytest.raises(InvalidCountry) as error:
        normalize_country(raw)
    assert error.value.message == (
        f"country must be a 2-letter ISO 3166-1 code such as DE, LT or US, got {raw!r}"
    )


def test_el_is_not_a_country_and_the_message_says_so() -> None:
    with pytest.raises(InvalidCountry) as error:
        normalize_country("EL")
    assert error.value.message == (
        "country must be a 2-letter ISO 3166-1 code such as DE, LT or US, got 'EL' (Greece is GR)"
    )


# --- VAT ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "country", "compact"),
    [
        ("de 136 695 976", "DE", DE_VAT_ID),
        ("136695976", "de", DE_VAT_ID),  # prefix added when missing
        ("EL 094 259 216", "GR", GR_VAT_ID),
        ("GR094259216", "GR", GR_VAT_ID),  # people type the country code; ids use EL
        ("094259216", "GR", GR_VAT_ID),
        ("ATU13585627", "AT", "ATU13585627"),
        ("  12-3456789 ", "US", "12-3456789"),  # outside the EU: kept, never validated
    ],
)
def test_vat_ids_are_compacted_with_their_prefix(raw: str, country: str, compact: str) -> None:
    assert normalize_vat_id(raw, country) == compact


@pytest.mark.parametrize(
    ("raw", "country", "message"),
    [
        ("DE12", "DE", "VAT id DE12 is not valid: wrong length for DE"),
        ("DE13669597X", "DE", "VAT id DE13669597X is not valid: wrong format for DE"),
        (
            "FR40303265045",
            "DE",
            "VAT id FR40303265045 does not belong to country DE: it must start with DE",
        ),
        (
            "GR094259216",
            "DE",
            "VAT id GR094259216 does not belong to country DE: it must start with DE",
        ),
        ("   ", "DE", "VAT id is empty"),
    ],
)
def test_bad_vat_ids_are_refused(raw: str, country: str, message: str) -> None:
    with pytest.raises(InvalidVatId) as error:
        normalize_vat_id(raw, country)
    assert error.value.message == message


def test_profile_is_normalized_on_creation() -> None:
    assert TaxProfile.create(" de", "de136695976") == TaxProfile("DE", DE_VAT_ID)
    assert TaxProfile.create("de", "  ").vat_id is None
    assert TaxProfile("gr", "094259216") == TaxProfile("GR", GR_VAT_ID)


def test_vat_decisions() -> None:
    assert vat_for(TaxProfile("LT")) == VatDecision(Decimal(21), None)
    assert vat_for(TaxProfile("HU")) == VatDecision(Decimal(27), None)
    assert vat_for(TaxProfile("HU", "HU12892312")) == VatDecision(Decimal(0), REVERSE_CHARGE)
    assert vat_for(TaxProfile("JP", "T1234")) == VatDecision(Decimal(0), NOT_SUBJECT)


def test_offline_verifier_cannot_tell() -> None:
    verifier: VatIdVerifier = OfflineVatIdVerifier()
    assert verifier.is_registered(DE_VAT_ID) is None


def test_the_known_countries_are_phonenumbers_regions() -> None:
    # Written out so a price check does not import phonenumbers; kept equal to the library's
    # list here, so an upgrade that adds a region fails this test rather than refusing it.
    import phonenumbers

    from billing.domain.tax import KNOWN_COUNTRIES

    assert frozenset(phonenumbers.SUPPORTED_REGIONS) == KNOWN_COUNTRIES
