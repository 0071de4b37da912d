"""The process-wide objects the handlers need, built once per Lambda container, each on
first use.

Every part is a cached property that imports its own modules, so a handler builds (and
imports) only the graph under the part it asks for: the Telegram webhook `bot`, the
payment webhook `provider_webhooks`, the renewal function `renewal_worker` and
`renewal_queue`, the reconciliation `reconciler`, the entitlements read API
`entitlements_api` and its change events `entitlement_events`. Those are the handlers'
composition roots; tests/unit/test_boundaries.py checks what each handler imports before
its first DynamoDB request, and `make bench` what that costs. The notices (which need the bot's
texts) and the provider clients (SDKs, httpx) are built when first used.

Handlers call `runtime()`; tests and the local stack may call `reset_runtime()` after
changing the environment or the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, cast

from billing.clock import Clock, SystemClock
from billing.config import Settings, settings
from billing.secret_store import forget_secrets, secret

if TYPE_CHECKING:
    from billing.accounts.service import ProfileService
    from billing.bot.notices import ChatNotices
    from billing.bot.router import Bot
    from billing.domain.catalog import Catalog
    from billing.ledger.service import Ledger
    from billing.orders.checkout import Checkout
    from billing.orders.receipts import FiscalReceipts
    from billing.orders.reconcile import Reconciler
    from billing.orders.saved_card import SavedCardCharger
    from billing.orders.service import PaymentService
    from billing.orders.webhooks import ProviderWebhooks
    from billing.providers.registry import Providers
    from billing.store.accounts import AccountsRepository
    from billing.store.conversations import ConversationRepository
    from billing.store.dedupe import UpdateDeduplicator
    from billing.store.orders import OrdersRepository
    from billing.store.queue import RenewalQueue
    from billing.store.subscriptions import SubscriptionsRepository
    from billing.subscriptions.service import SubscriptionService
    from billing.subscriptions.sweep import RenewalWorker
    from billing.telegram.client import BotApi
    from billing.telephony.events import ChangePublisher
    from billing.telephony.read_api import EntitlementsReadApi

_clock: Clock = SystemClock()


class LazyBotApi:
    """The Bot API client, created on first use (it needs the token from SSM, and httpx)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: BotApi | None = None

    def __call__(self) -> BotApi:
        if self._client is None:
            from billing.telegram.client import BotApi

            token = secret(self._settings, self._settings.bot_token_param)
            self._client = BotApi(self._settings.telegram_api_base, token)
        return self._client


class _Deferred:
    """Stands in for an object that is built on its first attribute access."""

    def __init__(self, build: Callable[[], object]) -> None:
        self._build = build
        self._built: object | None = None

    def __getattr__(self, name: str) -> Any:
        if self._built is None:
            self._built = self._build()
        return getattr(self._built, name)


class Runtime:
    def __init__(self, config: Settings, clock: Clock) -> None:
        from billing import aws

        self.settings = config
        self.clock = clock
        # A new runtime (new settings, perhaps new endpoints) starts with new clients; the
        # models are bound later without dropping them again: the SSM client made for the
        # webhook secret and the models then share one botocore session, whose service
        # models and endpoint rules cost tens of ms of CPU to load on a cold start.
        aws.forget_clients()
        self._models_bound = False

    # --- the data --------------------------------------------------------------------------

    def bind_models(self) -> None:
        """Bind the pynamodb models to the configured tables, once, before the first
        repository or the sweep's query uses them: the entitlement functions read raw and so
        never import pynamodb. Binding gives the models new clients, so a test or benchmark
        that hooks a model's client binds first."""
        if not self._models_bound:
            from billing.store import connection

            connection.bind(self.settings, forget_clients=False)
            self._models_bound = True

    @cached_property
    def catalog(self) -> Catalog:
        from billing.domain.catalog import default_catalog, load_catalog

        path = self.settings.catalog_path
        return load_catalog(path) if path else default_catalog()

    @cached_property
    def accounts(self) -> AccountsRepository:
        from billing.store.accounts import AccountsRepository

        self.bind_models()
        return AccountsRepository()

    @cached_property
    def subscriptions_repo(self) -> SubscriptionsRepository:
        from billing.store.subscriptions import SubscriptionsRepository

        self.bind_models()
        return SubscriptionsRepository(self.settings.due_shards)

    @cached_property
    def orders(self) -> OrdersRepository:
        from billing.store.orders import OrdersRepository

        self.bind_models()
        return OrdersRepository()

    @cached_property
    def dedupe(self) -> UpdateDeduplicator:
        from billing.store.dedupe import UpdateDeduplicator

        self.bind_models()
        return UpdateDeduplicator()

    def _conversations(self) -> ConversationRepository:
        from billing.store.conversations import ConversationRepository

        self.bind_models()
        return ConversationRepository()

    def due_subscription_ids(self, now: datetime) -> list[str]:
        """The sweep's query (of the models themselves, no repository)."""
        from billing.sweep import due_subscription_ids

        self.bind_models()
        return due_subscription_ids(self.settings.due_shards, now)

    @cached_property
    def renewal_queue(self) -> RenewalQueue:
        """Only the renewal function has the queue."""
        from billing.store.queue import RenewalQueue

        return RenewalQueue(self.settings)

    # --- the services ----------------------------------------------------------------------

    @cached_property
    def ledger(self) -> Ledger:
        from billing.ledger.service import Ledger
        from billing.store.balances import BalancesRepository

        self.bind_models()
        return Ledger(BalancesRepository(), self.clock)

    @cached_property
    def profiles(self) -> ProfileService:
        from billing.accounts.service import ProfileService

        return ProfileService(self.accounts, self.clock)

    @cached_property
    def subscriptions(self) -> SubscriptionService:
        from billing.orders.invoices import InvoiceIssuer
        from billing.subscriptions.service import SubscriptionService

        return SubscriptionService(
            catalog=self.catalog,
            subscriptions=self.subscriptions_repo,
            ledger=self.ledger,
            clock=self.clock,
            admin_ids=self.settings.admin_ids,
            invoices=InvoiceIssuer(
                orders=self.orders,
                accounts=self.accounts,
                catalog=self.catalog,
                settings=self.settings,
            ),
        )

    @cached_property
    def payments(self) -> PaymentService:
        from billing.orders.service import PaymentService

        return PaymentService(
            orders=self.orders,
            ledger=self.ledger,
            subscriptions=self.subscriptions,
            accounts=self.accounts,
            clock=self.clock,
        )

    @cached_property
    def providers(self) -> Providers:
        from billing.providers.registry import Providers

        config = self.settings
        return Providers(config, lambda name: secret(config, name))

    @cached_property
    def telegram(self) -> Callable[[], BotApi]:
        return LazyBotApi(self.settings)

    @cached_property
    def notices(self) -> ChatNotices:
        """Built when something is first told: the bot's texts load with it."""

        def build() -> ChatNotices:
            from billing.bot.notices import ChatNotices

            return ChatNotices(
                accounts=self.accounts,
                conversations=self._conversations(),
                clock=self.clock,
                orders=self.orders,
                catalog=self.catalog,
                telegram=self.telegram,
                admin_ids=self.settings.admin_ids,
            )

        return cast("ChatNotices", _Deferred(build))

    @cached_property
    def checkout(self) -> Checkout:
        from billing.orders.checkout import Checkout

        return Checkout(
            payments=self.payments,
            providers=self.providers,
            accounts=self.accounts,
            settings=self.settings,
            clock=self.clock,
        )

    @cached_property
    def saved_cards(self) -> SavedCardCharger:
        from billing.orders.saved_card import SavedCardCharger

        return SavedCardCharger(
            payments=self.payments,
            subscriptions=self.subscriptions,
            profiles=self.profiles,
            providers=self.providers,
            receipts=self.receipts,
            clock=self.clock,
        )

    @cached_property
    def receipts(self) -> FiscalReceipts:
        from billing.orders.receipts import FiscalReceipts

        return FiscalReceipts(accounts=self.accounts, settings=self.settings)

    # --- the handlers' roots ---------------------------------------------------------------

    @cached_property
    def bot(self) -> Bot:
        from billing.bot.deps import BotDeps
        from billing.bot.router import Bot
        from billing.orders.refunds import Refunds

        return Bot(
            BotDeps(
                catalog=self.catalog,
                clock=self.clock,
                accounts=self.accounts,
                profiles=self.profiles,
                conversations=self._conversations(),
                subscriptions=self.subscriptions,
                ledger=self.ledger,
                admin_ids=self.settings.admin_ids,
                payments=self.payments,
                checkout=self.checkout,
                orders=self.orders,
                notices=self.notices,
                refunds=Refunds(
                    payments=self.payments, providers=self.providers, receipts=self.receipts
                ),
                saved_cards=self.saved_cards,
            )
        )

    @cached_property
    def renewal_worker(self) -> RenewalWorker:
        from billing.subscriptions.sweep import RenewalWorker

        # The use cases are built when a message needs them, after its subscription is read.
        return RenewalWorker(
            subscriptions=cast("SubscriptionService", _Deferred(lambda: self.subscriptions)),
            repository=self.subscriptions_repo,
            profiles=cast("ProfileService", _Deferred(lambda: self.profiles)),
            ledger=cast("Ledger", _Deferred(lambda: self.ledger)),
            saved_cards=cast("SavedCardCharger", _Deferred(lambda: self.saved_cards)),
            checkout=cast("Checkout", _Deferred(lambda: self.checkout)),
            notices=self.notices,
            clock=self.clock,
        )

    def provider_webhooks(self) -> ProviderWebhooks:
        from billing.orders.webhooks import ProviderWebhooks

        # The use cases are built when an authentic event has been claimed, not before.
        return ProviderWebhooks(
            payments=cast("PaymentService", _Deferred(lambda: self.payments)),
            providers=self.providers,
            profiles=cast("ProfileService", _Deferred(lambda: self.profiles)),
            dedupe=self.dedupe,
            clock=self.clock,
            notices=self.notices,
        )

    def reconciler(self) -> Reconciler:
        from billing.orders.reconcile import Reconciler

        return Reconciler(
            webhooks=self.provider_webhooks(),
            payments=self.payments,
            orders=self.orders,
            providers=self.providers,
            clock=self.clock,
        )

    @cached_property
    def entitlements_api(self) -> EntitlementsReadApi:
        """The read API of the telephony side: the entitlements table read raw and the
        catalog, nothing else (no pynamodb, no models)."""
        from billing.store.entitlements import EntitlementsReader
        from billing.telephony.read_api import EntitlementsReadApi

        return EntitlementsReadApi(EntitlementsReader(self.settings), self.catalog)

    @cached_property
    def entitlement_events(self) -> ChangePublisher:
        """The change events from the entitlements table's stream to the bus."""
        from billing import aws
        from billing.telephony.events import ChangePublisher

        config = self.settings
        return ChangePublisher(
            self.catalog,
            config.entitlements_bus,
            lambda: aws.client("events", config.region, config.aws_endpoint_url),
        )


@cache
def runtime() -> Runtime:
    return Runtime(settings(), _clock)


def use_clock(clock: Clock) -> None:
    """Replace the clock (local stack, tests) and rebuild on next use."""
    global _clock  # noqa: PLW0603 - the one clock of the process
    _clock = clock
    reset_runtime()


def reset_runtime() -> None:
    settings.cache_clear()
    runtime.cache_clear()
    forget_secrets()
