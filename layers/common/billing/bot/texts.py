"""How the bot's flow code reads its sentences: `t(lang, key, **values)` picks the language
(English when unknown) from the message catalog (billing.i18n, `locale/*/bot.po`) and fills the
values; plus the few texts composed from several messages."""

from __future__ import annotations

from datetime import datetime

from billing.bot.commands import help_lines
from billing.domain.money import Currency, format_minor
from billing.i18n import LANGUAGES, message

__all__ = ["LANGUAGES", "date_text", "help_text", "pay_from_balance_text", "t"]


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
