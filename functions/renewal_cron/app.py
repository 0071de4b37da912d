"""The renewal sweep: the schedule finds due subscriptions and queues them; the queue's
messages are worked one subscription each (remind / renew / expire).

One function, two event sources: an EventBridge Scheduler event starts a sweep, an SQS
batch carries the work. A message that fails (DynamoDB or a provider unavailable) is
reported in batchItemFailures and delivered again, then lands in the DLQ.

The partial batch response is built here rather than with Powertools' batch utility: the
loop is a few lines, and the utility's import brings asyncio and its async processors into
every cold start of this function.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import deadline
from billing.observability import logger, metrics
from billing.runtime import runtime
from billing.store.queue import subscription_id_of


def work(body: str) -> None:
    subscription_id = subscription_id_of(body)
    if subscription_id is None:
        # It can never succeed: dropping it beats retrying it into the DLQ.
        logger.warning("renewal message without a subscription id; dropped")
        return
    done = runtime().renewal_worker.process(subscription_id)
    for action in done:
        metrics.add_metric(name=f"Sweep_{action.value}", unit=MetricUnit.Count, value=1)


def work_batch(records: list[Any]) -> dict[str, Any]:
    """Works every record; the ids of those that failed go back to SQS to be retried
    (the event source mapping reports batch item failures, template.yaml)."""
    failures: list[dict[str, str]] = []
    for record in records:
        message_id = record.get("messageId") if isinstance(record, dict) else None
        try:
            work(str(record["body"]))
        except Exception:
            logger.exception("renewal message failed; SQS delivers it again")
            if isinstance(message_id, str):
                failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@deadline.per_invocation
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event.get("Records"), list):
        return work_batch(event["Records"])
    rt = runtime()
    due = rt.due_subscription_ids(rt.clock.now())
    sent = rt.renewal_queue.send(due)
    logger.info("renewal sweep", extra={"due": len(due)})
    metrics.add_metric(name="DueSubscriptions", unit=MetricUnit.Count, value=sent)
    return {"due": sent}
