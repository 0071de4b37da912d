"""Wallets and their ledger entries in the Balances table.

Layout: pk = "payer#<id>"; the wallet item has sk = "wallet#<CUR>", each entry
sk = "entry#<CUR>#<cause>" (so the cause is the key and a retried cause cannot be written
twice) and entry_order = "<CUR>#<seq>" for the by_order index (history in write order).
"""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.exceptions import DoesNotExist, UpdateError

from billing.domain.money import Currency
from billing.ledger.model import EntryKind, LedgerEntry, Wallet
from billing.store import reads
from billing.store.codec import iso, parse_iso
from billing.store.models import LedgerEntryModel, WalletModel
from billing.store.transactions import StaleWrite, TxnPart, TxnWriter, run_transaction

# The wallet is part 0 of a ledger transaction; its entries follow (1..n), then related parts.
WALLET_PART = 0
FIRST_ENTRY_PART = 1


def _pk(payer_id: int) -> str:
    return f"payer#{payer_id}"


def _wallet_sk(currency: Currency) -> str:
    return f"wallet#{currency.value}"


def _entry_sk(currency: Currency, cause: str) -> str:
    return f"entry#{currency.value}#{cause}"


def _entry_order(currency: Currency, seq: int) -> str:
    return f"{currency.value}#{seq:012d}"


def _wallet(model: WalletModel) -> Wallet:
    return Wallet(
        payer_id=int(model.payer_id),
        currency=Currency(model.currency),
        balance=int(model.balance),
        credit_limit=int(model.credit_limit),
        seq=int(model.seq),
        exists=True,
    )


def _entry(model: LedgerEntryModel) -> LedgerEntry:
    return LedgerEntry(
        payer_id=int(model.payer_id),
        currency=Currency(model.currency),
        cause=model.cause,
        amount=int(model.amount),
        kind=EntryKind(model.kind),
        reason=model.reason,
        reason_key=model.reason_key or "",
        reason_facts=tuple(
            (str(name), str(value)) for name, value in (model.reason_facts or {}).items()
        ),
        reference=model.reference,
        created_at=parse_iso(model.created_at),
        balance_after=int(model.balance_after),
        credit_limit=int(model.credit_limit),
        seq=int(model.seq),
    )


class BalancesRepository:
    def wallet(self, payer_id: int, currency: Currency) -> Wallet:
        try:
            model = WalletModel.get(_pk(payer_id), _wallet_sk(currency), consistent_read=True)
        except DoesNotExist:
            return Wallet(payer_id, currency, balance=0, credit_limit=0, seq=0, exists=False)
        return _wallet(model)

    def wallets(self, payer_id: int) -> list[Wallet]:
        query = WalletModel.query(
            _pk(payer_id), WalletModel.sk.startswith("wallet#"), consistent_read=True
        )
        return [_wallet(model) for model in query]

    def entry(self, payer_id: int, currency: Currency, cause: str) -> LedgerEntry | None:
        try:
            model = LedgerEntryModel.get(
                _pk(payer_id), _entry_sk(currency, cause), consistent_read=True
            )
        except DoesNotExist:
            return None
        return _entry(model)

    def entries(
        self,
        payer_id: int,
        currency: Currency,
        *,
        newest_first: bool = False,
        limit: int | None = None,
        after_seq: int = 0,
    ) -> list[LedgerEntry]:
        """In write order (or newest first), only those after `after_seq` if given."""
        order = (
            LedgerEntryModel.entry_order.between(
                _entry_order(currency, after_seq + 1), _entry_order(currency, 10**12 - 1)
            )
            if after_seq
            else LedgerEntryModel.entry_order.startswith(f"{currency.value}#")
        )
        query = LedgerEntryModel.by_order.query(
            _pk(payer_id),
            order,
            scan_index_forward=not newest_first,
            limit=limit,
            consistent_read=True,
        )
        return [_entry(model) for model in query]

    def append(
        self,
        wallet: Wallet,
        entries: Sequence[LedgerEntry],
        *,
        enforce_limit: bool,
        related: Sequence[TxnPart] = (),
    ) -> None:
        """Write the entries and the new wallet state in one transaction with `related` parts.

        Several entries at once let a payment and the purchase it pays for land together
        (a top-up then a charge). The wallet part is conditional on the state it was
        computed from (seq and credit limit unchanged) and, with `enforce_limit`, on the
        balance covering the net debit; each entry part on its cause being new. Raises
        `TransactionCancelled` whose `failed` names the parts that did not hold: the wallet
        is part 0, the entries 1..n in the order given, then the related parts.
        """
        if not entries:
            raise ValueError("a ledger transaction needs at least one entry")
        last = entries[-1]
        net = sum(entry.amount for entry in entries)

        def wallet_part(txn: TxnWriter) -> None:
            model = WalletModel(_pk(wallet.payer_id), _wallet_sk(wallet.currency))
            actions = [
                WalletModel.payer_id.set(wallet.payer_id),
                WalletModel.currency.set(wallet.currency.value),
                WalletModel.balance.set(last.balance_after),
                WalletModel.credit_limit.set(wallet.credit_limit),
                WalletModel.seq.set(last.seq),
                WalletModel.updated_at.set(iso(last.created_at)),
            ]
            if wallet.exists:
                condition = (WalletModel.seq == wallet.seq) & (
                    WalletModel.credit_limit == wallet.credit_limit
                )
                if enforce_limit:
                    # DynamoDB conditions take no arithmetic: compare with a threshold
                    # computed from the wallet read above (ARCHITECTURE, Data).
                    condition &= WalletModel.balance >= (-net - wallet.credit_limit)
            else:
                condition = WalletModel.pk.does_not_exist()
            txn.update(model, actions=actions, condition=condition)

        def entry_part(entry: LedgerEntry) -> TxnPart:
            def put(txn: TxnWriter) -> None:
                model = LedgerEntryModel(
                    _pk(entry.payer_id),
                    _entry_sk(entry.currency, entry.cause),
                    entry_order=_entry_order(entry.currency, entry.seq),
                    payer_id=entry.payer_id,
                    currency=entry.currency.value,
                    cause=entry.cause,
                    amount=entry.amount,
                    kind=entry.kind.value,
                    reason=entry.reason,
                    reason_key=entry.reason_key or None,
                    reason_facts=dict(entry.reason_facts) or None,
                    reference=entry.reference,
                    created_at=iso(entry.created_at),
                    balance_after=entry.balance_after,
                    credit_limit=entry.credit_limit,
                    seq=entry.seq,
                )
                txn.save(model, condition=LedgerEntryModel.sk.does_not_exist())

            return put

        run_transaction([wallet_part, *(entry_part(entry) for entry in entries), *related])

    def set_credit_limit(self, wallet: Wallet, limit: int, now_iso: str) -> None:
        """Conditional on the wallet being as read, so a concurrent charge re-checks."""
        model = WalletModel(_pk(wallet.payer_id), _wallet_sk(wallet.currency))
        condition = (
            (WalletModel.seq == wallet.seq) if wallet.exists else WalletModel.pk.does_not_exist()
        )
        try:
            with reads.writing():
                written = model.update(
                    actions=[
                        WalletModel.payer_id.set(wallet.payer_id),
                        WalletModel.currency.set(wallet.currency.value),
                        WalletModel.balance.set(wallet.balance),
                        WalletModel.credit_limit.set(limit),
                        WalletModel.seq.set(wallet.seq),
                        WalletModel.updated_at.set(now_iso),
                    ],
                    condition=condition,
                )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise StaleWrite(f"wallet {wallet.payer_id}/{wallet.currency} changed") from error
            raise
        reads.wrote(model, written["Attributes"])
