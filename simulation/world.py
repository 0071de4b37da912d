"""The money system under test, wired as billing.runtime wires it, with the simulated
providers in place of the real ones, on DynamoDB (moto, in process), on a manual clock.

The ids the code draws at random (order numbers, alert ids, draft nonces) come from the
run's seed, so a run replays exactly.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws

from billing.accounts.service import ProfileService
from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.catalog import default_catalog
from billing.ledger.service import Ledger
from billing.observability import logger
from billing.orders.checkout import Checkout
from billing.orders.invoices import InvoiceIssuer
from billing.orders.receipts import FiscalReceipts
from billing.orders.reconcile import Reconciler
from billing.orders.refunds import Refunds
from billing.orders.saved_card import SavedCardCharger
from billing.orders.service import PaymentService
from billing.orders.webhooks import ProviderWebhooks
from billing.providers.errors import ProviderError
from billing.store import connection
from billing.store.accounts import AccountsRepository
from billing.store.balances import BalancesRepository
from billing.store.dedupe import UpdateDeduplicator
from billing.store.orders import OrdersRepository
from billing.store.subscriptions import SubscriptionsRepository
from billing.subscriptions.service import SubscriptionService
from billing.subscriptions.sweep import RenewalWorker
from local.template_tables import create_tables
from simulation.faults import FaultRates, Faults
from simulation.providers import (
    Outbox,
    SimCryptoPay,
    SimProviders,
    SimStars,
    SimStripe,
    SimYooKassa,
)

START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
REGION = "eu-central-1"
ADMIN = 900
SHARDS = 4


class Told:
    """Every notice the system sends, counted (the chat is not under test here)."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*_args: Any, **_kwargs: Any) -> None:
            self.count[name] = self.count.get(name, 0) + 1

        return record


class World:
    def __init__(self, seed: int, rates: FaultRates) -> None:
        self.rng = random.Random(seed)
        self.clock = ManualClock(START)
        self.faults = Faults(random.Random(self.rng.getrandbits(64)), rates)
        self.outbox = Outbox(self.faults, self.clock)
        self.stripe = SimStripe(self.faults, self.clock, self.outbox)
        self.cryptopay = SimCryptoPay(self.clock, self.outbox)
        # What a provider saw our code do that it must never do (a payment without its
        # receipt, a refund of someone else's Stars), and what a forged notification got
        # through: each one is a violation (invariants.Checker).
        self.misuse: list[str] = []
        self.yookassa = SimYooKassa(self.faults, self.clock, self.outbox, self.misuse)
        self.stars = SimStars(self.faults, self.clock, self.outbox, self.misuse)
        self.telegram_payments: dict[str, Any] = {}  # charge id -> Payment (Telegram's record)
        self.providers = SimProviders(self.stripe, self.cryptopay, self.yookassa, self.stars)
        self._ids = random.Random(self.rng.getrandbits(64))
        self.told = Told()

    @contextmanager
    def running(self) -> Iterator[World]:
        """DynamoDB in process (moto), the tables from template.yaml, the code wired."""
        real_token_hex = secrets.token_hex
        secrets.token_hex = lambda nbytes=None: self._ids.randbytes(nbytes or 16).hex()
        try:
            # The code's own logs would drown the report; errors still show, but for those
            # that only tell of a fault the simulation injected.
            logger.setLevel("ERROR")
            logger.addFilter(_not_simulated)
            with mock_aws(), self.faults.around_writes():
                create_tables(boto3.client("dynamodb", region_name=REGION))
                connection.bind(Settings(region=REGION, admin_ids=frozenset({ADMIN})))
                self._wire()
                yield self
        finally:
            logger.removeFilter(_not_simulated)
            secrets.token_hex = real_token_hex

    def _wire(self) -> None:
        settings = connection.bound_settings()
        catalog = default_catalog()
        clock = self.clock
        self.catalog = catalog
        self.accounts = AccountsRepository()
        self.profiles = ProfileService(self.accounts, clock)
        self.orders = OrdersRepository()
        self.ledger = Ledger(BalancesRepository(), clock)
        self.repository = SubscriptionsRepository(SHARDS)
        self.subscriptions = SubscriptionService(
            catalog=catalog,
            subscriptions=self.repository,
            ledger=self.ledger,
            clock=clock,
            admin_ids=frozenset({ADMIN}),
            invoices=InvoiceIssuer(
                orders=self.orders, accounts=self.accounts, catalog=catalog, settings=settings
            ),
        )
        self.payments = PaymentService(
            orders=self.orders,
            ledger=self.ledger,
            subscriptions=self.subscriptions,
            accounts=self.accounts,
            clock=clock,
        )
        providers: Any = self.providers
        self.webhooks = ProviderWebhooks(
            payments=self.payments,
            providers=providers,
            profiles=self.profiles,
            dedupe=UpdateDeduplicator(),
            clock=clock,
            notices=self.told,
            signature_clock=clock,
        )
        self.receipts = FiscalReceipts(accounts=self.accounts, settings=settings)
        self.refunds = Refunds(payments=self.payments, providers=providers, receipts=self.receipts)
        self.saved_cards = SavedCardCharger(
            payments=self.payments,
            subscriptions=self.subscriptions,
            profiles=self.profiles,
            providers=providers,
            receipts=self.receipts,
            clock=clock,
        )
        # The Payer's way to a payment page (YooKassa) or a Stars invoice, as the bot starts
        # it; the sweep gets none (3-D Secure is not simulated).
        self.checkout = Checkout(
            payments=self.payments,
            providers=providers,
            accounts=self.accounts,
            settings=settings,
            clock=clock,
        )
        checkout: Any = _NoCheckout()
        self.worker = RenewalWorker(
            subscriptions=self.subscriptions,
            repository=self.repository,
            profiles=self.profiles,
            ledger=self.ledger,
            saved_cards=self.saved_cards,
            checkout=checkout,
            notices=self.told,
            clock=clock,
        )
        self.reconciler = Reconciler(
            webhooks=self.webhooks,
            payments=self.payments,
            orders=self.orders,
            providers=providers,
            clock=clock,
        )


def _not_simulated(record: logging.LogRecord) -> bool:
    """False for a log line about a provider fault the simulation injected (expected)."""
    error = record.exc_info[1] if record.exc_info else None
    return not (isinstance(error, ProviderError) and "simulated:" in str(error))


class _NoCheckout:
    """No payment page for a renewal that needs the Payer (3-D Secure is not simulated)."""

    def start(self, *_args: Any, **_kwargs: Any) -> Any:
        from billing.providers.errors import ProviderUnavailable

        raise ProviderUnavailable("stripe", "no payment pages in the simulation")
