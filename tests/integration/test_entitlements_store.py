"""The Entitlements item changes in the same transaction as the subscription, once per
committed change of a grant, and not at all when the transaction is cancelled (SPEC §11).
Its stream, which the change events are read from, carries exactly those changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest

from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.catalog import default_catalog
from billing.domain.entitlements import from_grants
from billing.domain.money import Currency
from billing.domain.tax import TaxProfile
from billing.errors import InsufficientFunds
from billing.ledger.service import Ledger
from billing.store.entitlements import StoredEntitlements, customer_pk, stored_from_item
from billing.subscriptions.service import SubscriptionService

EUR = Currency.EUR
US = TaxProfile.create("US")
PAYER, CUSTOMER, ADMIN = 11, 22, 900


def client(settings: Settings) -> Any:
    return boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url)


def stored(settings: Settings, customer: int) -> StoredEntitlements:
    item = (
        client(settings)
        .get_item(
            TableName=settings.entitlements_table,
            Key={"pk": {"S": customer_pk(customer)}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return stored_from_item(customer, item)


def stream_versions(settings: Settings) -> list[tuple[str, int]]:
    """(pk, version) of every stream record with a version, in stream order."""
    ddb = client(settings)
    arn = ddb.describe_table(TableName=settings.entitlements_table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", endpoint_url=settings.aws_endpoint_url)
    found = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator)["Records"]:
            image = record["dynamodb"].get("NewImage", {})
            if "version" in image:
                found.append((image["pk"]["S"], int(image["version"]["N"])))
    return found


def connect(service: SubscriptionService, *, lines: int = 1, request: str = "r1") -> str:
    purchase = service.connect(
        request_id=request,
        payer_id=PAYER,
        customer_id=CUSTOMER,
        product="gateway",
        options={"lines": lines},
        months=6,
        currency=EUR,
        tax=US,
        has_saved_card=False,
    )
    return purchase.subscription.id


def gateway_lines(settings: Settings) -> object:
    state = stored(settings, CUSTOMER)
    found = from_grants(default_catalog(), CUSTOMER, state.grants)
    return found.products["gateway"].limits["gateway_lines"]


def test_every_lifecycle_change_is_one_new_version_and_one_stream_record(
    service: SubscriptionService, ledger: Ledger, tables: Settings, clock: ManualClock
) -> None:
    assert stored(tables, CUSTOMER).version == 0  # never subscribed: Free, version 0
    ledger.top_up(PAYER, EUR, 200_000, cause="t1", reason="top-up")
    sub_id = connect(service)
    assert (stored(tables, CUSTOMER).version, gateway_lines(tables)) == (1, 1)
    # The Payer holds nothing: no item of theirs.
    assert stored(tables, PAYER).version == 0

    service.change(sub_id, by=PAYER, new_options={"lines": 3})
    assert (stored(tables, CUSTOMER).version, gateway_lines(tables)) == (2, 3)

    # Switching auto-renewal changes nothing the telephony side reads: no new version.
    service.set_auto_renew(sub_id, by=PAYER, on=False)
    assert stored(tables, CUSTOMER).version == 2

    before = stored(tables, CUSTOMER).grants[0].valid_until
    service.renew(sub_id, by=PAYER, tax=US)
    renewed = stored(tables, CUSTOMER)
    assert renewed.version == 3 and renewed.grants[0].valid_until > before

    clock.advance(timedelta(days=400))
    assert service.expire(sub_id) is not None
    assert (stored(tables, CUSTOMER).version, gateway_lines(tables)) == (4, 1)  # Free again
    assert stored(tables, CUSTOMER).grants == ()
    # A duplicate expiry (a late sweep message) is no change.
    assert service.expire(sub_id) is None

    # Renewed after expiry (active again), then support terminates it.
    service.renew(sub_id, by=PAYER, tax=US)
    assert (stored(tables, CUSTOMER).version, gateway_lines(tables)) == (5, 3)
    service.terminate_with_credit(sub_id, admin_id=ADMIN)
    assert (stored(tables, CUSTOMER).version, gateway_lines(tables)) == (6, 1)

    assert stream_versions(tables) == [(customer_pk(CUSTOMER), v) for v in range(1, 7)]


def test_a_cancelled_transaction_changes_no_entitlement_and_leaves_no_record(
    service: SubscriptionService, ledger: Ledger, tables: Settings
) -> None:
    ledger.top_up(PAYER, EUR, 17_999, cause="t1", reason="top-up")  # 1 cent short
    with pytest.raises(InsufficientFunds):
        connect(service)
    assert stored(tables, CUSTOMER).version == 0
    assert stream_versions(tables) == []
