"""Calendar arithmetic for subscription periods (pure)."""

from __future__ import annotations

import calendar
from datetime import datetime


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus whole calendar months; the day is clamped to the target month's end.

    31 Aug + 6 months = 28/29 Feb: a period never spills into the month after.
    """
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def whole_seconds(start: datetime, end: datetime) -> int:
    """Seconds from start to end, truncated; negative spans count as zero."""
    return max(0, int((end - start).total_seconds()))
