"""`python -m billing quote`: one JSON object on success, one error line and exit 2 otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from billing.cli import main

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE = [
    "quote",
    "--product", "softphone",
    "--option", "sip_accounts=12",
    "--option", "recording=on",
    "--months", "12",
    "--currency", "EUR",
    "--country", "DE",
]  # fmt: skip

EXPECTED = {
    "product": "softphone",
    "options": {
        "sip_accounts": 12,
        "recording": True,
        "recording_duration": 15,
        "api_access": False,
    },
    "currency": "EUR",
    "months": 12,
    "lines": [
        {"option": "sip_accounts_recording", "quantity": 12, "unit_price": 500, "amount": 72000},
        {"option": "large_team_surcharge", "quantity": 1, "unit_price": 15000, "amount": 180000},
    ],
    "subtotal": 252000,
    "discount": 25200,
    "net": 226800,
    "vat_rate": "19",
    "vat": 43092,
    "total": 269892,
    "note": None,
}


def test_quote_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(EXAMPLE) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("\n") == 1
    assert json.loads(out) == EXPECTED


def test_quote_with_a_vat_id_is_reverse_charged(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*EXAMPLE, "--vat-id", "DE136695976"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["vat_rate"], result["vat"], result["total"]) == ("0", 0, 226800)
    assert result["note"] == "reverse charge"


def test_quote_as_a_real_process() -> None:
    # The package must run with only the repository on the path, as in a fresh checkout.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "common")}
    done = subprocess.run(
        [sys.executable, "-m", "billing", *EXAMPLE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == EXPECTED


def test_help_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quote", "--help"]) == 0
    assert "--product" in capsys.readouterr().out


def with_args(**changes: str | None) -> list[str]:
    """EXAMPLE with flags replaced (value) or removed (None)."""
    args = list(EXAMPLE)
    for flag, value in changes.items():
        name = "--" + flag.replace("_", "-")
        index = args.index(name)
        if value is None:
            del args[index : index + 2]
        else:
            args[index + 1] = value
    return args


def fresh(product: str, option: str) -> list[str]:
    """A 6-month EUR quote for a German Payer with just one option."""
    return [
        "quote", "--product", product, "--option", option,
        "--months", "6", "--currency", "EUR", "--country", "DE",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            with_args(product="premium"),
            "error: unknown product 'premium' (choose softphone or gateway)",
        ),
        (with_args(product="free"), "error: free needs no payment and cannot be quoted"),
        (
            [*EXAMPLE, "--option", "colour=red"],
            "error: unknown option 'colour' for softphone "
            "(options: sip_accounts, recording, recording_duration, api_access)",
        ),
        (
            [*EXAMPLE, "--option", "sip_accounts=0"],
            "error: option sip_accounts is given more than once",
        ),
        (
            fresh("gateway", "api_access=maybe"),
            "error: api_access must be on or off, got maybe",
        ),
        (
            fresh("softphone", "sip_accounts=0"),
            "error: sip_accounts must be an integer from 1 to 1000, got 0",
        ),
        (
            fresh("softphone", "recording_duration=15"),
            "error: recording_duration applies only when recording is on",
        ),
        (
            [*EXAMPLE, "--option", "api_access"],
            "error: --option must look like KEY=VALUE, got 'api_access'",
        ),
        (with_args(months="3"), "error: period must be 6, 12 or 36 months, got 3"),
        (with_args(months="twelve"), "error: argument --months: invalid int value: 'twelve'"),
        (with_args(currency="GBP"), "error: currency 'GBP' is not supported (use EUR, USD, RUB)"),
        (
            with_args(country="EL"),
            "error: country must be a 2-letter ISO 3166-1 code such as DE, LT or US, "
            "got 'EL' (Greece is GR)",
        ),
        (
            [*EXAMPLE, "--vat-id", "DE136695977"],
            "error: VAT id DE136695977 is not valid: wrong check digits",
        ),
        (
            [*EXAMPLE, "--vat-id", "FR40303265045"],
            "error: VAT id FR40303265045 does not belong to country DE: it must start with DE",
        ),
        (with_args(country=None), "error: the following arguments are required: --country"),
        (with_args(product=None), "error: the following arguments are required: --product"),
        (["invoice"], "error: argument COMMAND: invalid choice: 'invoice' (choose from 'quote')"),
        ([], "error: the following arguments are required: COMMAND"),
        ([*EXAMPLE, "--colour", "red"], "error: unrecognized arguments: --colour red"),
    ],
)
def test_bad_arguments_give_one_error_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == message + "\n"


def test_a_bad_catalog_file_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text("periods = []\n", encoding="utf-8")
    assert main([*EXAMPLE, "--catalog", str(catalog)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"error: catalog {catalog}: ")


def test_bad_arguments_in_a_real_process() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "common")}
    done = subprocess.run(
        [sys.executable, "-m", "billing", *with_args(months="3")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "error: period must be 6, 12 or 36 months, got 3\n"
