"""Scheduled reconciliation: ask Stripe, PayPal and Crypto Pay what they have, apply what
a lost webhook missed, expire orders past their time. Thin: the work is in
billing.orders.reconcile."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import deadline
from billing.observability import logger, metrics
from billing.runtime import runtime


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@deadline.per_invocation
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = runtime().reconciler().run()
    for provider in report.unreachable:
        metrics.add_metric(name=f"ReconcileUnreachable_{provider}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="OrdersExpired", unit=MetricUnit.Count, value=report.expired)
    return report.as_dict()
