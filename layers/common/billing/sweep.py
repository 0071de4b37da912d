"""Finding the subscriptions whose next action time has come (SPEC §5.4)."""

from __future__ import annotations

from datetime import datetime

from billing.store.codec import epoch
from billing.store.models import SubscriptionModel


def due_subscription_ids(shards: int, now: datetime) -> list[str]:
    """Ids of subscriptions due at `now`, reading only the sparse `due` index: the items
    read are the due ones, however large the table."""
    due: list[str] = []
    for shard in range(shards):
        query = SubscriptionModel.due_index.query(
            str(shard), SubscriptionModel.next_action_at <= epoch(now)
        )
        due.extend(item.pk.removeprefix("sub#") for item in query)
    return due
