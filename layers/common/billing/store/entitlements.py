"""The Entitlements table: per Customer, the grant of each product's active subscription
and a version that counts the committed changes (SPEC §11).

The item is changed only as a part of the transaction that changes the subscription (see
`SubscriptionsRepository`), and only when the subscription's grant changed: so each
version is exactly one committed change, a cancelled transaction leaves no trace, and the
table's stream (read by the change-event function) carries one record per change.

Grants are kept as one attribute per product, `grant#<product>`, so that changing one
product's grant is a SET or REMOVE of its own attribute with `ADD version 1`, with no read
of the other product's and no overlapping document paths. The item is read raw (DynamoDB
JSON, as the stream delivers it too) by `stored_from_item`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from pynamodb.expressions.operand import Path

from billing.domain.entitlements import Grant
from billing.store.codec import iso, parse_iso
from billing.store.models import EntitlementsModel
from billing.store.transactions import TxnPart, TxnWriter

GRANT_PREFIX = "grant#"


def customer_pk(customer_id: int) -> str:
    return f"customer#{customer_id}"


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


def grant_change_part(
    customer_id: int, product: str, grant: Grant | None, *, now: datetime
) -> TxnPart:
    """Set (or, when the subscription has ended, remove) the product's grant and count
    the change, creating the item on the Customer's first one."""

    def change(txn: TxnWriter) -> None:
        attribute = Path(f"{GRANT_PREFIX}{product}")
        grant_action = (
            attribute.remove() if grant is None else attribute.set({"S": grant_to_json(grant)})
        )
        actions = [
            grant_action,
            EntitlementsModel.version.add(1),
            EntitlementsModel.updated_at.set(iso(now)),
        ]
        txn.update(EntitlementsModel(customer_pk(customer_id)), actions, condition=None)

    return change
