"""Support actions on orders (SPEC §9): find an order by its number or the provider's
payment id ("which account is this charge for"), mark a bank transfer paid with the amount
that arrived, refund a card or PayPal payment. Admins only; every action re-reads the
order, is written to the audit trail, and moves money only through the ledger.
"""

from __future__ import annotations

import secrets
from typing import Any

from billing.bot.callbacks import Pressed, encode
from billing.bot.calls import Screen, button
from billing.bot.deps import BotDeps
from billing.bot.texts import date_text, method_name, t
from billing.bot.turn import Turn
from billing.domain.money import format_minor
from billing.domain.profile import PaymentMethod
from billing.errors import BillingError, InvalidAmount, InvalidState
from billing.orders.model import Order
from billing.orders.refunds import REFUNDABLE
from billing.orders.service import Outcome
from billing.providers.errors import ProviderError
from billing.store.audit import AuditRepository

_audit = AuditRepository()


def find_order(deps: BotDeps, text: str) -> Order | None:
    """By our order number, else by the provider's payment id."""
    key = text.strip()
    if not key or len(key) > 64 or not key.isprintable():
        return None
    return deps.payments.order(key) or deps.payments.order_of_provider(key)


def order_screen(turn: Turn, deps: BotDeps, order: Order) -> Screen:
    lang, unset = turn.lang, "—"
    body = t(
        lang,
        "order_body",
        payer=order.payer_id,
        purpose=order.purpose.value,
        amount=format_minor(order.amount, order.currency),
        method=method_name(turn.lang, order.method.value),
        status=order.status.value,
        ref=order.provider_ref or unset,
        paid=format_minor(order.paid_amount, order.currency) if order.paid_amount else unset,
        refunded=format_minor(order.refunded_amount, order.currency),
        created=date_text(order.created_at, lang),
        note=order.note or unset,
    )
    keyboard = [[button(t(lang, "btn_payer", id=order.payer_id), encode("au", order.payer_id))]]
    if order.method is PaymentMethod.BANK_TRANSFER and order.is_open:
        keyboard.append([button(t(lang, "btn_mark_paid"), encode("ab", order.id))])
    if order.method in REFUNDABLE and order.paid_amount and order.refundable > 0:
        keyboard.append([button(t(lang, "btn_refund"), encode("ar", order.id))])
    return Screen(f"{t(lang, 'order_title', id=order.id)}\n\n{body}", keyboard)


def lookup_text(turn: Turn, deps: BotDeps, text: str) -> Screen:
    order = find_order(deps, text)
    if order is None:
        return Screen(t(turn.lang, "nothing_found", text=text.strip()[:64]))
    return order_screen(turn, deps, order)


def _pressed_order(turn: Turn, deps: BotDeps, pressed: Pressed) -> Order | None:
    order = deps.payments.order(pressed.arg(0) or "")
    if turn.user_id not in deps.admin_ids or order is None:
        turn.answer(turn.text("stale"), alert=True)
        return None
    return order


def _ask(turn: Turn, deps: BotDeps, pressed: Pressed, kind: str) -> None:
    order = _pressed_order(turn, deps, pressed)
    if order is None:
        return
    example = f"{order.currency.value} {format_minor(order.amount, order.currency).split()[0]}"
    deps.conversations.put(
        turn.user_id,
        # The request names the refund at the provider: typing the amount again after a
        # lost answer asks for the same refund, not a second one.
        {"ask": {"admin": kind, "order": order.id, "request": secrets.token_hex(4)}},
        deps.clock.now(),
    )
    if kind == "bank":
        text = t(turn.lang, "ask_received", id=order.id, example=example)
    else:
        left = order.refundable
        text = t(
            turn.lang,
            "ask_refund",
            id=order.id,
            left=format_minor(left, order.currency),
            example=example,
        )
    turn.show(Screen(text, [[button("«", encode("ao", order.id))]]))


def on_view(turn: Turn, deps: BotDeps, pressed: Pressed) -> None:
    order = _pressed_order(turn, deps, pressed)
    if order is not None:
        deps.conversations.clear(turn.user_id)
        turn.show(order_screen(turn, deps, order))


def on_text(turn: Turn, deps: BotDeps, ask: dict[str, Any], text: str) -> bool:
    """An answer to one of this module's questions; False when it is not one of ours."""
    from billing.bot.admin import BadMoney, parse_money_text

    kind, order_id = ask.get("admin"), ask.get("order")
    if kind not in ("bank", "refund") or not isinstance(order_id, str):
        return False
    order = deps.payments.order(order_id)
    if order is None:
        deps.conversations.clear(turn.user_id)
        turn.send(Screen(turn.text("stale")))
        return True
    try:
        currency, amount = parse_money_text(text, turn.lang)
        if currency is not order.currency or amount <= 0:
            raise InvalidAmount(f"order {order.id} is in {order.currency.value}")
        if kind == "bank":
            _mark_paid(turn, deps, order, amount)
        else:
            _refund(turn, deps, order, amount, str(ask.get("request") or ""))
    except (BadMoney, BillingError) as error:
        turn.send(Screen(t(turn.lang, "not_done", error=error.message)))
        return True
    except ProviderError as error:
        turn.send(Screen(t(turn.lang, "not_done", error=str(error))))
        return True
    deps.conversations.clear(turn.user_id)
    return True


def _mark_paid(turn: Turn, deps: BotDeps, order: Order, amount: int) -> None:
    if order.method is not PaymentMethod.BANK_TRANSFER:
        raise InvalidState(f"order {order.id} is not a bank transfer")
    settlement = deps.payments.settle(
        order.id,
        amount=amount,
        currency=order.currency.value,
        provider="bank",
        provider_ref=f"bank-{order.id}",
        exact=False,
    )
    if settlement.outcome in (Outcome.APPLIED, Outcome.TOPPED_UP):
        _audit.record(
            turn.user_id,
            order.payer_id,
            "bank_transfer_paid",
            {"order": order.id, "amount": amount, "currency": order.currency.value},
            deps.clock.now(),
        )
        deps.notices.settled(settlement)
    outcome = settlement.reason or settlement.outcome.value
    turn.send(
        Screen(
            t(
                turn.lang,
                "marked_paid",
                id=order.id,
                amount=format_minor(amount, order.currency),
                payer=order.payer_id,
                outcome=outcome,
            ),
            [[button("«", encode("ao", order.id))]],
        )
    )


def _refund(turn: Turn, deps: BotDeps, order: Order, amount: int, request: str) -> None:
    # Raises when nothing was debited.
    record = deps.refunds.refund(order.id, amount, request=request or None)
    if record.moved_now:
        deps.notices.refunded(record)
    entry = record.movement.entry if record.movement is not None else None
    _audit.record(
        turn.user_id,
        order.payer_id,
        "refund",
        {
            "order": order.id,
            "amount": amount,
            "currency": order.currency.value,
            "cause": entry.cause if entry is not None else None,
        },
        deps.clock.now(),
    )
    turn.send(
        Screen(
            t(
                turn.lang,
                "refunded",
                id=order.id,
                amount=format_minor(amount, order.currency),
                payer=order.payer_id,
                balance=format_minor(
                    entry.balance_after if entry is not None else 0, order.currency
                ),
            ),
            [[button("«", encode("ao", order.id))]],
        )
    )


ORDER_ACTIONS = {
    "ao": on_view,
    "ab": lambda turn, deps, p: _ask(turn, deps, p, "bank"),
    "ar": lambda turn, deps, p: _ask(turn, deps, p, "refund"),
}
