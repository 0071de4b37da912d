"""`entitlements.changed` events (SPEC §11; contracts/entitlements/event.schema.json),
made from the Entitlements table's stream and put on the EventBridge bus.

The stream carries exactly the committed changes: the item is written only inside the
subscription's own transaction (billing/store/entitlement_changes.py), so a cancelled
transaction leaves no record and each record is one new version. Lambda delivers the
stream at least once; a record redelivered (a retry, a bisected batch) becomes the same
event again, with the same `event_id` ("<telegram_id>:<version>"), which the consumer
deduplicates on. Records of one Customer come in version order, but EventBridge does not
keep order: a consumer keeps the highest version it has seen and ignores lower ones.

Failures are reported per record (ReportBatchItemFailures): the first record not put on
the bus is named, and Lambda sends it and everything after it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from billing.domain.catalog import Catalog
from billing.store.entitlements import customer_of_pk, stored_from_item
from billing.telephony.document import entitlements_document

SOURCE = "sip-billing.entitlements"
DETAIL_TYPE = "entitlements.changed"
PUT_EVENTS_MAX = 10  # entries per PutEvents call


def event_id(telegram_id: int, version: int) -> str:
    return f"{telegram_id}:{version}"


@dataclass(frozen=True)
class Change:
    sequence: str  # the stream record's SequenceNumber: how a failure is reported
    entry: dict[str, Any]  # the PutEvents entry


def change_of(record: Mapping[str, Any], catalog: Catalog, bus: str) -> Change | None:
    """The event of one stream record, or None for a record that is no change of
    entitlements: a removal (items are never deleted by billing) or an image without a
    version (moto's keys-only image of a new item)."""
    data = record["dynamodb"]
    image = data.get("NewImage")
    if record.get("eventName") == "REMOVE" or not image or "version" not in image:
        return None
    stored = stored_from_item(customer_of_pk(image["pk"]["S"]), image)
    document = entitlements_document(catalog, stored)
    detail = {"event_id": event_id(stored.customer_id, stored.version), **document}
    entry: dict[str, Any] = {
        "EventBusName": bus,
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
        "Resources": [],
    }
    if stored.updated_at is not None:
        entry["Time"] = stored.updated_at
    return Change(str(data["SequenceNumber"]), entry)


class ChangePublisher:
    def __init__(self, catalog: Catalog, bus: str, events_client: Callable[[], Any]) -> None:
        if not bus:
            raise ValueError("ENTITLEMENTS_BUS_NAME is not set")
        self._catalog = catalog
        self._bus = bus
        self._client = events_client

    def publish(self, records: Iterable[Mapping[str, Any]]) -> Published:
        """Put the records' events on the bus in stream order, ten at a time, stopping at
        the first that does not go (EventBridge refused it, or the call failed)."""
        changes = [
            change for record in records if (change := change_of(record, self._catalog, self._bus))
        ]
        sent = 0
        for start in range(0, len(changes), PUT_EVENTS_MAX):
            chunk = changes[start : start + PUT_EVENTS_MAX]
            try:
                answer = self._client().put_events(Entries=[change.entry for change in chunk])
            except (BotoCoreError, ClientError) as error:
                return Published(sent, chunk[0].sequence, f"PutEvents failed: {error}")
            failed = _first_failed(chunk, answer)
            if failed is not None:
                return Published(sent + chunk.index(failed), failed.sequence, _reason(answer))
            sent += len(chunk)
        return Published(sent, None, None)


@dataclass(frozen=True)
class Published:
    sent: int
    failed_sequence: str | None  # the first record not put on the bus: report it
    reason: str | None


def _first_failed(chunk: Sequence[Change], answer: Mapping[str, Any]) -> Change | None:
    if not answer.get("FailedEntryCount"):
        return None
    for change, result in zip(chunk, answer["Entries"], strict=True):
        if result.get("ErrorCode"):
            return change
    return chunk[0]  # a count without a failed entry: send them all again


def _reason(answer: Mapping[str, Any]) -> str:
    codes = sorted({str(r["ErrorCode"]) for r in answer.get("Entries", []) if r.get("ErrorCode")})
    return f"EventBridge refused {answer.get('FailedEntryCount')} entries: {', '.join(codes)}"
