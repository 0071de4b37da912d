"""The process-wide objects a handler needs, built once per Lambda container.

Handlers call `runtime()`; tests and the local stack may call `reset_runtime()` after
changing the environment or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from billing.clock import Clock, SystemClock
from billing.config import Settings, settings
from billing.domain.catalog import Catalog, default_catalog, load_catalog
from billing.ledger.service import Ledger
from billing.store import connection
from billing.store.accounts import AccountsRepository
from billing.store.balances import BalancesRepository
from billing.store.subscriptions import SubscriptionsRepository
from billing.subscriptions.service import SubscriptionService

_clock: Clock = SystemClock()


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    clock: Clock
    catalog: Catalog
    accounts: AccountsRepository
    subscriptions_repo: SubscriptionsRepository
    ledger: Ledger
    subscriptions: SubscriptionService


@cache
def runtime() -> Runtime:
    config = settings()
    connection.bind(config)
    catalog = load_catalog(config.catalog_path) if config.catalog_path else default_catalog()
    subscriptions_repo = SubscriptionsRepository(config.due_shards)
    ledger = Ledger(BalancesRepository(), _clock)
    return Runtime(
        settings=config,
        clock=_clock,
        catalog=catalog,
        accounts=AccountsRepository(),
        subscriptions_repo=subscriptions_repo,
        ledger=ledger,
        subscriptions=SubscriptionService(
            catalog=catalog,
            subscriptions=subscriptions_repo,
            ledger=ledger,
            clock=_clock,
            admin_ids=config.admin_ids,
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
