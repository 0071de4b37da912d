"""Powertools Logger and Metrics, created once per container.

Service name, namespace and log level come from the POWERTOOLS_* variables that
template.yaml sets in Globals (Powertools reads them itself). Tracing is Lambda's own
(`Tracing: Active`): Powertools' Tracer would import the X-Ray SDK, which creates its
clients at import and cost about 200 ms of every cold start (`make bench`).
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

# Lambda puts the root logger at ApplicationLogLevel (template.yaml). At DEBUG, botocore
# would log every request and response body, and SSM's GetParameter answers carry the
# decrypted secrets (bot token, webhook secret, provider keys): the AWS SDK stays at INFO
# whatever the level, while our own DEBUG lines still show.
for _sdk in ("botocore", "boto3"):
    logging.getLogger(_sdk).setLevel(logging.INFO)
