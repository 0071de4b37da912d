"""The sweep reads what is due, not the table (SPEC §5.4, ARCHITECTURE: never a Scan):
with 10 000 subscriptions of which 100 are due, DynamoDB returns about 100 items."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3

from billing.runtime import runtime
from billing.store.codec import epoch
from billing.store.models import SubscriptionModel
from billing.store.subscriptions import due_shard
from functions.renewal_cron import app as cron_app
from local.events import FakeContext, scheduled_event
from tests.integration.conftest import Sweeper

TOTAL, DUE = 10_000, 100


def test_ten_thousand_subscriptions_one_hundred_due_reads_about_one_hundred(
    sweeper: Sweeper, report: Any
) -> None:
    rt = runtime()
    now = sweeper.clock.now()
    shards = rt.settings.due_shards
    client = boto3.client("dynamodb", endpoint_url=rt.settings.aws_endpoint_url)
    items = [
        {
            "pk": {"S": f"sub#{number:016x}"},
            "due_shard": {"S": due_shard(f"{number:016x}", shards)},
            # Every active subscription is in the index; only DUE of them are due now.
            "next_action_at": {
                "N": str(
                    epoch(now - timedelta(hours=1) if number < DUE else now + timedelta(days=30))
                )
            },
        }
        for number in range(TOTAL)
    ]
    for start in range(0, TOTAL, 25):
        client.batch_write_item(
            RequestItems={
                rt.settings.subscriptions_table: [
                    {"PutRequest": {"Item": item}} for item in items[start : start + 25]
                ]
            }
        )
    returned = {"items": 0, "scanned": 0, "requests": 0}

    def count(parsed: dict[str, Any], **_: Any) -> None:
        returned["items"] += parsed.get("Count", 0)
        returned["scanned"] += parsed.get("ScannedCount", 0)
        returned["requests"] += 1

    # The handler's runtime binds the models on first use, which gives them new clients:
    # bind them now, so that the client counted is the one the sweep queries with.
    rt.bind_models()
    pynamodb_client = SubscriptionModel._get_connection().connection.client
    pynamodb_client.meta.events.register("after-call.dynamodb.Query", count)
    try:
        result = cron_app.lambda_handler(scheduled_event(now), FakeContext("renewal-cron"))
    finally:
        pynamodb_client.meta.events.unregister("after-call.dynamodb.Query", count)

    assert result == {"due": DUE}
    assert DUE <= returned["scanned"] <= DUE * 1.1
    assert returned["requests"] == shards  # one query per shard of the due index
    queued = boto3.client("sqs").get_queue_attributes(
        QueueUrl=sweeper.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert int(queued) == DUE
    report(
        f"sweep at scale: {TOTAL} subscriptions, {DUE} due -> {returned['scanned']} items read"
        f" in {returned['requests']} queries"
    )
