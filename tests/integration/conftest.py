"""Fixtures for tests that talk to AWS APIs on the session's moto server."""

from __future__ import annotations

from typing import Any

import boto3
import pytest


@pytest.fixture(scope="session")
def moto_server(aws_endpoint: str) -> str:
    """Endpoint URL ("http://127.0.0.1:<port>") of the session's moto server.

    The server itself is `aws_endpoint` (tests/conftest.py): moto keeps its state in the
    process, so a second server would share it anyway and only add a thread.
    """
    return aws_endpoint


@pytest.fixture(scope="session")
def dynamodb_client(moto_server: str) -> Any:
    """A DynamoDB client on the moto server, with fake credentials in eu-central-1."""
    return boto3.client(
        "dynamodb",
        endpoint_url=moto_server,
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )
