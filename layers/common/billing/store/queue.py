"""The renewal work queue (SQS): one message per subscription the sweep found due."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from billing.config import Settings

BATCH = 10  # SendMessageBatch takes at most ten entries


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
        import boto3

        return boto3.client(
            "sqs",
            region_name=self._settings.region,
            endpoint_url=self._settings.aws_endpoint_url,
        )

    def send(self, subscription_ids: Sequence[str]) -> int:
        """Queue one message per id, in batches; returns how many were sent."""
        for start in range(0, len(subscription_ids), BATCH):
            chunk = subscription_ids[start : start + BATCH]
            entries = [
                {"Id": str(index), "MessageBody": json.dumps({"subscription_id": sub_id})}
                for index, sub_id in enumerate(chunk)
            ]
            for _ in range(2):  # entries SQS failed (throttled) are sent once more
                response = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
                failed = {entry["Id"] for entry in response.get("Failed", [])}
                entries = [entry for entry in entries if entry["Id"] in failed]
                if not entries:
                    break
            if entries:
                raise QueueError(f"SQS did not take {len(entries)} renewal messages")
        return len(subscription_ids)


def subscription_id_of(body: str) -> str | None:
    """The id a renewal message names, or None for a body that is not one of ours."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    value = data.get("subscription_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None
