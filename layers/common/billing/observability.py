"""Powertools Logger, Tracer and Metrics, created once per container.

Service name, namespace and log level come from the POWERTOOLS_* variables that
template.yaml sets in Globals (Powertools reads them itself).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
