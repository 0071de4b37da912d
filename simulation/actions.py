"""What happens in a simulated run, one step at a time: Payers top up, connect, change,
renew and switch auto-renewal; support refunds and terminates; providers' customers pay,
refund and dispute; time passes; the sweep, the callbacks and reconciliation run as they
would in AWS.

A step draws everything it needs from its own random source, so dropping other steps (to
shrink a failing run) leaves what this one does as it was, as far as the world allows.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod, SavedCard, card_for, tax_profile
from billing.errors import BillingError
from billing.orders.model import Order, OrderStatus, Purpose
from billing.providers.errors import ProviderError
from billing.sweep import due_subscription_ids
from simulation.faults import Crash
from simulation.providers import Payment
from simulation.world import ADMIN, SHARDS, World

EUR = Currency.EUR
PAYERS = (101, 102, 103, 104, 105)
# These never top up: their renewals fall to the saved card, off-session.
CARD_ONLY = (104, 105)
TOPPING_UP = tuple(payer for payer in PAYERS if payer not in CARD_ONLY)
PRODUCTS = {
    "softphone": lambda rng: {
        "sip_accounts": rng.choice([1, 2, 5, 12]),
        "recording": rng.choice(["on", "off"]),
    },
    "gateway": lambda rng: {"lines": rng.choice([1, 3, 6]), "extra_sessions": rng.choice([0, 1])},
}


def set_up(world: World) -> None:
    """Payers with a country outside the EU and a shared phone (card methods need it), and
    reconciliation running since the start, as its schedule would have."""
    for provider in ("stripe", "cryptopay"):
        world.orders.set_reconciled_until(provider, world.clock.now())
    for payer in PAYERS:
        world.accounts.ensure(
            payer,
            now=world.clock.now(),
            language="en",
            first_name=f"payer{payer}",
            username=None,
            start_parameter=None,
        )
        world.profiles.set_country(payer, "US")
        world.profiles.share_phone(payer, "+1 212 555 0100", contact_user_id=payer)
    for payer in CARD_ONLY:
        _save_card(world, random.Random(payer), payer)


# --- money in ---------------------------------------------------------------------------


def _open(
    world: World, rng: random.Random, method: PaymentMethod, purpose: Purpose, **kw: Any
) -> Order:
    payer = rng.choice(TOPPING_UP)
    amount = kw.pop("amount", rng.choice([100, 550, 2_000, 5_000, 30_000]))
    return world.payments.open(
        payer_id=payer,
        purpose=purpose,
        amount=amount,
        currency=EUR,
        method=method,
        chat_id=payer,
        **kw,
    )


def top_up_by_card(world: World, rng: random.Random) -> None:
    order = _open(world, rng, PaymentMethod.STRIPE_CARD, Purpose.TOP_UP)
    if rng.random() < 0.9:  # some Payers open the page and never pay
        world.stripe.customer_pays(order.id, order.amount, "EUR")


def top_up_by_crypto(world: World, rng: random.Random) -> None:
    order = _open(world, rng, PaymentMethod.CRYPTO, Purpose.TOP_UP)
    if rng.random() < 0.9:
        world.cryptopay.customer_pays(order.id, order.amount, "EUR")


def top_up_in_telegram(world: World, rng: random.Random) -> None:
    """A card payment inside Telegram: successful_payment is settled by the bot; Telegram
    may take it twice (the Payer pays the same invoice again)."""
    order = _open(world, rng, PaymentMethod.TELEGRAM_CARD, Purpose.TOP_UP)
    for _ in range(2 if rng.random() < 0.15 else 1):
        charge = f"tg_{len(world.telegram_payments) + 1:06d}"
        world.telegram_payments[charge] = Payment("telegram", charge, order.id, order.amount, "EUR")
        update = {"order": order.id, "amount": order.amount, "charge": charge}
        world.outbox.send("telegram", {}, json.dumps(update).encode(), losable=False)


# --- subscriptions ------------------------------------------------------------------------


def _product(rng: random.Random) -> tuple[str, dict[str, Any]]:
    product = rng.choice(sorted(PRODUCTS))
    return product, PRODUCTS[product](rng)


def connect(world: World, rng: random.Random) -> None:
    """Connect from the balance, or, when it does not cover it, by card for the whole."""
    payer = rng.choice(PAYERS)
    customer = payer if rng.random() < 0.7 else rng.choice(PAYERS)
    product, options = _product(rng)
    months = rng.choice([6, 6, 6, 12, 36])
    tax = tax_profile(world.profiles.profile(payer))
    quote = world.subscriptions.quote_connect(
        product=product, options=options, months=months, currency=EUR, tax=tax
    )
    request = f"req-{rng.getrandbits(48):012x}"
    wallet = world.ledger.wallet(payer, EUR)
    if wallet.can_pay(quote.total) or quote.total > 1_000_000:
        world.subscriptions.connect(
            request_id=request,
            payer_id=payer,
            customer_id=customer,
            product=product,
            options=options,
            months=months,
            currency=EUR,
            tax=tax,
            has_saved_card=card_for(world.profiles.profile(payer), EUR) is not None,
        )
        return
    order = world.payments.open(
        payer_id=payer,
        purpose=Purpose.CONNECT,
        amount=quote.total,
        currency=EUR,
        method=PaymentMethod.STRIPE_CARD,
        chat_id=payer,
        details={
            "request_id": request,
            "customer_id": customer,
            "product": product,
            "options": options,
            "months": months,
            "total": quote.total,
        },
    )
    if rng.random() < 0.9:
        world.stripe.customer_pays(order.id, order.amount, "EUR")


def _subscription(world: World, rng: random.Random, *, active: bool = True) -> Any:
    payer = rng.choice(PAYERS)
    subs = world.repository.paid_by(payer)
    subs = [s for s in subs if s.is_active] if active else subs
    return rng.choice(subs) if subs else None


def renew_by_hand(world: World, rng: random.Random) -> None:
    sub = _subscription(world, rng, active=rng.random() < 0.8)
    if sub is None:
        return
    tax = tax_profile(world.profiles.profile(sub.payer_id))
    quote = world.subscriptions.quote_renew(sub.id, by=sub.payer_id, tax=tax)
    world.subscriptions.renew(
        sub.id,
        by=sub.payer_id,
        tax=tax,
        period_key=sub.period_key(),
        expected_total=quote.total,
    )


def change_options(world: World, rng: random.Random) -> None:
    sub = _subscription(world, rng)
    if sub is not None:
        world.subscriptions.change(sub.id, by=sub.payer_id, new_options=PRODUCTS[sub.product](rng))


def switch_auto_renewal(world: World, rng: random.Random) -> None:
    sub = _subscription(world, rng)
    if sub is not None:
        world.subscriptions.set_auto_renew(sub.id, by=sub.payer_id, on=rng.random() < 0.7)


def save_card(world: World, rng: random.Random) -> None:
    _save_card(world, rng, rng.choice(PAYERS))


def _save_card(world: World, rng: random.Random, payer: int) -> None:
    method = f"pm_{payer}_{rng.getrandbits(24):06x}"
    world.stripe.cards[method] = rng.random() < 0.25  # this card declines
    card = SavedCard("visa", "4242", 12, 2034, provider_ref=method, customer_ref=f"cus_{payer}")
    world.profiles.save_card(payer, card)


def terminate(world: World, rng: random.Random) -> None:
    sub = _subscription(world, rng)
    if sub is not None:
        world.subscriptions.terminate_with_credit(sub.id, admin_id=ADMIN)


# --- money out ----------------------------------------------------------------------------------


def _stripe_payment(world: World, rng: random.Random) -> Payment | None:
    paid = [p for p in world.stripe.payments.values() if p.net > 0]
    return rng.choice(paid) if paid else None


def refund_by_support(world: World, rng: random.Random) -> None:
    """Support refunds a paid order from the bot (through Stripe)."""
    payment = _stripe_payment(world, rng)
    if payment is None:
        return
    order = world.payments.order_of_provider(payment.id)
    if order is None or order.status is not OrderStatus.PAID:
        return
    left = order.refundable
    if left > 0:
        world.refunds.refund(order.id, rng.randint(1, left))


def refund_at_stripe(world: World, rng: random.Random) -> None:
    """Someone refunds at Stripe's dashboard: only the webhook tells us."""
    payment = _stripe_payment(world, rng)
    if payment is not None:
        world.stripe.refund_at_dashboard(payment.id, rng.randint(1, payment.net))


def dispute(world: World, rng: random.Random) -> None:
    payment = _stripe_payment(world, rng)
    if payment is not None:
        world.stripe.open_dispute(payment.id)


def win_dispute(world: World, rng: random.Random) -> None:
    disputed = [p for p in world.stripe.payments.values() if p.disputed]
    if disputed:
        world.stripe.win_dispute(rng.choice(disputed).id)


# --- what AWS runs ---------------------------------------------------------------------------


def time_passes(world: World, rng: random.Random) -> None:
    """Minutes to weeks, a day at a time. The schedules fire as in AWS: the sweep each day
    (now and then it misses days: an outage, so it runs late) and reconciliation every few
    days (a run that fails is made up for by the next one)."""
    left = rng.choice(
        [
            timedelta(minutes=rng.randint(1, 59)),
            timedelta(hours=rng.randint(1, 23)),
            timedelta(days=rng.randint(1, 4)),
            timedelta(days=rng.randint(5, 20)),
            timedelta(days=rng.randint(20, 45)),
        ]
    )
    while left > timedelta(0):
        chunk = min(left, timedelta(days=1))
        world.clock.advance(chunk)
        left -= chunk
        if rng.random() < 0.85:
            sweep(world, rng)
        if rng.random() < 0.3:
            _attempt(world, world.reconciler.run)


def sweep(world: World, rng: random.Random) -> None:
    """The schedule queues what is due; each message is worked (a failure is delivered
    again by the queue, i.e. by a later sweep)."""
    for subscription_id in due_subscription_ids(SHARDS, world.clock.now()):
        _attempt(world, partial(world.worker.process, subscription_id))


def deliver_callbacks(world: World, rng: random.Random) -> None:
    for delivery in world.outbox.due(rng):
        status = 599  # no answer: the function died
        try:
            if delivery.provider == "telegram":
                status = _successful_payment(world, delivery.body)
            else:
                answer = world.webhooks.handle(delivery.provider, delivery.headers, delivery.body)
                status = answer.status
        except Crash:
            world.faults.injected["webhook died"] += 1
        except (BillingError, ProviderError):
            status = 503
        world.outbox.answered(delivery, status)


def _successful_payment(world: World, body: bytes) -> int:
    """Telegram's successful_payment update, settled as the bot settles it (redelivered by
    Telegram until it gets a 2xx)."""
    update = json.loads(body)
    world.payments.settle(
        update["order"],
        amount=update["amount"],
        currency="EUR",
        provider="telegram",
        provider_ref=update["charge"],
    )
    return 200


def reconcile(world: World, rng: random.Random) -> None:
    world.reconciler.run()


def _attempt(world: World, work: Callable[[], Any]) -> None:
    """One Lambda invocation's worth of work: a crash or a transient fault is retried by the
    event source later; a refusal is the system's answer."""
    try:
        work()
    except Crash:
        world.faults.injected["invocation died"] += 1
    except (BillingError, ProviderError):
        pass


ACTIONS: dict[str, tuple[int, Callable[[World, random.Random], None]]] = {
    "top_up_by_card": (8, top_up_by_card),
    "top_up_by_crypto": (4, top_up_by_crypto),
    "top_up_in_telegram": (4, top_up_in_telegram),
    "connect": (8, connect),
    "renew_by_hand": (4, renew_by_hand),
    "change_options": (4, change_options),
    "switch_auto_renewal": (3, switch_auto_renewal),
    "save_card": (4, save_card),
    "terminate": (1, terminate),
    "refund_by_support": (2, refund_by_support),
    "refund_at_stripe": (2, refund_at_stripe),
    "dispute": (1, dispute),
    "win_dispute": (1, win_dispute),
    "time_passes": (12, time_passes),
    "sweep": (6, sweep),
    "deliver_callbacks": (10, deliver_callbacks),
    "reconcile": (2, reconcile),
}
