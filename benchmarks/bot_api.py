"""Figure 3: Bot API requests per update. The calls the handler made over HTTP to the fake
Bot API (FakeBotApi.calls grown during the invocation) against the call it returned in the
webhook response body, which Telegram performs at no cost to us. A reply of one call should
make no request of its own; with more calls, all but the last are requests, and so is the
last when it is an upload (a document cannot ride in the response body)."""

from __future__ import annotations

from typing import Any

from benchmarks import operations
from benchmarks.report import Figure, Row, median

NAME = "bot_api"
RUNS = 7


def run() -> Figure:
    ops, samples = operations.samples(RUNS)
    rows: list[Row] = []
    for op in ops:
        taken = samples[op.name][:RUNS]
        http = median([s.bot_http for s in taken])
        body = median([s.bot_reply for s in taken])
        calls = http + body
        data: dict[str, Any] = {
            "http_requests": [s.bot_http for s in taken],
            "in_body": [s.bot_reply for s in taken],
        }
        if not op.telegram:
            rows.append(
                Row(
                    NAME,
                    op.title,
                    "calls: requests (no webhook body)",
                    f"{calls:g}: {http:g}",
                    data=data,
                )
            )
            continue
        # The fewest requests possible: every call but the one the body can carry.
        extra = http - max(calls - 1, 0)
        one_call = calls == 1
        rows.append(
            Row(
                NAME,
                op.title,
                "calls: in body + requests (extra)",
                f"{calls:g}: {body:g} + {http:g} ({extra:g})",
                baseline=f"{calls:g} call{'s' if calls != 1 else ''}",
                target="0 extra" if one_call else "",
                ok=(extra == 0) if one_call else None,
                data={**data, "extra": extra},
            )
        )
    return Figure(NAME, rows, details={"runs": RUNS})
