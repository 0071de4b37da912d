"""The catalog as data (SPEC §2): the packaged file, validation at load, option values."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from billing.domain.catalog import (
    Catalog,
    Condition,
    OptionSpec,
    default_catalog,
    load_catalog,
)
from billing.domain.money import Currency
from billing.errors import (
    CatalogError,
    InvalidOptionValue,
    InvalidPeriod,
    UnknownOption,
    UnknownProduct,
)

# A small valid catalog; each bad-file test breaks exactly one thing in it.
MINIMAL = """
periods = [{ months = 6, discount_percent = "0" }, { months = 12, discount_percent = "10" }]

[currency_rates]
EUR = "1"
USD = "1.10"
RUB = "100"

[products.team]
sellable = true
titles = { en = "Team", ru = "Команда" }
descriptions = { en = "Seats for a team", ru = "Места для команды" }

[[products.team.options]]
key = "seats"
kind = "int"
min = 1
max = 10
default = 1
titles = { en = "Seats", ru = "Места" }

[[products.team.options]]
key = "extras"
kind = "bool"
default = false
titles = { en = "Extras", ru = "Дополнительно" }

[[products.team.lines]]
id = "seats"
unit_price = "3"
quantity = "seats"
when = [{ option = "extras", op = "eq", value = false }]
titles = { en = "Seats", ru = "Места" }
"""


@pytest.fixture
def catalog() -> Catalog:
    return default_catalog()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def broken(tmp_path: Path, old: str, new: str) -> Path:
    assert old in MINIMAL
    return write(tmp_path, MINIMAL.replace(old, new, 1))


# --- the packaged catalog -----------------------------------------------------------------


def test_packaged_catalog_has_the_spec_periods_rates_and_products(catalog: Catalog) -> None:
    assert dict(catalog.periods) == {6: Decimal(0), 12: Decimal(10), 36: Decimal(30)}
    assert dict(catalog.rates) == {
        Currency.EUR: Decimal(1),
        Currency.USD: Decimal("1.10"),
        Currency.RUB: Decimal(100),
    }
    assert list(catalog.products) == ["free", "softphone", "gateway"]
    assert [p.key for p in catalog.sellable()] == ["softphone", "gateway"]


def test_free_is_not_sellable_and_its_fixed_limits_are_each_products_free_values(
    catalog: Catalog,
) -> None:
    free = catalog.product("free")
    assert free.sellable is False
    assert free.options == ()
    assert free.lines == ()
    # SPEC §2: 1 Gateway line, 1 SIP account, 30 call minutes a month, 2 minutes a call,
    # 10 failed calls an hour, no call recording.
    softphone = {key: limit.free for key, limit in catalog.product("softphone").limits.items()}
    gateway = {key: limit.free for key, limit in catalog.product("gateway").limits.items()}
    calls = {"call_minutes_per_month": 30, "minutes_per_call": 2, "failed_calls_per_hour": 10}
    assert softphone == {
        "sip_accounts": 1,
        "call_recording": False,
        "recording_minutes_per_call": 0,
        "api_access": False,
        **calls,
    }
    assert gateway == {
        "gateway_lines": 1,
        "extra_sessions": 0,
        "call_recording": False,
        "api_access": False,
        **calls,
    }


def test_every_product_has_english_and_russian_texts(catalog: Catalog) -> None:
    for product in catalog.products.values():
        assert set(product.titles) == {"en", "ru"}
        assert set(product.descriptions) == {"en", "ru"}
    assert catalog.product("softphone").titles["ru"] == "Софтфон"
    assert catalog.product("gateway").titles["en"] == "Gateway"


def test_softphone_options_and_price_lines_are_the_spec_ones(catalog: Catalog) -> None:
    softphone = catalog.product("softphone")
    assert softphone.option("sip_accounts") == OptionSpec(
        key="sip_accounts",
        kind="int",
        min=1,
        max=1000,
        choices=(),
        default=1,
        requires=None,
        titles={"en": "SIP accounts", "ru": "SIP-аккаунты"},
    )
    duration = softphone.option("recording_duration")
    assert (duration.kind, duration.choices, duration.default) == (
        "choice",
        (5, 15, 30, 60, 120),
        15,
    )
    assert duration.requires == ("recording", True)
    assert [(line.id, line.unit_price, line.quantity) for line in softphone.lines] == [
        ("sip_accounts", Decimal(3), "sip_accounts"),
        ("sip_accounts_recording", Decimal(5), "sip_accounts"),
        ("api_access", Decimal(150), None),
        ("large_team_surcharge", Decimal(150), None),
    ]
    assert softphone.lines[2].when == (
        Condition("api_access", "eq", True),
        Condition("sip_accounts", "le", 10),
    )


def test_gateway_price_lines_are_the_spec_ones(catalog: Catalog) -> None:
    gateway = catalog.product("gateway")
    assert [o.key for o in gateway.options] == ["lines", "extra_sessions", "api_access"]
    assert (gateway.option("extra_sessions").min, gateway.option("extra_sessions").max) == (0, 20)
    assert [(line.id, line.unit_price, line.quantity) for line in gateway.lines] == [
        ("main_account", Decimal(15), None),
        ("lines", Decimal(15), "lines"),
        ("extra_sessions", Decimal(150), "extra_sessions"),
        ("api_access", Decimal(150), None),
        ("large_team_surcharge", Decimal(150), None),
    ]


def test_default_catalog_is_loaded_once(catalog: Catalog) -> None:
    assert default_catalog() is catalog


def test_unknown_product_lists_the_sellable_ones(catalog: Catalog) -> None:
    with pytest.raises(UnknownProduct) as error:
        catalog.product("premium")
    assert error.value.message == "unknown product 'premium' (choose softphone or gateway)"


@pytest.mark.parametrize(("months", "percent"), [(6, 0), (12, 10), (36, 30)])
def test_discount_per_period(catalog: Catalog, months: int, percent: int) -> None:
    assert catalog.discount_percent(months) == Decimal(percent)


@pytest.mark.parametrize("months", [3, 1, 24, 0, True])
def test_other_periods_are_refused(catalog: Catalog, months: int) -> None:
    with pytest.raises(InvalidPeriod) as error:
        catalog.discount_percent(months)
    assert error.value.message == f"period must be 6, 12 or 36 months, got {months}"


def test_rate_per_currency(catalog: Catalog) -> None:
    assert catalog.rate(Currency.USD) == Decimal("1.10")
    assert catalog.rate(Currency.RUB) == Decimal(100)


# --- normalize_options --------------------------------------------------------------------


def test_missing_options_get_their_defaults_and_unmet_requirements_are_dropped(
    catalog: Catalog,
) -> None:
    assert catalog.normalize_options("softphone", {}) == {
        "sip_accounts": 1,
        "recording": False,
        "api_access": False,
    }
    assert catalog.normalize_options("gateway", {}) == {
        "lines": 1,
        "extra_sessions": 0,
        "api_access": False,
    }


def test_text_values_become_canonical_and_keys_follow_catalog_order(catalog: Catalog) -> None:
    # Given options as the CLI or the bot delivers them, in any order
    raw = {
        "api_access": "Yes",
        "recording_duration": "60",
        "recording": "on",
        "sip_accounts": " 12 ",
    }
    # When normalized
    result = catalog.normalize_options("softphone", raw)
    # Then values are typed and ordered as in the catalog
    assert list(result.items()) == [
        ("sip_accounts", 12),
        ("recording", True),
        ("recording_duration", 60),
        ("api_access", True),
    ]


ON_OFF: list[tuple[object, bool]] = [
    ("on", True),
    ("OFF", False),
    ("yes", True),
    ("no", False),
    ("true", True),
]
ON_OFF += [("False", False), ("1", True), ("0", False), (True, True), (False, False)]


@pytest.mark.parametrize(("raw", "expected"), ON_OFF)
def test_on_off_spellings(catalog: Catalog, raw: object, expected: bool) -> None:
    assert catalog.normalize_options("gateway", {"api_access": raw})["api_access"] is expected


def test_typed_values_are_accepted_as_they_are(catalog: Catalog) -> None:
    options = {"lines": 100, "extra_sessions": 20, "api_access": True}
    assert catalog.normalize_options("gateway", options) == options


def test_input_mapping_is_not_changed(catalog: Catalog) -> None:
    raw: dict[str, object] = {"sip_accounts": "2"}
    catalog.normalize_options("softphone", raw)
    assert raw == {"sip_accounts": "2"}


def test_unknown_option_lists_the_valid_keys(catalog: Catalog) -> None:
    with pytest.raises(UnknownOption) as error:
        catalog.normalize_options("gateway", {"lines": 2, "colour": "red"})
    assert error.value.message == (
        "unknown option 'colour' for gateway (options: lines, extra_sessions, api_access)"
    )


@pytest.mark.parametrize(
    ("product", "options", "message"),
    [
        ("softphone", {"sip_accounts": 0}, "sip_accounts must be an integer from 1 to 1000, got 0"),
        (
            "softphone",
            {"sip_accounts": "1001"},
            "sip_accounts must be an integer from 1 to 1000, got 1001",
        ),
        (
            "softphone",
            {"sip_accounts": "12.5"},
            "sip_accounts must be an integer from 1 to 1000, got 12.5",
        ),
        (
            "softphone",
            {"sip_accounts": "many"},
            "sip_accounts must be an integer from 1 to 1000, got many",
        ),
        (
            "softphone",
            {"sip_accounts": ""},
            "sip_accounts must be an integer from 1 to 1000, got ''",
        ),
        (
            "softphone",
            {"sip_accounts": 2.0},
            "sip_accounts must be an integer from 1 to 1000, got 2.0",
        ),
        (
            "gateway",
            {"extra_sessions": -1},
            "extra_sessions must be an integer from 0 to 20, got -1",
        ),
        ("gateway", {"lines": 101}, "lines must be an integer from 1 to 100, got 101"),
        ("gateway", {"api_access": "maybe"}, "api_access must be on or off, got maybe"),
        ("gateway", {"api_access": 1}, "api_access must be on or off, got 1"),
        (
            "softphone",
            {"recording": "on", "recording_duration": "10"},
            "recording_duration must be one of 5, 15, 30, 60, 120, got 10",
        ),
    ],
)
def test_out_of_range_or_unparseable_values_state_the_allowed_ones(
    catalog: Catalog, product: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidOptionValue) as error:
        catalog.normalize_options(product, options)
    assert error.value.message == message


def test_bool_is_not_a_number_of_accounts(catalog: Catalog) -> None:
    with pytest.raises(InvalidOptionValue) as error:
        catalog.normalize_options("softphone", {"sip_accounts": True})
    assert error.value.message == "sip_accounts must be an integer from 1 to 1000, got True"


def test_recording_duration_given_without_recording_is_refused(catalog: Catalog) -> None:
    with pytest.raises(InvalidOptionValue) as error:
        catalog.normalize_options("softphone", {"recording_duration": 15})
    assert error.value.message == "recording_duration applies only when recording is on"


def test_recording_duration_defaults_when_recording_is_on(catalog: Catalog) -> None:
    result = catalog.normalize_options("softphone", {"recording": True})
    assert result["recording_duration"] == 15


def test_free_has_no_options(catalog: Catalog) -> None:
    assert catalog.normalize_options("free", {}) == {}
    with pytest.raises(UnknownOption) as error:
        catalog.normalize_options("free", {"sip_accounts": 2})
    assert error.value.message == "free has no options, got 'sip_accounts'"


def test_unknown_product_when_normalizing(catalog: Catalog) -> None:
    with pytest.raises(UnknownProduct):
        catalog.normalize_options("fax", {})


# --- loading files ------------------------------------------------------------------------


def test_a_valid_file_loads(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, MINIMAL))
    assert list(catalog.products) == ["team"]
    assert dict(catalog.periods) == {6: Decimal(0), 12: Decimal(10)}
    assert catalog.normalize_options("team", {"seats": "4"}) == {"seats": 4, "extras": False}


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            'op = "eq"',
            'op = "equals"',
            "products.team.lines.0.when.0.op: "
            "must be 'eq', 'ne', 'gt', 'ge', 'lt' or 'le', got 'equals'",
        ),
        (
            'option = "extras", op',
            'option = "colour", op',
            "products.team.lines.seats.when: unknown option 'colour' (options: seats, extras)",
        ),
        (
            "default = 1",
            "default = 0",
            "products.team.options.seats: default 0 is not an integer from 1 to 10",
        ),
        (
            "default = false",
            "default = 1",
            "products.team.options.extras: default 1 is not on or off",
        ),
        ("min = 1", "min = 11", "products.team.options.seats: an int option needs min <= max"),
        ('key = "extras"', 'key = "seats"', "products.team.options: duplicate 'seats'"),
        ('RUB = "100"\n', "", "currency_rates: missing a rate for RUB"),
        (
            'RUB = "100"',
            'RUB = "100"\nGBP = "0.9"',
            "currency_rates: unknown currency 'GBP' (use EUR, USD, RUB)",
        ),
        (
            'EUR = "1"',
            'EUR = "1.2"',
            "currency_rates: EUR must be 1 and every rate must be positive",
        ),
        (
            'USD = "1.10"',
            'USD = "0"',
            "currency_rates: EUR must be 1 and every rate must be positive",
        ),
        ('USD = "1.10"', "USD = 1.10", "currency_rates.USD: Expected `str`, got `float`"),
        (
            'unit_price = "3"',
            "unit_price = 3.0",
            "products.team.lines.0.unit_price: Expected `str`, got `float`",
        ),
        (
            'unit_price = "3"',
            'unit_price = "-3"',
            "products.team.lines.0.unit_price: "
            "Expected `str` matching regex '^\\d+(\\.\\d+)?$', got '-3'",
        ),
        (
            'quantity = "seats"',
            'quantity = "extras"',
            "products.team.lines.seats: quantity must name an int option, got 'extras'",
        ),
        (
            'op = "eq", value = false',
            'op = "gt", value = false',
            "products.team.lines.seats.when: on/off option extras allows only eq or ne",
        ),
        (
            "value = false",
            "value = 2",
            "products.team.lines.seats.when: 2 can never be a value of extras",
        ),
        (
            'titles = { en = "Team", ru = "Команда" }',
            'titles = { en = "Team" }',
            "products.team.titles: missing text for language ru",
        ),
        (
            'discount_percent = "10"',
            'discount_percent = "100"',
            "periods: a discount must be below 100 %",
        ),
        ("{ months = 12,", "{ months = 6,", "periods: duplicate '6'"),
        (
            "sellable = true",
            "sellable = true\nprice = 3",
            "products.team.price: unknown field",
        ),
        (
            'kind = "int"',
            'kind = "float"',
            "products.team.options.0.kind: must be 'int', 'bool' or 'choice', got 'float'",
        ),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    path = broken(tmp_path, old, new)
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert error.value.message == f"catalog {path}: {problem}"


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("sellable = true\n", "", "products.team.sellable: required field missing"),
        (
            'titles = { en = "Team", ru = "Команда" }',
            'titles = { en = "Team", ru = 5 }',
            "products.team.titles.ru: Expected `str`, got `int`",
        ),
        (
            'key = "seats"',
            'key = ""',
            "products.team.options.0.key: Expected `str` of length >= 1, got ''",
        ),
        ("{ months = 6,", "{ months = 0,", "periods.0.months: Expected `int` >= 1, got 0"),
        (
            'periods = [{ months = 6, discount_percent = "0" }, '
            '{ months = 12, discount_percent = "10" }]',
            "periods = []",
            "periods: Expected `array` of length >= 1, got []",
        ),
        ("[currency_rates]", "colour = 1\n[currency_rates]", "colour: unknown field"),
        (
            "when = [",
            'when = [{ option = "extras", op = "eq", value = 1979-05-27 }, ',
            "products.team.lines.0.when.0.value: Expected `bool | int`, got `date`",
        ),
    ],
)
def test_the_path_of_a_bad_field_names_dict_keys_and_missing_or_unknown_fields(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    path = broken(tmp_path, old, new)
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert error.value.message == f"catalog {path}: {problem}"


def test_the_bad_product_is_named_when_others_are_valid(tmp_path: Path) -> None:
    # msgspec writes a dict's key as [...]: the one named is the first whose value is bad.
    other = (
        "[products.other]\nsellable = false\n"
        'titles = { en = "O", ru = "O" }\ndescriptions = { en = "O", ru = "O" }\n\n'
    )
    path = broken(tmp_path, "[products.team]", other + "[products.team]\nprice = 3")
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert error.value.message == f"catalog {path}: products.team.price: unknown field"


def test_two_price_lines_with_one_id_are_refused(tmp_path: Path) -> None:
    line = MINIMAL[MINIMAL.index("[[products.team.lines]]") :]
    path = write(tmp_path, MINIMAL + "\n" + line.replace("eq", "ne"))
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert error.value.message == f"catalog {path}: products.team.lines: duplicate 'seats'"


def test_requirement_on_an_unknown_option_is_refused(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        'kind = "bool"',
        'kind = "bool"\nrequires = { option = "colour", value = true }',
    )
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert error.value.message == (
        f"catalog {path}: products.team.options.extras.requires: "
        "unknown option 'colour' (options: seats, extras)"
    )


def test_a_sellable_product_without_price_lines_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL[: MINIMAL.index("[[products.team.lines]]")])
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert error.value.message == (
        f"catalog {path}: products.team: a sellable product needs at least one price line"
    )


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "periods = [")
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert error.value.message.startswith(f"catalog {path}: cannot read the file: ")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert error.value.message.startswith(f"catalog {path}: cannot read the file: ")
