"""The entitlements of one Customer as the telephony side receives them: the read API's
answer for one Telegram user and the detail of an `entitlements.changed` event have this
one shape (contracts/entitlements/). Built from the stored item and the catalog, so a limit
is always the catalog's word at the time of the answer."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from billing.domain.catalog import Catalog
from billing.domain.entitlements import ProductEntitlement, from_grants
from billing.store.entitlements import StoredEntitlements

Document = dict[str, Any]


def timestamp(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC, to the second (billing's periods are whole seconds)."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _product(entitlement: ProductEntitlement) -> dict[str, Any]:
    return {
        "plan": entitlement.plan,
        "subscription_id": entitlement.subscription_id,
        "valid_until": timestamp(entitlement.valid_until),
        # None: no limit. Counts are integers, switches booleans (catalog.toml's `kind`).
        "limits": dict(entitlement.limits),
    }


def entitlements_document(catalog: Catalog, stored: StoredEntitlements) -> Document:
    """`version` counts the Customer's committed changes (0: none yet, so Free), and
    `changed_at` is when the last one was committed."""
    entitlements = from_grants(catalog, stored.customer_id, stored.grants)
    return {
        "telegram_id": stored.customer_id,
        "version": stored.version,
        "changed_at": timestamp(stored.updated_at),
        "products": {key: _product(p) for key, p in entitlements.products.items()},
    }


def etag(payload: Any) -> str:
    """A strong entity tag of the answer's content: it changes with the version, and also
    when an edit of the catalog changes a limit without any subscription changing."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'
