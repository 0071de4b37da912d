"""RenewalQueue.send on moto's SQS: the due ids become one message each, in batches of ten
sent several at a time. (moto walks the whole queue for every message it takes, so this
stays at some hundred messages; benchmarks/sweep.py sends 10 000.)"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import boto3

from billing.config import Settings
from billing.store import queue as queue_module
from billing.store.queue import RenewalQueue, subscription_id_of

DUE = 205  # 21 batches, the last of five


def test_every_due_id_is_queued_exactly_once(settings: Settings) -> None:
    sqs = boto3.client("sqs", endpoint_url=settings.aws_endpoint_url)
    queue_url = sqs.create_queue(QueueName=f"renewal-send-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    queue = RenewalQueue(
        Settings(
            region=settings.region,
            aws_endpoint_url=settings.aws_endpoint_url,
            renewal_queue_url=queue_url,
        )
    )
    lock = threading.Lock()
    flight = {"now": 0, "most": 0, "calls": 0}

    def before(**_: Any) -> None:
        with lock:
            flight["now"] += 1
            flight["calls"] += 1
            flight["most"] = max(flight["most"], flight["now"])

    def after(**_: Any) -> None:
        with lock:
            flight["now"] -= 1

    queue._client.meta.events.register("before-call.sqs.SendMessageBatch", before)
    queue._client.meta.events.register("after-call.sqs.SendMessageBatch", after)
    ids = [f"{number:016x}" for number in range(DUE)]
    try:
        assert queue.send(ids) == DUE

        assert flight["calls"] == 21
        assert 1 < flight["most"] <= queue_module.SENDERS
        received: Counter[str | None] = Counter()
        while messages := sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300
        ).get("Messages", []):
            received.update(subscription_id_of(message["Body"]) for message in messages)
        assert received == Counter(ids)
    finally:
        sqs.delete_queue(QueueUrl=queue_url)
