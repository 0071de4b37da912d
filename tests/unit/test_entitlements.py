"""The entitlement function (SPEC §11, §2): every product and option combination of the
catalog, Free, a Payer who is not the Customer, both products held, and limits that come
from the catalog's data.

The expected values are written out here from the SPEC's table, apart from the catalog, so
a wrong rule in catalog.toml fails these tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.catalog import Catalog, LimitValue, OptionValue, default_catalog, load_catalog
from billing.domain.entitlements import (
    FREE_PLAN,
    Entitlements,
    entitlements_of,
    from_grants,
    grant_of,
)
from billing.domain.money import Currency
from billing.domain.subscription import Subscription, connect, expire, terminate
from billing.errors import CatalogError
from tests.unit.test_catalog import MINIMAL as CATALOG_MINIMAL

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CUSTOMER = 1001
PAYER = 2002

FREE_CALLS = {"call_minutes_per_month": 30, "minutes_per_call": 2, "failed_calls_per_hour": 10}
PAID_CALLS = {
    "call_minutes_per_month": None,
    "minutes_per_call": None,
    "failed_calls_per_hour": None,
}
FREE = {
    "softphone": {
        "sip_accounts": 1,
        "call_recording": False,
        "recording_minutes_per_call": 0,
        "api_access": False,
        **FREE_CALLS,
    },
    "gateway": {
        "gateway_lines": 1,
        "extra_sessions": 0,
        "call_recording": False,
        "api_access": False,
        **FREE_CALLS,
    },
}


def expected_softphone(options: Mapping[str, OptionValue]) -> dict[str, LimitValue]:
    recording = bool(options["recording"])
    return {
        "sip_accounts": options["sip_accounts"],
        "call_recording": recording,
        "recording_minutes_per_call": options["recording_duration"] if recording else 0,
        # SPEC §2: API access is free (included) when sip_accounts > 10.
        "api_access": bool(options["api_access"]) or int(options["sip_accounts"]) > 10,
        **PAID_CALLS,
    }


def expected_gateway(options: Mapping[str, OptionValue]) -> dict[str, LimitValue]:
    return {
        "gateway_lines": options["lines"],
        "extra_sessions": options["extra_sessions"],
        "call_recording": False,
        # SPEC §2: API access is free (included) when lines > 5.
        "api_access": bool(options["api_access"]) or int(options["lines"]) > 5,
        **PAID_CALLS,
    }


EXPECTED = {"softphone": expected_softphone, "gateway": expected_gateway}


@pytest.fixture
def catalog() -> Catalog:
    return default_catalog()


def subscription(
    product: str,
    options: Mapping[str, OptionValue],
    *,
    customer: int = CUSTOMER,
    payer: int = CUSTOMER,
    sub_id: str | None = None,
) -> Subscription:
    return connect(
        subscription_id=sub_id or f"s-{product}-{customer}",
        product=product,
        customer_id=customer,
        payer_id=payer,
        options=dict(options),
        months=6,
        currency=Currency.EUR,
        paid=1800,
        auto_renew=False,
        now=NOW,
    )


def values(catalog: Catalog, product: str, key: str) -> list[OptionValue]:
    """Every value of a choice or on/off option; an int option's bounds and the values on
    each side of any threshold the catalog's limits compare it with."""
    spec = catalog.product(product).option(key)
    if spec.kind == "bool":
        return [False, True]
    if spec.kind == "choice":
        return list(spec.choices)
    assert spec.min is not None and spec.max is not None
    points = {spec.min, spec.min + 1, spec.max}
    for limit in catalog.product(product).limits.values():
        for condition in limit.paid.any:
            if condition.option == key and isinstance(condition.value, int):
                points |= {condition.value - 1, condition.value, condition.value + 1}
    return sorted(v for v in points if spec.min <= v <= spec.max)


def combinations(catalog: Catalog, product: str) -> Iterator[dict[str, OptionValue]]:
    keys = [spec.key for spec in catalog.product(product).options]
    seen: set[tuple[tuple[str, OptionValue], ...]] = set()
    for chosen in itertools.product(*(values(catalog, product, key) for key in keys)):
        raw = dict(zip(keys, chosen, strict=True))
        spec_of = catalog.product(product).option
        # An option whose requirement does not hold is left out (recording_duration
        # without recording): normalize the raw choice the way a quote does.
        kept = {
            k: v
            for k, v in raw.items()
            if (req := spec_of(k).requires) is None or raw[req[0]] == req[1]
        }
        options = catalog.normalize_options(product, kept)
        key = tuple(sorted(options.items()))
        if key not in seen:
            seen.add(key)
            yield options


def limits(found: Entitlements, product: str) -> dict[str, LimitValue]:
    return dict(found.products[product].limits)


# --- every combination -------------------------------------------------------------------


@pytest.mark.parametrize("product", ["softphone", "gateway"])
def test_every_option_combination_gives_the_limits_of_the_spec(
    catalog: Catalog, product: str
) -> None:
    other = "gateway" if product == "softphone" else "softphone"
    checked = 0
    for options in combinations(catalog, product):
        sub = subscription(product, options)
        found = entitlements_of(catalog, CUSTOMER, [sub])
        assert limits(found, product) == EXPECTED[product](options), options
        entitlement = found.products[product]
        assert entitlement.plan == product
        assert entitlement.subscription_id == sub.id
        assert entitlement.valid_until == sub.expires_at
        # The other product is untouched: still Free.
        assert limits(found, other) == FREE[other]
        checked += 1
    # softphone: 6 account counts (1, 2, 9, 10, 11, 1000) x (recording off, or on with each
    # of 5 durations) x API on/off; gateway: 6 line counts (1, 2, 4, 5, 6, 100) x 3 session
    # counts (0, 1, 20) x API on/off.
    assert checked == {"softphone": 6 * 6 * 2, "gateway": 6 * 3 * 2}[product]


@given(
    accounts=st.integers(1, 1000),
    recording=st.booleans(),
    duration=st.sampled_from([5, 15, 30, 60, 120]),
    api=st.booleans(),
)
def test_any_softphone_subscription_across_the_whole_range(
    accounts: int, recording: bool, duration: int, api: bool
) -> None:
    catalog = default_catalog()
    raw: dict[str, object] = {"sip_accounts": accounts, "recording": recording, "api_access": api}
    if recording:
        raw["recording_duration"] = duration
    options = catalog.normalize_options("softphone", raw)
    found = entitlements_of(catalog, CUSTOMER, [subscription("softphone", options)])
    assert limits(found, "softphone") == expected_softphone(options)


@given(lines=st.integers(1, 100), sessions=st.integers(0, 20), api=st.booleans())
def test_any_gateway_subscription_across_the_whole_range(
    lines: int, sessions: int, api: bool
) -> None:
    catalog = default_catalog()
    options = catalog.normalize_options(
        "gateway", {"lines": lines, "extra_sessions": sessions, "api_access": api}
    )
    found = entitlements_of(catalog, CUSTOMER, [subscription("gateway", options)])
    assert limits(found, "gateway") == expected_gateway(options)


# --- Free, ended, Payer and Customer, both products ----------------------------------------


def test_nothing_paid_active_is_free_on_every_product(catalog: Catalog) -> None:
    found = entitlements_of(catalog, CUSTOMER, [])
    assert list(found.products) == ["softphone", "gateway"]
    for product, entitlement in found.products.items():
        assert entitlement.plan == FREE_PLAN and entitlement.is_free
        assert entitlement.subscription_id is None and entitlement.valid_until is None
        assert dict(entitlement.limits) == FREE[product]


def test_an_expired_or_terminated_subscription_gives_free_limits_again(catalog: Catalog) -> None:
    options = catalog.normalize_options("softphone", {"sip_accounts": 12, "recording": "on"})
    sub = subscription("softphone", options)
    expired = expire(sub, now=sub.expires_at)
    terminated, _ = terminate(sub, by=PAYER, now=NOW)
    for ended in (expired, terminated):
        assert grant_of(ended) is None
        assert limits(entitlements_of(catalog, CUSTOMER, [ended]), "softphone") == FREE["softphone"]


def test_limits_apply_to_the_customer_not_to_the_payer(catalog: Catalog) -> None:
    options = catalog.normalize_options("gateway", {"lines": 3})
    paid_for_another = subscription("gateway", options, customer=CUSTOMER, payer=PAYER)
    held = [paid_for_another]
    assert limits(entitlements_of(catalog, CUSTOMER, held), "gateway") == expected_gateway(options)
    # The Payer pays but holds nothing: Free.
    payer = entitlements_of(catalog, PAYER, held)
    assert payer.customer_id == PAYER
    assert payer.products["gateway"].is_free
    assert limits(payer, "gateway") == FREE["gateway"]


def test_both_products_held_give_both_plans_each_with_its_own_limits(catalog: Catalog) -> None:
    softphone = catalog.normalize_options(
        "softphone", {"sip_accounts": 5, "recording": "on", "recording_duration": 60}
    )
    gateway = catalog.normalize_options("gateway", {"lines": 6, "extra_sessions": 1})
    # One paid by the Customer, the other by someone else: both are the Customer's.
    held = [
        subscription("softphone", softphone),
        subscription("gateway", gateway, payer=PAYER),
    ]
    found = entitlements_of(catalog, CUSTOMER, held)
    assert found.products["softphone"].plan == "softphone"
    assert found.products["gateway"].plan == "gateway"
    assert limits(found, "softphone") == {
        "sip_accounts": 5,
        "call_recording": True,
        "recording_minutes_per_call": 60,
        "api_access": False,
        **PAID_CALLS,
    }
    assert limits(found, "gateway") == {
        "gateway_lines": 6,
        "extra_sessions": 1,
        "call_recording": False,
        "api_access": True,  # 6 lines > 5: included
        **PAID_CALLS,
    }


def test_of_two_grants_for_one_product_the_one_valid_longer_counts(catalog: Catalog) -> None:
    small = subscription("gateway", {"lines": 1, "extra_sessions": 0, "api_access": False})
    later = subscription(
        "gateway", {"lines": 9, "extra_sessions": 0, "api_access": False}, sub_id="later"
    )
    grant_small, grant_later = grant_of(small), grant_of(later)
    assert grant_small is not None and grant_later is not None
    longer = replace(grant_later, valid_until=grant_later.valid_until.replace(year=2030))
    for order in ([grant_small, longer], [longer, grant_small]):
        found = from_grants(catalog, CUSTOMER, order)
        assert found.products["gateway"].subscription_id == "later"


# --- the data decides ------------------------------------------------------------------


def test_limits_come_from_the_catalog_file_not_from_code(tmp_path: Path) -> None:
    text = (
        Path(__file__).resolve().parents[2] / "layers/common/billing/data/catalog.toml"
    ).read_text(encoding="utf-8")
    edited = text.replace(
        '[products.softphone.limits.sip_accounts]\nkind = "count"\nfree = 1',
        '[products.softphone.limits.sip_accounts]\nkind = "count"\nfree = 3',
    ).replace(
        'paid = { any = [\n  { option = "api_access", op = "eq", value = true },\n'
        '  { option = "sip_accounts", op = "gt", value = 10 },',
        'paid = { any = [\n  { option = "api_access", op = "eq", value = true },\n'
        '  { option = "sip_accounts", op = "gt", value = 20 },',
    )
    assert edited != text
    path = tmp_path / "catalog.toml"
    path.write_text(edited, encoding="utf-8")
    catalog = load_catalog(path)
    assert limits(entitlements_of(catalog, CUSTOMER, []), "softphone")["sip_accounts"] == 3
    options = catalog.normalize_options("softphone", {"sip_accounts": 15})
    found = entitlements_of(catalog, CUSTOMER, [subscription("softphone", options)])
    assert limits(found, "softphone")["api_access"] is False


LIMIT = """
[products.team.limits.seats]
kind = "count"
free = 1
paid = { option = "seats" }
titles = { en = "Seats", ru = "Места" }
"""

# test_catalog.py's small catalog with one more option, which a requirement may leave out.
MINIMAL = (
    CATALOG_MINIMAL
    + """
[[products.team.options]]
key = "level"
kind = "choice"
choices = [1, 2]
default = 1
requires = { option = "extras", value = true }
titles = { en = "Level", ru = "Уровень" }
"""
)


def test_a_well_formed_limit_loads(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(MINIMAL + LIMIT, encoding="utf-8")
    limit = load_catalog(path).product("team").limits["seats"]
    assert (limit.kind, limit.free, limit.paid.option) == ("count", 1, "seats")


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("free = 1", "free = true", "products.team.limits.seats.free: True is not a count"),
        (
            'paid = { option = "seats" }',
            'paid = { option = "seats", value = 2 }',
            "products.team.limits.seats.paid: give exactly one of option, value, unlimited, any",
        ),
        (
            'paid = { option = "seats" }',
            'paid = { option = "nope" }',
            "products.team.limits.seats.paid:"
            " unknown option 'nope' (options: seats, extras, level)",
        ),
        (
            'paid = { option = "seats" }',
            'paid = { option = "extras" }',
            "products.team.limits.seats.paid: option extras cannot set a count",
        ),
        (
            'paid = { option = "seats" }',
            'paid = { option = "level" }',
            "products.team.limits.seats.paid: option level may be left out; say `otherwise`",
        ),
        (
            'kind = "count"\nfree = 1\npaid = { option = "seats" }',
            'kind = "switch"\nfree = false\npaid = { unlimited = true }',
            "products.team.limits.seats.paid: only a count can be unlimited",
        ),
        (
            'paid = { option = "seats" }',
            "paid = { any = [] }",
            "products.team.limits.seats.paid.any: a switch needs at least one condition",
        ),
        (
            'paid = { option = "seats" }',
            "paid = { value = 2, otherwise = 1 }",
            "products.team.limits.seats.paid: otherwise goes only with option",
        ),
        (
            'titles = { en = "Seats", ru = "Места" }\n',
            'titles = { en = "Seats" }\n',
            "products.team.limits.seats.titles: missing text for language ru",
        ),
    ],
)
def test_a_bad_limit_is_refused_with_a_clear_message(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    assert old in LIMIT
    path = tmp_path / "catalog.toml"
    path.write_text(MINIMAL + LIMIT.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert error.value.message == f"catalog {path}: {problem}"
