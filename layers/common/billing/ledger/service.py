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
from billing.ledger.model import DEBT_ALLOWED, EntryKind, LedgerEntry, Reason, Wallet
from billing.store.balances import FIRST_ENTRY_PART, BalancesRepository
from billing.store.codec import iso
from billing.store.transactions import StaleWrite, TransactionCancelled, TxnPart, TxnWriter

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Movement:
    entry: LedgerEntry
    applied_now: bool  # False when the cause had been applied before (a retry)
    funding_entry: LedgerEntry | None = None  # the payment credited together with a charge


@dataclass(frozen=True)
class Funding:
    """Money received for a purchase (a paid order), credited in the same transaction as
    the charge it pays for, so the payment and the purchase land together or not at all."""

    amount: int
    cause: str
    reason: Reason | str
    reference: str | None = None


class FundingAlreadyApplied(InvalidState):
    """The payment was credited before without this purchase (an earlier fallback)."""


@dataclass(frozen=True)
class _Spec:
    amount: int
    kind: EntryKind
    cause: str
    reason: Reason | str
    reference: str | None


class RetryablePart:
    """A related part whose condition guards a shared counter (invoice numbers): its
    failure means another writer went first, so the ledger reads again and retries
    instead of refusing."""

    def __init__(self, part: TxnPart) -> None:
        self._part = part

    def __call__(self, txn: TxnWriter) -> None:
        self._part(txn)


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
        reason: Reason | str,
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
        reason: Reason | str,
        reference: str | None = None,
        related: RelatedParts | None = None,
        funding: Funding | None = None,
    ) -> Movement:
        """Debit within the credit limit: allowed while balance - amount >= -credit_limit.

        With `funding`, the payment is credited first in the same transaction (SPEC §4:
        every payment goes to the wallet, every purchase is a debit from it)."""
        require_positive(amount)
        specs = []
        if funding is not None:
            require_positive(funding.amount)
            specs.append(
                _Spec(
                    funding.amount,
                    EntryKind.TOP_UP,
                    funding.cause,
                    funding.reason,
                    funding.reference,
                )
            )
        specs.append(_Spec(-amount, EntryKind.CHARGE, cause, reason, reference))
        return self._apply(payer_id, currency, specs, related)

    def refund(
        self,
        payer_id: int,
        currency: Currency,
        amount: int,
        *,
        cause: str,
        reason: Reason | str,
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

    def reverse(
        self,
        payer_id: int,
        currency: Currency,
        amount: int,
        *,
        cause: str,
        reason: Reason | str,
        reference: str | None = None,
        related: RelatedParts | None = None,
    ) -> Movement:
        """Money a refund or chargeback took that came back (a dispute the seller won)."""
        require_positive(amount)
        return self._move(
            payer_id=payer_id,
            currency=currency,
            amount=amount,
            kind=EntryKind.REVERSAL,
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
        reason: Reason | str,
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
        reason: Reason | str,
    ) -> Movement:
        """Support's correction, either sign, with a reason; may create debt."""
        if amount == 0:
            raise InvalidAmount("an adjustment must move money")
        if not Reason.of(reason).text.strip():
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
        reason: Reason | str,
        reference: str | None,
        related: RelatedParts | None,
    ) -> Movement:
        return self._apply(
            payer_id, currency, [_Spec(amount, kind, cause, reason, reference)], related
        )

    def _apply(
        self,
        payer_id: int,
        currency: Currency,
        specs: Sequence[_Spec],
        related: RelatedParts | None,
    ) -> Movement:
        """Write `specs` as consecutive entries of one wallet in one transaction. The last
        spec is the movement asked for; an earlier one is the payment funding it."""
        if any(not spec.cause for spec in specs):
            raise InvalidAmount("every ledger entry needs a cause")
        main = specs[-1]
        net = sum(spec.amount for spec in specs)
        enforce_limit = any(spec.amount < 0 and spec.kind not in DEBT_ALLOWED for spec in specs)
        entry_parts = set(range(FIRST_ENTRY_PART, FIRST_ENTRY_PART + len(specs)))
        for _ in range(MAX_ATTEMPTS):
            wallet = self._balances.wallet(payer_id, currency)
            if enforce_limit and not wallet.can_pay(-net):
                already = self._already(payer_id, currency, specs)
                if already is not None:
                    return already
                raise InsufficientFunds(
                    f"the {currency} balance is {format_minor(wallet.balance, currency)}"
                    f" (credit limit {format_minor(wallet.credit_limit, currency)});"
                    f" {format_minor(-net, currency)} is needed",
                    missing=wallet.missing_for(-net),
                    currency=currency.value,
                    balance=format_minor(wallet.balance, currency),
                    limit=format_minor(wallet.credit_limit, currency),
                    needed=format_minor(-net, currency),
                )
            now = self._clock.now()
            entries: list[LedgerEntry] = []
            balance, seq = wallet.balance, wallet.seq
            for spec in specs:
                balance += spec.amount
                seq += 1
                entries.append(
                    LedgerEntry(
                        payer_id=payer_id,
                        currency=currency,
                        cause=spec.cause,
                        amount=spec.amount,
                        kind=spec.kind,
                        reason=Reason.of(spec.reason).text,
                        reason_key=Reason.of(spec.reason).key,
                        reason_facts=Reason.of(spec.reason).facts,
                        reference=spec.reference,
                        created_at=now,
                        balance_after=balance,
                        credit_limit=wallet.credit_limit,
                        seq=seq,
                    )
                )
            parts = list(related(wallet)) if related is not None else []
            first_related = FIRST_ENTRY_PART + len(specs)
            retryable = {
                first_related + index
                for index, part in enumerate(parts)
                if isinstance(part, RetryablePart)
            }
            try:
                self._balances.append(wallet, entries, enforce_limit=enforce_limit, related=parts)
            except TransactionCancelled as cancelled:
                if cancelled.failed & entry_parts:
                    already = self._already(payer_id, currency, specs)
                    if already is not None:
                        return already
                related_failed = cancelled.failed - entry_parts - {0}
                if related_failed - retryable:
                    raise RelatedConflict(
                        f"the object paid for changed or is not in the expected state"
                        f" ({main.cause})",
                        related_failed,
                    ) from cancelled
                continue  # the wallet or a counter moved under us: read again
            return Movement(
                entries[-1],
                applied_now=True,
                funding_entry=entries[0] if len(entries) > 1 else None,
            )
        raise ConcurrentModification(f"wallet {payer_id}/{currency} kept changing; try again")

    def _already(
        self, payer_id: int, currency: Currency, specs: Sequence[_Spec]
    ) -> Movement | None:
        """The earlier movement when these causes were applied before (a retry)."""
        main = self._balances.entry(payer_id, currency, specs[-1].cause)
        funding = (
            self._balances.entry(payer_id, currency, specs[0].cause) if len(specs) > 1 else None
        )
        if main is not None:
            return Movement(main, applied_now=False, funding_entry=funding)
        if funding is not None:
            raise FundingAlreadyApplied(
                f"payment {specs[0].cause} was credited before without {specs[-1].cause}"
            )
        return None
