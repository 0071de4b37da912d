"""Command line for support and scripts: `python -m billing quote ...` prints one JSON quote.

Scripts parse the output, so stdout carries exactly one JSON object on success and nothing
on failure; every failure is one "error: ..." line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from billing.domain.catalog import default_catalog, load_catalog
from billing.domain.pricing import build_quote
from billing.domain.tax import TaxProfile
from billing.errors import BillingError, InvalidOptionValue

USAGE_ERROR = 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    # argparse prints usage plus a message and exits; callers here want one line and a code.
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m billing", description="Billing tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    quote = commands.add_parser("quote", help="price a subscription (amounts in minor units)")
    quote.add_argument("--product", required=True, help="softphone or gateway")
    quote.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option, repeatable (e.g. sip_accounts=12, recording=on)",
    )
    quote.add_argument("--months", required=True, type=int, help="6, 12 or 36")
    quote.add_argument("--currency", required=True, help="EUR, USD or RUB")
    quote.add_argument("--country", required=True, help="Payer's country (ISO 3166-1, e.g. DE)")
    quote.add_argument("--vat-id", help="Payer's VAT id, e.g. DE136695976")
    quote.add_argument("--catalog", type=Path, help="catalog file (default: the packaged one)")
    return parser


def _options(pairs: Sequence[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--option must look like KEY=VALUE, got {pair!r}")
        if key in options:
            raise InvalidOptionValue(f"option {key} is given more than once")
        options[key] = value
    return options


def _quote(args: argparse.Namespace) -> dict[str, object]:
    catalog = load_catalog(args.catalog) if args.catalog else default_catalog()
    tax = TaxProfile.create(args.country, args.vat_id)
    quote = build_quote(
        catalog, args.product, _options(args.option), args.months, args.currency, tax
    )
    return quote.to_json_dict()


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        result = _quote(args)
    except SystemExit as done:
        # --help and --version end through SystemExit; report their code instead.
        return done.code if isinstance(done.code, int) else 0
    except (UsageError, BillingError) as error:
        message = " ".join(str(error).split())
        print(f"error: {message}", file=sys.stderr)
        return USAGE_ERROR
    print(json.dumps(result))
    return 0
