"""Moving money: top-ups, charges, refunds, credits, adjustments, credit limits.

Each movement is one DynamoDB transaction: the wallet update (conditional on the state it
was computed from and, for charges, on the credit limit), the immutable entry keyed by its
cause, and the related object's update (a subscription, an order). A retried cause finds
its entry already written and changes nothing; a lost race re-reads and tries again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from billing.clock import Clock
from billing.domain.money import Currency, format_minor, require_positive
from billing.errors import ConcurrentModification, InsufficientFunds, InvalidAmount, InvalidState
from billing.ledger.model import DEBT_ALLOWED, EntryKind, LedgerEntry, Wallet
from billing.store.balances import ENTRY_PART, WALLET_PART, BalancesRepository
from billing.store.codec import iso
from billing.store.transactions import StaleWrite, TransactionCancelled, TxnPart

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Movement:
    entry: LedgerEntry
    applied_now: bool  # False when the cause had been applied before (a retry)


class RelatedConflict(InvalidState):
    """The related object's condition failed (it changed, or is not in the expected state)."""

    def __init__(self, message: str, parts: frozenset[int]) -> None:
        super().__init__(message)
        self.parts = parts


# Builds the related parts from the wallet about to be written, so they can be recomputed
# when a race forces a retry.
RelatedParts = Callable[[Wallet], Sequence[TxnPart]]


def fixed_parts(parts: Sequence[TxnPart]) -> RelatedParts:
    """Related parts that do not depend on the wallet."""

    def build(_wallet: Wallet) -> Sequence[TxnPart]:
        return parts

    return build


class Ledger:
    def __init__(self, balances: BalancesRepository, clock: Clock) -> None:
        self._balances = balances
        self._clock = clock

    # --- reads ------------------------------------------------------------------------

    def wallet(self, payer_id: int, currency: Currency) -> Wallet:
        return self._balances.wallet(payer_id, currency)

    def wallets(self, payer_id: int) -> list[Wallet]:
        return self._balances.wallets(payer_id)

    def entry(self, payer_id: int, currency: Currency, cause: str) -> LedgerEntry | None:
        return self._balances.entry(payer_id, currency, cause)

    def entries(self, payer_id: int, currency: Currency) -> list[LedgerEntry]:
        return self._balances.entries(payer_id, currency)

    def last_entries(self, payer_id: int, currency: Currency, limit: int = 10) -> list[LedgerEntry]:
        return self._balances.entries(payer_id, currency, newest_first=True, limit=limit)

    # --- movements ----------------------------------------------------------------------

    def top_up(
        self,
        payer_id: int,
        currency: Currency,
        amount: int,
        *,
        cause: str,
        reason: str,
        reference: str | None = None,
        related: RelatedParts | None = None,
    ) -> Movement:
        require_positive(amount)
        return self._move(
            payer_id=payer_id,
            currency=currency,
            amount=amount,
            kind=EntryKind.TOP_UP,
            cause=cause,
            reason=reason,
            reference=reference,
            related=related,
        )

    def charge(
        self,
        payer_id: int,
        currency: Currency,
        amount: int,
        *,
        cause: str,
        reason: str,
        reference: str | None = None,
        related: RelatedParts | None = None,
    ) -> Movement:
        """Debit within the credit limit: allowed while balance - amount >= -credit_limit."""
        require_positive(amount)
        return self._move(
            payer_id=payer_id,
            currency=currency,
            amount=-amount,
            kind=EntryKind.CHARGE,
            cause=cause,
            reason=reason,
            reference=reference,
            related=related,
        )

    def refund(
        self,
        payer_id: int,
        currency: Currency,
        amount: int,
        *,
        cause: str,
        reason: str,
        reference: str | None = None,
        chargeback: bool = False,
        related: RelatedParts | None = None,
    ) -> Movement:
        """Money a provider gave back to the card: debited even into debt (SPEC §4)."""
        require_positive(amount)
        kind = EntryKind.CHARGEBACK if chargeback else EntryKind.REFUND
        return self._move(
            payer_id=payer_id,
            currency=currency,
            amount=-amount,
            kind=kind,
            cause=cause,
            reason=reason,
            reference=reference,
            related=related,
        )

    def credit(
        self,
        payer_id: int,
        currency: Currency,
        amount: int,
        *,
        cause: str,
        reason: str,
        reference: str | None = None,
        related: RelatedParts | None = None,
    ) -> Movement:
        """Unused value returned to the wallet (terminate with credit)."""
        if amount < 0:
            raise InvalidAmount(f"a credit cannot be negative, got {amount}")
        return self._move(
            payer_id=payer_id,
            currency=currency,
            amount=amount,
            kind=EntryKind.CREDIT,
            cause=cause,
            reason=reason,
            reference=reference,
            related=related,
        )

    def adjust(
        self,
        payer_id: int,
        currency: Currency,
        amount: int,
        *,
        cause: str,
        reason: str,
    ) -> Movement:
        """Support's correction, either sign, with a reason; may create debt."""
        if amount == 0:
            raise InvalidAmount("an adjustment must move money")
        if not reason.strip():
            raise InvalidAmount("an adjustment needs a reason")
        return self._move(
            payer_id=payer_id,
            currency=currency,
            amount=amount,
            kind=EntryKind.ADJUSTMENT,
            cause=cause,
            reason=reason,
            reference=None,
            related=None,
        )

    def set_credit_limit(self, payer_id: int, currency: Currency, limit: int) -> Wallet:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise InvalidAmount(
                f"a credit limit is a non-negative integer of minor units, got {limit!r}"
            )
        for _ in range(MAX_ATTEMPTS):
            wallet = self._balances.wallet(payer_id, currency)
            try:
                self._balances.set_credit_limit(wallet, limit, iso(self._clock.now()))
            except StaleWrite:
                continue
            return Wallet(payer_id, currency, wallet.balance, limit, wallet.seq, exists=True)
        raise ConcurrentModification(f"wallet {payer_id}/{currency} kept changing")

    def _move(
        self,
        *,
        payer_id: int,
        currency: Currency,
        amount: int,
        kind: EntryKind,
        cause: str,
        reason: str,
        reference: str | None,
        related: RelatedParts | None,
    ) -> Movement:
        if not cause:
            raise InvalidAmount("every ledger entry needs a cause")
        enforce_limit = amount < 0 and kind not in DEBT_ALLOWED
        for _ in range(MAX_ATTEMPTS):
            wallet = self._balances.wallet(payer_id, currency)
            if enforce_limit and not wallet.can_pay(-amount):
                already = self._balances.entry(payer_id, currency, cause)
                if already is not None:
                    return Movement(already, applied_now=False)
                raise InsufficientFunds(
                    f"the {currency} balance is {format_minor(wallet.balance, currency)}"
                    f" (credit limit {format_minor(wallet.credit_limit, currency)});"
                    f" {format_minor(-amount, currency)} is needed",
                    missing=wallet.missing_for(-amount),
                    currency=currency.value,
                )
            entry = LedgerEntry(
                payer_id=payer_id,
                currency=currency,
                cause=cause,
                amount=amount,
                kind=kind,
                reason=reason,
                reference=reference,
                created_at=self._clock.now(),
                balance_after=wallet.balance + amount,
                credit_limit=wallet.credit_limit,
                seq=wallet.seq + 1,
            )
            parts = related(wallet) if related is not None else ()
            try:
                self._balances.append(wallet, entry, enforce_limit=enforce_limit, related=parts)
            except TransactionCancelled as cancelled:
                if ENTRY_PART in cancelled.failed:
                    already = self._balances.entry(payer_id, currency, cause)
                    if already is not None:
                        return Movement(already, applied_now=False)
                related_failed = cancelled.failed - {WALLET_PART, ENTRY_PART}
                if related_failed:
                    raise RelatedConflict(
                        f"the object paid for changed or is not in the expected state ({cause})",
                        related_failed,
                    ) from cancelled
                continue  # the wallet moved under us, or writers collided: read again
            return Movement(entry, applied_now=True)
        raise ConcurrentModification(f"wallet {payer_id}/{currency} kept changing; try again")
