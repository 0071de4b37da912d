"""Dates as a document's reader reads them, in the catalog's `documents` domain.

Written out with the month's name ("1 March 2026", "1 марта 2026 г."), not as ISO dates, because
a numeric date reads differently across countries (03/01 is March or January) and an invoice
must not be read two ways.
"""

from __future__ import annotations

from datetime import date

from billing.i18n import message


def long_date(lang: str, day: date) -> str:
    month = message(lang, f"doc_month_{day.month}")
    return message(lang, "doc_date_long", day=day.day, month=month, year=day.year)


def date_range(lang: str, start: date, end: date) -> str:
    return f"{long_date(lang, start)} – {long_date(lang, end)}"
