"""The process-wide objects a handler needs, built once per Lambda container.

Handlers call `runtime()`; tests and the local stack may call `reset_runtime()` after
changing the environment or the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING

from billing.accounts.service import ProfileService
from billing.bot.deps import BotDeps
from billing.bot.notices import ChatNotices
from billing.bot.router import Bot
from billing.clock import Clock, SystemClock
from billing.config import Settings, settings
from billing.domain.catalog import Catalog, default_catalog, load_catalog
from billing.ledger.service import Ledger
from billing.orders.checkout import Checkout
from billing.orders.invoices import InvoiceIssuer
from billing.orders.refunds import Refunds
from billing.orders.saved_card import SavedCardCharger
from billing.orders.service import PaymentService
from billing.orders.webhooks import ProviderWebhooks
from billing.providers.registry import Providers
from billing.secret_store import forget_secrets, secret
from billing.store import connection
from billing.store.accounts import AccountsRepository
from billing.store.balances import BalancesRepository
from billing.store.conversations import ConversationRepository
from billing.store.dedupe import UpdateDeduplicator
from billing.store.orders import OrdersRepository
from billing.store.queue import RenewalQueue
from billing.store.subscriptions import SubscriptionsRepository
from billing.subscriptions.service import SubscriptionService
from billing.subscriptions.sweep import RenewalWorker
from billing.telegram.client import BotApi

if TYPE_CHECKING:
    from billing.orders.reconcile import Reconciler

_clock: Clock = SystemClock()


class LazyBotApi:
    """The Bot API client, created on first use (it needs the token from SSM)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: BotApi | None = None

    def __call__(self) -> BotApi:
        if self._client is None:
            token = secret(self._settings, self._settings.bot_token_param)
            self._client = BotApi(self._settings.telegram_api_base, token)
        return self._client


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    clock: Clock
    catalog: Catalog
    accounts: AccountsRepository
    subscriptions_repo: SubscriptionsRepository
    ledger: Ledger
    subscriptions: SubscriptionService
    profiles: ProfileService
    orders: OrdersRepository
    payments: PaymentService
    dedupe: UpdateDeduplicator
    bot: Bot
    providers: Providers
    notices: ChatNotices
    telegram: Callable[[], BotApi]
    saved_cards: SavedCardCharger
    renewal_worker: RenewalWorker

    @cached_property
    def renewal_queue(self) -> RenewalQueue:
        """Built on first use, once per container (its SQS client with it); only the
        renewal function has the queue."""
        return RenewalQueue(self.settings)

    def reconciler(self) -> Reconciler:
        from billing.orders.reconcile import Reconciler

        return Reconciler(
            webhooks=self.provider_webhooks(),
            payments=self.payments,
            orders=self.orders,
            providers=self.providers,
            clock=self.clock,
        )

    def provider_webhooks(self) -> ProviderWebhooks:
        return ProviderWebhooks(
            payments=self.payments,
            providers=self.providers,
            profiles=self.profiles,
            dedupe=self.dedupe,
            clock=self.clock,
            notices=self.notices,
        )


@cache
def runtime() -> Runtime:
    config = settings()
    connection.bind(config)
    catalog = load_catalog(config.catalog_path) if config.catalog_path else default_catalog()
    subscriptions_repo = SubscriptionsRepository(config.due_shards)
    ledger = Ledger(BalancesRepository(), _clock)
    accounts = AccountsRepository()
    profiles = ProfileService(accounts, _clock)
    orders = OrdersRepository()
    subscriptions = SubscriptionService(
        catalog=catalog,
        subscriptions=subscriptions_repo,
        ledger=ledger,
        clock=_clock,
        admin_ids=config.admin_ids,
        invoices=InvoiceIssuer(orders=orders, accounts=accounts, catalog=catalog, settings=config),
    )
    payments = PaymentService(
        orders=orders,
        ledger=ledger,
        subscriptions=subscriptions,
        accounts=accounts,
        clock=_clock,
    )
    providers = Providers(config, lambda name: secret(config, name))
    telegram = LazyBotApi(config)
    conversations = ConversationRepository()
    notices = ChatNotices(
        accounts=accounts,
        conversations=conversations,
        clock=_clock,
        orders=orders,
        catalog=catalog,
        telegram=telegram,
        admin_ids=config.admin_ids,
    )
    checkout = Checkout(
        payments=payments, providers=providers, accounts=accounts, settings=config, clock=_clock
    )
    saved_cards = SavedCardCharger(
        payments=payments,
        subscriptions=subscriptions,
        profiles=profiles,
        providers=providers,
        clock=_clock,
    )
    bot = Bot(
        BotDeps(
            catalog=catalog,
            clock=_clock,
            accounts=accounts,
            profiles=profiles,
            conversations=conversations,
            subscriptions=subscriptions,
            ledger=ledger,
            admin_ids=config.admin_ids,
            payments=payments,
            checkout=checkout,
            orders=orders,
            notices=notices,
            refunds=Refunds(payments=payments, providers=providers),
            saved_cards=saved_cards,
        )
    )
    return Runtime(
        settings=config,
        clock=_clock,
        catalog=catalog,
        accounts=accounts,
        subscriptions_repo=subscriptions_repo,
        ledger=ledger,
        subscriptions=subscriptions,
        profiles=profiles,
        orders=orders,
        payments=payments,
        dedupe=UpdateDeduplicator(),
        bot=bot,
        providers=providers,
        notices=notices,
        telegram=telegram,
        saved_cards=saved_cards,
        renewal_worker=RenewalWorker(
            subscriptions=subscriptions,
            repository=subscriptions_repo,
            profiles=profiles,
            ledger=ledger,
            saved_cards=saved_cards,
            checkout=checkout,
            notices=notices,
            clock=_clock,
        ),
    )


def use_clock(clock: Clock) -> None:
    """Replace the clock (local stack, tests) and rebuild on next use."""
    global _clock  # noqa: PLW0603 - the one clock of the process
    _clock = clock
    reset_runtime()


def reset_runtime() -> None:
    settings.cache_clear()
    runtime.cache_clear()
    forget_secrets()
