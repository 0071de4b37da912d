"""The read API of the telephony side (SPEC §11; contracts/entitlements/openapi.yaml):

    GET  /entitlements/{telegram_id}   one Telegram user's entitlements
    POST /entitlements/batch           {"telegram_ids": [...]}, 1 to 100 ids

Only callers API Gateway has authenticated with AWS IAM (SigV4) reach it: the routes have
the AWS_IAM authorizer (template.yaml), and an event without the IAM caller API Gateway
adds is refused here too, so a route deployed without the authorizer fails closed.

Every 200 carries an ETag of its content; a request whose If-None-Match holds it gets 304
with no body. One strongly consistent GetItem per user, one BatchGetItem per batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from billing.domain.catalog import Catalog
from billing.http import Event, Response, header, json_response, limited_body, route
from billing.store.entitlements import EntitlementsReader
from billing.telephony.document import entitlements_document, etag

BATCH_MAX = 100
# Telegram user ids have at most 52 significant bits: every one is a safe JSON integer.
MAX_TELEGRAM_ID = 2**53 - 1
# A batch of 100 ids is under 2 KB; anything much larger is not a real request.
MAX_BATCH_BODY = 8 * 1024
_ID_TEXT = re.compile(r"[1-9][0-9]{0,15}")
_ONE = re.compile(r"/entitlements/([^/]+)")
_BATCH_PATH = "/entitlements/batch"


class BadRequest(Exception):
    pass


def caller_of(event: Event) -> str | None:
    """The IAM principal API Gateway authenticated (requestContext.authorizer.iam)."""
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    iam = authorizer.get("iam") if isinstance(authorizer, Mapping) else None
    arn = iam.get("userArn") if isinstance(iam, Mapping) else None
    return arn if isinstance(arn, str) and arn else None


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"error": message}, headers)


def _telegram_id(value: Any) -> int:
    if isinstance(value, str) and _ID_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_TELEGRAM_ID:
        return value
    raise BadRequest(f"telegram_id must be a positive integer up to {MAX_TELEGRAM_ID}")


def _batch_ids(body: bytes) -> list[int]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest('the body must be JSON: {"telegram_ids": [...]}') from None
    if not isinstance(payload, dict) or set(payload) != {"telegram_ids"}:
        raise BadRequest("the body must be an object with exactly one key, telegram_ids")
    ids = payload["telegram_ids"]
    if not isinstance(ids, list) or not 1 <= len(ids) <= BATCH_MAX:
        raise BadRequest(f"telegram_ids must be a list of 1 to {BATCH_MAX} ids")
    # Strings are not accepted in a JSON body: an id is a JSON integer there.
    if any(isinstance(value, str) for value in ids):
        raise BadRequest("telegram_ids must hold integers, not strings")
    return list(dict.fromkeys(_telegram_id(value) for value in ids))


def _matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 §13.1.2: a list of tags compared weakly, or "*"."""
    if not if_none_match:
        return False
    tags = {part.strip().removeprefix("W/") for part in if_none_match.split(",")}
    return "*" in tags or tag in tags


class EntitlementsReadApi:
    def __init__(self, reader: EntitlementsReader, catalog: Catalog) -> None:
        self._reader = reader
        self._catalog = catalog

    def handle(self, event: Event) -> Response:
        """The answer to an HTTP API (payload 2.0) event. DynamoDB faults propagate (the
        handler answers 503)."""
        if caller_of(event) is None:
            return _error(403, "forbidden: AWS IAM (SigV4) authentication is required")
        method, path = route(event)
        if path == _BATCH_PATH:
            if method != "POST":
                return _error(405, "use POST", {"allow": "POST"})
            return self._batch(event)
        return self._one(event, method, path)

    def _one(self, event: Event, method: str, path: str) -> Response:
        one = _ONE.fullmatch(path)
        if one is None:
            return _error(404, "not found")
        if method != "GET":
            return _error(405, "use GET", {"allow": "GET"})
        try:
            customer = _telegram_id(one.group(1))
        except BadRequest as error:
            return _error(400, str(error))
        document = entitlements_document(self._catalog, self._reader.read(customer))
        return self._answer(event, document)

    def _batch(self, event: Event) -> Response:
        body = limited_body(event, MAX_BATCH_BODY)
        if body is None:
            return _error(413, "request body too large")
        try:
            ids = _batch_ids(body)
        except BadRequest as error:
            return _error(400, str(error))
        stored = self._reader.read_many(ids)
        documents = [entitlements_document(self._catalog, stored[customer]) for customer in ids]
        return self._answer(event, {"entitlements": documents})

    def _answer(self, event: Event, payload: Any) -> Response:
        tag = etag(payload)
        # no-cache: a cache may keep the answer but must ask again (If-None-Match) each time.
        headers = {"etag": tag, "cache-control": "private, no-cache"}
        if _matches(header(event, "if-none-match"), tag):
            return {"statusCode": 304, "headers": headers, "body": ""}
        return json_response(200, payload, headers)
