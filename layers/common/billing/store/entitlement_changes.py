"""Writes of the Entitlements item (its format: billing.store.entitlements): always a part
of the transaction that changes the subscription, so that the item, and the table's stream
that the change events are read from, hold exactly the committed changes."""

from __future__ import annotations

from datetime import datetime

from pynamodb.expressions.operand import Path

from billing.domain.entitlements import Grant
from billing.store.codec import iso
from billing.store.entitlements import GRANT_PREFIX, customer_pk, grant_to_json
from billing.store.models import EntitlementsModel
from billing.store.transactions import TxnPart, TxnWriter


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
