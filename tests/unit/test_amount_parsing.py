"""A money amount as a person types it, into minor units: plain digits or a refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.money import Currency, decimal_text, parse_amount
from billing.errors import InvalidAmount

EUR = Currency.EUR


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("12", 1_200),
        ("12.5", 1_250),
        ("12,50", 1_250),
        (" 25.05 ", 2_505),
        ("0", 0),
        ("0.01", 1),
        ("007", 700),
        ("999999999999.99", 99_999_999_999_999),
    ],
)
def test_plain_amounts_are_read(text: str, minor: int) -> None:
    assert parse_amount(text, EUR) == minor


@pytest.mark.parametrize(
    "text",
    [
        "Infinity",
        "-inf",
        "inf",
        "NaN",
        "sNaN",
        "1e999999",
        "1E2",
        "12.",
        ".5",
        "1_000",
        "1 000",
        "12.50.1",
        "",
        " ",
        "-5",
        "+5",
        "١٢",  # Arabic-Indic digits: Decimal reads them, a person here does not mean them
        "1" * 13,
        "1" * 5000,
        "0x10",
        "12 EUR",
    ],
)
def test_anything_else_is_an_invalid_amount(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(text, EUR)


def test_more_decimals_than_the_currency_has_are_refused() -> None:
    with pytest.raises(InvalidAmount, match="more decimal places"):
        parse_amount("50.001", EUR)
    with pytest.raises(InvalidAmount, match="more decimal places"):
        parse_amount("50.500", EUR)


def test_a_sign_is_read_only_when_asked_for() -> None:
    assert parse_amount("-10,5", EUR, signed=True) == -1_050
    assert parse_amount("+7", EUR, signed=True) == 700
    with pytest.raises(InvalidAmount):
        parse_amount("--7", EUR, signed=True)


@given(st.integers(min_value=-(10**14) + 1, max_value=10**14 - 1), st.sampled_from(Currency))
def test_every_amount_written_out_reads_back(minor: int, currency: Currency) -> None:
    assert parse_amount(decimal_text(minor), currency, signed=True) == minor


@given(st.text(max_size=40), st.booleans())
def test_no_text_raises_anything_but_invalid_amount(text: str, signed: bool) -> None:
    try:
        minor = parse_amount(text, EUR, signed=signed)
    except InvalidAmount:
        return
    assert isinstance(minor, int) and (signed or minor >= 0)
