"""Shared fixtures. The AWS environment is set here, before anything imports boto3: fake credentials and a
region, so that no test can reach a real account (and pytest-socket keeps every test on loopback)."""

import os

os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_METRICS_NAMESPACE": "DeployTrigger",
    }
)
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ.pop(_name, None)

import io  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
from aws_lambda_powertools.metrics.provider import cold_start  # noqa: E402

from deploy_trigger import runtime  # noqa: E402
from deploy_trigger.observability import logger, metrics  # noqa: E402
from deploy_trigger_cli.local_lambda import LocalLambdaContext  # noqa: E402

#: The deployment on the stand-ins that integration and CLI tests share (moto server, GitHub double, fixtures).
pytest_plugins = ["tests.stand_in_fixtures"]


@pytest.fixture
def lambda_context() -> LocalLambdaContext:
    """A context whose remaining time counts down in real time from 30 s (the default function timeout)."""
    return LocalLambdaContext()


@pytest.fixture(autouse=True)
def _fresh_container() -> Iterator[None]:
    """Every test starts like a new Lambda container: no cached clients or secrets, a cold start, no metrics."""
    runtime.reset()
    metrics.clear_metrics()
    cold_start.reset_cold_start_flag()
    logger.clear_state()
    yield
    runtime.reset()
    metrics.clear_metrics()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """What the Powertools logger writes (it keeps the stdout of import time, which capsys does not see)."""
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    yield buffer
    logger.registered_handler.setStream(previous)
