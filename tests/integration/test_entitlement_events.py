"""`entitlements.changed` events (SPEC §11) from the Entitlements table's stream to the
EventBridge bus, on moto: the stream is read as Lambda's event source mapping does
(local/entitlement_stream.py) into the real handler, and the events are read back from a
queue a rule on the bus feeds (local/entitlement_sink.py), as a consumer would get them.

Each committed lifecycle change is one event with the new version; a record delivered
again is the same event id; a cancelled transaction emits nothing; an event EventBridge
refuses is sent again, and only it and what follows."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from billing.clock import ManualClock
from billing.errors import InsufficientFunds
from billing.ledger.service import Ledger
from billing.runtime import reset_runtime, runtime
from billing.subscriptions.service import SubscriptionService
from local.entitlement_sink import LOCAL_BUS
from tests.integration.telephony import Delivery
from tests.integration.test_entitlements_store import ADMIN, CUSTOMER, EUR, PAYER, US, connect


def versions(details: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(d["event_id"], d["version"]) for d in details]


def test_each_lifecycle_change_is_one_event_with_the_new_version(
    delivery: Delivery, service: SubscriptionService, ledger: Ledger, clock: ManualClock
) -> None:
    stream = delivery.stream()
    ledger.top_up(PAYER, EUR, 200_000, cause="t1", reason="top-up")

    def one_event(version: int, lines: int) -> dict[str, Any]:
        (detail,) = delivery.details(stream)
        assert (detail["event_id"], detail["version"]) == (f"{CUSTOMER}:{version}", version)
        assert detail["telegram_id"] == CUSTOMER
        assert detail["products"]["gateway"]["limits"]["gateway_lines"] == lines
        return detail

    sub_id = connect(service)  # connect
    connected = one_event(1, 1)
    assert connected["products"]["gateway"]["subscription_id"] == sub_id
    service.change(sub_id, by=PAYER, new_options={"lines": 3})  # change of options
    one_event(2, 3)
    service.set_auto_renew(sub_id, by=PAYER, on=False)  # not an entitlement: no event
    assert delivery.details(stream) == []
    service.renew(sub_id, by=PAYER, tax=US)  # renewal
    renewed = one_event(3, 3)
    assert (
        renewed["products"]["gateway"]["valid_until"]
        > connected["products"]["gateway"]["valid_until"]
    )
    clock.advance(timedelta(days=400))
    service.expire(sub_id)  # expiry
    expired = one_event(4, 1)
    assert expired["products"]["gateway"]["plan"] == "free"
    assert service.expire(sub_id) is None  # a late duplicate: nothing
    assert delivery.details(stream) == []
    service.renew(sub_id, by=PAYER, tax=US)
    one_event(5, 3)
    service.terminate_with_credit(sub_id, admin_id=ADMIN)  # termination
    one_event(6, 1)
    # The event is what the read API answers for that version, with its id.
    (last,) = [e["detail"] for e in delivery.sink.events if e["detail"]["version"] == 6]
    read = runtime().entitlements_api.handle(
        {
            "rawPath": f"/entitlements/{CUSTOMER}",
            "requestContext": {
                "http": {"method": "GET"},
                "authorizer": {"iam": {"userArn": "arn:aws:sts::1:assumed-role/R/t"}},
            },
        }
    )
    assert {"event_id": last["event_id"], **json.loads(read["body"])} == last
    envelope = delivery.sink.events[-1]
    assert (envelope["source"], envelope["detail-type"]) == (
        "sip-billing.entitlements",
        "entitlements.changed",
    )


def test_a_record_delivered_again_is_the_same_event_id(
    delivery: Delivery, service: SubscriptionService, ledger: Ledger
) -> None:
    ledger.top_up(PAYER, EUR, 200_000, cause="t1", reason="top-up")
    sub_id = connect(service)
    service.change(sub_id, by=PAYER, new_options={"lines": 2})
    first = delivery.details(delivery.stream())
    # Lambda redelivers a batch after a timeout or a retry: here, a second mapping
    # reading the same records from the start.
    again = delivery.details(delivery.stream())
    assert versions(first) == versions(again) == [(f"{CUSTOMER}:1", 1), (f"{CUSTOMER}:2", 2)]
    assert first == again


def test_a_cancelled_transaction_emits_no_event(
    delivery: Delivery, service: SubscriptionService, ledger: Ledger
) -> None:
    ledger.top_up(PAYER, EUR, 17_999, cause="t1", reason="top-up")  # 1 cent short
    with pytest.raises(InsufficientFunds):
        connect(service)
    assert delivery.details(delivery.stream()) == []


def test_a_refused_event_is_sent_again_with_those_after_it_and_not_those_before(
    delivery: Delivery,
    service: SubscriptionService,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger.top_up(PAYER, EUR, 200_000, cause="t1", reason="top-up")
    sub_id = connect(service)
    service.change(sub_id, by=PAYER, new_options={"lines": 2})
    service.change(sub_id, by=PAYER, new_options={"lines": 3})
    publisher = runtime().entitlement_events
    real = publisher._client
    refused = {"once": True}

    class RefusesTheSecond:
        """EventBridge's answer when it takes some entries of a call and not others."""

        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            if refused.pop("once", False):
                sent = real().put_events(Entries=Entries[:1])
                failed = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
                return {
                    "FailedEntryCount": len(Entries) - 1,
                    "Entries": [*sent["Entries"]] + [failed] * (len(Entries) - 1),
                }
            return real().put_events(Entries=Entries)

    monkeypatch.setattr(publisher, "_client", RefusesTheSecond)
    stream = delivery.stream()
    assert versions(delivery.details(stream)) == [(f"{CUSTOMER}:1", 1)]
    assert stream.failures == 1
    assert versions(delivery.details(stream)) == [(f"{CUSTOMER}:2", 2), (f"{CUSTOMER}:3", 3)]
    assert delivery.details(stream) == []


def test_events_wait_while_the_bus_is_missing_and_go_once_it_is_there(
    delivery: Delivery,
    service: SubscriptionService,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger.top_up(PAYER, EUR, 200_000, cause="t1", reason="top-up")
    connect(service)
    monkeypatch.setenv("ENTITLEMENTS_BUS_NAME", "no-such-bus")
    reset_runtime()
    stream = delivery.stream()
    assert delivery.details(stream) == []
    assert stream.failures == 1
    monkeypatch.setenv("ENTITLEMENTS_BUS_NAME", LOCAL_BUS)
    reset_runtime()
    assert versions(delivery.details(stream)) == [(f"{CUSTOMER}:1", 1)]
