"""POST /payments/{stripe,paypal,cryptopay}: provider webhooks.

Until the payments issue lands, every delivery is answered 503 without being read: the
providers keep retrying (Stripe for three days, PayPal and Crypto Pay likewise), so no
payment notification is lost or half-applied in the meantime.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.http import json_response, route
from billing.observability import logger, metrics, tracer

PROVIDERS = frozenset({"stripe", "paypal", "cryptopay"})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _, path = route(event)
    provider = path.rsplit("/", 1)[-1]
    if provider not in PROVIDERS:
        metrics.add_metric(name="PaymentWebhooksUnknownRoute", unit=MetricUnit.Count, value=1)
        return json_response(404, {"error": "not found"})
    logger.warning(
        "payment webhook not enabled yet; provider will retry", extra={"provider": provider}
    )
    metrics.add_metric(name="PaymentWebhooksDeferred", unit=MetricUnit.Count, value=1)
    return json_response(503, {"error": "payments are not enabled yet; retry later"})
