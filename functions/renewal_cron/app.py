"""The renewal sweep: the schedule finds due subscriptions and queues them; the queue's
messages are worked one subscription each (remind / renew / expire).

One function, two event sources: an EventBridge Scheduler event starts a sweep, an SQS
batch carries the work. A message that fails (DynamoDB or a provider unavailable) is
reported in batchItemFailures and delivered again, then lands in the DLQ.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import deadline
from billing.observability import logger, metrics
from billing.runtime import runtime
from billing.store.queue import subscription_id_of
from billing.sweep import due_subscription_ids

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def work(record: SQSRecord) -> None:
    subscription_id = subscription_id_of(record.body)
    if subscription_id is None:
        # It can never succeed: dropping it beats retrying it into the DLQ.
        logger.warning("renewal message without a subscription id; dropped")
        return
    done = runtime().renewal_worker.process(subscription_id)
    for action in done:
        metrics.add_metric(name=f"Sweep_{action.value}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@deadline.per_invocation
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event.get("Records"), list):
        response = process_partial_response(
            event=event, record_handler=work, processor=processor, context=context
        )
        return dict(response)
    rt = runtime()
    due = due_subscription_ids(rt.settings.due_shards, rt.clock.now())
    sent = rt.renewal_queue.send(due)
    logger.info("renewal sweep", extra={"due": len(due)})
    metrics.add_metric(name="DueSubscriptions", unit=MetricUnit.Count, value=sent)
    return {"due": sent}
