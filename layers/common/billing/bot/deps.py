"""What the bot needs from the rest of the system, passed in (tests build their own)."""

from __future__ import annotations

from dataclasses import dataclass

from billing.accounts.service import ProfileService
from billing.clock import Clock
from billing.domain.catalog import Catalog
from billing.ledger.service import Ledger
from billing.store.accounts import AccountsRepository
from billing.store.conversations import ConversationRepository
from billing.subscriptions.service import SubscriptionService


@dataclass(frozen=True)
class BotDeps:
    catalog: Catalog
    clock: Clock
    accounts: AccountsRepository
    profiles: ProfileService
    conversations: ConversationRepository
    subscriptions: SubscriptionService
    ledger: Ledger
    admin_ids: frozenset[int]
