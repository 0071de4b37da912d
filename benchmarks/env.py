"""The process environment of the benchmarks, set when the package is imported: the
handler modules read Powertools' variables at import (as tests/conftest.py notes)."""

from __future__ import annotations

import os

# What tests/conftest.py sets for the process (Powertools reads these at handler import),
# with template.yaml's values, and the fake credentials: nothing may reach an AWS account.
POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "sip-billing",
    "POWERTOOLS_METRICS_NAMESPACE": "SipBilling",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_REGION": "eu-central-1",
}
# As tests/conftest.py: X-Ray is off outside Lambda (Powertools would disable it anyway).
TRACE_ENV = {"POWERTOOLS_TRACE_DISABLED": "true"}


def prepare_process_env() -> None:
    """Before any handler module is imported: what the template and the tests set."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(FAKE_AWS_ENV)
    os.environ.update(POWERTOOLS_ENV)
    os.environ.update(TRACE_ENV)
