"""The renewal sweep: the schedule finds due subscriptions; the queue acts on each.

This first version reads the due index (never a Scan) and reports what it found; the
renewal issue adds the queue messages and the per-subscription actions. Queue messages
are reported as failed so they are retried, never dropped, until that lands.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.observability import logger, metrics, tracer
from billing.runtime import runtime
from billing.sweep import due_subscription_ids


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records")
    if isinstance(records, list):
        failures = [
            {"itemIdentifier": record.get("messageId", "")}
            for record in records
            if isinstance(record, dict)
        ]
        logger.warning(
            "renewal worker not enabled yet; messages kept", extra={"count": len(failures)}
        )
        metrics.add_metric(
            name="RenewalMessagesDeferred", unit=MetricUnit.Count, value=len(failures)
        )
        return {"batchItemFailures": failures}
    rt = runtime()
    due = due_subscription_ids(rt.settings.due_shards, rt.clock.now())
    logger.info("renewal sweep", extra={"due": len(due)})
    metrics.add_metric(name="DueSubscriptions", unit=MetricUnit.Count, value=len(due))
    return {"due": len(due)}
