"""Binds the pynamodb models to the configured tables and endpoint, once per process."""

from __future__ import annotations

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from billing import aws
from billing.config import Settings
from billing.store.models import ALL_MODELS

_bound: Settings | None = None
_connection: Connection | None = None


def bind(settings: Settings, *, forget_clients: bool = True) -> None:
    """Point every model at its table. Rebinding (tests, local stack) drops cached clients,
    unless the caller has just done so (the runtime: see Runtime.__init__)."""
    global _bound, _connection  # noqa: PLW0603 - one binding per process is the point
    aws.share_with_pynamodb()
    if forget_clients:
        aws.forget_clients()
    tables = {
        "accounts": settings.accounts_table,
        "subscriptions": settings.subscriptions_table,
        "balances": settings.balances_table,
        "orders": settings.orders_table,
        "idempotency": settings.idempotency_table,
        "entitlements": settings.entitlements_table,
    }
    for group, models in ALL_MODELS.items():
        for model in models:
            model.Meta.table_name = tables[group]
            model.Meta.region = settings.region
            model.Meta.host = settings.aws_endpoint_url
            model._connection = None
    _bound = settings
    _connection = None


def bound_settings() -> Settings:
    if _bound is None:
        raise RuntimeError("billing.store.connection.bind(settings) was not called")
    return _bound


def transaction() -> TransactWrite:
    # One low-level connection (so one botocore client) per container, like the models'.
    global _connection  # noqa: PLW0603
    if _connection is None:
        settings = bound_settings()
        _connection = Connection(region=settings.region, host=settings.aws_endpoint_url)
    return TransactWrite(connection=_connection)
