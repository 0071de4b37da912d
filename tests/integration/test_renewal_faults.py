"""Fault injection at each external step of the renewal sweep (SPEC §5.4: "an extension
without its charge, or a charge without its extension, must be impossible"). After the
faults stop and the sweep runs again: every charge has its extension and the reverse,
nothing is charged twice, at Stripe or in the ledger."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from billing.domain.money import Currency
from billing.domain.subscription import ChangeKind
from billing.domain.tax import TaxProfile
from billing.ledger.model import EntryKind
from billing.providers.errors import ProviderUnavailable
from billing.providers.stripe_gateway import OffSessionResult, StripeGateway
from billing.runtime import runtime
from billing.store import transactions
from billing.store.transactions import TransactionCancelled
from local.fake_bot_api import FakeBotApi
from local.localstripe_peer import LocalStripe
from tests.integration.conftest import Sweeper
from tests.integration.payers import payer, saved_card

EUR = Currency.EUR
WALLET_PAYER, CARD_PAYER, BROKE_PAYER = 301, 302, 303
PRICE = 21_420  # Gateway, 1 line, 6 months, DE: 180.00 + 19 %
ATTEMPT_DAY = datetime(2026, 8, 29, 12, 0, tzinfo=UTC)
RENEWED_UNTIL = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


class StripeLedger:
    """Stripe's documented idempotency, which localstripe lacks: a repeated key returns
    the first answer without charging again. Counts the charges really made."""

    def __init__(self, real: Callable[..., OffSessionResult]) -> None:
        self.answers: dict[str, OffSessionResult] = {}
        self.charges_made = 0

        def charge(gateway: StripeGateway, **kwargs: Any) -> OffSessionResult:
            key = kwargs["idempotency_key"]
            if key not in self.answers:
                self.answers[key] = real(gateway, **kwargs)
                self.charges_made += self.answers[key].outcome == "succeeded"
            return self.answers[key]

        self.charge = charge


@pytest.fixture
def world(
    sweeper: Sweeper, localstripe: LocalStripe, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Sweeper, StripeLedger, dict[int, str]]]:
    stripe = StripeLedger(StripeGateway.charge_off_session)
    monkeypatch.setattr(StripeGateway, "charge_off_session", stripe.charge)
    rt = runtime()
    subs = {}
    for payer_id, wallet, card in (
        (WALLET_PAYER, PRICE, None),
        (CARD_PAYER, 0, "4242424242424242"),
        (BROKE_PAYER, 0, None),
    ):
        payer(payer_id, "DE", phone="+49 30 901820")
        if card:
            saved_card(localstripe, payer_id, card)
        rt.ledger.top_up(payer_id, EUR, PRICE + wallet, cause="seed", reason="top-up")
        subs[payer_id] = rt.subscriptions.connect(
            request_id=f"r{payer_id}",
            payer_id=payer_id,
            customer_id=payer_id,
            product="gateway",
            options={"lines": 1},
            months=6,
            currency=EUR,
            tax=TaxProfile.create("DE"),
            has_saved_card=card is not None,
        ).subscription.id
    if not rt.subscriptions.get_any(subs[BROKE_PAYER]).auto_renew:
        rt.subscriptions.set_auto_renew(subs[BROKE_PAYER], by=BROKE_PAYER, on=True)
    sweeper.clock.set(ATTEMPT_DAY)
    yield sweeper, stripe, subs


def failing(times: int, error: Callable[[], Exception], real: Callable[..., Any]) -> Any:
    left = [times]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise error()
        return real(*args, **kwargs)

    return wrapper


def after_the_call(times: int, error: Callable[[], Exception], real: Callable[..., Any]) -> Any:
    """The call happens, then the caller sees an error (a timeout after the fact)."""
    left = [times]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if left[0] > 0:
            left[0] -= 1
            raise error()
        return result

    return wrapper


def throttled() -> Exception:
    return ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "TransactWriteItems",
    )


def cancelled() -> Exception:
    return TransactionCancelled(frozenset(), collided=True)


def stripe_down() -> Exception:
    return ProviderUnavailable("stripe", "503 from Stripe", status=503)


def inject(fault: str, monkeypatch: pytest.MonkeyPatch, telegram: FakeBotApi) -> None:
    real_txn = transactions.run_transaction
    real_charge = StripeGateway.charge_off_session
    match fault:
        case "dynamodb throttling":
            patched = failing(3, throttled, real_txn)
        case "dynamodb throttling after the write":
            patched = after_the_call(3, throttled, real_txn)
        case "cancelled transactions":
            patched = failing(30, cancelled, real_txn)
        case "stripe error":
            monkeypatch.setattr(
                StripeGateway, "charge_off_session", failing(2, stripe_down, real_charge)
            )
            return
        case "stripe timeout after charging":
            monkeypatch.setattr(
                StripeGateway, "charge_off_session", after_the_call(2, stripe_down, real_charge)
            )
            return
        case "telegram 429 and 500":
            for _ in range(3):
                telegram.fail_next("sendMessage", 429, retry_after=1)
                telegram.fail_next("sendMessage", 500)
            return
        case _:
            raise AssertionError(fault)
    for module in (
        "billing.store.transactions",
        "billing.store.balances",
        "billing.store.subscriptions",
    ):
        monkeypatch.setattr(f"{module}.run_transaction", patched)


FAULTS = [
    "dynamodb throttling",
    "dynamodb throttling after the write",
    "cancelled transactions",
    "stripe error",
    "stripe timeout after charging",
    "telegram 429 and 500",
]


@pytest.mark.parametrize("fault", FAULTS)
def test_after_faults_every_charge_has_its_extension_and_none_twice(
    world: tuple[Sweeper, StripeLedger, dict[int, str]],
    fake_telegram: FakeBotApi,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    sweeper, stripe, subs = world
    with monkeypatch.context() as faults:
        inject(fault, faults, fake_telegram)
        failed_under_fault = sweeper.run()
    if fault.startswith("telegram"):
        # The client waited out 429 and retried 500: nothing failed, nothing was lost.
        assert failed_under_fault == 0
        assert "renewed until 1 Mar 2027" in (fake_telegram.messages(WALLET_PAYER)[0]["text"])
    else:
        assert failed_under_fault > 0  # the fault really hit: messages were left for retry
    for _ in range(3):  # the faults have stopped; the sweep runs again (same day)
        sweeper.clock.advance(timedelta(minutes=10))
        sweeper.run()

    rt = runtime()
    for payer_id in (WALLET_PAYER, CARD_PAYER):
        sub = rt.subscriptions.get_any(subs[payer_id])
        renewals = [r for r in sub.history if r.kind is ChangeKind.RENEW]
        charges = [
            e
            for e in rt.ledger.entries(payer_id, EUR)
            if e.kind is EntryKind.CHARGE and e.cause.startswith("renew:")
        ]
        assert len(renewals) == len(charges) == 1, fault
        assert sub.expires_at == RENEWED_UNTIL
        wallet = rt.ledger.wallet(payer_id, EUR)
        assert wallet.balance == sum(e.amount for e in rt.ledger.entries(payer_id, EUR)) == 0
    assert stripe.charges_made == 1  # the card payer's renewal, charged once at Stripe
    broke = rt.subscriptions.get_any(subs[BROKE_PAYER])
    assert broke.expires_at < RENEWED_UNTIL and broke.sweep.attempts == 1
    assert [e.kind for e in rt.ledger.entries(BROKE_PAYER, EUR)] == [
        EntryKind.TOP_UP,
        EntryKind.CHARGE,
    ]
    assert sweeper.dead_letters() == 0


def test_a_message_that_keeps_failing_lands_in_the_dead_letter_queue(
    world: tuple[Sweeper, StripeLedger, dict[int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweeper, _, subs = world
    monkeypatch.setattr(
        "billing.subscriptions.sweep.RenewalWorker.process",
        failing(10_000, throttled, lambda *args, **kwargs: []),
    )
    from functions.renewal_cron import app as cron_app
    from local.events import FakeContext, scheduled_event
    from local.queue_driver import drain

    context = FakeContext("renewal-cron")
    cron_app.lambda_handler(scheduled_event(sweeper.clock.now()), context)
    deliveries = 0
    for _ in range(8):  # template.yaml: five receives, then the dead-letter queue
        deliveries += drain(
            sweeper.sqs, sweeper.queue_url, lambda e: cron_app.lambda_handler(e, context)
        ).delivered

    assert sweeper.dead_letters() == len(subs) == 3
    assert deliveries == 5 * len(subs)


def card_payer_outcome(subs: dict[int, str]) -> tuple[int, int, datetime]:
    """(renewals, order credits, expiry) of the card payer's subscription."""
    rt = runtime()
    sub = rt.subscriptions.get_any(subs[CARD_PAYER])
    renewals = sum(r.kind is ChangeKind.RENEW for r in sub.history)
    credits = sum(e.cause.startswith("order:") for e in rt.ledger.entries(CARD_PAYER, EUR))
    return renewals, credits, sub.expires_at


def test_a_charge_whose_answer_was_lost_is_found_at_stripe_never_charged_again(
    world: tuple[Sweeper, StripeLedger, dict[int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweeper, stripe, subs = world
    with monkeypatch.context() as faults:
        # Stripe charges the card; its answer never arrives (a timeout after the fact).
        faults.setattr(
            StripeGateway,
            "charge_off_session",
            after_the_call(1, stripe_down, StripeGateway.charge_off_session),
        )
        assert sweeper.run() == 1  # the card payer's message is left for a retry
    assert stripe.charges_made == 1

    # The next look comes a day later (an outage): Stripe is asked what became of it.
    sweeper.clock.set(ATTEMPT_DAY + timedelta(days=1))
    assert sweeper.run() == 0

    assert stripe.charges_made == 1
    assert card_payer_outcome(subs) == (1, 1, RENEWED_UNTIL)
    assert sweeper.dead_letters() == 0


def test_a_charge_that_never_reached_stripe_is_retried_with_the_same_key(
    world: tuple[Sweeper, StripeLedger, dict[int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweeper, stripe, subs = world
    keys: list[str] = []
    reaching = StripeGateway.charge_off_session

    def recorded(gateway: StripeGateway, **kwargs: Any) -> OffSessionResult:
        keys.append(kwargs["idempotency_key"])
        return reaching(gateway, **kwargs)

    def lost(gateway: StripeGateway, **kwargs: Any) -> OffSessionResult:
        keys.append(kwargs["idempotency_key"])
        raise stripe_down()

    monkeypatch.setattr(StripeGateway, "charge_off_session", recorded)
    with monkeypatch.context() as faults:
        faults.setattr(StripeGateway, "charge_off_session", lost)
        assert sweeper.run() == 1
    sweeper.clock.set(ATTEMPT_DAY + timedelta(days=1))
    assert sweeper.run() == 0

    assert len(keys) == 2 and keys[0] == keys[1]  # one attempt, tried twice, never a new day's
    assert stripe.charges_made == 1
    assert card_payer_outcome(subs) == (1, 1, RENEWED_UNTIL)
