"""How the bot's flow code reads its sentences: `t(lang, key, **values)` picks the language
(English when unknown) from the message catalog (billing.i18n, `locale/*/bot.po`) and fills the
values; plus the few texts composed from several messages."""

from __future__ import annotations

from datetime import datetime

from billing.bot.commands import help_lines
from billing.domain.countries import country_name
from billing.domain.money import Currency, format_minor
from billing.errors import BillingError
from billing.i18n import LANGUAGES, has_message, message
from billing.observability import logger

__all__ = [
    "LANGUAGES",
    "date_text",
    "error_text",
    "help_text",
    "method_name",
    "pay_from_balance_text",
    "t",
]


def t(lang: str, key: str, **values: object) -> str:
    if key == "help":
        return help_text(lang)
    return message(lang, key, **values)


def help_text(lang: str) -> str:
    """/help lists the command menu (billing.bot.commands), the one list setMyCommands
    registers, so the two cannot drift apart."""
    return "\n".join([message(lang, "help_intro"), help_lines(lang), message(lang, "help_cancel")])


def pay_from_balance_text(
    lang: str, currency: Currency, *, balance: int, credit_limit: int, total: int
) -> str:
    """The line above «Pay ... from balance»: the balance, and when the payment takes it
    below zero, what it will be after and the credit limit that allows it (SPEC §4)."""
    shown = format_minor(balance, currency)
    if balance - total >= 0:
        return t(lang, "quote_balance_ok", currency=currency.value, balance=shown)
    return t(
        lang,
        "quote_balance_credit",
        currency=currency.value,
        balance=shown,
        after=format_minor(balance - total, currency),
        limit=format_minor(credit_limit, currency),
    )


def date_text(moment: datetime, lang: str) -> str:
    """Dates as people read them: "1 Mar 2027 12:00 UTC" (times matter for short periods)."""
    months = {
        "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
        "ru": "янв фев мар апр мая июн июл авг сен окт ноя дек",
    }
    names = (months.get(lang) or months["en"]).split()
    return f"{moment.day} {names[moment.month - 1]} {moment.year} {moment:%H:%M} UTC"


def method_name(lang: str, method: str) -> str:
    """A payment method (PaymentMethod.value) as the reader calls it."""
    return message(lang, f"method_name_{method}")


def error_text(lang: str, error: BillingError) -> str:
    """What a person reads about a refusal: the catalog's `error_<code>_<reason>` (or
    `error_<code>`) sentence filled with the error's facts in the reader's language; never the
    code's own English message, which is for support and logs."""
    keys = [f"error_{error.code}_{error.reason}"] if error.reason else []
    keys.append(f"error_{error.code}")
    key = next((k for k in keys if has_message(lang, k)), "error_billing_error")
    try:
        return message(lang, key, **_facts(lang, error.facts))
    except (KeyError, IndexError, ValueError):
        # A sentence asking for a fact this raise site did not give: a bug, told politely.
        logger.warning("error text lacks a fact", extra={"key": key, "code": error.code})
        return message(lang, "error_billing_error")


def _facts(lang: str, facts: dict[str, object]) -> dict[str, object]:
    """Facts as the reader reads them: countries and methods named, fields listed."""
    shown: dict[str, object] = {}
    for name, value in facts.items():
        if name in ("country", "phone_country") and isinstance(value, str):
            shown[name] = country_name(value, lang)
        elif name == "method" and isinstance(value, str):
            shown[name] = method_name(lang, value)
        elif name == "status" and isinstance(value, str):
            shown[name] = message(lang, f"status_{value}")
        elif name == "missing" and isinstance(value, (tuple, list)):
            shown[name] = ", ".join(message(lang, f"field_{field}") for field in value)
        else:
            shown[name] = value
    return shown
