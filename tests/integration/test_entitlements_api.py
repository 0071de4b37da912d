"""The entitlements read API (SPEC §11) through its Lambda handler on moto: what it answers,
its ETag and 304, what it refuses, and how many DynamoDB requests each call costs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billing.config import Settings
from billing.ledger.service import Ledger
from billing.subscriptions.service import SubscriptionService
from functions.entitlements_api import app
from local.events import FakeContext, http_api_event
from tests.integration.telephony import READER, get, post_batch
from tests.integration.test_entitlements_store import CUSTOMER, EUR, PAYER, connect

FREE_GATEWAY = {
    "plan": "free",
    "subscription_id": None,
    "valid_until": None,
    "limits": {
        "gateway_lines": 1,
        "extra_sessions": 0,
        "call_recording": False,
        "api_access": False,
        "call_minutes_per_month": 30,
        "minutes_per_call": 2,
        "failed_calls_per_hour": 10,
    },
}


def body_of(answer: dict[str, Any]) -> Any:
    return json.loads(answer["body"])


def test_a_customer_reads_free_at_version_0_then_each_change_moves_version_and_etag(
    service: SubscriptionService, ledger: Ledger, requests_to_dynamodb: list[str]
) -> None:
    first = get(str(CUSTOMER))
    assert first["statusCode"] == 200, first
    document = body_of(first)
    assert (document["telegram_id"], document["version"], document["changed_at"]) == (
        CUSTOMER,
        0,
        None,
    )
    assert document["products"]["gateway"] == FREE_GATEWAY
    assert document["products"]["softphone"]["plan"] == "free"
    assert first["headers"]["cache-control"] == "private, no-cache"
    tag = first["headers"]["etag"]
    assert requests_to_dynamodb == ["GetItem"]  # one read per call

    unchanged = get(str(CUSTOMER), headers={"If-None-Match": tag})
    assert (unchanged["statusCode"], unchanged["body"], unchanged["headers"]["etag"]) == (
        304,
        "",
        tag,
    )

    ledger.top_up(PAYER, EUR, 200_000, cause="t1", reason="top-up")
    sub_id = connect(service, lines=3)
    changed = get(str(CUSTOMER), headers={"If-None-Match": tag})
    assert changed["statusCode"] == 200
    assert changed["headers"]["etag"] != tag
    gateway = body_of(changed)["products"]["gateway"]
    assert body_of(changed)["version"] == 1
    assert (gateway["plan"], gateway["subscription_id"]) == ("gateway", sub_id)
    assert gateway["limits"]["gateway_lines"] == 3
    assert gateway["valid_until"].endswith("Z")
    # Limits are the Customer's: the Payer who paid holds nothing.
    payer = body_of(get(str(PAYER)))
    assert (payer["version"], payer["products"]["gateway"]["plan"]) == (0, "free")

    service.change(sub_id, by=PAYER, new_options={"lines": 4})
    again = get(str(CUSTOMER), headers={"If-None-Match": changed["headers"]["etag"]})
    assert (again["statusCode"], body_of(again)["version"]) == (200, 2)
    assert body_of(again)["products"]["gateway"]["limits"]["gateway_lines"] == 4


def test_a_batch_is_one_batch_get_in_the_order_asked_with_duplicates_once(
    service: SubscriptionService, ledger: Ledger, requests_to_dynamodb: list[str]
) -> None:
    ledger.top_up(PAYER, EUR, 200_000, cause="t1", reason="top-up")
    connect(service, lines=2)
    requests_to_dynamodb.clear()
    ids = [PAYER, CUSTOMER, 7, CUSTOMER]
    answer = post_batch(json.dumps({"telegram_ids": ids}).encode())
    assert answer["statusCode"] == 200, answer
    documents = body_of(answer)["entitlements"]
    assert [(d["telegram_id"], d["version"]) for d in documents] == [
        (PAYER, 0),
        (CUSTOMER, 1),
        (7, 0),
    ]
    assert documents[1]["products"]["gateway"]["limits"]["gateway_lines"] == 2
    assert requests_to_dynamodb == ["BatchGetItem"]
    # Each entry is exactly what the one-user route answers.
    assert documents[1] == body_of(get(str(CUSTOMER)))

    full = post_batch(json.dumps({"telegram_ids": list(range(1, 101))}).encode())
    assert len(body_of(full)["entitlements"]) == 100
    repeat = post_batch(
        json.dumps({"telegram_ids": ids}).encode(),
        headers={"If-None-Match": f'"other", {answer["headers"]["etag"]}'},
    )
    assert repeat["statusCode"] == 304


def test_a_request_without_an_iam_caller_is_refused_before_any_read(
    requests_to_dynamodb: list[str],
) -> None:
    for answer in (get(str(CUSTOMER), caller=None), post_batch(b"{}", caller=None)):
        assert answer["statusCode"] == 403
        assert "AWS IAM" in body_of(answer)["error"]
    assert requests_to_dynamodb == []


@pytest.mark.parametrize(
    "telegram_id", ["abc", "0", "-5", "1.5", "01", "9007199254740992", "12345678901234567890"]
)
def test_a_bad_telegram_id_is_a_clear_400(
    telegram_id: str, requests_to_dynamodb: list[str]
) -> None:
    answer = get(telegram_id)
    assert answer["statusCode"] == 400
    assert body_of(answer) == {
        "error": "telegram_id must be a positive integer up to 9007199254740991"
    }
    assert requests_to_dynamodb == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "the body must be JSON"),
        (b"[1, 2]", "exactly one key, telegram_ids"),
        (b'{"telegram_ids": [1], "more": 1}', "exactly one key, telegram_ids"),
        (b'{"telegram_ids": []}', "a list of 1 to 100 ids"),
        (b'{"telegram_ids": 5}', "a list of 1 to 100 ids"),
        (json.dumps({"telegram_ids": list(range(1, 102))}).encode(), "a list of 1 to 100 ids"),
        (b'{"telegram_ids": ["5"]}', "integers, not strings"),
        (b'{"telegram_ids": [true]}', "a positive integer"),
        (b'{"telegram_ids": [0]}', "a positive integer"),
        (b'{"telegram_ids": [1.0]}', "a positive integer"),
        (b'{"telegram_ids": [null]}', "a positive integer"),
    ],
)
def test_a_bad_batch_is_a_clear_400(
    body: bytes, problem: str, requests_to_dynamodb: list[str]
) -> None:
    answer = post_batch(body)
    assert answer["statusCode"] == 400, answer
    assert problem in body_of(answer)["error"]
    assert requests_to_dynamodb == []


def test_an_oversized_batch_wrong_methods_and_unknown_paths_are_refused(
    requests_to_dynamodb: list[str],
) -> None:
    assert post_batch(b'{"telegram_ids": [' + b" " * 9000 + b"1]}")["statusCode"] == 413
    wrong = http_api_event("PUT", "/entitlements/batch", headers={}, body=b"", iam_caller=READER)
    answer = app.lambda_handler(wrong, FakeContext("entitlements-api"))
    assert (answer["statusCode"], answer["headers"]["allow"]) == (405, "POST")
    wrong = http_api_event("DELETE", "/entitlements/5", headers={}, body=b"", iam_caller=READER)
    answer = app.lambda_handler(wrong, FakeContext("entitlements-api"))
    assert (answer["statusCode"], answer["headers"]["allow"]) == (405, "GET")
    for path in ("/entitlements", "/entitlements/", "/entitlements/5/x", "/other"):
        event = http_api_event("GET", path, headers={}, body=b"", iam_caller=READER)
        assert app.lambda_handler(event, FakeContext("entitlements-api"))["statusCode"] == 404
    assert requests_to_dynamodb == []


def test_dynamodb_failing_is_a_503_the_caller_may_retry(
    lambda_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.runtime import reset_runtime

    monkeypatch.setenv("ENTITLEMENTS_TABLE", "NoSuchTable")
    reset_runtime()
    for answer in (get(str(CUSTOMER)), post_batch(b'{"telegram_ids": [1]}')):
        assert answer["statusCode"] == 503
        assert answer["headers"]["retry-after"] == "1"
        assert body_of(answer) == {"error": "temporarily unavailable"}
