"""RenewalQueue.send with a stand-in SQS client: batches of ten sent several at a time, each
id queued once, entries SQS refused sent once more and then reported, a client error raised
with the batches not yet started left unsent."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import pytest

from billing import deadline
from billing.config import Settings
from billing.deadline import Deadline, bounded_by
from billing.store import queue as queue_module
from billing.store.queue import BATCH, QueueError, RenewalQueue

URL = "https://sqs.eu-central-1.amazonaws.com/123456789012/RenewalQueue"


class FakeSqs:
    """Takes every entry except those `refuse(id, attempt)` fails; thread-safe; records the
    calls, what was taken, and how many calls were in flight at most."""

    def __init__(self, refuse: Any = None, *, pause: float = 0.0, error_after: int = -1) -> None:
        self.refuse = refuse or (lambda _sub_id, _attempt: False)
        self.pause = pause
        self.error_after = error_after
        self.lock = threading.Lock()
        self.calls = 0
        self.attempts: Counter[str] = Counter()
        self.taken: Counter[str] = Counter()
        self.in_flight = self.most_in_flight = 0
        self.remaining: list[float] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> Any:
        assert QueueUrl == URL
        assert 1 <= len(Entries) <= BATCH
        assert len({entry["Id"] for entry in Entries}) == len(Entries)
        with self.lock:
            self.calls += 1
            if self.calls == self.error_after:
                raise ConnectionError("SQS unreachable")
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.remaining.append(deadline.current().remaining())
        try:
            time.sleep(self.pause)  # a round trip
            failed = []
            with self.lock:
                for entry in Entries:
                    sub_id = json.loads(entry["MessageBody"])["subscription_id"]
                    self.attempts[sub_id] += 1
                    if self.refuse(sub_id, self.attempts[sub_id]):
                        failed.append({"Id": entry["Id"], "SenderFault": False, "Code": "x"})
                    else:
                        self.taken[sub_id] += 1
            return {"Successful": [], "Failed": failed}
        finally:
            with self.lock:
                self.in_flight -= 1


def renewal_queue(client: FakeSqs) -> RenewalQueue:
    queue = RenewalQueue(Settings(renewal_queue_url=URL))
    queue.__dict__["_client"] = client  # the cached_property's slot
    return queue


IDS = [f"{number:016x}" for number in range(1_234)]  # 124 batches, the last of four


def test_every_id_is_queued_exactly_once_batches_in_flight_together() -> None:
    client = FakeSqs(pause=0.002)

    assert renewal_queue(client).send(IDS) == len(IDS)

    assert client.taken == Counter(IDS)
    assert client.calls == 124
    assert 1 < client.most_in_flight <= queue_module.SENDERS


def test_one_sender_sends_the_batches_one_after_another(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue_module, "SENDERS", 1)
    client = FakeSqs()

    assert renewal_queue(client).send(IDS) == len(IDS)

    assert client.taken == Counter(IDS)
    assert client.most_in_flight == 1


def test_nothing_due_sends_nothing() -> None:
    client = FakeSqs()
    assert renewal_queue(client).send([]) == 0
    assert client.calls == 0


def test_entries_refused_once_are_sent_once_more_and_queued_once() -> None:
    refused_once = set(IDS[::7])
    client = FakeSqs(lambda sub_id, attempt: sub_id in refused_once and attempt == 1)

    assert renewal_queue(client).send(IDS) == len(IDS)

    assert client.taken == Counter(IDS)
    assert client.calls == 124 + 124  # every batch holds a refused id, each resent once


def test_entries_refused_twice_are_reported_after_every_batch_was_tried() -> None:
    refused = {IDS[5], IDS[500], IDS[1_233]}
    client = FakeSqs(lambda sub_id, _attempt: sub_id in refused)

    with pytest.raises(QueueError, match="did not take 3 of 1234 renewal messages"):
        renewal_queue(client).send(IDS)

    assert client.taken == Counter(set(IDS) - refused)  # all the others were queued, once
    assert all(client.attempts[sub_id] == 2 for sub_id in refused)


def test_a_client_error_is_raised_and_the_batches_not_started_stay_unsent() -> None:
    client = FakeSqs(pause=0.002, error_after=20)

    with pytest.raises(ConnectionError):
        renewal_queue(client).send(IDS)

    assert max(client.taken.values()) == 1  # none twice
    # The senders stop: at most the batches already in flight finish after the error.
    assert client.calls <= 20 + queue_module.SENDERS


def test_the_senders_work_within_the_invocations_deadline() -> None:
    client = FakeSqs()
    with bounded_by(Deadline(30.0, margin=1.0)):
        renewal_queue(client).send(IDS)
    assert client.remaining and all(0 < left <= 29.0 for left in client.remaining)
