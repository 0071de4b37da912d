"""What the bot needs from the rest of the system, passed in (tests build their own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from billing.accounts.service import ProfileService
from billing.clock import Clock
from billing.domain.catalog import Catalog
from billing.ledger.service import Ledger
from billing.orders.checkout import Checkout
from billing.orders.refunds import Refunds
from billing.orders.saved_card import SavedCardCharger
from billing.orders.service import PaymentService, RefundRecord, Settlement
from billing.store.accounts import AccountsRepository
from billing.store.conversations import ConversationRepository
from billing.store.orders import OrdersRepository
from billing.subscriptions.service import SubscriptionService


class Notices(Protocol):
    """Messages outside the conversation (payment received, invoices, support alerts)."""

    def settled(self, settlement: Settlement) -> None: ...

    def refunded(self, record: RefundRecord) -> None: ...

    def alert(self, reason: str) -> None: ...


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
    payments: PaymentService
    checkout: Checkout
    orders: OrdersRepository
    notices: Notices
    refunds: Refunds
    saved_cards: SavedCardCharger
