"""The design points of template.yaml, read with the loader the local stack uses."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest

from local.template_tables import load_table_specs, load_template

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = (
    "TelegramWebhookFunction",
    "PaymentWebhookFunction",
    "RenewalCronFunction",
    "ReconcileFunction",
    "EntitlementsApiFunction",
    "EntitlementEventsFunction",
)
TABLES = (
    "AccountsTable",
    "SubscriptionsTable",
    "BalancesTable",
    "OrdersTable",
    "IdempotencyTable",
    "EntitlementsTable",
)


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in RESOURCES.items() if res["Type"] == kind}


def function_setting(name: str, key: str) -> Any:
    """A function property, falling back to Globals as SAM does."""
    properties = RESOURCES[name]["Properties"]
    return properties.get(key, TEMPLATE["Globals"]["Function"].get(key))


def statements(name: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in RESOURCES[name]["Properties"].get("Policies", [])
        for statement in policy["Statement"]
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_webhook_and_entitlements_routes_are_on_the_http_api() -> None:
    routes = {
        (event["Properties"]["Method"], event["Properties"]["Path"]): name
        for name in FUNCTIONS
        for event in RESOURCES[name]["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }
    assert routes == {
        ("POST", "/telegram"): "TelegramWebhookFunction",
        ("POST", "/payments/stripe"): "PaymentWebhookFunction",
        ("POST", "/payments/paypal"): "PaymentWebhookFunction",
        ("POST", "/payments/cryptopay"): "PaymentWebhookFunction",
        ("POST", "/payments/yookassa/{secret}"): "PaymentWebhookFunction",
        ("GET", "/entitlements/{telegram_id}"): "EntitlementsApiFunction",
        ("POST", "/entitlements/batch"): "EntitlementsApiFunction",
    }
    for name in FUNCTIONS:
        for event in RESOURCES[name]["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                assert event["Properties"]["ApiId"] == {"Ref": "HttpApi"}


def test_http_api_is_throttled_and_access_logged() -> None:
    api = RESOURCES["HttpApi"]["Properties"]
    assert api["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0
    assert api["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": "HttpApiAccessLogGroup.Arn"}


def test_the_python313_functions_share_the_one_layer() -> None:
    assert set(of_type("AWS::Serverless::Function")) == set(FUNCTIONS)
    assert list(of_type("AWS::Serverless::LayerVersion")) == ["CommonLayer"]
    layer = RESOURCES["CommonLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/common/"
    # packaging/Makefile builds the layer and every function (bytecode, no runtime packages).
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Metadata"]["ContextPath"] == "packaging"
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"
    for name in FUNCTIONS:
        metadata = RESOURCES[name]["Metadata"]
        assert (metadata["BuildMethod"], metadata["ContextPath"]) == ("makefile", "packaging")
        assert metadata["BuildArchitecture"] == "arm64"
        assert function_setting(name, "Runtime") == "python3.13"
        assert function_setting(name, "Architectures") == ["arm64"]
        assert function_setting(name, "Layers") == [{"Ref": "CommonLayer"}]
        assert function_setting(name, "Handler") == "app.lambda_handler"


def test_every_function_gets_the_settings_config_reads() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert {
        "ACCOUNTS_TABLE",
        "SUBSCRIPTIONS_TABLE",
        "BALANCES_TABLE",
        "ORDERS_TABLE",
        "IDEMPOTENCY_TABLE",
        "ENTITLEMENTS_TABLE",
        "RENEWAL_QUEUE_URL",
        "BOT_TOKEN_PARAM",
        "WEBHOOK_SECRET_PARAM",
        "STRIPE_KEY_PARAM",
        "STRIPE_WEBHOOK_SECRET_PARAM",
        "PAYPAL_CREDENTIALS_PARAM",
        "CRYPTOPAY_TOKEN_PARAM",
        "ADMIN_IDS",
    } <= set(variables)


@pytest.mark.parametrize("table", TABLES)
def test_every_table_is_on_demand_with_point_in_time_recovery(table: str) -> None:
    resource = RESOURCES[table]
    properties = resource["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    assert "TableName" not in properties


# Money and history: a table of these cannot be deleted, by CloudFormation (Retain) or by
# anyone's DeleteTable, until the protection is switched off on purpose. The idempotency
# records expire by themselves and may be dropped.
PROTECTED_TABLES = (
    "AccountsTable",
    "SubscriptionsTable",
    "BalancesTable",
    "OrdersTable",
    "EntitlementsTable",
)


@pytest.mark.parametrize("table", PROTECTED_TABLES)
def test_money_and_history_tables_have_deletion_protection(table: str) -> None:
    assert RESOURCES[table]["Properties"]["DeletionProtectionEnabled"] is True


def test_the_template_declares_exactly_these_tables() -> None:
    assert [spec.logical_id for spec in load_table_specs()] == list(TABLES)


def test_due_index_is_sparse_keys_only_on_shard_and_time() -> None:
    (due,) = [
        index
        for index in RESOURCES["SubscriptionsTable"]["Properties"]["GlobalSecondaryIndexes"]
        if index["IndexName"] == "due"
    ]
    assert due["KeySchema"] == [
        {"AttributeName": "due_shard", "KeyType": "HASH"},
        {"AttributeName": "next_action_at", "KeyType": "RANGE"},
    ]
    assert due["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_renewal_queue_feeds_the_cron_in_small_reported_batches() -> None:
    events = RESOURCES["RenewalCronFunction"]["Properties"]["Events"]
    (sqs,) = [event["Properties"] for event in events.values() if event["Type"] == "SQS"]
    assert sqs["Queue"] == {"Fn::GetAtt": "RenewalQueue.Arn"}
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert sqs["ScalingConfig"]["MaximumConcurrency"] == 2
    assert sqs["BatchSize"] == 10

    queue = RESOURCES["RenewalQueue"]["Properties"]
    timeout = RESOURCES["RenewalCronFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] == 6 * timeout
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": "RenewalDeadLetterQueue.Arn"
    }


def test_the_sweep_runs_on_a_scheduler_schedule_with_retries() -> None:
    events = RESOURCES["RenewalCronFunction"]["Properties"]["Events"]
    (schedule,) = [e["Properties"] for e in events.values() if e["Type"] == "ScheduleV2"]
    assert schedule["ScheduleExpression"] == {"Ref": "RenewalSchedule"}
    assert schedule["RetryPolicy"]["MaximumRetryAttempts"] >= 1


def test_the_alerts_always_reach_someone() -> None:
    parameter = TEMPLATE["Parameters"]["AlertEmail"]
    assert "Default" not in parameter  # sam deploy asks for it; no silent empty default
    assert parameter["AllowedPattern"] == r"^[^@\s]+@[^@\s]+$"
    subscription = RESOURCES["AlertsEmailSubscription"]
    assert "Condition" not in subscription
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlertEmail"}


def test_dead_letters_raise_an_alarm_on_the_alerts_topic() -> None:
    alarm = RESOURCES["RenewalDeadLetterAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": "RenewalDeadLetterQueue.QueueName"}}
    ]
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_policy_grants_scan_or_every_resource(function: str) -> None:
    found = statements(function)
    assert found
    for statement in found:
        actions = as_list(statement["Action"])
        assert not any(action in ("dynamodb:Scan", "dynamodb:*", "*") for action in actions)
        assert "*" not in as_list(statement["Resource"])
    for policy in RESOURCES[function]["Properties"]["Policies"]:
        assert isinstance(policy, dict), "no SAM policy templates (DynamoDBCrudPolicy scans)"


@pytest.mark.parametrize(
    ("function", "parameters"),
    [
        (
            "TelegramWebhookFunction",
            {
                "BotTokenParameter",
                "WebhookSecretParameter",
                "StripeSecretKeyParameter",
                "PaypalCredentialsParameter",
                "CryptoPayTokenParameter",
                "PaymentProviderTokensParameter",
                "YooKassaCredentialsParameter",
            },
        ),
        (
            "PaymentWebhookFunction",
            {
                "BotTokenParameter",
                "StripeSecretKeyParameter",
                "StripeWebhookSecretParameter",
                "PaypalCredentialsParameter",
                "CryptoPayTokenParameter",
                "YooKassaCredentialsParameter",
            },
        ),
        (
            "RenewalCronFunction",
            {"BotTokenParameter", "StripeSecretKeyParameter", "YooKassaCredentialsParameter"},
        ),
        (
            "ReconcileFunction",
            {
                "BotTokenParameter",
                "StripeSecretKeyParameter",
                "PaypalCredentialsParameter",
                "CryptoPayTokenParameter",
                "YooKassaCredentialsParameter",
            },
        ),
        ("EntitlementsApiFunction", set()),
        ("EntitlementEventsFunction", set()),
    ],
)
def test_each_function_reads_only_the_secrets_it_needs(function: str, parameters: set[str]) -> None:
    prefix = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${"
    granted = {
        resource["Fn::Sub"].removeprefix(prefix).removesuffix("}")
        for statement in statements(function)
        if as_list(statement["Action"]) == ["ssm:GetParameter"]
        for resource in as_list(statement["Resource"])
    }
    assert granted == parameters


def test_secret_parameter_names_are_absolute_paths() -> None:
    for name, parameter in TEMPLATE["Parameters"].items():
        if name.endswith("Parameter"):
            assert parameter["Default"].startswith("/")
            assert parameter["AllowedPattern"].startswith("^/")


def test_only_the_cron_may_send_to_the_renewal_queue() -> None:
    senders = {
        function
        for function in FUNCTIONS
        for statement in statements(function)
        if "sqs:SendMessage" in as_list(statement["Action"])
    }
    assert senders == {"RenewalCronFunction"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_logs_to_its_own_group_with_retention(function: str) -> None:
    config = RESOURCES[function]["Properties"]["LoggingConfig"]
    group = RESOURCES[config["LogGroup"]["Ref"]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    others = {RESOURCES[f]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for f in FUNCTIONS}
    assert len(others) == len(FUNCTIONS)


def test_reconciliation_runs_on_its_own_schedule_within_its_timeout() -> None:
    reconcile = RESOURCES["ReconcileFunction"]["Properties"]
    events = reconcile["Events"]
    assert [event["Type"] for event in events.values()] == ["ScheduleV2"]
    schedule = next(iter(events.values()))["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "ReconcileSchedule"}
    assert schedule["State"] == "ENABLED"
    assert reconcile["Timeout"] >= 60


# --- the entitlements read API (SPEC §11) -------------------------------------------------


@cache
def transformed() -> dict[str, Any]:
    """The template as CloudFormation receives it: SAM's own transform, run offline (the
    code locations replaced by S3 URIs, as `sam deploy` uploads them)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(TEMPLATE)
    for resource in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key"
    pseudo = {"AWS::Region": "eu-central-1", "AWS::AccountId": "123456789012"}
    translator = Translator(
        managed_policy_map={},
        sam_parser=Parser(),
        boto_session=boto3.session.Session(region_name=pseudo["AWS::Region"]),
    )
    result: dict[str, Any] = translator.translate(
        sam_template=template,
        parameter_values={**pseudo, "AWS::Partition": "aws", "AWS::StackName": "billing"},
        get_managed_policy_map=dict,
    )
    return result


def test_the_entitlements_routes_take_only_aws_iam_callers_and_the_webhooks_none() -> None:
    body = transformed()["Resources"]["HttpApi"]["Properties"]["Body"]
    security = {
        (method.upper(), path): operation.get("security")
        for path, operations in body["paths"].items()
        for method, operation in operations.items()
    }
    iam = [{"AWS_IAM": []}]
    assert security.pop(("GET", "/entitlements/{telegram_id}")) == iam
    assert security.pop(("POST", "/entitlements/batch")) == iam
    # The webhooks' callers are Telegram and the providers, who sign their own way.
    assert set(security.values()) == {None}
    scheme = body["components"]["securitySchemes"]["AWS_IAM"]
    assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_the_read_api_function_may_only_read_the_entitlements_table() -> None:
    assert statements("EntitlementsApiFunction") == [
        {
            "Sid": "ReadEntitlements",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem"],
            "Resource": {"Fn::GetAtt": "EntitlementsTable.Arn"},
        }
    ]


def test_the_reader_role_may_invoke_the_two_entitlements_routes_and_nothing_else() -> None:
    role = RESOURCES["EntitlementsReaderRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"]["AWS"]["Fn::If"][:2] == [
        "HasEntitlementsConsumer",
        {"Ref": "EntitlementsConsumerRoleArn"},
    ]
    (policy,) = role["Policies"]
    (grant,) = policy["PolicyDocument"]["Statement"]
    assert grant["Action"] == "execute-api:Invoke"
    prefix = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*/"
    assert [resource["Fn::Sub"].removeprefix(prefix) for resource in grant["Resource"]] == [
        "GET/entitlements/*",
        "POST/entitlements/batch",
    ]


def test_change_events_come_from_the_table_stream_retried_until_it_expires() -> None:
    function = RESOURCES["EntitlementEventsFunction"]["Properties"]
    (source,) = [e["Properties"] for e in function["Events"].values()]
    assert source["Stream"] == {"Fn::GetAtt": "EntitlementsTable.StreamArn"}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["BisectBatchOnFunctionError"] is True
    assert source["MaximumRetryAttempts"] == source["MaximumRecordAgeInSeconds"] == -1
    assert source["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": "EntitlementEventsFailedQueue.Arn"
    }
    table = RESOURCES["EntitlementsTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert function["Environment"]["Variables"]["ENTITLEMENTS_BUS_NAME"] == {
        "Ref": "EntitlementsBus"
    }
    # It may put events on its bus and nothing else of its own (SAM adds the stream read).
    assert statements("EntitlementEventsFunction") == [
        {
            "Sid": "PutOnTheBus",
            "Effect": "Allow",
            "Action": "events:PutEvents",
            "Resource": {"Fn::GetAtt": "EntitlementsBus.Arn"},
        }
    ]
    assert RESOURCES["EntitlementsArchive"]["Properties"]["SourceArn"] == {
        "Fn::GetAtt": "EntitlementsBus.Arn"
    }
    assert alarms_of("EntitlementEventsFunction")["IteratorAge"]["Threshold"] == 300_000


# --- alarms that page (issue 16) ----------------------------------------------------------


def alarms_of(function: str) -> dict[str, dict[str, Any]]:
    """The function's alarms by metric."""
    return {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "AWS/Lambda"
        and {"Name": "FunctionName", "Value": {"Ref": function}}
        in alarm["Properties"]["Dimensions"]
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_error_throttle_and_near_timeout_alarms(function: str) -> None:
    alarms = alarms_of(function)
    assert {"Errors", "Throttles", "Duration"} <= set(alarms)
    assert alarms["Errors"]["Threshold"] == alarms["Throttles"]["Threshold"] == 0
    timeout_ms = function_setting(function, "Timeout") * 1000
    assert alarms["Duration"]["Statistic"] == "Maximum"
    assert alarms["Duration"]["Threshold"] == int(timeout_ms * 0.8)


def test_every_alarm_pages_through_the_alerts_topic() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 3 * len(FUNCTIONS) + 3
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [{"Ref": "AlertsTopic"}], name
        assert properties["OKActions"] == [{"Ref": "AlertsTopic"}], name
        assert properties["TreatMissingData"] == "notBreaching", name


def test_the_http_api_and_the_renewal_queue_have_alarms() -> None:
    share = RESOURCES["HttpApi5xxAlarm"]["Properties"]
    (expression,) = [m for m in share["Metrics"] if m.get("ReturnData")]
    assert expression["Expression"] == "IF(requests >= 10, 100 * errors / requests, 0)"
    metrics = {m["Id"]: m["MetricStat"]["Metric"] for m in share["Metrics"] if "MetricStat" in m}
    assert metrics["errors"]["MetricName"] == "5xx"
    assert {"Name": "ApiId", "Value": {"Ref": "HttpApi"}} in metrics["errors"]["Dimensions"]
    age = RESOURCES["RenewalQueueAgeAlarm"]["Properties"]
    assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert age["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": "RenewalQueue.QueueName"}}
    ]


def reserved(function: str) -> int:
    value = RESOURCES[function]["Properties"]["ReservedConcurrentExecutions"]["Fn::If"]
    assert value[0] == "ReservesConcurrency" and value[2] == {"Ref": "AWS::NoValue"}
    return int(value[1])


def test_every_function_reserves_concurrency_sized_from_its_callers() -> None:
    from scripts.set_webhook import MAX_CONNECTIONS

    sizes = {function: reserved(function) for function in FUNCTIONS}
    # Telegram never opens more connections than setWebhook's max_connections.
    assert sizes["TelegramWebhookFunction"] == MAX_CONNECTIONS
    # The renewal queue's consumers and the sweep together.
    events = RESOURCES["RenewalCronFunction"]["Properties"]["Events"]
    (sqs,) = [e["Properties"] for e in events.values() if e["Type"] == "SQS"]
    assert sizes["RenewalCronFunction"] == sqs["ScalingConfig"]["MaximumConcurrency"] + 1
    assert sizes["ReconcileFunction"] == 1
    default = TEMPLATE["Parameters"]["ReserveConcurrency"]
    assert (default["Default"], default["AllowedValues"]) == ("true", ["true", "false"])
    # The parameter states the total an account gives up (of the usual 1 000, 100 of which
    # Lambda keeps unreserved).
    assert sum(sizes.values()) == 84 and "84 in all" in default["Description"]


# --- least privilege (issue 16) -----------------------------------------------------------

# The only deletes in the code (billing/store): a conversation's state, the slot, a claim.
DELETED_BY_CODE = {"AccountsTable", "SubscriptionsTable", "IdempotencyTable"}


def granted(function: str, action: str) -> set[str]:
    """The tables (logical ids) a function may do `action` on."""
    tables = set()
    for statement in statements(function):
        if action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                reference = resource.get("Fn::GetAtt") or resource.get("Fn::Sub", "")
                tables.add(str(reference).split(".")[0].removeprefix("${"))
    return tables


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_may_delete_money_orders_or_entitlements(function: str) -> None:
    assert granted(function, "dynamodb:DeleteItem") <= DELETED_BY_CODE


def test_the_deletes_granted_are_the_ones_the_code_makes() -> None:
    import re
    from pathlib import Path

    store = Path(__file__).resolve().parents[2] / "layers/common/billing/store"
    deletes = {
        path.name
        for path in store.glob("*.py")
        if re.search(r"\.delete\(", path.read_text()) and path.name != "transactions.py"
    }
    # Each module deleting, and the table its models live in (models.ALL_MODELS).
    assert deletes == {"conversations.py", "subscriptions.py", "dedupe.py"}


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if not f.startswith("Entitlement")])
def test_the_entitlements_item_is_only_updated_by_the_billing_functions(function: str) -> None:
    actions = {
        action
        for statement in statements(function)
        for action in as_list(statement["Action"])
        if "EntitlementsTable" in granted(function, action)
    }
    assert actions == {"dynamodb:UpdateItem"}
