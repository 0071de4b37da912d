"""Draining the renewal queue into the function, as Lambda's SQS event source does: up to
ten messages a batch, the handler's batchItemFailures left on the queue (visible again
for the next drain, and moved to the dead-letter queue after the queue's receive count),
the rest deleted. Used by the local stack and the tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.events import sqs_event

MAX_BATCH = 10


@dataclass(frozen=True)
class Drained:
    delivered: int  # messages handed to the function (a redelivery counts again)
    failed: int  # of those, reported in batchItemFailures


def drain(
    sqs: Any,
    queue_url: str,
    invoke: Callable[[dict[str, Any]], Any],
) -> Drained:
    delivered = failed = 0
    kept: list[str] = []  # receipt handles of failed messages, released at the end
    while True:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=MAX_BATCH,
            WaitTimeSeconds=0,
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        event = sqs_event([(message["MessageId"], message["Body"]) for message in messages])
        result = invoke(event) or {}
        failures = {failure["itemIdentifier"] for failure in result.get("batchItemFailures", [])}
        delivered += len(messages)
        for message in messages:
            if message["MessageId"] in failures:
                failed += 1
                kept.append(message["ReceiptHandle"])
            else:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    for handle in kept:  # Lambda would retry after the visibility timeout; here: next drain
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return Drained(delivered, failed)
