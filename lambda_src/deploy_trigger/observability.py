"""Logger and metrics, built once per container (Powertools: structured JSON logs and EMF metrics)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from deploy_trigger import metric_names

logger = Logger(service=metric_names.SERVICE)
metrics = Metrics(namespace=metric_names.NAMESPACE, service=metric_names.SERVICE)


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def milliseconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=round(value, 1))


def seconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=round(value, 1))
