"""Orders, invoices, the invoice counter and support alerts in the Orders table.

Layout: pk = "order#<id>" (kind "order"), "invoice#<number>" (kind "invoice"),
"counter#invoice" (the last number issued) and "alert#<time>#<random>" (kind "alert"; while
open it carries `inbox`, which puts it in the sparse open_alerts index).
Orders and invoices carry payer_id + created_at for the by_payer index; an order carries
the provider's payment id in provider_ref for the by_provider_ref index.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod
from billing.orders.model import Order, OrderStatus, Purpose
from billing.store import reads
from billing.store.codec import epoch, iso, parse_iso
from billing.store.models import AlertModel, CounterModel, InvoiceModel, OrderModel
from billing.store.transactions import (
    StaleWrite,
    TransactionCancelled,
    TxnPart,
    TxnWriter,
    run_transaction,
)

INVOICE_COUNTER = "counter#invoice"
INVOICE_PREFIX = "INV-"


def _order_pk(order_id: str) -> str:
    return f"order#{order_id}"


def _usable_key(value: str, limit: int = 64) -> bool:
    """Ids from outside (provider payloads) that cannot be keys are simply not found."""
    if not value or len(value) > limit:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate DynamoDB would refuse
        return False
    return True


OPEN_SHARDS = 4
# An open order without an expiry (none today) still sorts into the index, last.
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def _open_shard(order_id: str) -> str:
    return str(int(hashlib.sha256(order_id.encode()).hexdigest()[:8], 16) % OPEN_SHARDS)


def invoice_number(value: int) -> str:
    return f"{INVOICE_PREFIX}{value:06d}"


def _order(model: OrderModel) -> Order:
    return Order(
        id=model.pk.removeprefix("order#"),
        payer_id=int(model.payer_id),
        purpose=Purpose(model.purpose),
        amount=int(model.amount),
        currency=Currency(model.currency),
        method=PaymentMethod(model.method),
        status=OrderStatus(model.status),
        created_at=parse_iso(model.created_at),
        updated_at=parse_iso(model.updated_at),
        details=dict(model.details or {}),
        provider_ref=model.provider_ref,
        paid_amount=None if model.paid_amount is None else int(model.paid_amount),
        note=model.note,
        chat_id=None if model.chat_id is None else int(model.chat_id),
        version=int(model.version),
        expires_at=parse_iso(model.expires_at) if model.expires_at else None,
        refunds={str(key): int(value) for key, value in (model.refund_ids or {}).items()},
    )


def _model(order: Order) -> OrderModel:
    return OrderModel(
        _order_pk(order.id),
        kind="order",
        payer_id=order.payer_id,
        created_at=iso(order.created_at),
        updated_at=iso(order.updated_at),
        purpose=order.purpose.value,
        amount=order.amount,
        currency=order.currency.value,
        method=order.method.value,
        status=order.status.value,
        details=order.details,
        provider_ref=order.provider_ref,
        paid_amount=order.paid_amount,
        refunded_amount=order.refunded_amount,
        note=order.note,
        chat_id=order.chat_id,
        version=order.version,
        expires_at=iso(order.expires_at) if order.expires_at else None,
        refund_ids=dict(order.refunds) or None,
        # The open_orders index holds only what may still be paid (sparse).
        open_shard=_open_shard(order.id) if order.is_open else None,
        open_until=epoch(order.expires_at or FAR_FUTURE) if order.is_open else None,
    )


@dataclass(frozen=True)
class InvoiceRecord:
    number: str
    payer_id: int
    created_at: datetime
    total: int
    currency: Currency
    subscription_id: str | None
    order_id: str | None
    document: dict[str, Any]


def _invoice(model: InvoiceModel) -> InvoiceRecord:
    return InvoiceRecord(
        number=model.number,
        payer_id=int(model.payer_id),
        created_at=parse_iso(model.created_at),
        total=int(model.total),
        currency=Currency(model.currency),
        subscription_id=model.subscription_id,
        order_id=model.order_id,
        document=dict(model.document),
    )


class AlertState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alert:
    id: str
    reason: str
    created_at: datetime
    provider: str | None
    details: dict[str, Any]
    state: AlertState = AlertState.OPEN
    resolved_by: int | None = None
    resolved_at: datetime | None = None


ALERT_PREFIX = "alert#"
INBOX_OPEN = "open"  # the one hash key of the open_alerts index


def _alert(model: AlertModel) -> Alert:
    return Alert(
        id=model.pk.removeprefix(ALERT_PREFIX),
        reason=model.reason,
        created_at=parse_iso(model.created_at),
        provider=model.provider,
        details=dict(model.details or {}),
        state=AlertState.OPEN if model.inbox else AlertState.RESOLVED,
        resolved_by=None if model.resolved_by is None else int(model.resolved_by),
        resolved_at=parse_iso(model.resolved_at) if model.resolved_at else None,
    )


class OrdersRepository:
    # --- orders -------------------------------------------------------------------------

    def create(self, order: Order) -> Order:
        model = _model(order)
        try:
            with reads.writing():
                model.save(condition=OrderModel.pk.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise StaleWrite(f"order {order.id} exists already") from error
            raise
        reads.wrote(model)
        return order

    def get(self, order_id: str) -> Order | None:
        if not _usable_key(order_id):
            return None
        try:
            model = OrderModel.get(_order_pk(order_id), consistent_read=True)
        except DoesNotExist:
            return None
        return _order(model) if model.kind == "order" else None

    def save(self, order: Order, *, expected_version: int) -> None:
        try:
            run_transaction(self.save_parts(order, expected_version=expected_version))
        except TransactionCancelled as cancelled:
            raise StaleWrite(f"order {order.id} changed since it was read") from cancelled

    def save_parts(self, order: Order, *, expected_version: int) -> list[TxnPart]:
        def put(txn: TxnWriter) -> None:
            txn.save(_model(order), condition=OrderModel.version == expected_version)

        return [put]

    def settle_parts(self, order: Order) -> list[TxnPart]:
        """Write the order's new state in a money transaction. Not conditional on its
        version: the ledger entry keyed on the order is what makes a payment apply once,
        and a paid order must not be refused because a late failure notice touched it."""

        def put(txn: TxnWriter) -> None:
            txn.save(_model(order), condition=OrderModel.pk.exists())

        return [put]

    def by_provider_ref(self, provider_ref: str) -> Order | None:
        if not _usable_key(provider_ref, limit=256):
            return None
        for model in OrderModel.by_provider_ref.query(provider_ref, limit=1):
            return self.get(model.pk.removeprefix("order#"))
        return None

    def open_until(self, until: datetime) -> Iterator[Order]:
        """Open orders whose time ends by `until` (all open ones, given a far date), read
        from the sparse open_orders index, never a Scan."""
        for shard in range(OPEN_SHARDS):
            query = OrderModel.open_orders.query(str(shard), OrderModel.open_until <= epoch(until))
            for model in query:
                yield _order(model)

    def of_payer(self, payer_id: int, limit: int = 20) -> list[Order]:
        query = OrderModel.by_payer.query(
            payer_id,
            scan_index_forward=False,
            filter_condition=OrderModel.kind == "order",
            limit=limit,
        )
        return [_order(model) for model in query]

    # --- invoices -----------------------------------------------------------------------

    def next_invoice_value(self) -> int:
        try:
            counter = CounterModel.get(INVOICE_COUNTER, consistent_read=True)
        except DoesNotExist:
            return 1
        return int(counter.value) + 1

    def invoice_parts(
        self,
        value: int,
        *,
        payer_id: int,
        created_at: datetime,
        total: int,
        currency: Currency,
        subscription_id: str | None,
        order_id: str | None,
        document: Mapping[str, Any],
    ) -> list[TxnPart]:
        """Advance the counter from value-1 to value and put invoice `value`: a concurrent
        charge that took the same number cancels one of the two transactions."""

        def advance(txn: TxnWriter) -> None:
            condition = (
                CounterModel.pk.does_not_exist() if value == 1 else CounterModel.value == value - 1
            )
            txn.update(CounterModel(INVOICE_COUNTER), [CounterModel.value.set(value)], condition)

        def put(txn: TxnWriter) -> None:
            number = invoice_number(value)
            model = InvoiceModel(
                f"invoice#{number}",
                kind="invoice",
                number=number,
                payer_id=payer_id,
                created_at=iso(created_at),
                total=total,
                currency=currency.value,
                subscription_id=subscription_id,
                order_id=order_id,
                document=dict(document),
            )
            txn.save(model, condition=InvoiceModel.pk.does_not_exist())

        return [advance, put]

    def invoice(self, number: str) -> InvoiceRecord | None:
        """Invoices are written once: one this operation issued is not read back."""
        if not number.startswith(INVOICE_PREFIX) or len(number) > 20:
            return None
        model = reads.get(InvoiceModel, f"invoice#{number}")
        return _invoice(model) if model is not None else None

    def invoices_of(self, payer_id: int, limit: int = 10) -> list[InvoiceRecord]:
        query = InvoiceModel.by_payer.query(
            payer_id,
            scan_index_forward=False,
            filter_condition=InvoiceModel.kind == "invoice",
            limit=limit,
        )
        return [_invoice(model) for model in query]

    # --- reconciliation cursors ---------------------------------------------------------

    def reconciled_until(self, provider: str) -> datetime | None:
        try:
            cursor = CounterModel.get(f"cursor#reconcile#{provider}", consistent_read=True)
        except DoesNotExist:
            return None
        return datetime.fromtimestamp(int(cursor.value), UTC)

    def set_reconciled_until(self, provider: str, moment: datetime) -> None:
        CounterModel(f"cursor#reconcile#{provider}", value=epoch(moment)).save()

    def reconciled_offset(self, provider: str) -> int:
        """How many of a provider's listed records (Star transactions) were applied."""
        try:
            cursor = CounterModel.get(f"cursor#reconcile-offset#{provider}", consistent_read=True)
        except DoesNotExist:
            return 0
        return int(cursor.value)

    def set_reconciled_offset(self, provider: str, offset: int) -> None:
        CounterModel(f"cursor#reconcile-offset#{provider}", value=offset).save()

    # --- alerts -------------------------------------------------------------------------

    def record_alert(
        self,
        reason: str,
        *,
        now: datetime,
        provider: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Alert:
        alert = Alert(
            id=f"{iso(now)}#{secrets.token_hex(4)}",
            reason=reason,
            created_at=now,
            provider=provider,
            details=dict(details or {}),
        )
        AlertModel(
            f"{ALERT_PREFIX}{alert.id}",
            kind="alert",
            reason=reason,
            created_at=iso(now),
            provider=provider,
            details=alert.details,
            state=AlertState.OPEN.value,
            inbox=INBOX_OPEN,
        ).save()
        return alert

    def open_alerts(self, limit: int = 10, *, before: str | None = None) -> list[Alert]:
        """Support's inbox: up to `limit` open alerts, newest first, older than the alert
        `before` when given (the next page). One query of the sparse open_alerts index."""
        condition = None
        if before is not None:
            if not _usable_key(before):
                return []
            condition = AlertModel.pk < f"{ALERT_PREFIX}{before}"
        query = AlertModel.open_alerts.query(
            INBOX_OPEN, condition, scan_index_forward=False, limit=limit
        )
        return [_alert(model) for model in query]

    def alerts(self) -> list[Alert]:
        """Every open alert, oldest first (the whole inbox; for tests and the simulation)."""
        return [_alert(model) for model in AlertModel.open_alerts.query(INBOX_OPEN)]

    def resolve(self, alert_id: str, *, by_admin: int, now: datetime) -> Alert | None:
        """Take an open alert out of the inbox, recording who resolved it and when. None
        when there is no such alert or it was resolved already (nothing is written)."""
        if not _usable_key(alert_id):
            return None
        model = AlertModel(f"{ALERT_PREFIX}{alert_id}")
        try:
            model.update(
                actions=[
                    AlertModel.inbox.remove(),
                    AlertModel.state.set(AlertState.RESOLVED.value),
                    AlertModel.resolved_by.set(by_admin),
                    AlertModel.resolved_at.set(iso(now)),
                ],
                condition=AlertModel.inbox.exists() & (AlertModel.kind == "alert"),
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return _alert(model)
