"""Lambda's DynamoDB event source mapping for the Entitlements table, played on moto: read
the table's stream, hand the entitlement-events function batches shaped as Lambda sends
them, and honour its partial batch failures as template.yaml configures the mapping
(ReportBatchItemFailures: the batch is sent again from the first failed record; a
function that raises gets the whole batch again; retries never stop, as
MaximumRetryAttempts -1 says).

`drain()` delivers everything the stream holds now, once per call; the local stack calls
it from its ticker, the tests whenever they want the events of what they just did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from billing import aws

log = logging.getLogger("local.entitlement_stream")

BATCH_SIZE = 100  # template.yaml: the mapping's BatchSize
Invoke = Callable[[dict[str, Any]], Any]


def lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record as the event source mapping hands it to a function: the same
    fields, the creation time as epoch seconds, and the stream's ARN added."""
    data = dict(record["dynamodb"])
    created = data.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        data["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", region),
        "dynamodb": data,
        "eventSourceARN": stream_arn,
    }


class EntitlementStream:
    def __init__(self, endpoint: str, region: str, table: str, invoke: Invoke) -> None:
        self._endpoint = endpoint
        self._region = region
        self._table = table
        self._invoke = invoke
        # Per shard: the last sequence number the function has taken, and where to start
        # again after a reported failure.
        self._done: dict[str, str] = {}
        self._again_at: dict[str, str] = {}
        self._lock = threading.Lock()
        self.delivered = 0
        self.failures = 0

    def _clients(self) -> tuple[Any, Any]:
        ddb = aws.client("dynamodb", self._region, self._endpoint)
        streams = aws.client("dynamodbstreams", self._region, self._endpoint)
        return ddb, streams

    def drain(self) -> int:
        """Deliver every record now on the stream that the function has not taken; the
        number of records handed over (again after a failure, they count again)."""
        with self._lock:
            ddb, streams = self._clients()
            arn = ddb.describe_table(TableName=self._table)["Table"].get("LatestStreamArn")
            if not arn:
                return 0
            handed = 0
            shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
            for shard in shards:
                handed += self._drain_shard(streams, arn, shard["ShardId"])
            return handed

    def _iterator(self, streams: Any, arn: str, shard: str) -> str:
        if shard in self._again_at:
            kind, number = "AT_SEQUENCE_NUMBER", self._again_at[shard]
        elif shard in self._done:
            kind, number = "AFTER_SEQUENCE_NUMBER", self._done[shard]
        else:
            kind, number = "TRIM_HORIZON", None
        extra = {"SequenceNumber": number} if number else {}
        answer = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType=kind, **extra
        )
        return str(answer["ShardIterator"])

    def _drain_shard(self, streams: Any, arn: str, shard: str) -> int:
        handed = 0
        while True:
            iterator = self._iterator(streams, arn, shard)
            records = streams.get_records(ShardIterator=iterator, Limit=BATCH_SIZE)["Records"]
            if not records:
                return handed
            batch = [lambda_record(r, arn, self._region) for r in records]
            handed += len(batch)
            try:
                answer = self._invoke({"Records": batch})
            except Exception:
                log.exception("entitlement events function raised; the batch is sent again")
                self.failures += 1
                return handed  # position unchanged: the next drain sends it again
            failed = [f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])]
            if failed:
                self.failures += 1
                first = min(failed, key=int)
                self._again_at[shard] = first
                before = [r for r in batch if int(r["dynamodb"]["SequenceNumber"]) < int(first)]
                self.delivered += len(before)
                if before:
                    self._done[shard] = before[-1]["dynamodb"]["SequenceNumber"]
                return handed
            self._again_at.pop(shard, None)
            self._done[shard] = batch[-1]["dynamodb"]["SequenceNumber"]
            self.delivered += len(batch)
