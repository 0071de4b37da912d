"""The product catalog (SPEC §2): products, options, price rules, periods and currency rates.

All of it is data (billing/data/catalog.toml). This module knows the file's shape, checks it
completely at load so that a bad edit stops start-up instead of mispricing a customer, and
turns option values typed by people ("12", "on") into canonical ones (12, True).
"""

from __future__ import annotations

import operator
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType, NoneType, UnionType
from typing import Annotated, Literal, Union, get_args, get_origin

import msgspec

from billing.domain.money import Currency
from billing.errors import (
    CatalogError,
    InvalidOptionValue,
    InvalidPeriod,
    UnknownOption,
    UnknownProduct,
)

# Canonical option values: ints for numeric and choice options, bool for on/off ones.
OptionValue = int | bool
OptionKind = Literal["int", "bool", "choice"]
LimitKind = Literal["count", "switch"]
# What a limit allows: a count, None for "no limit" (counts only), or on/off.
LimitValue = int | bool | None
Op = Literal["eq", "ne", "gt", "ge", "lt", "le"]

LANGUAGES = ("en", "ru")
_OPS: Mapping[str, Callable[[OptionValue, OptionValue], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_TRUE = frozenset({"on", "yes", "true", "1"})
_FALSE = frozenset({"off", "no", "false", "0"})
_INTEGER = re.compile(r"[+-]?\d+")


def show_value(value: OptionValue) -> str:
    """How people see a canonical value: on/off for booleans."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _shown_raw(raw: object) -> str:
    if isinstance(raw, str) and raw.strip():
        return raw.strip()
    return repr(raw)


def _as_int(raw: object) -> int | None:
    # bool is an int subclass, but True is never a count of SIP accounts.
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and _INTEGER.fullmatch(raw.strip()):
        return int(raw.strip())
    return None


def _as_bool(raw: object) -> bool | None:
    if isinstance(raw, bool):
        return raw
    text = raw.strip().lower() if isinstance(raw, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    return None


@dataclass(frozen=True)
class OptionSpec:
    key: str
    kind: OptionKind
    min: int | None
    max: int | None
    choices: tuple[int, ...]
    default: OptionValue
    requires: tuple[str, OptionValue] | None
    titles: Mapping[str, str]

    def allowed(self) -> str:
        if self.kind == "bool":
            return "on or off"
        if self.kind == "choice":
            return "one of " + ", ".join(str(c) for c in self.choices)
        return f"an integer from {self.min} to {self.max}"

    def accepts(self, value: OptionValue) -> bool:
        """Whether a canonical value is allowed (types included)."""
        if self.kind == "bool":
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.kind == "choice":
            return value in self.choices
        return self.min is not None and self.max is not None and self.min <= value <= self.max

    def parse(self, raw: object) -> OptionValue:
        """A raw value (typed, or text from the CLI or the bot) to its canonical form."""
        value = _as_bool(raw) if self.kind == "bool" else _as_int(raw)
        if value is None or not self.accepts(value):
            raise InvalidOptionValue(f"{self.key} must be {self.allowed()}, got {_shown_raw(raw)}")
        return value


@dataclass(frozen=True)
class Condition:
    option: str
    op: Op
    value: OptionValue

    def holds(self, options: Mapping[str, OptionValue]) -> bool:
        # An option left out (its own requirement does not hold) satisfies no condition.
        return self.option in options and _OPS[self.op](options[self.option], self.value)


@dataclass(frozen=True)
class PriceLine:
    id: str
    unit_price: Decimal  # EUR, net, per month
    quantity: str | None  # key of an int option; None means 1
    when: tuple[Condition, ...]
    titles: Mapping[str, str]

    def applies(self, options: Mapping[str, OptionValue]) -> bool:
        return all(condition.holds(options) for condition in self.when)

    def quantity_for(self, options: Mapping[str, OptionValue]) -> int:
        return 1 if self.quantity is None else int(options[self.quantity])


@dataclass(frozen=True)
class LimitRule:
    """How an active subscription's options set a limit: exactly one of `option` (its value,
    `otherwise` when the option is left out), `value`, `unlimited` or `any` (on when any
    condition holds)."""

    option: str | None = None
    otherwise: OptionValue | None = None
    value: OptionValue | None = None
    unlimited: bool = False
    any: tuple[Condition, ...] = ()

    def apply(self, options: Mapping[str, OptionValue]) -> LimitValue:
        if self.option is not None:
            return options.get(self.option, self.otherwise)
        if self.unlimited:
            return None
        if self.any:
            return any(condition.holds(options) for condition in self.any)
        return self.value


@dataclass(frozen=True)
class Limit:
    """One thing a product lets its Customer use (SPEC §11), on Free and when paid."""

    key: str
    kind: LimitKind
    free: OptionValue
    paid: LimitRule
    titles: Mapping[str, str]


@dataclass(frozen=True)
class Product:
    key: str
    titles: Mapping[str, str]
    descriptions: Mapping[str, str]
    options: tuple[OptionSpec, ...]
    lines: tuple[PriceLine, ...]
    sellable: bool
    limits: Mapping[str, Limit] = field(default_factory=dict)

    def option(self, key: str) -> OptionSpec:
        for spec in self.options:
            if spec.key == key:
                return spec
        if not self.options:
            raise UnknownOption(f"{self.key} has no options, got {key!r}")
        keys = ", ".join(spec.key for spec in self.options)
        raise UnknownOption(f"unknown option {key!r} for {self.key} (options: {keys})")


def _or_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


@dataclass(frozen=True)
class Catalog:
    products: Mapping[str, Product]
    periods: Mapping[int, Decimal]  # months -> discount percent
    rates: Mapping[Currency, Decimal]  # price in currency = EUR price x rate

    def sellable(self) -> tuple[Product, ...]:
        return tuple(p for p in self.products.values() if p.sellable)

    def product(self, key: str) -> Product:
        found = self.products.get(key)
        if found is None:
            names = _or_list([p.key for p in self.sellable()])
            raise UnknownProduct(f"unknown product {key!r} (choose {names})")
        return found

    def discount_percent(self, months: int) -> Decimal:
        if isinstance(months, bool) or months not in self.periods:
            allowed = _or_list([str(m) for m in self.periods])
            raise InvalidPeriod(f"period must be {allowed} months, got {months}")
        return self.periods[months]

    def rate(self, currency: Currency) -> Decimal:
        return self.rates[currency]

    def normalize_options(
        self, product_key: str, options: Mapping[str, object]
    ) -> dict[str, OptionValue]:
        """Raw options to canonical values, defaults filled in, keys in catalog order."""
        product = self.product(product_key)
        for key in options:
            product.option(key)
        values = {
            spec.key: spec.parse(options[spec.key]) if spec.key in options else spec.default
            for spec in product.options
        }
        result: dict[str, OptionValue] = {}
        for spec in product.options:
            if spec.requires is not None and values[spec.requires[0]] != spec.requires[1]:
                if spec.key in options:
                    target, needed = spec.requires
                    raise InvalidOptionValue(
                        f"{spec.key} applies only when {target} is {show_value(needed)}"
                    )
                continue
            result[spec.key] = values[spec.key]
        return result


# --- The file's shape (msgspec, strict: TOML types must already be right) --------------------

_Decimal = Annotated[str, msgspec.Meta(pattern=r"^\d+(\.\d+)?$")]
_Key = Annotated[str, msgspec.Meta(min_length=1)]
_Texts = dict[str, str]


class _Model(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class _ConditionFile(_Model, frozen=True, kw_only=True):
    option: str
    op: Op
    value: int | bool


class _RequiresFile(_Model, frozen=True, kw_only=True):
    option: str
    value: int | bool


class _OptionFile(_Model, frozen=True, kw_only=True):
    key: _Key
    kind: OptionKind
    default: int | bool
    titles: _Texts
    min: int | None = None
    max: int | None = None
    choices: list[int] | None = None
    requires: _RequiresFile | None = None


class _LimitRuleFile(_Model, frozen=True, kw_only=True):
    option: str | None = None
    otherwise: int | bool | None = None
    value: int | bool | None = None
    unlimited: bool = False
    any: list[_ConditionFile] | None = None


class _LimitFile(_Model, frozen=True, kw_only=True):
    kind: LimitKind
    free: int | bool
    paid: _LimitRuleFile
    titles: _Texts


class _LineFile(_Model, frozen=True, kw_only=True):
    id: _Key
    unit_price: _Decimal
    quantity: str | None = None
    when: list[_ConditionFile] = msgspec.field(default_factory=list)
    titles: _Texts


class _ProductFile(_Model, frozen=True, kw_only=True):
    sellable: bool
    titles: _Texts
    descriptions: _Texts
    options: list[_OptionFile] = msgspec.field(default_factory=list)
    lines: list[_LineFile] = msgspec.field(default_factory=list)
    limits: dict[str, _LimitFile] = msgspec.field(default_factory=dict)


class _PeriodFile(_Model, frozen=True, kw_only=True):
    months: Annotated[int, msgspec.Meta(gt=0)]
    discount_percent: _Decimal


class _CatalogFile(_Model, frozen=True, kw_only=True):
    currency_rates: dict[str, _Decimal]
    periods: Annotated[list[_PeriodFile], msgspec.Meta(min_length=1)]
    products: Annotated[dict[str, _ProductFile], msgspec.Meta(min_length=1)]


def _require_texts(texts: Mapping[str, str], where: str) -> None:
    missing = [lang for lang in LANGUAGES if not texts.get(lang, "").strip()]
    if missing:
        raise CatalogError(f"{where}: missing text for language {', '.join(missing)}")


def _unique(keys: list[str], where: str) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise CatalogError(f"{where}: duplicate {key!r}")
        seen.add(key)


def _build_option(raw: _OptionFile, where: str) -> OptionSpec:
    _require_texts(raw.titles, where)
    ranged = raw.min is not None or raw.max is not None
    if raw.kind == "int" and (raw.min is None or raw.max is None or raw.min > raw.max):
        raise CatalogError(f"{where}: an int option needs min <= max")
    if raw.kind != "int" and ranged:
        raise CatalogError(f"{where}: only int options have min and max")
    if (raw.kind == "choice") != bool(raw.choices):
        raise CatalogError(f"{where}: choices are required for, and only for, a choice option")
    spec = OptionSpec(
        key=raw.key,
        kind=raw.kind,
        min=raw.min,
        max=raw.max,
        choices=tuple(raw.choices or ()),
        default=raw.default,
        requires=(raw.requires.option, raw.requires.value) if raw.requires else None,
        titles=raw.titles,
    )
    if not spec.accepts(spec.default):
        raise CatalogError(f"{where}: default {spec.default!r} is not {spec.allowed()}")
    return spec


def _check_value(spec: OptionSpec, value: OptionValue, where: str) -> None:
    # Comparisons only make sense between values of the option's own type.
    if isinstance(value, bool) != (spec.kind == "bool"):
        raise CatalogError(f"{where}: {value!r} can never be a value of {spec.key}")


def _build_product(key: str, raw: _ProductFile) -> Product:
    where = f"products.{key}"
    _require_texts(raw.titles, f"{where}.titles")
    _require_texts(raw.descriptions, f"{where}.descriptions")
    _unique([o.key for o in raw.options], f"{where}.options")
    _unique([line.id for line in raw.lines], f"{where}.lines")
    options = tuple(_build_option(o, f"{where}.options.{o.key}") for o in raw.options)
    by_key = {spec.key: spec for spec in options}

    def known(option: str, at: str) -> OptionSpec:
        if option not in by_key:
            keys = ", ".join(by_key) or "none"
            raise CatalogError(f"{at}: unknown option {option!r} (options: {keys})")
        return by_key[option]

    for spec in options:
        if spec.requires is not None:
            at = f"{where}.options.{spec.key}.requires"
            target = known(spec.requires[0], at)
            if target is spec or target.requires is not None:
                raise CatalogError(f"{at}: must name another option that has no requirement")
            _check_value(target, spec.requires[1], at)
    lines = []
    for line in raw.lines:
        at = f"{where}.lines.{line.id}"
        _require_texts(line.titles, f"{at}.titles")
        if line.quantity is not None and known(line.quantity, at).kind != "int":
            raise CatalogError(f"{at}: quantity must name an int option, got {line.quantity!r}")
        for condition in line.when:
            spec = known(condition.option, f"{at}.when")
            _check_value(spec, condition.value, f"{at}.when")
            if spec.kind == "bool" and condition.op not in ("eq", "ne"):
                raise CatalogError(f"{at}.when: on/off option {spec.key} allows only eq or ne")
        conditions = tuple(Condition(c.option, c.op, c.value) for c in line.when)
        lines.append(
            PriceLine(line.id, Decimal(line.unit_price), line.quantity, conditions, line.titles)
        )
    if raw.sellable and not lines:
        raise CatalogError(f"{where}: a sellable product needs at least one price line")
    limits = {
        name: _build_limit(name, limit, known, f"{where}.limits.{name}")
        for name, limit in raw.limits.items()
    }
    return Product(
        key,
        raw.titles,
        raw.descriptions,
        options,
        tuple(lines),
        raw.sellable,
        MappingProxyType(limits),
    )


def _fits_kind(kind: LimitKind, value: object) -> bool:
    return isinstance(value, bool) == (kind == "switch") and isinstance(value, int)


def _build_limit(
    name: str, raw: _LimitFile, known: Callable[[str, str], OptionSpec], where: str
) -> Limit:
    _require_texts(raw.titles, f"{where}.titles")
    if not _fits_kind(raw.kind, raw.free):
        raise CatalogError(f"{where}.free: {raw.free!r} is not a {raw.kind}")
    rule = raw.paid
    given = [
        rule.option is not None,
        rule.value is not None,
        rule.unlimited,
        rule.any is not None,
    ]
    if sum(given) != 1:
        raise CatalogError(f"{where}.paid: give exactly one of option, value, unlimited, any")
    at = f"{where}.paid"
    if rule.otherwise is not None and rule.option is None:
        raise CatalogError(f"{at}: otherwise goes only with option")
    if rule.option is not None:
        spec = known(rule.option, at)
        if (spec.kind == "bool") != (raw.kind == "switch"):
            raise CatalogError(f"{at}: option {spec.key} cannot set a {raw.kind}")
        if spec.requires is not None and rule.otherwise is None:
            raise CatalogError(f"{at}: option {spec.key} may be left out; say `otherwise`")
        if rule.otherwise is not None and not _fits_kind(raw.kind, rule.otherwise):
            raise CatalogError(f"{at}.otherwise: {rule.otherwise!r} is not a {raw.kind}")
    if rule.value is not None and not _fits_kind(raw.kind, rule.value):
        raise CatalogError(f"{at}.value: {rule.value!r} is not a {raw.kind}")
    if rule.unlimited and raw.kind != "count":
        raise CatalogError(f"{at}: only a count can be unlimited")
    conditions: list[Condition] = []
    if rule.any is not None:
        if raw.kind != "switch" or not rule.any:
            raise CatalogError(f"{at}.any: a switch needs at least one condition")
        for condition in rule.any:
            _check_value(known(condition.option, f"{at}.any"), condition.value, f"{at}.any")
            conditions.append(Condition(condition.option, condition.op, condition.value))
    paid = LimitRule(
        option=rule.option,
        otherwise=rule.otherwise,
        value=rule.value,
        unlimited=rule.unlimited,
        any=tuple(conditions),
    )
    return Limit(name, raw.kind, raw.free, paid, raw.titles)


def _build(raw: _CatalogFile) -> Catalog:
    supported = ", ".join(c.value for c in Currency)
    for code in raw.currency_rates:
        if code not in {c.value for c in Currency}:
            raise CatalogError(f"currency_rates: unknown currency {code!r} (use {supported})")
    for currency in Currency:
        if currency.value not in raw.currency_rates:
            raise CatalogError(f"currency_rates: missing a rate for {currency.value}")
    rates = {Currency(code): Decimal(rate) for code, rate in raw.currency_rates.items()}
    # Catalog prices are EUR, so any other EUR rate would silently reprice everything.
    if rates[Currency.EUR] != 1 or any(rate <= 0 for rate in rates.values()):
        raise CatalogError("currency_rates: EUR must be 1 and every rate must be positive")
    _unique([str(p.months) for p in raw.periods], "periods")
    periods = {p.months: Decimal(p.discount_percent) for p in raw.periods}
    if any(percent >= 100 for percent in periods.values()):
        raise CatalogError("periods: a discount must be below 100 %")
    products = {key: _build_product(key, product) for key, product in raw.products.items()}
    if not any(p.sellable for p in products.values()):
        raise CatalogError("products: at least one product must be sellable")
    return Catalog(MappingProxyType(products), MappingProxyType(periods), MappingProxyType(rates))


# A step of a msgspec error path: `.field`, `[index]`, or `[...]` (a value of a dict).
_STEP = re.compile(r"\.(\w+)|\[(\d+)\]|\[\.\.\.\]")
_UNKNOWN = re.compile(r"Object contains unknown field `(.*)`")
_MISSING = re.compile(r"Object missing required field `(.*)`")


def _bare(kind: object) -> object:
    """The type itself: without Annotated constraints, and X for X | None."""
    while True:
        if get_origin(kind) is Annotated:
            kind = get_args(kind)[0]
        elif get_origin(kind) in (Union, UnionType):
            others = [arg for arg in get_args(kind) if arg is not NoneType]
            if len(others) != 1:
                return kind
            kind = others[0]
        else:
            return kind


def _fits(value: object, kind: object) -> bool:
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError:
        return False
    return True


def _locate(path: str, data: object) -> tuple[list[str], object, object]:
    """The names along a msgspec error path ("$.products[...].lines[0]"), the value found
    there and its declared type. msgspec writes a dict's key as [...]: it is the first key
    whose value does not fit (msgspec checks them in order)."""
    names: list[str] = []
    value: object = data
    kind: object = _CatalogFile
    for step in _STEP.finditer(path):
        name, index = step.groups()
        kind = _bare(kind)
        if name is not None:
            fields = msgspec.structs.fields(kind) if isinstance(kind, type) else ()
            kind = next((f.type for f in fields if f.encode_name == name), object)
            value = value.get(name) if isinstance(value, dict) else None
            names.append(name)
        elif index is not None:
            kind = (get_args(kind) or (object,))[0]
            at = int(index)
            value = value[at] if isinstance(value, list) and at < len(value) else None
            names.append(index)
        else:
            kind = (get_args(kind) or (object, object))[-1]
            items = value.items() if isinstance(value, dict) else ()
            key = next((k for k, v in items if not _fits(v, kind)), None)
            value = value.get(key) if isinstance(value, dict) else None
            names.append("[...]" if key is None else str(key))
    return names, value, _bare(kind)


def _describe(error: msgspec.ValidationError, data: object) -> str:
    """A readable line for msgspec's first (and only) error, with the names along its path:
    "Invalid enum value 'equals' - at `$.products[...].lines[0].op`" is told as
    "products.team.lines.0.op: must be 'eq', 'ne', ..., got 'equals'"."""
    text = str(error)
    message, found, path = text.rpartition(" - at `")
    if not found:
        message, path = text, "$`"
    names, value, kind = _locate(path.removesuffix("`"), data)
    if unknown := _UNKNOWN.fullmatch(message):
        names.append(unknown[1])
        message = "unknown field"
    elif missing := _MISSING.fullmatch(message):
        names.append(missing[1])
        message = "required field missing"
    elif get_origin(kind) is Literal:
        allowed = _or_list([repr(choice) for choice in get_args(kind)])
        message = f"must be {allowed}, got {value!r}"
    elif message.startswith("Expected") and ", got " not in message:
        # msgspec shows a pattern as a repr: '^\\d+' for the pattern ^\d+.
        if " matching regex " in message:
            message = message.replace("\\\\", "\\")
        # A constraint, such as "Expected `str` of length >= 1": say what was there.
        message = f"{message}, got {value!r}"
    return f"{'.'.join(names) or 'file'}: {message}"


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog file; the packaged billing/data/catalog.toml by default."""
    name = str(path) if path is not None else "billing/data/catalog.toml"
    try:
        if path is None:
            data = resources.files("billing").joinpath("data/catalog.toml").read_bytes()
        else:
            data = path.read_bytes()
        document = tomllib.loads(data.decode("utf-8"))
        try:
            raw = msgspec.convert(document, _CatalogFile)
        except msgspec.ValidationError as error:
            raise CatalogError(_describe(error, document)) from None
        return _build(raw)
    except CatalogError as error:
        raise CatalogError(f"catalog {name}: {error.message}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise CatalogError(f"catalog {name}: cannot read the file: {error}") from None


@cache
def default_catalog() -> Catalog:
    return load_catalog()
