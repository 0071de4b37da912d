"""One botocore session per container (billing/aws.py): a new session parses the service
models and endpoint rules again, about 55 ms of CPU each, and pynamodb would open one per
model class."""

from __future__ import annotations

import threading

from billing import aws
from billing.config import Settings
from billing.store import connection
from billing.store.models import ALL_MODELS


def test_every_model_and_client_shares_one_session_per_thread() -> None:
    connection.bind(Settings(region="eu-central-1", aws_endpoint_url="http://127.0.0.1:9"))
    models = [model for group in ALL_MODELS.values() for model in group]
    sessions = {id(model._get_connection().connection.session) for model in models}
    assert len(models) > 5 and len(sessions) == 1
    ssm = aws.client("ssm", "eu-central-1", "http://127.0.0.1:9")
    assert aws.client("ssm", "eu-central-1", "http://127.0.0.1:9") is ssm
    assert sessions == {id(aws.session())}
    low_level = connection.transaction()._connection.session  # type: ignore[attr-defined]
    assert id(low_level) in sessions

    elsewhere: list[int] = []
    thread = threading.Thread(target=lambda: elsewhere.append(id(aws.session())))
    thread.start()
    thread.join()
    assert elsewhere[0] not in sessions  # botocore sessions are not shared across threads


def test_rebinding_drops_the_clients() -> None:
    connection.bind(Settings(region="eu-central-1", aws_endpoint_url="http://127.0.0.1:9"))
    first = aws.client("sqs", "eu-central-1", "http://127.0.0.1:9")
    connection.bind(Settings(region="eu-central-1", aws_endpoint_url="http://127.0.0.1:9"))
    assert aws.client("sqs", "eu-central-1", "http://127.0.0.1:9") is not first
