"""What the bot needs from the rest of the system, passed in (tests build their own)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from billing.accounts.service import ProfileService
from billing.clock import Clock
from billing.domain.catalog import Catalog
from billing.domain.money import Currency
from billing.domain.subscription import Subscription
from billing.ledger.model import LedgerEntry
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

    # What someone else did that the Payer or Customer is told about (SPEC §9).
    def connected_for_customer(self, sub: Subscription) -> None: ...

    def expiry_moved(self, sub: Subscription, old_expiry: datetime, by: int) -> None: ...

    def adjusted(self, user_id: int, entry: LedgerEntry) -> None: ...

    def credit_limit_changed(self, user_id: int, currency: Currency, limit: int) -> None: ...

    def terminated(self, sub: Subscription, credit: int) -> None: ...


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
