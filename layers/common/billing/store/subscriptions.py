"""Subscriptions and the per-Customer product slots in the Subscriptions table."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from billing.domain.entitlements import grant_of
from billing.domain.money import Currency
from billing.domain.renewal import CardClaim, Reminder, SweepMarks, next_action_at
from billing.domain.subscription import (
    ChangeKind,
    HistoryRecord,
    Status,
    Subscription,
)
from billing.store import reads
from billing.store.codec import epoch, iso, parse_iso
from billing.store.entitlement_changes import grant_change_part
from billing.store.models import SlotModel, SubscriptionModel
from billing.store.transactions import (
    StaleWrite,
    TransactionCancelled,
    TxnPart,
    TxnWriter,
    run_transaction,
)


def _sub_pk(subscription_id: str) -> str:
    return f"sub#{subscription_id}"


def _slot_pk(customer_id: int, product: str) -> str:
    return f"slot#{customer_id}#{product}"


def _changed_at(sub: Subscription) -> datetime:
    return sub.history[-1].at if sub.history else sub.created_at


def _entitlement_parts(sub: Subscription, before: Subscription | None) -> list[TxnPart]:
    """The Customer's entitlements change with the write only when the subscription's
    grant does (connect, options, expiry date, status): a reminder mark or an auto-renewal
    switch changes nothing the telephony side reads, so it is no new version."""
    grant = grant_of(sub)
    if before is not None and grant_of(before) == grant:
        return []
    return [grant_change_part(sub.customer_id, sub.product, grant, now=_changed_at(sub))]


def due_shard(subscription_id: str, shards: int) -> str:
    """A stable shard per subscription, so due items spread over `shards` partitions."""
    digest = hashlib.sha256(subscription_id.encode()).digest()
    return str(int.from_bytes(digest[:4], "big") % shards)


def _history_to_json(history: tuple[HistoryRecord, ...]) -> list[dict[str, Any]]:
    return [
        {
            "at": iso(record.at),
            "kind": record.kind.value,
            "by": record.by,
            "old_expiry": iso(record.old_expiry) if record.old_expiry else None,
            "new_expiry": iso(record.new_expiry) if record.new_expiry else None,
            "details": record.details,
        }
        for record in history
    ]


def _history_from_json(raw: list[dict[str, Any]]) -> tuple[HistoryRecord, ...]:
    return tuple(
        HistoryRecord(
            at=parse_iso(item["at"]),
            kind=ChangeKind(item["kind"]),
            by=item["by"],
            old_expiry=parse_iso(item["old_expiry"]) if item["old_expiry"] else None,
            new_expiry=parse_iso(item["new_expiry"]) if item["new_expiry"] else None,
            details=item["details"],
        )
        for item in raw
    )


def _from_model(model: SubscriptionModel) -> Subscription:
    return Subscription(
        id=model.pk.removeprefix("sub#"),
        product=model.product,
        customer_id=int(model.customer_id),
        payer_id=int(model.payer_id),
        options=dict(model.options),
        months=int(model.months),
        currency=Currency(model.currency),
        status=Status(model.status),
        started_at=parse_iso(model.started_at),
        expires_at=parse_iso(model.expires_at),
        auto_renew=bool(model.auto_renew),
        customer_may_change=bool(model.customer_may_change),
        customer_name=model.customer_name,
        value_amount=int(model.value_amount),
        value_since=parse_iso(model.value_since),
        version=int(model.version),
        created_at=parse_iso(model.created_at),
        history=_history_from_json(model.history),
        sweep=_sweep_from_json(model.sweep),
    )


def _sweep_to_json(marks: SweepMarks) -> dict[str, Any] | None:
    if marks.period is None:
        return None
    return {
        "period": marks.period,
        "reminded": [reminder.value for reminder in marks.reminded],
        "last_attempt_at": iso(marks.last_attempt_at) if marks.last_attempt_at else None,
        "attempts": marks.attempts,
        "card_attempts": marks.card_attempts,
        "claim": _claim_to_json(marks.claim) if marks.claim else None,
    }


def _claim_to_json(claim: CardClaim) -> dict[str, Any]:
    return {"order_id": claim.order_id, "attempt": claim.attempt, "since": iso(claim.since)}


def _claim_from_json(data: object) -> CardClaim | None:
    if not isinstance(data, dict):
        return None
    return CardClaim(
        order_id=str(data["order_id"]),
        attempt=int(data["attempt"]),
        since=parse_iso(str(data["since"])),
    )


def _sweep_from_json(data: object) -> SweepMarks:
    if not isinstance(data, dict) or not isinstance(data.get("period"), str):
        return SweepMarks()
    last = data.get("last_attempt_at")
    return SweepMarks(
        period=data["period"],
        reminded=tuple(Reminder(value) for value in data.get("reminded") or ()),
        last_attempt_at=parse_iso(last) if isinstance(last, str) else None,
        attempts=int(data.get("attempts") or 0),
        card_attempts=int(data.get("card_attempts") or 0),
        claim=_claim_from_json(data.get("claim")),
    )


class SubscriptionsRepository:
    def __init__(self, due_shards: int) -> None:
        self._due_shards = due_shards

    def _to_model(self, sub: Subscription) -> SubscriptionModel:
        due = next_action_at(sub)
        return SubscriptionModel(
            _sub_pk(sub.id),
            product=sub.product,
            customer_id=sub.customer_id,
            payer_id=sub.payer_id,
            options=sub.options,
            months=sub.months,
            currency=sub.currency.value,
            status=sub.status.value,
            started_at=iso(sub.started_at),
            expires_at=iso(sub.expires_at),
            auto_renew=sub.auto_renew,
            customer_may_change=sub.customer_may_change,
            customer_name=sub.customer_name,
            value_amount=sub.value_amount,
            value_since=iso(sub.value_since),
            version=sub.version,
            created_at=iso(sub.created_at),
            history=_history_to_json(sub.history),
            sweep=_sweep_to_json(sub.sweep),
            # Sparse index: ended subscriptions carry neither attribute and leave the index.
            due_shard=due_shard(sub.id, self._due_shards) if due else None,
            next_action_at=epoch(due) if due else None,
        )

    # --- reads ------------------------------------------------------------------------

    def get(self, subscription_id: str, *, fresh: bool = False) -> Subscription | None:
        """Once per operation (store/reads.py), unless `fresh`: what another writer did."""
        model = reads.get(SubscriptionModel, _sub_pk(subscription_id), fresh=fresh)
        return _from_model(model) if model is not None else None

    def paid_by(self, payer_id: int) -> list[Subscription]:
        return [_from_model(m) for m in SubscriptionModel.by_payer.query(payer_id)]

    def held_by(self, customer_id: int) -> list[Subscription]:
        return [_from_model(m) for m in SubscriptionModel.by_customer.query(customer_id)]

    def slot_holder(self, customer_id: int, product: str) -> str | None:
        slot = reads.get(SlotModel, _slot_pk(customer_id, product))
        return slot.subscription_id if slot is not None else None

    # --- transaction parts ------------------------------------------------------------

    def create_parts(self, sub: Subscription) -> list[TxnPart]:
        """Put the new subscription, take the Customer's slot for its product and give the
        Customer its entitlements."""

        def put_subscription(txn: TxnWriter) -> None:
            txn.save(self._to_model(sub), condition=SubscriptionModel.pk.does_not_exist())

        return [put_subscription, self._take_slot(sub), *_entitlement_parts(sub, None)]

    @staticmethod
    def _take_slot(sub: Subscription) -> TxnPart:
        def take_slot(txn: TxnWriter) -> None:
            slot = SlotModel(_slot_pk(sub.customer_id, sub.product), subscription_id=sub.id)
            # Free, or already this subscription's: another one holding it cancels the write.
            txn.save(
                slot,
                condition=SlotModel.pk.does_not_exist() | (SlotModel.subscription_id == sub.id),
            )

        return take_slot

    def update_parts(
        self, sub: Subscription, *, before: Subscription, take_slot: bool = False
    ) -> list[TxnPart]:
        """Replace `before` (as read) with `sub` if nobody changed it since; release the
        slot when it has ended, take it back when it is active again (`take_slot`: a
        renewal after expiry); change the Customer's entitlements when its grant changed."""

        def put_subscription(txn: TxnWriter) -> None:
            txn.save(self._to_model(sub), condition=SubscriptionModel.version == before.version)

        parts: list[TxnPart] = [put_subscription, *_entitlement_parts(sub, before)]
        if take_slot:
            parts.append(self._take_slot(sub))
        if not sub.is_active:

            def release_slot(txn: TxnWriter) -> None:
                slot = SlotModel(_slot_pk(sub.customer_id, sub.product))
                txn.delete(slot, condition=SlotModel.subscription_id == sub.id)

            parts.append(release_slot)
        return parts

    def save(self, sub: Subscription, *, before: Subscription) -> None:
        """A change that moves no money, still conditional on the version read."""
        try:
            run_transaction(self.update_parts(sub, before=before))
        except TransactionCancelled as cancelled:
            raise StaleWrite(f"subscription {sub.id} changed since it was read") from cancelled
