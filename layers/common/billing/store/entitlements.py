"""The Entitlements table: per Customer, the grant of each product's active subscription
and a version that counts the committed changes (SPEC §11). This module is the item's
format and its reads; `entitlement_changes` writes it.

The item is changed only as a part of the transaction that changes the subscription (see
`SubscriptionsRepository`), and only when the subscription's grant changed: so each
version is exactly one committed change, a cancelled transaction leaves no trace, and the
table's stream (read by the change-event function) carries one record per change.

Grants are kept as one attribute per product, `grant#<product>`, so that changing one
product's grant is a SET or REMOVE of its own attribute with `ADD version 1`, with no read
of the other product's and no overlapping document paths.

Reads are raw (DynamoDB JSON, as the stream delivers it too) through botocore, not
pynamodb: the read API and the change-event function need nothing else of the store, and
leaving pynamodb out of their imports keeps their cold start short.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from billing import aws
from billing.config import Settings
from billing.domain.entitlements import Grant
from billing.store.codec import iso, parse_iso

GRANT_PREFIX = "grant#"


PK_PREFIX = "customer#"


def customer_pk(customer_id: int) -> str:
    return f"{PK_PREFIX}{customer_id}"


def customer_of_pk(pk: str) -> int:
    return int(pk.removeprefix(PK_PREFIX))


def grant_to_json(grant: Grant) -> str:
    return json.dumps(
        {
            "subscription_id": grant.subscription_id,
            "options": dict(grant.options),
            "valid_until": iso(grant.valid_until),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def _grant_from_json(product: str, text: str) -> Grant:
    data = json.loads(text)
    return Grant(
        subscription_id=str(data["subscription_id"]),
        product=product,
        options=MappingProxyType(dict(data["options"])),
        valid_until=parse_iso(str(data["valid_until"])),
    )


@dataclass(frozen=True)
class StoredEntitlements:
    """A Customer's item as stored: version 0 and no grants when there is none yet."""

    customer_id: int
    version: int
    grants: tuple[Grant, ...]
    updated_at: datetime | None


def stored_from_item(customer_id: int, item: Mapping[str, Any] | None) -> StoredEntitlements:
    """The stored state from a raw item (DynamoDB JSON: GetItem, BatchGetItem, a stream
    image). An image without a version (none yet, or moto's keys-only first image of a
    new item) is version 0 with no grants."""
    if not item or "version" not in item:
        return StoredEntitlements(customer_id, 0, (), None)
    grants = tuple(
        _grant_from_json(name.removeprefix(GRANT_PREFIX), value["S"])
        for name, value in sorted(item.items())
        if name.startswith(GRANT_PREFIX)
    )
    updated = item.get("updated_at", {}).get("S")
    return StoredEntitlements(
        customer_id,
        int(item["version"]["N"]),
        grants,
        parse_iso(updated) if updated else None,
    )


class EntitlementsUnavailable(Exception):
    """DynamoDB did not give every item asked for, after retries; the caller may retry."""


# BatchGetItem takes at most 100 keys; what it leaves unprocessed (throttling, its 16 MB
# answer limit) is asked again after a short, growing pause.
BATCH_KEYS = 100
BATCH_ATTEMPTS = 4
BATCH_PAUSE_SECONDS = 0.05


class EntitlementsReader:
    """Strongly consistent reads: an answer never goes back behind a change event already
    sent, so the telephony side can trust the version it holds."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep):
        self._settings = settings
        self._sleep = sleep

    @property
    def _client(self) -> Any:
        # aws.client keeps one per thread; fetched per call so a rebinding (tests) is seen.
        return aws.client(
            "dynamodb",
            self._settings.region,
            self._settings.aws_endpoint_url,
            # A read answers in milliseconds: a stuck connection is retried, not waited on.
            connect_timeout=2,
            read_timeout=3,
        )

    def read(self, customer_id: int) -> StoredEntitlements:
        answer = self._client.get_item(
            TableName=self._settings.entitlements_table,
            Key={"pk": {"S": customer_pk(customer_id)}},
            ConsistentRead=True,
        )
        return stored_from_item(customer_id, answer.get("Item"))

    def read_many(self, customer_ids: Sequence[int]) -> dict[int, StoredEntitlements]:
        """Each distinct id's stored state, with one BatchGetItem per 100 ids (and a retry
        of what DynamoDB leaves unprocessed)."""
        wanted = list(dict.fromkeys(customer_ids))
        found: dict[int, Mapping[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_KEYS):
            found.update(self._batch(wanted[start : start + BATCH_KEYS]))
        return {customer: stored_from_item(customer, found.get(customer)) for customer in wanted}

    def _batch(self, customer_ids: Sequence[int]) -> dict[int, Mapping[str, Any]]:
        table = self._settings.entitlements_table
        request: dict[str, Any] = {
            table: {
                "Keys": [{"pk": {"S": customer_pk(customer)}} for customer in customer_ids],
                "ConsistentRead": True,
            }
        }
        found: dict[int, Mapping[str, Any]] = {}
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                self._sleep(BATCH_PAUSE_SECONDS * 2 ** (attempt - 1))
            answer = self._client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table, []):
                found[customer_of_pk(item["pk"]["S"])] = item
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return found
        raise EntitlementsUnavailable(
            f"{len(request[table]['Keys'])} of {len(customer_ids)} entitlements left unread"
        )
