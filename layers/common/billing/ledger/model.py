"""Wallets and ledger entries as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from billing.domain.money import Currency


class EntryKind(StrEnum):
    TOP_UP = "top_up"  # money received from a payment method
    CHARGE = "charge"  # a purchase: connect or renew
    REFUND = "refund"  # money returned through the provider
    CHARGEBACK = "chargeback"  # a dispute opened by the card holder
    CREDIT = "credit"  # unused value returned to the wallet (terminate with credit)
    ADJUSTMENT = "adjustment"  # support's manual correction, with a reason
    REVERSAL = "reversal"  # a refund or chargeback undone (a dispute won, a refund failed)


# Kinds that may take a wallet below -credit_limit: the money has already left (SPEC §4),
# so the debt is recorded rather than refused.
DEBT_ALLOWED = frozenset({EntryKind.REFUND, EntryKind.CHARGEBACK, EntryKind.ADJUSTMENT})


@dataclass(frozen=True)
class Wallet:
    payer_id: int
    currency: Currency
    balance: int
    credit_limit: int
    seq: int  # number of entries written; 0 for a wallet never touched
    exists: bool

    def can_pay(self, amount: int) -> bool:
        return self.balance - amount >= -self.credit_limit

    def missing_for(self, amount: int) -> int:
        """How much must come in before `amount` can be charged (0 if it can be now)."""
        return max(0, amount - self.credit_limit - self.balance)


@dataclass(frozen=True)
class LedgerEntry:
    payer_id: int
    currency: Currency
    cause: str  # the idempotency key: provider event, subscription + period, admin action
    amount: int  # signed minor units: + credit to the wallet, - debit
    kind: EntryKind
    reason: str
    reference: str | None
    created_at: datetime
    balance_after: int
    credit_limit: int  # the limit in force when written (audit: was it respected?)
    seq: int
