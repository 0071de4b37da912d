"""The renewal work queue (SQS): one message per subscription the sweep found due."""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

from billing.config import Settings

BATCH = 10  # SendMessageBatch takes at most ten entries
# SendMessageBatch calls in flight at once. The sweep's time is SQS round trips, not CPU: one
# at a time, 10 000 due subscriptions are 1 000 round trips in a row (benchmarks/sweep.py).
# botocore keeps up to 10 connections per client, so eight senders never wait for one.
SENDERS = 8


class QueueError(Exception):
    """Messages SQS refused to take; the sweep fails and runs again on the next tick."""


class RenewalQueue:
    def __init__(self, settings: Settings) -> None:
        if not settings.renewal_queue_url:
            raise ValueError("RENEWAL_QUEUE_URL is not set")
        self._settings = settings
        self._url = settings.renewal_queue_url

    @cached_property
    def _client(self) -> Any:
        from billing import aws

        return aws.client("sqs", self._settings.region, self._settings.aws_endpoint_url)

    def send(self, subscription_ids: Sequence[str]) -> int:
        """Queue one message per id, in batches of BATCH, SENDERS batches at a time; returns
        how many were sent. Every batch is tried before entries SQS refused (twice) raise
        QueueError; an error of the client itself (SQS unreachable) raises at once, the
        batches not yet started left unsent. Either way the next sweep queues them again."""
        chunks = [
            subscription_ids[start : start + BATCH]
            for start in range(0, len(subscription_ids), BATCH)
        ]
        # Made here, in the invocation's thread (aws.client: one per thread); a client, once
        # made, may be used from several threads.
        client = self._client
        senders = min(SENDERS, len(chunks))
        if senders <= 1:
            refused = sum(self._send_batch(client, chunk) for chunk in chunks)
        else:
            failed = threading.Event()

            def send_batch(chunk: Sequence[str]) -> int:
                if failed.is_set():
                    return 0  # a batch before raised, and send() raises that: left unsent
                try:
                    return self._send_batch(client, chunk)
                except BaseException:
                    failed.set()
                    raise

            pool = ThreadPoolExecutor(senders, thread_name_prefix="renewal-queue")
            try:
                # Each batch in a copy of this context: the invocation's deadline goes along.
                futures = [
                    pool.submit(contextvars.copy_context().run, send_batch, chunk)
                    for chunk in chunks
                ]
                refused = sum(future.result() for future in futures)
            finally:
                pool.shutdown(cancel_futures=True)
        if refused:
            raise QueueError(
                f"SQS did not take {refused} of {len(subscription_ids)} renewal messages"
            )
        return len(subscription_ids)

    def _send_batch(self, client: Any, chunk: Sequence[str]) -> int:
        """Sends one batch; returns how many of its entries SQS did not take."""
        entries = [
            {"Id": str(index), "MessageBody": json.dumps({"subscription_id": sub_id})}
            for index, sub_id in enumerate(chunk)
        ]
        for _ in range(2):  # entries SQS failed (throttled) are sent once more
            response = client.send_message_batch(QueueUrl=self._url, Entries=entries)
            failed = {entry["Id"] for entry in response.get("Failed", [])}
            entries = [entry for entry in entries if entry["Id"] in failed]
            if not entries:
                break
        return len(entries)


def subscription_id_of(body: str) -> str | None:
    """The id a renewal message names, or None for a body that is not one of ours."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    value = data.get("subscription_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None
