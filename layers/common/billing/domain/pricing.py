"""Quotes (SPEC §3): catalog price rules + options + period + currency + tax -> minor units.

The order of operations and where rounding happens are part of the contract (every screen,
invoice and ledger entry must agree to the cent), so they are spelled out once, here:
unit = round_half_up(EUR unit x 100 x rate); line = unit x quantity x months;
subtotal = sum; discount = round_half_up(subtotal x %); net = subtotal - discount;
vat = round_half_up(net x VAT %); total = net + vat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billing.domain.catalog import Catalog, OptionValue, Product
from billing.domain.money import Currency, round_half_up
from billing.domain.tax import TaxProfile, vat_for
from billing.errors import InvalidAmount, UnknownProduct

_PERCENT = Decimal(100)


@dataclass(frozen=True)
class QuoteLine:
    option: str  # the catalog price line's id
    quantity: int
    unit_price: int  # minor units, per month
    amount: int  # unit_price x quantity (x months in a quote)


@dataclass(frozen=True)
class Quote:
    product: str
    options: dict[str, OptionValue]
    months: int
    currency: Currency
    lines: tuple[QuoteLine, ...]
    subtotal: int
    discount: int
    discount_percent: Decimal
    net: int
    vat_rate: Decimal
    vat: int
    total: int
    note: str | None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "options": dict(self.options),
            "currency": self.currency.value,
            "months": self.months,
            "lines": [
                {
                    "option": line.option,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "amount": line.amount,
                }
                for line in self.lines
            ],
            "subtotal": self.subtotal,
            "discount": self.discount,
            "net": self.net,
            "vat_rate": _plain(self.vat_rate),
            "vat": self.vat,
            "total": self.total,
            "note": self.note,
        }


def _plain(value: Decimal) -> str:
    """19.0 -> "19", 25.50 -> "25.5" (never "2E+1")."""
    return format(value.normalize(), "f")


def _currency(currency: Currency | str) -> Currency:
    return currency if isinstance(currency, Currency) else Currency.parse(currency)


def _non_negative(amount: int, what: str) -> int:
    if amount < 0:
        raise InvalidAmount(f"{what} must not be negative, got {amount}")
    return amount


def _sellable(catalog: Catalog, product_key: str) -> Product:
    product = catalog.product(product_key)
    if not product.sellable:
        raise UnknownProduct(f"{product.key} needs no payment and cannot be quoted")
    return product


def monthly_lines(
    catalog: Catalog,
    product_key: str,
    options: Mapping[str, object],
    currency: Currency | str,
) -> tuple[QuoteLine, ...]:
    """One month of the product's price lines that apply, in the currency's minor units."""
    currency = _currency(currency)
    product = _sellable(catalog, product_key)
    values = catalog.normalize_options(product.key, options)
    scale = currency.minor_per_major * catalog.rate(currency)
    lines = []
    for rule in product.lines:
        quantity = rule.quantity_for(values) if rule.applies(values) else 0
        if quantity == 0:
            continue
        # Rounded once per unit price, before multiplying (SPEC §3).
        unit = _non_negative(round_half_up(rule.unit_price * scale), f"{rule.id} unit price")
        lines.append(QuoteLine(rule.id, quantity, unit, _non_negative(unit * quantity, rule.id)))
    return tuple(lines)


def monthly_price(
    catalog: Catalog,
    product_key: str,
    options: Mapping[str, object],
    currency: Currency | str,
) -> int:
    """Net price of one month before any period discount (compares expansions and reductions)."""
    return sum(line.amount for line in monthly_lines(catalog, product_key, options, currency))


# Positional on purpose: the argument order mirrors SPEC §3 and callers across the code use it.
def build_quote(  # noqa: PLR0917
    catalog: Catalog,
    product_key: str,
    options: Mapping[str, object],
    months: int,
    currency: Currency | str,
    tax: TaxProfile,
) -> Quote:
    currency = _currency(currency)
    _sellable(catalog, product_key)
    discount_percent = catalog.discount_percent(months)
    values = catalog.normalize_options(product_key, options)
    lines = tuple(
        QuoteLine(line.option, line.quantity, line.unit_price, line.amount * months)
        for line in monthly_lines(catalog, product_key, values, currency)
    )
    subtotal = sum(line.amount for line in lines)
    discount = round_half_up(subtotal * discount_percent / _PERCENT)
    net = _non_negative(subtotal - discount, "net")
    decision = vat_for(tax)
    vat = _non_negative(round_half_up(net * decision.rate / _PERCENT), "VAT")
    return Quote(
        product=product_key,
        options=values,
        months=months,
        currency=currency,
        lines=lines,
        subtotal=subtotal,
        discount=discount,
        discount_percent=discount_percent,
        net=net,
        vat_rate=decision.rate,
        vat=vat,
        total=net + vat,
        note=decision.note,
    )
