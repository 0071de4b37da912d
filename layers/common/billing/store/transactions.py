"""One DynamoDB transaction built from parts contributed by several repositories.

Money moves only inside one `TransactWriteItems` that also records why (SPEC §4): the
ledger contributes the wallet update and the entry, other repositories contribute the
subscription or order update. When DynamoDB cancels the transaction, callers learn which
parts' conditions failed, by part number.

The operation's read map (store/reads.py) learns the outcome: after a commit, each item
put is known as put, each deleted one as absent, each updated one is forgotten (its new
attributes are not returned); a transaction that fails in any way forgets everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from billing.store import reads
from billing.store.connection import transaction

# pynamodb sends a transaction's operations grouped by type, in this order, whatever the
# order they were added in; cancellation reasons come back in the order sent.
_SEND_ORDER = ("condition_check", "delete", "save", "update")


class TxnWriter:
    """What a part may add to the transaction; remembers which part added each write."""

    def __init__(self, txn: TransactWrite) -> None:
        self._txn = txn
        self._part = 0
        self.writes: list[tuple[str, int]] = []  # (operation type, part number)
        # What the written items are once the transaction commits: put as given, absent, or
        # updated (the new attributes are not returned, so not known here).
        self._put: list[tuple[reads.Key, reads.RawItem]] = []
        self._deleted: list[reads.Key] = []
        self._updated: list[reads.Key] = []

    def save(self, model: Model, condition: Condition | None = None) -> None:
        self.writes.append(("save", self._part))
        self._txn.save(model, condition=condition)
        self._put.append((reads.key_of(model), model.serialize(null_check=False)))

    def update(self, model: Model, actions: Sequence[Action], condition: Condition | None) -> None:
        self.writes.append(("update", self._part))
        self._txn.update(model, actions=list(actions), condition=condition)
        self._updated.append(reads.key_of(model))

    def delete(self, model: Model, condition: Condition | None = None) -> None:
        self.writes.append(("delete", self._part))
        self._txn.delete(model, condition=condition)
        self._deleted.append(reads.key_of(model))

    def committed(self) -> None:
        """Tell the operation's read map what the transaction left."""
        for key, raw in self._put:
            reads.stored(key, raw)
        for key in self._deleted:
            reads.stored(key, None)
        for key in self._updated:
            reads.forget(key)

    def sent_order(self) -> list[int]:
        """Part number of each operation, in the order DynamoDB received them."""
        return [part for kind in _SEND_ORDER for (written, part) in self.writes if written == kind]


TxnPart = Callable[[TxnWriter], None]


class TransactionCancelled(Exception):
    """Conditions failed (`failed` holds their part numbers) or writers collided."""

    def __init__(self, failed: frozenset[int], collided: bool) -> None:
        super().__init__(
            f"transaction cancelled: failed parts {sorted(failed)}, collided={collided}"
        )
        self.failed = failed
        self.collided = collided


class StaleWrite(Exception):
    """A single conditional write found the item changed since it was read."""


def run_transaction(parts: Sequence[TxnPart]) -> None:
    writer: TxnWriter | None = None
    try:
        with reads.writing(), transaction() as txn:
            writer = TxnWriter(txn)
            for number, part in enumerate(parts):
                writer._part = number
                part(writer)
        writer.committed()
    except TransactWriteError as error:
        if error.cause_response_code != "TransactionCanceledException" or writer is None:
            raise
        order = writer.sent_order()
        reasons: list[Any] = list(error.cancellation_reasons)
        failed = frozenset(
            order[index]
            for index, reason in enumerate(reasons)
            if reason is not None and reason.code == "ConditionalCheckFailed"
        )
        collided = any(
            reason is not None and reason.code == "TransactionConflict" for reason in reasons
        )
        raise TransactionCancelled(failed, collided) from error
