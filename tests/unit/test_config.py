"""Settings (billing/config.py): the environment variables, converted and validated once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from billing.config import Settings, SettingsError, settings


def test_no_arguments_give_the_defaults() -> None:
    defaults = Settings()
    assert defaults == Settings.from_env({})
    assert (defaults.region, defaults.aws_endpoint_url, defaults.due_shards) == (
        "eu-central-1",
        None,
        8,
    )
    assert (defaults.accounts_table, defaults.idempotency_table) == ("Accounts", "Idempotency")
    assert defaults.admin_ids == frozenset()
    assert defaults.catalog_path is None
    assert defaults.seller_vat_number_from == date(2025, 7, 9)


def test_variables_are_converted_to_the_fields_types() -> None:
    found = Settings.from_env(
        {
            "AWS_REGION": "eu-west-1",
            "DUE_SHARDS": "4",
            "ADMIN_IDS": "1, 2,,3",
            "CATALOG_PATH": "/opt/catalog.toml",
            "SELLER_VAT_NUMBER_FROM": "2026-01-31",
            "ORDERS_TABLE": "Orders-test",
            "STRIPE_KEY_PARAM": "/x/stripe",
        }
    )
    assert found.region == "eu-west-1"
    assert found.due_shards == 4
    assert found.admin_ids == frozenset({1, 2, 3})
    assert found.catalog_path == Path("/opt/catalog.toml")
    assert found.seller_vat_number_from == date(2026, 1, 31)
    assert found.orders_table == "Orders-test"
    assert found.stripe_secret_key_param == "/x/stripe"


def test_empty_endpoint_catalog_path_and_admins_are_none_or_empty() -> None:
    found = Settings.from_env({"AWS_ENDPOINT_URL": "", "CATALOG_PATH": "", "ADMIN_IDS": ""})
    assert (found.aws_endpoint_url, found.catalog_path, found.admin_ids) == (
        None,
        None,
        frozenset(),
    )
    # Other empty strings stay strings.
    assert Settings.from_env({"RENEWAL_QUEUE_URL": ""}).renewal_queue_url == ""


def test_other_variables_and_attribute_names_are_ignored() -> None:
    found = Settings.from_env({"PATH": "/bin", "region": "us-east-1", "due_shards": "x"})
    assert found == Settings()


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("DUE_SHARDS", "0", "expected `int` >= 1"),
        ("DUE_SHARDS", "-3", "expected `int` >= 1"),
        ("DUE_SHARDS", "eight", "expected `int`"),
        ("DUE_SHARDS", "", "expected `int`"),
        ("ADMIN_IDS", "1, two", "expected comma-separated integers"),
        ("SELLER_VAT_NUMBER_FROM", "9 July 2025", "invalid RFC3339 encoded date"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    assert str(error.value) == f"environment variable {name}={value!r}: {problem}"
    assert isinstance(error.value, ValueError)


def test_settings_are_frozen_and_hashable() -> None:
    found = Settings()
    with pytest.raises(AttributeError):
        found.region = "us-east-1"  # type: ignore[misc]
    assert hash(found) == hash(Settings())


def test_settings_read_the_process_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    settings.cache_clear()
    monkeypatch.setenv("DUE_SHARDS", "3")
    try:
        assert settings().due_shards == 3
        monkeypatch.setenv("DUE_SHARDS", "5")
        assert settings() is settings()
        assert settings().due_shards == 3
    finally:
        settings.cache_clear()
