"""The contract of the telephony side (contracts/entitlements/): the documents are valid
OpenAPI 3.1 and JSON Schema 2020-12, they list exactly the catalog's products and limits,
and real answers of the read API and real events from the bus validate against them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator, ValidationError
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from billing.domain.catalog import default_catalog
from billing.ledger.service import Ledger
from billing.subscriptions.service import SubscriptionService
from local.events import ACCOUNT_ID
from tests.integration.telephony import Delivery, get, post_batch
from tests.integration.test_entitlements_store import ADMIN, CUSTOMER, EUR, PAYER, US, connect

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts" / "entitlements"
BASE = "https://sip-billing.invalid/contracts/entitlements/"
OPENAPI = yaml.safe_load((CONTRACTS / "openapi.yaml").read_text())
DOCUMENT = json.loads((CONTRACTS / "entitlements.schema.json").read_text())
EVENT = json.loads((CONTRACTS / "event.schema.json").read_text())
REGISTRY: Registry = Registry().with_resources(
    [
        (BASE + "openapi.yaml", Resource(OPENAPI, specification=DRAFT202012)),
        (DOCUMENT["$id"], Resource.from_contents(DOCUMENT)),
        (EVENT["$id"], Resource.from_contents(EVENT)),
    ]
)


def validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": ref}, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


ANSWER = validator(BASE + "openapi.yaml#/components/schemas/Entitlements")
BATCH = validator(BASE + "openapi.yaml#/components/schemas/Batch")
ERROR = validator(BASE + "openapi.yaml#/components/schemas/Error")
ETAG = validator(BASE + "openapi.yaml#/components/headers/ETag/schema")
EVENTS = validator(EVENT["$id"])


def test_the_documents_are_valid_openapi_and_json_schema() -> None:
    validate_openapi(OPENAPI, base_uri=(CONTRACTS / "openapi.yaml").as_uri())
    Draft202012Validator.check_schema(DOCUMENT)
    Draft202012Validator.check_schema(EVENT)


def test_the_contract_lists_exactly_the_catalogs_products_and_limits() -> None:
    catalog = default_catalog()
    products = DOCUMENT["properties"]["products"]
    assert products["required"] == [p.key for p in catalog.sellable()]
    for product in catalog.sellable():
        definition = DOCUMENT["$defs"][product.key]
        assert definition["properties"]["plan"]["enum"] == ["free", product.key]
        limits = definition["properties"]["limits"]
        assert limits["required"] == list(product.limits)
        assert {name: spec["$ref"] for name, spec in limits["properties"].items()} == {
            name: f"#/$defs/{limit.kind}" for name, limit in product.limits.items()
        }


def test_real_answers_validate_and_a_wrong_one_does_not(
    service: SubscriptionService, ledger: Ledger, requests_to_dynamodb: list[str]
) -> None:
    free = get(str(CUSTOMER))
    ANSWER.validate(json.loads(free["body"]))
    ETAG.validate(free["headers"]["etag"])
    ledger.top_up(PAYER, EUR, 900_000, cause="t1", reason="top-up")
    connect(service, lines=7)
    softphone = service.connect(
        request_id="r2",
        payer_id=PAYER,
        customer_id=CUSTOMER,
        product="softphone",
        options={"sip_accounts": 12, "recording": True, "recording_duration": 60},
        months=6,
        currency=EUR,
        tax=US,
        has_saved_card=False,
    ).subscription
    paid = json.loads(get(str(CUSTOMER))["body"])
    ANSWER.validate(paid)
    assert paid["products"]["softphone"]["limits"]["api_access"] is True  # > 10 accounts
    batch = post_batch(json.dumps({"telegram_ids": [CUSTOMER, PAYER, 5]}).encode())
    BATCH.validate(json.loads(batch["body"]))
    service.terminate_with_credit(softphone.id, admin_id=ADMIN)
    ANSWER.validate(json.loads(get(str(CUSTOMER))["body"]))
    for refused in (get("x"), post_batch(b"[]"), get(str(CUSTOMER), caller=None)):
        ERROR.validate(json.loads(refused["body"]))

    # The schemas hold: each of these wrong answers fails.
    wrong = copy.deepcopy(paid)
    wrong["products"]["gateway"]["limits"]["gateway_lines"] = "7"
    wrong_free = copy.deepcopy(paid)
    wrong_free["products"]["gateway"]["plan"] = "free"  # free with a subscription id
    unknown = copy.deepcopy(paid)
    unknown["products"]["gateway"]["limits"]["teleport"] = True
    extra = {**paid, "event_id": "1:1"}  # an answer is not an event
    for bad in (wrong, wrong_free, unknown, extra):
        with pytest.raises(ValidationError):
            ANSWER.validate(bad)


def test_real_events_validate_and_a_wrong_one_does_not(
    delivery: Delivery,
    service: SubscriptionService,
    ledger: Ledger,
) -> None:
    ledger.top_up(PAYER, EUR, 200_000, cause="t1", reason="top-up")
    sub_id = connect(service, lines=2)
    service.change(sub_id, by=PAYER, new_options={"lines": 6})
    service.terminate_with_credit(sub_id, admin_id=ADMIN)
    stream = delivery.stream()
    stream.drain()
    events = delivery.sink.receive()
    assert [e["detail"]["version"] for e in events] == [1, 2, 3]
    for event in events:
        # moto 5.2.5's SQS target leaves `account` out of the envelope (its events model
        # rebuilds the event for the target); EventBridge always sends it. Everything else
        # is as moto delivered it, and the detail is all ours.
        assert "account" not in event
        EVENTS.validate({**event, "account": ACCOUNT_ID})
    events = [{**event, "account": ACCOUNT_ID} for event in events]
    without_id = copy.deepcopy(events[0])
    del without_id["detail"]["event_id"]
    other_source = {**events[0], "source": "someone.else"}
    stray = copy.deepcopy(events[0])
    stray["detail"]["extra"] = 1
    for bad in (without_id, other_source, stray):
        with pytest.raises(ValidationError):
            EVENTS.validate(bad)


def test_an_answer_is_what_the_event_carries_but_its_id(
    delivery: Delivery,
    service: SubscriptionService,
    ledger: Ledger,
) -> None:
    ledger.top_up(PAYER, EUR, 200_000, cause="t1", reason="top-up")
    connect(service, lines=3)
    delivery.stream().drain()
    (event,) = delivery.sink.receive()
    detail = dict(event["detail"])
    assert detail.pop("event_id") == f"{CUSTOMER}:1"
    assert detail == json.loads(get(str(CUSTOMER))["body"])
