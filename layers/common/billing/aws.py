"""The AWS clients of a container: one botocore session for all of them, pynamodb's included.

A botocore session loads and parses its service models, endpoint rules and credentials
once; every new session does it again. pynamodb opens one per model class (each model has
its own Connection), which cost about 55 ms of CPU per extra model on a cold container, and
boto3 would add a session and its own import on top. So the models' connections share this
session (`share_with_pynamodb`), and the SSM and SQS clients are made from it with botocore
directly: no handler imports boto3.

One session per thread, as pynamodb keeps them: botocore sessions are not safe to create
clients from in several threads at once (the local stack runs handlers in threads; Lambda
runs one invocation at a time, so there it is one session).
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.config
import botocore.session

_local = threading.local()


def session() -> botocore.session.Session:
    current: botocore.session.Session | None = getattr(_local, "session", None)
    if current is None:
        current = _local.session = botocore.session.get_session()
        _local.clients = {}
    return current


def client(service: str, region: str, endpoint_url: str | None, **config: Any) -> Any:
    """A low-level client of `service`, made once per thread from the shared session."""
    shared = session()
    key = (service, region, endpoint_url, tuple(sorted(config.items())))
    clients: dict[tuple[Any, ...], Any] = _local.clients
    if key not in clients:
        clients[key] = shared.create_client(
            service,
            region_name=region,
            endpoint_url=endpoint_url,
            config=botocore.config.Config(**config) if config else None,
        )
    return clients[key]


def share_with_pynamodb() -> None:
    """Make every pynamodb Connection take its botocore session from `session()`.

    pynamodb calls `botocore.session.get_session` through its module's global of that name
    each time a Connection needs a session in a thread; replacing that global is the one
    seam it offers (tests/unit/test_aws_session.py shows the models then share one).
    """
    from pynamodb.connection import base

    def shared(env_vars: dict[str, tuple[Any, Any, Any, Any]] | None = None) -> Any:
        return session()  # botocore's get_session(env_vars) signature; pynamodb passes none

    base.get_session = shared  # type: ignore[attr-defined]


def forget_clients() -> None:
    """Drop this thread's session and clients (tests and the local stack rebind endpoints)."""
    _local.__dict__.clear()
