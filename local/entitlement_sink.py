"""The telephony side's end of the change events, as the local stack plays it: the
EntitlementsBus on moto, and a rule on it (the pattern a consumer would use) that sends
every `entitlements.changed` event to an SQS queue, read back here.

`receive()` takes what arrived since the last call, each event as EventBridge delivers it
(its envelope with `detail`), and keeps the latest per user for the simulator page.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from billing import aws
from billing.telephony.events import DETAIL_TYPE, SOURCE

LOCAL_BUS = "sip-billing-entitlements"
SINK_QUEUE = "EntitlementEventsSink"
SINK_RULE = "entitlements-to-sink"
KEPT = 200  # the most recent events kept for the page


def create_bus(region: str, endpoint: str, bus: str = LOCAL_BUS) -> str:
    """The bus and the sink's rule and queue (idempotent); returns the queue URL."""
    events = aws.client("events", region, endpoint)
    sqs = aws.client("sqs", region, endpoint)
    if not any(b["Name"] == bus for b in events.list_event_buses()["EventBuses"]):
        events.create_event_bus(Name=bus)
    url = sqs.create_queue(QueueName=SINK_QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}
    events.put_rule(Name=SINK_RULE, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=SINK_RULE, EventBusName=bus, Targets=[{"Id": "sink", "Arn": arn}])
    return str(url)


class EventSink:
    def __init__(self, region: str, endpoint: str, queue_url: str) -> None:
        self._region = region
        self._endpoint = endpoint
        self._url = queue_url
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []  # in arrival order, the last KEPT

    def receive(self) -> list[dict[str, Any]]:
        """The events that arrived since the last call (and are now in `events`)."""
        sqs = aws.client("sqs", self._region, self._endpoint)
        with self._lock:
            arrived: list[dict[str, Any]] = []
            while True:
                answer = sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10)
                messages = answer.get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    arrived.append(json.loads(message["Body"]))
                sqs.delete_message_batch(
                    QueueUrl=self._url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(messages)
                    ],
                )
            self.events = [*self.events, *arrived][-KEPT:]
            return arrived

    def latest(self, telegram_id: int) -> dict[str, Any] | None:
        """The newest event of a user by version (EventBridge keeps no order)."""
        with self._lock:
            mine = [e for e in self.events if e["detail"]["telegram_id"] == telegram_id]
        return max(mine, key=lambda e: e["detail"]["version"], default=None)
