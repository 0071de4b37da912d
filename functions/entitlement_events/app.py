"""The Entitlements table's stream -> `entitlements.changed` events on the EventBridge bus
(SPEC §11). Thin: the events are made and put in `billing.telephony.events`.

A record not put on the bus is reported (ReportBatchItemFailures), so Lambda sends it, and
those after it, again; the event source retries until the record is a day old (the
stream's retention), then names it in the on-failure queue (template.yaml).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.observability import logger, metrics
from billing.runtime import runtime


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    published = runtime().entitlement_events.publish(records)
    metrics.add_metric(name="EntitlementEventsSent", unit=MetricUnit.Count, value=published.sent)
    if published.failed_sequence is None:
        return {"batchItemFailures": []}
    logger.error(
        "entitlement events not sent; Lambda retries from the first",
        extra={"sequence": published.failed_sequence, "reason": published.reason},
    )
    metrics.add_metric(name="EntitlementEventsFailed", unit=MetricUnit.Count, value=1)
    return {"batchItemFailures": [{"itemIdentifier": published.failed_sequence}]}
