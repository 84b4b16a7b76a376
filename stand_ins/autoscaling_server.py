"""The Auto Scaling stand-in behind a real HTTP endpoint, speaking Auto Scaling's Query protocol, for the calls
moto lacks (``CompleteLifecycleAction``, ``RecordLifecycleActionHeartbeat``) and the reads that go with them.

Processes that run the real handler (the drill's containers, killed child invocations) reach it the way the
Lambda reaches Auto Scaling: a boto3 client, pointed here with ``AWS_ENDPOINT_URL_AUTO_SCALING`` (boto3's
service-specific endpoint variable), while every other service stays on moto server.
"""

from __future__ import annotations

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from deploy_trigger.lifecycle import LifecycleAnswer, LifecycleResult
from stand_ins.autoscaling_group import AutoScalingStandIn

_NAMESPACE = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
#: The variable that points boto3's Auto Scaling clients (only those) at an endpoint.
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_AUTO_SCALING"


class AutoScalingServer:
    """``with AutoScalingServer(stand_in) as server: ... server.url``"""

    def __init__(self, stand_in: AutoScalingStandIn) -> None:
        self.stand_in = stand_in
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> AutoScalingServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(stand_in: AutoScalingStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
            status, body = _answer(stand_in, form)
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: Any) -> None:
            pass  # quiet: the drill prints its own progress

    return Handler


def _answer(stand_in: AutoScalingStandIn, form: dict[str, str]) -> tuple[int, str]:
    action = form.get("Action", "")
    if action in ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat"):
        group, hook = form.get("AutoScalingGroupName", ""), form.get("LifecycleHookName", "")
        instance, token = form.get("InstanceId", ""), form.get("LifecycleActionToken")
        if action == "CompleteLifecycleAction":
            result = LifecycleResult(form.get("LifecycleActionResult", ""))
            answer = stand_in.complete(group, hook, instance, result, token=token)
        else:
            answer = stand_in.heartbeat(group, hook, instance, token=token)
        if answer is LifecycleAnswer.NO_ACTIVE_ACTION:
            # Auto Scaling's own words; the product recognises an action that already ended by them.
            what = f"token {token}" if token else f"instance ID {instance}"
            return 400, _error("ValidationError", f"No active Lifecycle Action found with {what}")
        return 200, _result(action, "")
    if action == "DescribeAutoScalingInstances":
        instance = form.get("InstanceIds.member.1", "")
        state = stand_in.instance_state(instance)
        members = "" if state is None else _instance_member(instance, stand_in.group_of(instance) or "", state)
        return 200, _result(action, f"<AutoScalingInstances>{members}</AutoScalingInstances>")
    if action == "DescribeAutoScalingGroups":
        names = [value for key, value in form.items() if key.startswith("AutoScalingGroupNames.member.")]
        groups = "".join(_group_member(stand_in, name) for name in names or sorted(stand_in.hooks))
        return 200, _result(action, f"<AutoScalingGroups>{groups}</AutoScalingGroups>")
    return 400, _error("InvalidAction", f"the Auto Scaling stand-in does not implement {action!r}")


def _instance_member(instance: str, group: str, state: str) -> str:
    return (
        f"<member><InstanceId>{escape(instance)}</InstanceId><AutoScalingGroupName>{escape(group)}"
        f"</AutoScalingGroupName><LifecycleState>{escape(state)}</LifecycleState><HealthStatus>HEALTHY"
        "</HealthStatus><AvailabilityZone>us-east-1a</AvailabilityZone><ProtectedFromScaleIn>false"
        "</ProtectedFromScaleIn></member>"
    )


def _group_member(stand_in: AutoScalingStandIn, name: str) -> str:
    instances = "".join(
        f"<member><InstanceId>{escape(i)}</InstanceId><LifecycleState>{escape(state)}</LifecycleState>"
        "<HealthStatus>Healthy</HealthStatus><AvailabilityZone>us-east-1a</AvailabilityZone>"
        "<ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>"
        for i, state in stand_in.instances_of(name)
    )
    group = f"<AutoScalingGroupName>{escape(name)}</AutoScalingGroupName>"
    return f"<member>{group}<Instances>{instances}</Instances></member>"


def _result(action: str, inner: str) -> str:
    return (
        f'<{action}Response xmlns="{_NAMESPACE}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
    )


def _error(code: str, message: str) -> str:
    return (
        f'<ErrorResponse xmlns="{_NAMESPACE}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
