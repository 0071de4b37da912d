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
class Reason:
    """Why money moved: `text` in English for support and audits, and for the Payer the
    catalog's message `ledger_<key>` filled with `facts`, shown in the reader's language
    (billing.bot.balance). A plain string reason (support's own words) has no key."""

    text: str
    key: str = ""
    facts: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def of(reason: Reason | str) -> Reason:
        return reason if isinstance(reason, Reason) else Reason(reason)


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
    # The Payer's wording of `reason` (Reason.key / facts); empty on support's own words.
    reason_key: str = ""
    reason_facts: tuple[tuple[str, str], ...] = ()
