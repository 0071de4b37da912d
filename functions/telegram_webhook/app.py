"""POST /telegram: Telegram's webhook. Thin: the work is in billing.bot.webhook."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import deadline
from billing.bot.webhook import handle, retry_later
from billing.observability import logger, metrics
from billing.runtime import runtime


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@deadline.per_invocation
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        response = handle(event, runtime())
    except Exception:
        # Before the update was claimed (the secret, the claim itself): nothing to release.
        logger.exception("update not handled; Telegram will deliver it again")
        response = retry_later()
    metrics.add_metric(
        name=f"TelegramUpdates{response['statusCode']}", unit=MetricUnit.Count, value=1
    )
    return response
