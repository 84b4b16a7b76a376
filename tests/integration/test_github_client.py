"""The GitHub client's classification of transport failures, against the GitHub double over real sockets.

Only a failure to connect proves a POST never reached GitHub; anything after the connection was made (a TLS
alert, a reset, a broken answer) can come after GitHub received the whole request and created the run.
"""

import socket
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from deploy_trigger.deadline import Deadline
from deploy_trigger.errors import GitHubUnavailable, OutcomeUnknown
from deploy_trigger.github_auth import SecretCredentials
from deploy_trigger.github_client import GitHubClient
from stand_ins.github_double import GitHubDouble
from tests.integration.conftest import Stack

INPUTS = {"instance_id": "i-0abc", "dispatch_id": "0" * 32, "asg_name": "web", "lifecycle_hook_name": "deploy",
          "aws_region": "us-east-1"}  # fmt: skip


class TlsAlertAfterSending(HTTPAdapter):
    """Sends the request for real, then fails the way a TLS alert read with the answer does."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        super().send(request, *args, **kwargs)
        raise requests.exceptions.SSLError("[SSL: TLSV1_ALERT_INTERNAL_ERROR] tlsv1 alert internal error")


def client(stack: Stack, api_url: str, session: requests.Session | None = None) -> GitHubClient:
    return GitHubClient(api_url=api_url, repository="acme/app", workflow="deploy.yml", api_version="2026-03-10",
                        credentials=SecretCredentials(stack.secret), session=session)  # fmt: skip


def test_a_tls_error_after_the_request_was_sent_is_an_unknown_outcome(stack: Stack, github: GitHubDouble) -> None:
    session = requests.Session()
    session.mount("http://", TlsAlertAfterSending(max_retries=0))

    with pytest.raises(OutcomeUnknown):
        client(stack, github.url, session).dispatch("main", INPUTS, Deadline(20))

    assert len(github.runs) == 1  # why it must not count as "never sent"


def test_a_refused_connection_proves_nothing_was_sent(stack: Stack) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again before the call: nothing listens there

    with pytest.raises(GitHubUnavailable, match="could not connect"):
        client(stack, f"http://127.0.0.1:{port}").dispatch("main", INPUTS, Deadline(20))
