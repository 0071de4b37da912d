"""Prices and quotes (SPEC §2-§3), every amount in minor units and exact."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.catalog import Catalog, default_catalog
from billing.domain.money import Currency
from billing.domain.pricing import QuoteLine, build_quote, monthly_lines, monthly_price
from billing.domain.tax import TaxProfile
from billing.errors import InvalidPeriod, UnknownProduct, UnsupportedCurrency

CATALOG = default_catalog()
DE = TaxProfile("DE")
US = TaxProfile("US")


def with_rate(currency: Currency, rate: str) -> Catalog:
    return replace(CATALOG, rates={**CATALOG.rates, currency: Decimal(rate)})


# --- SPEC §2 worked examples (monthly, net, EUR cents) ------------------------------------


@pytest.mark.parametrize(
    ("product", "options", "cents"),
    [
        ("softphone", {"sip_accounts": 1}, 300),
        ("softphone", {"sip_accounts": 5, "recording": "on"}, 2500),
        ("softphone", {"sip_accounts": 12, "recording": "on"}, 21000),
        ("gateway", {"lines": 1}, 3000),
        ("gateway", {"lines": 3}, 6000),
        ("gateway", {"lines": 6, "extra_sessions": 1}, 40500),
    ],
)
def test_spec_worked_examples(product: str, options: dict[str, object], cents: int) -> None:
    assert monthly_price(CATALOG, product, options, Currency.EUR) == cents


def test_twelve_accounts_with_recording_is_accounts_plus_surcharge() -> None:
    assert monthly_lines(CATALOG, "softphone", {"sip_accounts": 12, "recording": True}, "EUR") == (
        QuoteLine("sip_accounts_recording", 12, 500, 6000),
        QuoteLine("large_team_surcharge", 1, 15000, 15000),
    )


def test_six_lines_and_a_session_itemized() -> None:
    assert monthly_lines(CATALOG, "gateway", {"lines": 6, "extra_sessions": 1}, "EUR") == (
        QuoteLine("main_account", 1, 1500, 1500),
        QuoteLine("lines", 6, 1500, 9000),
        QuoteLine("extra_sessions", 1, 15000, 15000),
        QuoteLine("large_team_surcharge", 1, 15000, 15000),
    )


@pytest.mark.parametrize(
    ("product", "options", "cents"),
    [
        # API access costs 150 up to the threshold ...
        ("softphone", {"sip_accounts": 10, "api_access": "on"}, 3000 + 15000),
        ("gateway", {"lines": 5, "api_access": "on"}, 1500 + 7500 + 15000),
        # ... and is included in the surcharge above it.
        ("softphone", {"sip_accounts": 11, "api_access": "on"}, 3300 + 15000),
        ("gateway", {"lines": 6, "api_access": "on"}, 1500 + 9000 + 15000),
    ],
)
def test_api_access_is_free_for_large_teams(
    product: str, options: dict[str, object], cents: int
) -> None:
    assert monthly_price(CATALOG, product, options, Currency.EUR) == cents


def test_lines_with_quantity_zero_are_left_out() -> None:
    lines = monthly_lines(CATALOG, "gateway", {"extra_sessions": 0}, Currency.EUR)
    assert [line.option for line in lines] == ["main_account", "lines"]


def test_free_cannot_be_quoted() -> None:
    with pytest.raises(UnknownProduct) as error:
        build_quote(CATALOG, "free", {}, 6, Currency.EUR, DE)
    assert error.value.message == "free needs no payment and cannot be quoted"


# --- periods ------------------------------------------------------------------------------


def test_six_months_has_no_discount() -> None:
    quote = build_quote(CATALOG, "gateway", {"lines": 3}, 6, Currency.EUR, US)
    assert (quote.subtotal, quote.discount, quote.discount_percent, quote.net) == (
        36000,
        0,
        Decimal(0),
        36000,
    )


def test_twelve_months_take_ten_percent_off() -> None:
    quote = build_quote(CATALOG, "gateway", {"lines": 3}, 12, Currency.EUR, US)
    assert (quote.subtotal, quote.discount, quote.discount_percent, quote.net) == (
        72000,
        7200,
        Decimal(10),
        64800,
    )


def test_thirty_six_months_take_thirty_percent_off() -> None:
    quote = build_quote(CATALOG, "gateway", {"lines": 3}, 36, Currency.EUR, US)
    assert (quote.subtotal, quote.discount, quote.discount_percent, quote.net) == (
        216000,
        64800,
        Decimal(30),
        151200,
    )
    assert quote.lines == (
        QuoteLine("main_account", 1, 1500, 54000),
        QuoteLine("lines", 3, 1500, 162000),
    )


def test_unknown_period_is_refused() -> None:
    with pytest.raises(InvalidPeriod) as error:
        build_quote(CATALOG, "gateway", {}, 3, Currency.EUR, US)
    assert error.value.message == "period must be 6, 12 or 36 months, got 3"


# --- currencies ---------------------------------------------------------------------------


def test_usd_unit_prices_use_the_configured_rate() -> None:
    # 3 EUR x 1.10 = 3.30 USD; 150 EUR x 1.10 = 165 USD
    assert monthly_lines(CATALOG, "softphone", {"sip_accounts": 11}, "USD") == (
        QuoteLine("sip_accounts", 11, 330, 3630),
        QuoteLine("large_team_surcharge", 1, 16500, 16500),
    )


def test_rub_unit_prices_use_the_configured_rate() -> None:
    assert monthly_price(CATALOG, "gateway", {"lines": 6, "extra_sessions": 1}, "RUB") == 4_050_000


def test_unit_price_is_rounded_half_up_before_multiplying() -> None:
    # Given a rate that makes 3 EUR = 331.5 cents and 5 EUR = 552.5 cents
    catalog = with_rate(Currency.USD, "1.105")
    # Then each unit price rounds up to 332 / 553, and the line is 5 x 553 = 2765
    # (rounding the line instead would give 2762.5 -> 2763)
    assert monthly_lines(catalog, "softphone", {"sip_accounts": 1}, "USD") == (
        QuoteLine("sip_accounts", 1, 332, 332),
    )
    assert monthly_lines(catalog, "softphone", {"sip_accounts": 5, "recording": "on"}, "USD") == (
        QuoteLine("sip_accounts_recording", 5, 553, 2765),
    )


def test_unit_price_below_the_half_rounds_down() -> None:
    catalog = with_rate(Currency.USD, "1.1049")  # 3 EUR = 331.47 cents
    assert monthly_price(catalog, "softphone", {"sip_accounts": 1}, Currency.USD) == 331


def test_currency_may_be_given_as_text_and_unknown_ones_are_refused() -> None:
    assert build_quote(CATALOG, "gateway", {}, 6, "usd", US).currency is Currency.USD
    with pytest.raises(UnsupportedCurrency) as error:
        build_quote(CATALOG, "gateway", {}, 6, "GBP", US)
    assert error.value.message == "currency 'GBP' is not supported (use EUR, USD, RUB)"


# --- the arithmetic order of SPEC §3 ------------------------------------------------------


def test_quote_arithmetic_in_spec_order() -> None:
    # Given 5 accounts with recording, 36 months, USD at 1.105, a German Payer without VAT id
    catalog = with_rate(Currency.USD, "1.105")
    quote = build_quote(catalog, "softphone", {"sip_accounts": 5, "recording": "on"}, 36, "USD", DE)
    # unit = round(552.5) = 553; line = 553 x 5 x 36 = 99540
    assert quote.lines == (QuoteLine("sip_accounts_recording", 5, 553, 99540),)
    assert quote.subtotal == 99540
    assert quote.discount == 29862  # 30 % of 99540 = 29862.0
    assert quote.net == 69678
    assert quote.vat_rate == Decimal(19)
    assert quote.vat == 13239  # 19 % of 69678 = 13238.82
    assert quote.total == 82917
    assert quote.note is None


def test_vat_is_rounded_half_up() -> None:
    # 1 account with recording, 6 months, USD: net 550 x 6 = 3300; FI 25.5 % = 841.5 -> 842
    quote = build_quote(
        CATALOG, "softphone", {"recording": "on"}, 6, Currency.USD, TaxProfile("FI")
    )
    assert (quote.net, quote.vat, quote.total) == (3300, 842, 4142)


def test_quote_keeps_normalized_options() -> None:
    quote = build_quote(CATALOG, "softphone", {"recording": "on"}, 6, "EUR", US)
    assert quote.product == "softphone"
    assert quote.months == 6
    assert quote.options == {
        "sip_accounts": 1,
        "recording": True,
        "recording_duration": 15,
        "api_access": False,
    }


def test_to_json_dict() -> None:
    quote = build_quote(CATALOG, "gateway", {"lines": 3}, 6, Currency.USD, TaxProfile("FI"))
    assert quote.to_json_dict() == {
        "product": "gateway",
        "options": {"lines": 3, "extra_sessions": 0, "api_access": False},
        "currency": "USD",
        "months": 6,
        "lines": [
            {"option": "main_account", "quantity": 1, "unit_price": 1650, "amount": 9900},
            {"option": "lines", "quantity": 3, "unit_price": 1650, "amount": 29700},
        ],
        "subtotal": 39600,
        "discount": 0,
        "net": 39600,
        "vat_rate": "25.5",
        "vat": 10098,
        "total": 49698,
        "note": None,
    }


@pytest.mark.parametrize(
    ("country", "shown"), [("DE", "19"), ("US", "0"), ("LT", "21"), ("FI", "25.5"), ("AT", "20")]
)
def test_vat_rate_is_shown_without_trailing_zeros(country: str, shown: str) -> None:
    quote = build_quote(CATALOG, "gateway", {}, 6, "EUR", TaxProfile(country))
    assert quote.to_json_dict()["vat_rate"] == shown


# --- properties ---------------------------------------------------------------------------

softphone_options = st.fixed_dictionaries(
    {"sip_accounts": st.integers(1, 1000), "recording": st.booleans(), "api_access": st.booleans()}
)
gateway_options = st.fixed_dictionaries(
    {
        "lines": st.integers(1, 100),
        "extra_sessions": st.integers(0, 20),
        "api_access": st.booleans(),
    }
)


@given(
    product_and_options=st.one_of(
        st.tuples(st.just("softphone"), softphone_options),
        st.tuples(st.just("gateway"), gateway_options),
    ),
    months=st.sampled_from([6, 12, 36]),
    currency=st.sampled_from(list(Currency)),
    country=st.sampled_from(["LT", "DE", "FI", "HU", "LU", "US", "JP"]),
)
def test_quote_totals_always_add_up(
    product_and_options: tuple[str, dict[str, object]],
    months: int,
    currency: Currency,
    country: str,
) -> None:
    product, options = product_and_options
    quote = build_quote(CATALOG, product, options, months, currency, TaxProfile(country))
    amounts = [quote.subtotal, quote.discount, quote.net, quote.vat, quote.total]
    amounts += [n for line in quote.lines for n in (line.quantity, line.unit_price, line.amount)]
    assert all(type(n) is int and n >= 0 for n in amounts)
    assert all(line.amount == line.unit_price * line.quantity * months for line in quote.lines)
    assert sum(line.amount for line in quote.lines) == quote.subtotal
    assert quote.net == quote.subtotal - quote.discount
    assert quote.total == quote.net + quote.vat
    assert quote.subtotal == monthly_price(CATALOG, product, options, currency) * months
