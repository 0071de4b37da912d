"""POST /payments/{stripe,paypal,cryptopay} and /payments/yookassa/{secret}: provider
webhooks.

Thin: authenticate and act through `billing.orders.webhooks`, map the answer to HTTP.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from billing import deadline
from billing.http import json_response, limited_body, route, too_large
from billing.observability import logger, metrics
from billing.orders.webhooks import PROVIDERS
from billing.runtime import runtime


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@deadline.per_invocation
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    method, path = route(event)
    provider, path_secret = _provider(path)
    if method != "POST" or provider not in PROVIDERS:
        metrics.add_metric(name="PaymentWebhooksUnknownRoute", unit=MetricUnit.Count, value=1)
        return json_response(404, {"error": "not found"})
    body = limited_body(event)  # provider events are a few KB; far larger is refused unread
    if body is None:
        return too_large()
    headers = {
        str(name).lower(): value
        for name, value in (event.get("headers") or {}).items()
        if isinstance(value, str)
    }
    try:
        answer = (
            runtime()
            .provider_webhooks()
            .handle(
                provider,
                headers,
                body,
                # The address API Gateway saw: YooKassa is authenticated by it, so never by a
                # header such as X-Forwarded-For, which the sender writes.
                source_ip=((event.get("requestContext") or {}).get("http") or {}).get("sourceIp"),
                path_secret=path_secret,
            )
        )
    except (BotoCoreError, ClientError, PynamoDBException):
        logger.exception("transient fault before the event was claimed; the provider retries")
        answer = None
    if answer is None:
        return json_response(503, {"error": "temporarily unavailable"})
    metrics.add_metric(name=f"PaymentWebhook{answer.status}", unit=MetricUnit.Count, value=1)
    return json_response(answer.status, answer.body)


def _provider(path: str) -> tuple[str, str | None]:
    """("stripe", None) for /payments/stripe; ("yookassa", secret) for
    /payments/yookassa/<secret>, YooKassa's notification URL with our secret segment."""
    parts = path.split("/")  # exactly the routes: "/payments/stripe/" is none of them
    if len(parts) == 4 and parts[:3] == ["", "payments", "yookassa"] and parts[3]:
        return "yookassa", parts[3]
    if len(parts) == 3 and parts[:2] == ["", "payments"] and parts[2] != "yookassa":
        return parts[2], None
    return "", None
