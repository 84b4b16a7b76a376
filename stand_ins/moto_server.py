"""moto's AWS server on loopback, one request at a time, with a count of the calls it served.

Real DynamoDB applies a conditional write atomically. moto's server does not across its request threads: two
racing ``PutItem ... attribute_not_exists`` calls can both succeed, which would make any "exactly once" test
meaningless. Holding one lock around each request restores the guarantee (at the cost of parallelism, which a
local stand-in does not need). The per-operation counter lets tests assert how many AWS calls a path costs; the
time each operation held the lock, and the time requests waited for it, let a benchmark tell its own time from
the stand-in's (bench/burst_tail.py).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Iterable
from io import BytesIO
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import ThreadedWSGIServer

#: X-Amz-Target prefixes whose service name is not simply the prefix, lower-cased and without its version.
_TARGET_SERVICES = {"AmazonSQS": "sqs", "AWSEvents": "events", "AmazonSSM": "ssm", "TrentService": "kms"}

StartResponse = Any
Environ = dict[str, Any]


def operation_key(environ: Environ) -> str | None:
    """``"service:Operation"`` for a request, e.g. ``"dynamodb:UpdateItem"``; None for moto's own API.

    JSON-protocol services name the operation in ``X-Amz-Target``; query-protocol ones (Auto Scaling, STS, ...)
    in the ``Action`` parameter. Otherwise (REST services) the key falls back to the HTTP method.
    """
    if environ.get("PATH_INFO", "").startswith("/moto-api"):
        return None
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target and "." in target:
        prefix, operation = target.rsplit(".", 1)
        return f"{_TARGET_SERVICES.get(prefix, prefix.split('_')[0].lower())}:{operation}"
    service = _signing_service(environ.get("HTTP_AUTHORIZATION", "")) or "unknown"
    action = _query_action(environ)
    return f"{service}:{action or environ.get('REQUEST_METHOD', '?')}"


def _signing_service(authorization: str) -> str | None:
    # SigV4: "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/autoscaling/aws4_request, ..."
    scope = authorization.partition("Credential=")[2].split(",", 1)[0].split("/")
    return scope[3] if len(scope) == 5 else None


def _query_action(environ: Environ) -> str | None:
    """The ``Action`` of a query-protocol call, from the query string or the form body (which is put back)."""
    action = parse_qs(str(environ.get("QUERY_STRING", ""))).get("Action")
    if action:
        return action[0]
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return None
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = BytesIO(body)
    action = parse_qs(body.decode("utf-8", "replace")).get("Action")
    return action[0] if action else None


class _SerializingMiddleware:
    """Runs the wrapped WSGI app for one request at a time, counting operations."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._serial = threading.Lock()
        self._counts_lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._held: dict[str, float] = {}
        self._waited = 0.0

    def counts(self) -> Counter[str]:
        with self._counts_lock:
            return Counter(self._counts)

    def timings(self) -> tuple[dict[str, float], float]:
        with self._counts_lock:
            return dict(self._held), self._waited

    def clear_counts(self) -> None:
        with self._counts_lock:
            self._counts.clear()
            self._held.clear()
            self._waited = 0.0

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        key = operation_key(environ)
        if key is not None:
            with self._counts_lock:
                self._counts[key] += 1
        arrived = time.perf_counter()
        with self._serial:
            entered = time.perf_counter()
            # The body is produced while iterating, so the lock must cover the iteration too.
            result = self._app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            left = time.perf_counter()
        if key is not None:
            with self._counts_lock:
                self._held[key] = self._held.get(key, 0.0) + left - entered
                self._waited += entered - arrived
        return [body]


class _QuietRequestHandler(MotoRequestHandler):
    """moto's handler without the per-request access log (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _Server(ThreadedWSGIServer):
    # The drill runs hundreds of concurrent clients; werkzeug's default backlog (128) could refuse some.
    request_queue_size = 1024


class SerializedMotoServer:
    """moto server on 127.0.0.1 (free port) for boto3 ``endpoint_url``; use it as a context manager.

    moto keeps its state per process: this server shares it with ``mock_aws`` and with any other moto server
    started in the same process.
    """

    def __init__(self) -> None:
        self._middleware = _SerializingMiddleware(DomainDispatcherApplication(create_backend_app))
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SerializedMotoServer:
        self._server = _Server("127.0.0.1", 0, self._middleware, _QuietRequestHandler)
        # A short poll interval makes shutdown take milliseconds instead of half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="moto-server", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def url(self) -> str:
        """The endpoint URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._require_server().port}"

    @property
    def calls(self) -> Counter[str]:
        """A snapshot of the calls served so far, keyed ``"service:Operation"``."""
        return self._middleware.counts()

    @property
    def held_seconds(self) -> dict[str, float]:
        """Per ``"service:Operation"``, the seconds its requests held the lock (moto's own work) since a reset."""
        return self._middleware.timings()[0]

    @property
    def waited_seconds(self) -> float:
        """The seconds requests waited for the lock (behind other requests) since the last reset."""
        return self._middleware.timings()[1]

    def reset_calls(self) -> None:
        """Forget the calls counted and timed so far."""
        self._middleware.clear_counts()

    def reset(self) -> None:
        """Wipe every moto backend (tables, secrets, queues...) in this process."""
        connection = http.client.HTTPConnection("127.0.0.1", self._require_server().port, timeout=10)
        try:
            connection.request("POST", "/moto-api/reset")
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"moto reset failed with HTTP {response.status}")

    def _require_server(self) -> _Server:
        if self._server is None:
            raise RuntimeError("SerializedMotoServer is not running: use it as a context manager")
        return self._server
