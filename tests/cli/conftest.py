"""The CLI against moto server and the GitHub double: the shared deployment of ``tests.stand_in_fixtures`` (its
table, secret, dead-letter queues and EventBridge rule, configured through the environment like the Lambda),
and ``main()`` run in this process."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from deploy_trigger_cli import dead_letters
from deploy_trigger_cli.main import main
from stand_ins.deployment import ACCOUNT


@pytest.fixture(autouse=True)
def _no_long_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto waits out WaitTimeSeconds on an empty queue; real SQS needs it, the tests do not."""
    monkeypatch.setattr(dead_letters, "RECEIVE_WAIT_SECONDS", 0)


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def failure_record(
    event: dict[str, Any], error_type: str, message: str, condition: str = "RetriesExhausted"
) -> dict[str, Any]:
    """What Lambda's on-failure destination sends to SQS after the function failed on every attempt."""
    request_id = str(uuid.uuid4())
    return {
        "version": "1.0",
        "timestamp": "2026-11-23T03:05:00.000Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:deploy-trigger-dispatcher:$LATEST",
            "condition": condition,
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": ['  File "/var/task/deploy_trigger/handler.py", line 60, in handler\n'],
        },
    }


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """``run_cli("status", "i-...", aws_clients={...})``: main() with its exit code and what it printed."""

    def run(*argv: str, aws_clients: dict[str, Any] | None = None) -> CliResult:
        capsys.readouterr()  # drop whatever test set-up printed (the handler's logs and metrics)
        code = main(list(argv), aws_clients=aws_clients)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
