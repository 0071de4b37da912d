"""Tables created from template.yaml on the moto server have the schema the code relies on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from local.template_tables import LOCAL_TABLE_NAMES, create_tables, delete_tables


@pytest.fixture
def names(dynamodb_client: Any) -> Iterator[Mapping[str, str]]:
    """Table names of this test only, deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    names = {logical: prefix + name for logical, name in LOCAL_TABLE_NAMES.items()}
    create_tables(dynamodb_client, names)
    yield names
    delete_tables(dynamodb_client, names)


def describe(client: Any, name: str) -> dict[str, Any]:
    table: dict[str, Any] = client.describe_table(TableName=name)["Table"]
    return table


def keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(key["AttributeName"], key["KeyType"]) for key in schema]


def indexes(table: Mapping[str, Any], kind: str) -> dict[str, tuple[list[tuple[str, str]], str]]:
    return {
        index["IndexName"]: (keys(index["KeySchema"]), index["Projection"]["ProjectionType"])
        for index in table.get(kind, [])
    }


def ttl(client: Any, name: str) -> tuple[str, str | None]:
    description = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    return description["TimeToLiveStatus"], description.get("AttributeName")


def test_every_table_is_created_on_demand(dynamodb_client: Any, names: Mapping[str, str]) -> None:
    for name in names.values():
        table = describe(dynamodb_client, name)
        assert table["TableStatus"] == "ACTIVE"
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_accounts_table_has_composite_key_and_conversation_ttl(
    dynamodb_client: Any, names: Mapping[str, str]
) -> None:
    table = describe(dynamodb_client, names["AccountsTable"])
    assert keys(table["KeySchema"]) == [("pk", "HASH"), ("sk", "RANGE")]
    assert ttl(dynamodb_client, names["AccountsTable"]) == ("ENABLED", "expires_at")


def test_subscriptions_table_has_due_payer_and_customer_indexes(
    dynamodb_client: Any, names: Mapping[str, str]
) -> None:
    table = describe(dynamodb_client, names["SubscriptionsTable"])
    assert keys(table["KeySchema"]) == [("pk", "HASH")]
    assert indexes(table, "GlobalSecondaryIndexes") == {
        "due": ([("due_shard", "HASH"), ("next_action_at", "RANGE")], "KEYS_ONLY"),
        "by_payer": ([("payer_id", "HASH"), ("created_at", "RANGE")], "ALL"),
        "by_customer": ([("customer_id", "HASH"), ("created_at", "RANGE")], "ALL"),
    }
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert types["next_action_at"] == "N" and types["payer_id"] == "N"


def test_balances_table_orders_entries_in_a_local_index(
    dynamodb_client: Any, names: Mapping[str, str]
) -> None:
    table = describe(dynamodb_client, names["BalancesTable"])
    assert keys(table["KeySchema"]) == [("pk", "HASH"), ("sk", "RANGE")]
    assert indexes(table, "LocalSecondaryIndexes") == {
        "by_order": ([("pk", "HASH"), ("entry_order", "RANGE")], "ALL"),
    }


def test_orders_table_is_found_by_provider_reference_payer_and_open_alerts(
    dynamodb_client: Any, names: Mapping[str, str]
) -> None:
    table = describe(dynamodb_client, names["OrdersTable"])
    assert keys(table["KeySchema"]) == [("pk", "HASH")]
    assert indexes(table, "GlobalSecondaryIndexes") == {
        "by_provider_ref": ([("provider_ref", "HASH")], "ALL"),
        "by_payer": ([("payer_id", "HASH"), ("created_at", "RANGE")], "ALL"),
        "open_orders": ([("open_shard", "HASH"), ("open_until", "RANGE")], "ALL"),
        # Support's inbox: only open alerts carry `inbox`; the pk sorts by creation time.
        "open_alerts": ([("inbox", "HASH"), ("pk", "RANGE")], "ALL"),
    }


def test_idempotency_table_has_the_powertools_schema(
    dynamodb_client: Any, names: Mapping[str, str]
) -> None:
    table = describe(dynamodb_client, names["IdempotencyTable"])
    assert keys(table["KeySchema"]) == [("id", "HASH")]
    assert ttl(dynamodb_client, names["IdempotencyTable"]) == ("ENABLED", "expiration")


def test_due_index_holds_only_subscriptions_with_a_pending_action(
    dynamodb_client: Any, names: Mapping[str, str]
) -> None:
    # Given one subscription with a due action and one without next_action_at
    table = names["SubscriptionsTable"]
    dynamodb_client.put_item(
        TableName=table,
        Item={"pk": {"S": "sub#due"}, "due_shard": {"S": "3"}, "next_action_at": {"N": "1000"}},
    )
    dynamodb_client.put_item(
        TableName=table, Item={"pk": {"S": "sub#idle"}, "due_shard": {"S": "3"}}
    )
    # When the sweep queries the shard up to now
    found = dynamodb_client.query(
        TableName=table,
        IndexName="due",
        KeyConditionExpression="due_shard = :shard AND next_action_at <= :now",
        ExpressionAttributeValues={":shard": {"S": "3"}, ":now": {"N": "2000"}},
    )["Items"]
    # Then only the due one is there, as keys only
    assert found == [
        {"pk": {"S": "sub#due"}, "due_shard": {"S": "3"}, "next_action_at": {"N": "1000"}}
    ]


def test_creating_again_keeps_existing_tables_and_their_items(
    dynamodb_client: Any, names: Mapping[str, str]
) -> None:
    item = {"pk": {"S": "order#1"}}
    dynamodb_client.put_item(TableName=names["OrdersTable"], Item=item)

    create_tables(dynamodb_client, names)

    stored = dynamodb_client.get_item(TableName=names["OrdersTable"], Key=item)
    assert stored["Item"] == item


def test_only_named_tables_are_created_and_missing_ones_delete_quietly(
    dynamodb_client: Any,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    only = {"OrdersTable": prefix + "Orders"}
    create_tables(dynamodb_client, only)
    try:
        listed = dynamodb_client.list_tables()["TableNames"]
        assert [name for name in listed if name.startswith(prefix)] == [prefix + "Orders"]
    finally:
        delete_tables(dynamodb_client, only)
    delete_tables(dynamodb_client, only)
    assert prefix + "Orders" not in dynamodb_client.list_tables()["TableNames"]
