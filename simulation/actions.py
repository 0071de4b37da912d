"""What happens in a simulated run, one step at a time: Payers top up, connect, change,
renew and switch auto-renewal; support refunds and terminates; providers' customers pay,
refund and dispute; time passes; the sweep, the callbacks and reconciliation run as they
would in AWS.

Payers hold their money in EUR, USD or RUB. Each pays by the methods that take its
currency: cards through Stripe (EUR, USD), cards for Russia through YooKassa (RUB, on
YooKassa's payment page, the card possibly saved for auto-renewal), Telegram Stars (any
currency, in whole Stars), cards inside Telegram and crypto (any currency).

A step draws everything it needs from its own random source, so dropping other steps (to
shrink a failing run) leaves what this one does as it was, as far as the world allows.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod, SavedCard, card_for, tax_profile
from billing.errors import BillingError
from billing.orders.checkout import PaymentLink, TelegramInvoice
from billing.orders.model import (
    Order,
    OrderStatus,
    Purpose,
    amount_to_pay,
    maximum_for,
)
from billing.providers.errors import ProviderError, ProviderUnavailable
from billing.store import connection
from billing.sweep import due_subscription_ids
from simulation.faults import Crash
from simulation.providers import Payment
from simulation.world import ADMIN, SHARDS, World

EUR, USD, RUB = Currency.EUR, Currency.USD, Currency.RUB
CURRENCY_OF = {101: EUR, 102: EUR, 103: USD, 104: EUR, 105: EUR, 106: RUB, 107: RUB}
PAYERS = tuple(CURRENCY_OF)
# These never top up: their renewals fall to the saved card, off-session (Stripe's for
# EUR, YooKassa's for RUB).
CARD_ONLY = (104, 105, 107)
TOPPING_UP = tuple(payer for payer in PAYERS if payer not in CARD_ONLY)
AMOUNTS = {
    EUR: [100, 550, 2_000, 5_000, 30_000],
    USD: [100, 550, 2_000, 5_000, 30_000],
    RUB: [10_000, 55_000, 200_000, 500_000, 3_000_000],
}
PHONES = {EUR: "+1 212 555 0100", USD: "+1 212 555 0100", RUB: "+7 912 345-67-89"}
RECEIPT_CONTACTS = ("payer{payer}@example.ru", "+7 916 123-45-67")
PRODUCTS = {
    "softphone": lambda rng: {
        "sip_accounts": rng.choice([1, 2, 5, 12]),
        "recording": rng.choice(["on", "off"]),
    },
    "gateway": lambda rng: {"lines": rng.choice([1, 3, 6]), "extra_sessions": rng.choice([0, 1])},
}


def set_up(world: World) -> None:
    """Payers with a country and a shared phone of it (card methods need them): outside the
    EU for EUR and USD, Russia for RUB, with an e-mail or phone for the 54-FZ receipt; and
    reconciliation running since the start, as its schedule would have."""
    for provider in ("stripe", "cryptopay", "yookassa"):
        world.orders.set_reconciled_until(provider, world.clock.now())
    for payer, currency in CURRENCY_OF.items():
        world.accounts.ensure(
            payer,
            now=world.clock.now(),
            language="ru" if currency is RUB else "en",
            first_name=f"payer{payer}",
            username=None,
            start_parameter=None,
        )
        world.profiles.set_country(payer, "RU" if currency is RUB else "US")
        world.profiles.share_phone(payer, PHONES[currency], contact_user_id=payer)
        if currency is RUB:
            world.profiles.set_receipt_contact(payer, RECEIPT_CONTACTS[0].format(payer=payer))
    for payer in CARD_ONLY:
        _save_card(world, random.Random(payer), payer)
        # A refusal is the system's answer (a misuse a provider refused is reported).
        with contextlib.suppress(BillingError, ProviderError):
            _first_subscription(world, random.Random(payer), payer)


def _first_subscription(world: World, rng: random.Random, payer: int) -> None:
    """A card-only Payer's first subscription, for six months from the start and paid on
    the card provider's page, so its saved card comes due (twice) within a run."""
    currency = CURRENCY_OF[payer]
    options = {"sip_accounts": 1, "recording": "off"}
    tax = tax_profile(world.profiles.profile(payer))
    quote = world.subscriptions.quote_connect(
        product="softphone", options=options, months=6, currency=currency, tax=tax
    )
    method = PaymentMethod.PARTNER_CARD if currency is RUB else PaymentMethod.STRIPE_CARD
    order = world.payments.open(
        payer_id=payer,
        purpose=Purpose.CONNECT,
        amount=quote.total,
        currency=currency,
        method=method,
        chat_id=payer,
        details={
            "request_id": f"first-{payer}",
            "customer_id": payer,
            "product": "softphone",
            "options": options,
            "months": 6,
            "total": quote.total,
        },
    )
    if method is PaymentMethod.STRIPE_CARD:
        world.stripe.customer_pays(order.id, order.amount, currency.value)
        return
    started = world.checkout.start(order, title="Softphone, 6 months")
    assert isinstance(started, PaymentLink) and started.order.provider_ref is not None
    world.yookassa.customer_pays(started.order.provider_ref)


# --- money in ---------------------------------------------------------------------------


def _payer(rng: random.Random, method: PaymentMethod, among: tuple[int, ...] = TOPPING_UP) -> int:
    return rng.choice([payer for payer in among if method.supports(CURRENCY_OF[payer])])


def _open(
    world: World, rng: random.Random, method: PaymentMethod, purpose: Purpose, **kw: Any
) -> Order:
    payer = _payer(rng, method)
    currency = CURRENCY_OF[payer]
    amounts = AMOUNTS[currency][:-1] if method is PaymentMethod.STARS else AMOUNTS[currency]
    amount = kw.pop("amount", rng.choice(amounts))
    return world.payments.open(
        payer_id=payer,
        purpose=purpose,
        amount=amount,
        currency=currency,
        method=method,
        chat_id=payer,
        **kw,
    )


def top_up_by_card(world: World, rng: random.Random) -> None:
    order = _open(world, rng, PaymentMethod.STRIPE_CARD, Purpose.TOP_UP)
    if rng.random() < 0.9:  # some Payers open the page and never pay
        world.stripe.customer_pays(order.id, order.amount, order.currency.value)


def top_up_by_crypto(world: World, rng: random.Random) -> None:
    order = _open(world, rng, PaymentMethod.CRYPTO, Purpose.TOP_UP)
    if rng.random() < 0.9:
        world.cryptopay.customer_pays(order.id, order.amount, order.currency.value)


def top_up_in_telegram(world: World, rng: random.Random) -> None:
    """A card payment inside Telegram: successful_payment is settled by the bot; Telegram
    may take it twice (the Payer pays the same invoice again)."""
    order = _open(world, rng, PaymentMethod.TELEGRAM_CARD, Purpose.TOP_UP)
    currency = order.currency.value
    for _ in range(2 if rng.random() < 0.15 else 1):
        charge = f"tg_{len(world.telegram_payments) + 1:06d}"
        world.telegram_payments[charge] = Payment(
            "telegram", charge, order.id, order.amount, currency, taken_at=world.clock.now()
        )
        update = {"order": order.id, "currency": currency, "amount": order.amount, "charge": charge}
        world.outbox.send("telegram", {}, json.dumps(update).encode(), losable=False)


def top_up_by_partner_card(world: World, rng: random.Random) -> None:
    """A card for Russia: YooKassa's payment page, the card saved if the Payer ticks it."""
    order = _open(world, rng, PaymentMethod.PARTNER_CARD, Purpose.TOP_UP)
    _pay_at_yookassa(world, rng, order, title="Top-up", save_card=rng.random() < 0.3)


def top_up_by_stars(world: World, rng: random.Random) -> None:
    order = _open(world, rng, PaymentMethod.STARS, Purpose.TOP_UP)
    _pay_in_stars(world, rng, order, title="Top-up")


def _pay(world: World, rng: random.Random, order: Order, *, title: str) -> None:
    """The Payer pays `order` by its method, as far as they get."""
    match order.method:
        case PaymentMethod.STRIPE_CARD:
            if rng.random() < 0.9:
                world.stripe.customer_pays(order.id, order.amount, order.currency.value)
        case PaymentMethod.PARTNER_CARD:
            save = order.payer_id in CARD_ONLY or rng.random() < 0.3
            _pay_at_yookassa(world, rng, order, title=title, save_card=save)
        case PaymentMethod.STARS:
            _pay_in_stars(world, rng, order, title=title)
        case _:
            raise AssertionError(f"no simulated payment by {order.method}")


def _started(world: World, rng: random.Random, order: Order, **kw: Any) -> Any:
    """The payment started as the bot starts it; a Payer whose tap got no answer taps again
    (the same order: YooKassa replays its answer to the same Idempotence-Key)."""
    try:
        return world.checkout.start(order, **kw)
    except ProviderUnavailable:
        if rng.random() < 0.5:
            raise
        return world.checkout.start(order, **kw)


def _pay_at_yookassa(
    world: World, rng: random.Random, order: Order, *, title: str, save_card: bool
) -> None:
    started = _started(world, rng, order, title=title, save_card=save_card)
    assert isinstance(started, PaymentLink)
    payment_id = started.order.provider_ref
    if payment_id is not None and rng.random() < 0.9:  # else the page is left unpaid
        world.yookassa.customer_pays(
            payment_id,
            declines=rng.random() < 0.1,
            card_declines_later=rng.random() < 0.25,
        )


def _pay_in_stars(world: World, rng: random.Random, order: Order, *, title: str) -> None:
    """A Stars invoice, its Stars fixed on the order by Checkout; the Payer pays exactly
    them (Telegram's pre-checkout asks the bot), now and then twice."""
    started = _started(world, rng, order, title=title)
    assert isinstance(started, TelegramInvoice)
    order = started.order
    stars = started.params["prices"][0]["amount"]
    worth = _stars_worth(order.amount, order.currency)
    if stars != order.details.get("stars") or not worth <= stars < worth + 1:
        world.misuse.append(
            f"Stars invoice of order {order.id} asks {stars} Stars for"
            f" {order.amount} {order.currency} (worth {worth}, fixed {order.details.get('stars')})"
        )
    if rng.random() < 0.1:
        return  # the invoice is never paid
    for _ in range(2 if rng.random() < 0.1 else 1):
        world.stars.customer_pays(
            order.id,
            payer_id=order.payer_id,
            stars=stars,
            amount=order.amount,
            currency=order.currency.value,
        )


def _stars_worth(amount: int, currency: Currency) -> Decimal:
    """What `amount` is worth in Stars at the configured rate (not rounded): the invoice
    asks the whole Stars just above it, never fewer."""
    rate = connection.bound_settings().stars_rate(currency.value)
    return Decimal(amount) * rate / currency.minor_per_major


# --- subscriptions ------------------------------------------------------------------------


def _product(rng: random.Random) -> tuple[str, dict[str, Any]]:
    product = rng.choice(sorted(PRODUCTS))
    return product, PRODUCTS[product](rng)


def _method(rng: random.Random, currency: Currency) -> PaymentMethod:
    """How a Payer pays a purchase the balance does not cover: a card (Stripe's or, for
    RUB, YooKassa's) or Stars."""
    if rng.random() < 0.2:
        return PaymentMethod.STARS
    return PaymentMethod.PARTNER_CARD if currency is RUB else PaymentMethod.STRIPE_CARD


def connect(world: World, rng: random.Random) -> None:
    """Connect from the balance, or, when it does not cover it, paid whole by a method.
    Card-only Payers connect twice as often, so the sweep has their saved cards to charge."""
    payer = rng.choice(PAYERS + CARD_ONLY)
    currency = CURRENCY_OF[payer]
    customer = payer if rng.random() < 0.7 else rng.choice(PAYERS)
    product, options = _product(rng)
    # Card-only Payers mostly buy short periods, so their saved cards come due in a run.
    months = rng.choice([6, 6, 6, 6, 12] if payer in CARD_ONLY else [6, 6, 6, 12, 36])
    method = _method(rng, currency)
    tax = tax_profile(world.profiles.profile(payer))
    quote = world.subscriptions.quote_connect(
        product=product, options=options, months=months, currency=currency, tax=tax
    )
    request = f"req-{rng.getrandbits(48):012x}"
    wallet = world.ledger.wallet(payer, currency)
    if wallet.can_pay(quote.total) or quote.total > (maximum_for(method, currency) or 0):
        world.subscriptions.connect(
            request_id=request,
            payer_id=payer,
            customer_id=customer,
            product=product,
            options=options,
            months=months,
            currency=currency,
            tax=tax,
            has_saved_card=card_for(world.profiles.profile(payer), currency) is not None,
        )
        return
    order = world.payments.open(
        payer_id=payer,
        purpose=Purpose.CONNECT,
        amount=quote.total,
        currency=currency,
        method=method,
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
    _pay(world, rng, order, title=f"{product}, {months} months")


def _subscription(
    world: World, rng: random.Random, *, active: bool = True, among: tuple[int, ...] = PAYERS
) -> Any:
    payer = rng.choice(among)
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


def renew_by_payment(world: World, rng: random.Random) -> None:
    """Renew by hand, paying what the balance lacks (at least the method's minimum) by a
    card or Stars, as the bot's Renew -> Pay does."""
    sub = _subscription(world, rng, among=TOPPING_UP)
    if sub is None:
        return
    tax = tax_profile(world.profiles.profile(sub.payer_id))
    quote = world.subscriptions.quote_renew(sub.id, by=sub.payer_id, tax=tax)
    missing = world.ledger.wallet(sub.payer_id, quote.currency).missing_for(quote.total)
    if missing == 0:
        return  # the balance covers it: the bot offers no payment
    method = _method(rng, quote.currency)
    order = world.payments.open(
        payer_id=sub.payer_id,
        purpose=Purpose.RENEW,
        amount=amount_to_pay(missing, method, quote.currency),
        currency=quote.currency,
        method=method,
        chat_id=sub.payer_id,
        details={"subscription_id": sub.id, "period_key": sub.period_key(), "total": quote.total},
    )
    _pay(world, rng, order, title=f"{sub.product} renewal")


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
    """A card the Payer saved on a provider's page earlier: at Stripe for EUR and USD, at
    YooKassa (a card for Russia) for RUB. A quarter of them decline off-session."""
    if CURRENCY_OF[payer] is RUB:
        method = world.yookassa.saved_method(declines=rng.random() < 0.25)
        card = SavedCard("Mir", "0004", 12, 2034, provider_ref=method, provider="yookassa")
        world.profiles.save_card(payer, card)
        return
    method = f"pm_{payer}_{rng.getrandbits(24):06x}"
    world.stripe.cards[method] = rng.random() < 0.25  # this card declines
    card = SavedCard("visa", "4242", 12, 2034, provider_ref=method, customer_ref=f"cus_{payer}")
    world.profiles.save_card(payer, card)


def change_receipt_contact(world: World, rng: random.Random) -> None:
    """A Payer in Russia has the 54-FZ receipts sent elsewhere (an e-mail or a phone)."""
    payer = rng.choice([p for p in PAYERS if CURRENCY_OF[p] is RUB])
    world.profiles.set_receipt_contact(payer, rng.choice(RECEIPT_CONTACTS).format(payer=payer))


def terminate(world: World, rng: random.Random) -> None:
    sub = _subscription(world, rng)
    if sub is not None:
        world.subscriptions.terminate_with_credit(sub.id, admin_id=ADMIN)


# --- money out ----------------------------------------------------------------------------------


def _held(payments: dict[str, Payment], rng: random.Random) -> Payment | None:
    """One of a provider's payments it still holds some of."""
    paid = [p for p in payments.values() if p.net > 0]
    return rng.choice(paid) if paid else None


def _stripe_payment(world: World, rng: random.Random) -> Payment | None:
    return _held(world.stripe.payments, rng)


def _paid_order(world: World, payment: Payment | None) -> Order | None:
    order = world.payments.order_of_provider(payment.id) if payment is not None else None
    return order if order is not None and order.status is OrderStatus.PAID else None


def refund_by_support(world: World, rng: random.Random) -> None:
    """Support refunds a paid order from the bot (through Stripe)."""
    order = _paid_order(world, _stripe_payment(world, rng))
    if order is not None and order.refundable > 0:
        world.refunds.refund(order.id, rng.randint(1, order.refundable))


def refund_partner_card_by_support(world: World, rng: random.Random) -> None:
    """Support refunds (part of) a card-for-Russia payment from the bot, with its refund
    receipt; an attempt that got no answer is tried again, the same refund (the same
    Idempotence-Key), or not."""
    order = _paid_order(world, _held(world.yookassa.payments, rng))
    if order is None or order.refundable <= 0:
        return
    amount = order.refundable if rng.random() < 0.3 else rng.randint(1, order.refundable)
    _support_refunds(world, rng, order, amount)


def refund_stars_by_support(world: World, rng: random.Random) -> None:
    """Support refunds a Stars payment: whole (Telegram refunds no part of one), or tries a
    part and is refused."""
    order = _paid_order(world, _held(world.stars.payments, rng))
    if order is None or order.refundable <= 0:
        return
    whole = order.refundable
    amount = whole if rng.random() < 0.9 or whole == 1 else rng.randint(1, whole - 1)
    _support_refunds(world, rng, order, amount)


def _support_refunds(world: World, rng: random.Random, order: Order, amount: int) -> None:
    try:
        world.refunds.refund(order.id, amount)
    except ProviderUnavailable:
        if rng.random() < 0.3:
            raise  # support gives up; the provider's record (and reconciliation) tells
        world.refunds.refund(order.id, amount)


def refund_at_stripe(world: World, rng: random.Random) -> None:
    """Someone refunds at Stripe's dashboard: only the webhook tells us."""
    payment = _stripe_payment(world, rng)
    if payment is not None:
        world.stripe.refund_at_dashboard(payment.id, rng.randint(1, payment.net))


def refund_at_yookassa(world: World, rng: random.Random) -> None:
    """Someone refunds in YooKassa's dashboard: only the notification or the list tells."""
    payment = _held(world.yookassa.payments, rng)
    if payment is not None:
        world.yookassa.refund_at_dashboard(payment.id, rng.randint(1, payment.net))


def dispute(world: World, rng: random.Random) -> None:
    payment = _stripe_payment(world, rng)
    if payment is not None:
        world.stripe.open_dispute(payment.id)


def win_dispute(world: World, rng: random.Random) -> None:
    disputed = [p for p in world.stripe.payments.values() if p.disputed]
    if disputed:
        world.stripe.win_dispute(rng.choice(disputed).id)


def forge_yookassa_notification(world: World, rng: random.Random) -> None:
    """Someone posts a notification YooKassa never sent. One from outside its networks or
    to a wrong secret is refused (401); one that gets past both changes nothing beyond what
    YooKassa's own record says (the invariants check what it may have credited)."""
    forgery = world.yookassa.forge(rng)
    world.faults.injected[f"yookassa forged: {forgery.kind}"] += 1
    before = _footprint(world, forgery.order_id)
    answer = world.webhooks.handle(
        "yookassa",
        {"x-forwarded-for": "185.71.76.10"},  # anyone can write a header; none is trusted
        forgery.body,
        source_ip=forgery.source_ip,
        path_secret=forgery.path_secret,
    )
    if not forgery.authentic and answer.status != 401:
        world.misuse.append(f"a forged notification ({forgery.kind}) was answered {answer.status}")
    if forgery.harmless and _footprint(world, forgery.order_id) != before:
        world.misuse.append(f"a forged notification ({forgery.kind}) changed {forgery.order_id}")


def _footprint(world: World, order_id: str | None) -> Any:
    order = world.orders.get(order_id) if order_id else None
    if order is None:
        return None
    wallet = world.ledger.wallet(order.payer_id, order.currency)
    return order.status, order.version, order.provider_ref, wallet.balance, wallet.seq


# --- what AWS runs ---------------------------------------------------------------------------


def time_passes(world: World, rng: random.Random) -> None:
    """Minutes to weeks, a day at a time. The schedules fire as in AWS: the sweep each day
    (now and then it misses days: an outage, so it runs late) and reconciliation every few
    days (a run that fails is made up for by the next one). The providers decide what was
    pending as its time comes."""
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
        world.yookassa.advance()
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
                answer = world.webhooks.handle(
                    delivery.provider,
                    delivery.headers,
                    delivery.body,
                    source_ip=delivery.source_ip,
                    path_secret=delivery.path_secret,
                )
                status = answer.status
        except Crash:
            world.faults.injected["webhook died"] += 1
        except (BillingError, ProviderError):
            status = 503
        world.outbox.answered(delivery, status)


def _successful_payment(world: World, body: bytes) -> int:
    """Telegram's successful_payment update, settled as the bot settles it (redelivered by
    Telegram until it gets a 2xx): Stars by the Stars their invoice asked, a card by its
    amount."""
    update = json.loads(body)
    if update["currency"] == "XTR":
        world.payments.settle_stars(
            update["order"], stars=update["amount"], charge_id=update["charge"]
        )
    else:
        world.payments.settle(
            update["order"],
            amount=update["amount"],
            currency=update["currency"],
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
    "top_up_by_crypto": (3, top_up_by_crypto),
    "top_up_in_telegram": (3, top_up_in_telegram),
    "top_up_by_partner_card": (5, top_up_by_partner_card),
    "top_up_by_stars": (2, top_up_by_stars),
    "connect": (9, connect),
    "renew_by_hand": (4, renew_by_hand),
    "renew_by_payment": (3, renew_by_payment),
    "change_options": (4, change_options),
    "switch_auto_renewal": (3, switch_auto_renewal),
    "save_card": (4, save_card),
    "change_receipt_contact": (1, change_receipt_contact),
    "terminate": (1, terminate),
    "refund_by_support": (2, refund_by_support),
    "refund_partner_card_by_support": (2, refund_partner_card_by_support),
    "refund_stars_by_support": (2, refund_stars_by_support),
    "refund_at_stripe": (2, refund_at_stripe),
    "refund_at_yookassa": (1, refund_at_yookassa),
    "dispute": (1, dispute),
    "win_dispute": (1, win_dispute),
    "forge_yookassa_notification": (2, forge_yookassa_notification),
    "time_passes": (12, time_passes),
    "sweep": (6, sweep),
    "deliver_callbacks": (10, deliver_callbacks),
    "reconcile": (2, reconcile),
}
