"""Where ``redrive`` sends an event again: the deployed function, or the real handler in this process.

- ``lambda``: an asynchronous invoke (InvocationType=Event) of the deployed dispatcher, exactly how EventBridge
  delivers; success means Lambda accepted the event (HTTP 202). The outcome then shows in the ledger and the
  function's logs, and a failure ends in the on-failure queue again.
- ``local``: ``deploy_trigger.handler.handler`` runs here with the configuration this CLI resolved (the Lambda's
  environment variables, flags, stack outputs). This is how redrive works against the local stand-ins and in
  the tests; against AWS it needs the credentials the function has (the ledger and the secret). Success means
  the handler returned; an exception (the handler's way of failing an invocation) is a failed replay.

Either way, the ledger keeps "one run per instance": replaying an event that was already dispatched records a
duplicate and sends nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger_cli.aws import aws_error
from deploy_trigger_cli.local_lambda import LocalLambdaContext

LOCAL_FUNCTION_NAME = "deploy-trigger-local-replay"


@dataclass(frozen=True)
class ReplayResult:
    ok: bool
    detail: str


class ReplayTarget(Protocol):
    @property
    def description(self) -> str: ...

    def replay(self, event: Mapping[str, Any]) -> ReplayResult: ...


class LambdaTarget:
    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self._client = lambda_client
        self._function = function_name

    @property
    def description(self) -> str:
        return f"function {self._function} (asynchronous invoke)"

    def replay(self, event: Mapping[str, Any]) -> ReplayResult:
        try:
            answer = self._client.invoke(
                FunctionName=self._function, InvocationType="Event", Payload=json.dumps(event).encode()
            )
        except (ClientError, BotoCoreError) as error:
            return ReplayResult(False, f"Lambda did not accept the event: {aws_error(error)}")
        status = answer.get("StatusCode")
        if status != 202:
            return ReplayResult(False, f"Lambda answered status {status} instead of 202 (accepted)")
        return ReplayResult(
            True,
            f"accepted by {self._function}; the outcome shows in the ledger (`deploy-trigger status`) and the "
            "function's logs",
        )


class LocalTarget:
    """The real handler in this process. Use as a context manager: it installs the resolved environment (and
    forgets the handler's cached clients) on entry, and puts the previous environment back on exit."""

    def __init__(
        self, environment: Mapping[str, str], *, budget_seconds: float = 30.0, show_logs: bool = False
    ) -> None:
        self._environment = dict(environment)
        self._budget = budget_seconds
        self._show_logs = show_logs
        self._saved: dict[str, str | None] = {}

    @property
    def description(self) -> str:
        return "the dispatcher handler, run locally"

    def __enter__(self) -> LocalTarget:
        from deploy_trigger import runtime

        self._saved = {name: os.environ.get(name) for name in self._environment}
        os.environ.update(self._environment)
        runtime.reset()  # the handler's settings and clients are built from this environment
        return self

    def __exit__(self, *exc_info: object) -> None:
        from deploy_trigger import runtime

        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        runtime.reset()

    def replay(self, event: Mapping[str, Any]) -> ReplayResult:
        from deploy_trigger.handler import handler

        # The same context the tests and the drill run the handler with; named for what it is here.
        context: Any = LocalLambdaContext(budget_seconds=self._budget, function_name=LOCAL_FUNCTION_NAME)
        with self._handler_output():
            try:
                result = handler(dict(event), context)
            except Exception as error:  # how the handler fails an invocation: the message says why
                return ReplayResult(False, f"{type(error).__name__}: {error}")
        return ReplayResult(True, _describe(result))

    @contextlib.contextmanager
    def _handler_output(self) -> Iterator[None]:
        """The handler's JSON logs and metrics go to stderr with ``--verbose``, else nowhere: stdout is the CLI's."""
        from deploy_trigger.observability import logger

        stream: TextIO = sys.stderr if self._show_logs else io.StringIO()
        previous = logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
        try:
            with contextlib.redirect_stdout(stream), warnings.catch_warnings():
                # Powertools warns when an invocation ends without a metric (an event it ignored): expected.
                warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
                yield
        finally:
            logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]


def _describe(result: Mapping[str, Any]) -> str:
    outcome = str(result.get("result", "done"))
    if outcome == "ignored":
        return f"ignored by the dispatcher: {result.get('reason')}"
    run = result.get("run_id")
    url = result.get("run_url")
    where = f"run {run}" + (f" {url}" if url else "") if run is not None else "run ID not returned"
    if outcome == "duplicate":
        return f"duplicate: already dispatched ({where}); nothing sent"
    if outcome == "reconciled":
        return f"reconciled: an earlier attempt's run was found ({where}); nothing sent"
    return f"{outcome}: {where}"
