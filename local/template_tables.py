"""DynamoDB tables as `template.yaml` declares them, for tests and the local stack.

The template is the only copy of the schema: this module reads its `AWS::DynamoDB::Table`
resources and turns them into `create_table` calls, so local tables cannot drift from the
deployed ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TEMPLATE: Path = Path(__file__).resolve().parent.parent / "template.yaml"

LOCAL_TABLE_NAMES: Mapping[str, str] = {
    "AccountsTable": "Accounts",
    "SubscriptionsTable": "Subscriptions",
    "BalancesTable": "Balances",
    "OrdersTable": "Orders",
    "IdempotencyTable": "Idempotency",
    "EntitlementsTable": "Entitlements",
}

# The parts of an index that create_table takes; CloudFormation-only settings (contributor
# insights, warm throughput) have no place there.
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")


# PyYAML ships no type hints (types-PyYAML is not installed), so its classes are Any to mypy.
class CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    """A safe YAML loader that also reads CloudFormation's short tags.

    `!Ref X` becomes `{"Ref": "X"}`, `!Condition X` becomes `{"Condition": "X"}` and any
    other `!Name value` becomes `{"Fn::Name": value}` (`!GetAtt a.b` stays the string "a.b").
    """


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


CloudFormationLoader.add_multi_constructor("!", _short_tag)


def load_template(template: Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """The template as plain data, short tags expanded to their long form."""
    with template.open(encoding="utf-8") as stream:
        loader = CloudFormationLoader(stream)
        try:
            document: dict[str, Any] = loader.get_single_data()
        finally:
            loader.dispose()
    return document


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    # Keyword arguments of the DynamoDB client's create_table, without TableName.
    create_args: dict[str, Any]
    ttl_attribute: str | None


def load_table_specs(template: Path = DEFAULT_TEMPLATE) -> list[TableSpec]:
    """Every `AWS::DynamoDB::Table` of the template, in template order."""
    resources: dict[str, Any] = load_template(template).get("Resources", {})
    return [
        _table_spec(logical_id, resource.get("Properties", {}))
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::DynamoDB::Table"
    ]


def _table_spec(logical_id: str, properties: Mapping[str, Any]) -> TableSpec:
    args: dict[str, Any] = {
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if "ProvisionedThroughput" in properties:
        args["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
    for indexes in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if properties.get(indexes):
            args[indexes] = [
                {key: index[key] for key in _INDEX_KEYS if key in index}
                for index in properties[indexes]
            ]
    stream = properties.get("StreamSpecification")
    if stream:
        args["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    ttl = properties.get("TimeToLiveSpecification") or {}
    return TableSpec(
        logical_id=logical_id,
        create_args=args,
        ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") else None,
    )


def create_tables(
    client: Any,
    names: Mapping[str, str] = LOCAL_TABLE_NAMES,
    template: Path = DEFAULT_TEMPLATE,
) -> None:
    """Create the template's tables under `names[logical_id]` (others are skipped).

    A table that already exists is left as it is, data included.
    """
    for spec in load_table_specs(template):
        name = names.get(spec.logical_id)
        if name is None:
            continue
        try:
            client.create_table(TableName=name, **spec.create_args)
        except client.exceptions.ResourceInUseException:
            continue
        client.get_waiter("table_exists").wait(TableName=name)
        if spec.ttl_attribute is not None:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )


def delete_tables(client: Any, names: Mapping[str, str] = LOCAL_TABLE_NAMES) -> None:
    """Delete the named tables; a missing one is not an error."""
    for name in names.values():
        try:
            client.delete_table(TableName=name)
        except client.exceptions.ResourceNotFoundException:
            continue
        client.get_waiter("table_not_exists").wait(TableName=name)
