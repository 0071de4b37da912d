"""BatchGetItem may leave keys unprocessed (throttling, its 16 MB answer limit): the reader
asks again for exactly those, after a growing pause, and gives up with a retryable error
rather than answer a user as Free who is not. moto never leaves keys unprocessed, hence a
client that does, with DynamoDB's answer shapes."""

from __future__ import annotations

from typing import Any

import pytest

from billing.config import Settings
from billing.store import entitlements
from billing.store.entitlements import EntitlementsReader, EntitlementsUnavailable, customer_pk

TABLE = "Entitlements"


def item(customer: int, version: int) -> dict[str, Any]:
    return {"pk": {"S": customer_pk(customer)}, "version": {"N": str(version)}}


def key(customer: int) -> dict[str, Any]:
    return {"pk": {"S": customer_pk(customer)}}


class Throttled:
    """Answers each BatchGetItem with the next of `answers`, keeping what was asked."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = answers
        self.asked: list[list[dict[str, Any]]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        assert RequestItems[TABLE]["ConsistentRead"] is True
        self.asked.append(RequestItems[TABLE]["Keys"])
        return self.answers.pop(0)


def reader(client: Throttled, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[float]]:
    pauses: list[float] = []
    monkeypatch.setattr(entitlements.aws, "client", lambda *args, **kwargs: client)
    return EntitlementsReader(Settings(entitlements_table=TABLE), sleep=pauses.append), pauses


def test_unprocessed_keys_are_asked_again_until_every_item_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = Throttled(
        [
            {
                "Responses": {TABLE: [item(1, 4)]},
                "UnprocessedKeys": {TABLE: {"Keys": [key(2), key(3)], "ConsistentRead": True}},
            },
            {
                "Responses": {TABLE: [item(3, 1)]},
                "UnprocessedKeys": {TABLE: {"Keys": [key(2)], "ConsistentRead": True}},
            },
            {"Responses": {TABLE: []}, "UnprocessedKeys": {}},
        ]
    )
    read, pauses = reader(client, monkeypatch)
    found = read.read_many([1, 2, 3, 1])
    assert {customer: state.version for customer, state in found.items()} == {1: 4, 2: 0, 3: 1}
    assert client.asked == [[key(1), key(2), key(3)], [key(2), key(3)], [key(2)]]
    assert pauses == [0.05, 0.1]


def test_keys_still_unprocessed_after_the_last_attempt_raise_a_retryable_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    left = {TABLE: {"Keys": [key(2)], "ConsistentRead": True}}
    client = Throttled([{"Responses": {TABLE: []}, "UnprocessedKeys": left}] * 4)
    read, pauses = reader(client, monkeypatch)
    with pytest.raises(EntitlementsUnavailable, match="1 of 1 entitlements left unread"):
        read.read_many([2])
    assert len(client.asked) == 4 and pauses == [0.05, 0.1, 0.2]


def test_more_than_a_hundred_ids_are_read_a_hundred_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = Throttled([{"Responses": {TABLE: []}}, {"Responses": {TABLE: []}}])
    read, _ = reader(client, monkeypatch)
    assert len(read.read_many(list(range(1, 151)))) == 150
    assert [len(keys) for keys in client.asked] == [100, 50]
