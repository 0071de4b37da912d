"""GET /entitlements/{telegram_id} and POST /entitlements/batch: what the telephony side
reads (SPEC §11), behind the AWS_IAM authorizer.

Thin: the routes, the checks and the answers are in `billing.telephony.read_api`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from billing.http import json_response
from billing.observability import logger, metrics
from billing.runtime import runtime
from billing.store.entitlements import EntitlementsUnavailable
from billing.telephony.read_api import caller_of


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(caller=caller_of(event))
    try:
        answer = runtime().entitlements_api.handle(event)
    except (BotoCoreError, ClientError, EntitlementsUnavailable):
        logger.exception("entitlements could not be read; the caller may retry")
        answer = json_response(503, {"error": "temporarily unavailable"}, {"retry-after": "1"})
    metrics.add_metric(
        name=f"EntitlementsRead{answer['statusCode']}", unit=MetricUnit.Count, value=1
    )
    return answer
