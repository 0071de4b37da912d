"""One read per item per operation: the items an operation has read, by key.

An operation (one Telegram update, one provider event, one renewal-queue message) opens
`operation()`; inside it, a repository's point read of an item this operation has already
read, or written, is answered from here instead of DynamoDB. Outside one (tests, scripts,
the simulation calling services, reconciliation) every read goes to DynamoDB as before.

What keeps it correct under the money rules:

- It changes no write: every conditional write keeps its condition (versions, seq,
  attribute_not_exists). An answer from here is a read taken earlier in the same
  operation, which those conditions already had to allow for.
- Read-your-writes: a successful write records the item as stored (a put's item, an
  update's ALL_NEW attributes, a delete's absence); a write whose result is not the whole
  item (an update inside a transaction) forgets the key, so the next read goes to DynamoDB.
- A write that fails in any way (a condition, a cancelled transaction, a fault, a crash,
  an unknown outcome) forgets everything: a lost race means someone else is writing, and
  the retry loops read again from DynamoDB. Code that reads to learn what another writer
  did passes `fresh=True`.
- Nothing outlives the operation: the map lives in a context variable set for the block
  (the local stack runs handlers in threads; each gets its own) and reset after it. A
  nested `operation()` joins the enclosing one, so its writes stay visible to the outer.
- Items are kept serialized and rebuilt on each hit: no caller shares an object.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

type Key = tuple[str, str, str | None]  # table, serialized hash key, serialized range key
type RawItem = dict[str, dict[str, Any]]


@dataclass
class _Items:
    known: dict[Key, RawItem | None] = field(default_factory=dict)  # None: known absent


_current: ContextVar[_Items | None] = ContextVar("billing_store_reads", default=None)


@contextmanager
def operation() -> Iterator[None]:
    """The reads of the block are one operation's: each item is read once."""
    if _current.get() is not None:
        yield  # part of the enclosing operation
        return
    token = _current.set(_Items())
    try:
        yield
    finally:
        _current.reset(token)


def active() -> bool:
    return _current.get() is not None


def _serialized(value: Any) -> str:
    # A key attribute serializes to a string (S) or a numeric string (N).
    return str(value)


def _key(model_cls: type[Model], hash_key: Any, range_key: Any | None) -> Key:
    hk, rk = model_cls._serialize_keys(hash_key, range_key)
    return (
        str(model_cls.Meta.table_name),
        _serialized(hk),
        None if rk is None else _serialized(rk),
    )


def key_of(model: Model) -> Key:
    hk, rk = model._get_hash_range_key_serialized_values()
    return (
        str(type(model).Meta.table_name),
        _serialized(hk),
        None if rk is None else _serialized(rk),
    )


def _copy(raw: Mapping[str, Mapping[str, Any]]) -> RawItem:
    return {name: dict(value) for name, value in raw.items()}


def get[M: Model](
    model_cls: type[M], hash_key: Any, range_key: Any | None = None, *, fresh: bool = False
) -> M | None:
    """The item (a consistent read), or None when there is none; answered from what this
    operation read or wrote when it can, unless `fresh`."""
    items = _current.get()
    key = _key(model_cls, hash_key, range_key) if items is not None else None
    if items is not None and key is not None and not fresh and key in items.known:
        raw = items.known[key]
        return None if raw is None else model_cls.from_raw_data(_copy(raw))
    try:
        model = model_cls.get(hash_key, range_key, consistent_read=True)
    except DoesNotExist:
        if items is not None and key is not None:
            items.known[key] = None
        return None
    if items is not None and key is not None:
        items.known[key] = _copy(model.serialize(null_check=False))
    return model


def known[M: Model](
    model_cls: type[M], hash_key: Any, range_key: Any | None = None
) -> tuple[bool, M | None]:
    """(True, the item or None) when this operation has read or written it; (False, None)
    when it has not (nothing is read)."""
    items = _current.get()
    if items is None:
        return False, None
    key = _key(model_cls, hash_key, range_key)
    if key not in items.known:
        return False, None
    raw = items.known[key]
    return True, None if raw is None else model_cls.from_raw_data(_copy(raw))


# --- what writes tell ---------------------------------------------------------------------


def wrote(model: Model, attributes: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """`model` is stored now: the item put, or `attributes` (an update's ALL_NEW)."""
    items = _current.get()
    if items is not None:
        raw = attributes if attributes is not None else model.serialize(null_check=False)
        items.known[key_of(model)] = _copy(raw)


def stored(key: Key, raw: RawItem | None) -> None:
    """The item under `key` is now `raw` (None: absent), as a write just left it."""
    items = _current.get()
    if items is not None:
        items.known[key] = None if raw is None else _copy(raw)


def forget(key: Key) -> None:
    """A write left the item in a state not known here: the next read goes to DynamoDB."""
    items = _current.get()
    if items is not None:
        items.known.pop(key, None)


def forget_all() -> None:
    items = _current.get()
    if items is not None:
        items.known.clear()


@contextmanager
def writing() -> Iterator[None]:
    """Around a write: if it fails in any way, nothing read so far is trusted any more."""
    try:
        yield
    except BaseException:
        forget_all()
        raise
