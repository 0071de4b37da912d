"""POST /telegram: Telegram's webhook. Thin: the work is in billing.bot.webhook."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.bot.webhook import handle
from billing.observability import logger, metrics
from billing.runtime import runtime


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = handle(event, runtime())
    metrics.add_metric(
        name=f"TelegramUpdates{response['statusCode']}", unit=MetricUnit.Count, value=1
    )
    return response
