"""The HTTP plumbing under the GitHub double: a threaded loopback server that turns requests into replies.

Kept apart from the API logic so that logic reads as GitHub's rules, not as socket handling.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from stand_ins.github_model import RecordedRequest

_REDACTED = "<redacted>"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_body: bytes
    received_at: float

    def json_object(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None when it is missing, malformed or not an object."""
        try:
            body = json.loads(self.raw_body) if self.raw_body else None
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def record(self) -> RecordedRequest:
        headers = dict(self.headers)
        if "authorization" in headers:
            scheme = headers["authorization"].partition(" ")[0]
            headers["authorization"] = f"{scheme} {_REDACTED}"
        return RecordedRequest(self.method, self.path, self.query, headers, self.json_object(), self.received_at)


@dataclass
class Reply:
    """What to answer; the last three are transport faults instead of an answer.

    ``drop_connection`` closes the socket without writing anything; ``reset_connection`` aborts it with a TCP
    reset; ``raw_answer`` writes those bytes as they are (garbage, or an answer cut short) and then closes.
    """

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False
    reset_connection: bool = False
    raw_answer: bytes | None = None

    @property
    def answered(self) -> bool:
        """Whether the client gets a whole HTTP answer (a status it can read)."""
        return not (self.drop_connection or self.reset_connection or self.raw_answer is not None)


Handler = Callable[[IncomingRequest], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The drill opens hundreds of connections at once; the default backlog of 5 would refuse some of them.
    request_queue_size = 1024

    def __init__(self, handle: Handler) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.handle_incoming = handle

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed or timed out mid-call (the drill does it on purpose) is not a fault of the double.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    # Headers and body go out in separate writes; with Nagle's algorithm on, every answer waited ~40 ms
    # for the client's delayed ACK, which inflated every latency the drill and the tests measure.
    disable_nagle_algorithm = True

    # Keep-alive, like api.github.com: clients reuse connections, so a dropped answer hits a reused one.
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log on stderr."""

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        incoming = IncomingRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            raw_body=self.rfile.read(length) if length else b"",
            received_at=time.time(),
        )
        try:
            reply = cast(_Server, self.server).handle_incoming(incoming)
        except Exception as error:
            # A bug in the double must show up as a clear answer, not as a dropped connection the client may
            # mistake for an injected fault.
            _log.exception("GitHub double failed on %s %s", self.command, url.path)
            reply = Reply(500, {"message": f"GitHub double error: {error!r}"})
        if reply.drop_connection:
            self.close_connection = True
            return
        if reply.reset_connection:
            # SO_LINGER with a zero timeout turns close() into a TCP RST: the client's read fails with a reset.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if reply.raw_answer is not None:
            self.wfile.write(reply.raw_answer)
            self.wfile.flush()
            self.close_connection = True
            return
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status != 204:
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def serve(handle: Handler) -> tuple[str, Callable[[], None]]:
    """Start serving ``handle`` on 127.0.0.1 (a free port) in a daemon thread; return its origin and a stopper."""
    server = _Server(handle)
    # A short poll interval makes shutdown (one per test) take milliseconds instead of half a second.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="github-double", daemon=True)
    thread.start()
    host, port = server.server_address[:2]

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    return f"http://{host!s}:{port}", stop
