"""DynamoDB's failures in domain terms, for every ledger write: a throttle, an unreachable endpoint or any
other refusal is LedgerUnavailable (retried from the ledger's state); only a lost condition is an answer."""

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from deploy_trigger.errors import ClaimContended, LedgerUnavailable
from deploy_trigger.events import InstanceLaunch
from deploy_trigger.ledger.model import Existing, LedgerEntry, Status
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.runs import RunRef, WorkflowRun

INSTANCE = "i-0123456789abcdef0"
LAUNCH = InstanceLaunch(INSTANCE, "web-asg", "token-1", "event-1", "EC2 Instance-launch Lifecycle Action")
HELD = LedgerEntry(INSTANCE, Status.CLAIMED, "token-1", "d-1", attempts=1, lease_owner="me", lease_expires_at=10.0)
TRACKED = LedgerEntry(INSTANCE, Status.RUNNING, "token-1", "d-1", asg_name="web-asg")
RUN = WorkflowRun(7, "deploy d-1", "in_progress", None, "https://x/7", None, None)

#: Each write, as the operation it calls and a call that makes it.
WRITES: dict[str, tuple[str, Callable[[Ledger], object]]] = {
    "claim": ("put_item", lambda ledger: ledger.claim(LAUNCH, "d-1", "me", 10.0)),
    "take_over": ("update_item", lambda ledger: ledger.take_over(HELD, "you", 20.0)),
    "supersede": ("update_item", lambda ledger: ledger.take_over(HELD, "you", 20.0, launch=LAUNCH, dispatch_id="d-2")),
    "record_dispatched": (
        "update_item",
        lambda ledger: ledger.record_dispatched(HELD, "me", RunRef(7), reconciled=False),
    ),
    "record_failed": ("update_item", lambda ledger: ledger.record_failed(HELD, "me", "HTTP 422")),
    "release": ("update_item", lambda ledger: ledger.release(HELD, "me", "x", post_unconfirmed=True, until=15.0)),
    "reset_failed": ("update_item", lambda ledger: ledger.reset_failed(INSTANCE, "fixed")),
    "record_run_progress": ("update_item", lambda ledger: ledger.record_run_progress(TRACKED, RUN, next_check_at=5.0)),
    "record_lifecycle_intent": ("update_item", lambda ledger: ledger.record_lifecycle_intent(TRACKED, "CONTINUE")),
    "record_deploy_finished": (
        "update_item",
        lambda ledger: ledger.record_deploy_finished(
            TRACKED, succeeded=True, outcome="succeeded", conclusion="success", lifecycle_result=None, detail="ok"
        ),
    ),
    "get": ("get_item", lambda ledger: ledger.get(INSTANCE)),
    "known": ("batch_get_item", lambda ledger: ledger.known([INSTANCE])),
    "due_for_tracking": ("query", lambda ledger: ledger.due_for_tracking(5.0, 10)),
    "unresolved_outcomes": ("query", lambda ledger: ledger.unresolved_outcomes(5.0)),
}


@pytest.fixture
def stubbed() -> Iterator[tuple[Ledger, Stubber, Any]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield Ledger(client, "ledger", clock=lambda: 1.0), stubber, client
        stubber.assert_no_pending_responses()


REFUSALS = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "InternalServerError",
    "ResourceNotFoundException",
    "ValidationException",
]


@pytest.mark.parametrize("code", REFUSALS)
@pytest.mark.parametrize("write", WRITES, ids=str)
def test_a_refused_call_is_ledger_unavailable_with_the_code(
    stubbed: tuple[Ledger, Stubber, Any], write: str, code: str
) -> None:
    ledger, stubber, _ = stubbed
    operation, call = WRITES[write]
    stubber.add_client_error(operation, service_error_code=code, http_status_code=400)

    with pytest.raises(LedgerUnavailable, match=code) as raised:
        call(ledger)
    assert raised.value.code == code


@pytest.mark.parametrize("write", WRITES, ids=str)
def test_an_unreachable_endpoint_is_ledger_unavailable(
    stubbed: tuple[Ledger, Stubber, Any], write: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, _, client = stubbed
    operation, call = WRITES[write]

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    monkeypatch.setattr(client, operation, unreachable)

    with pytest.raises(LedgerUnavailable, match="unreachable"):
        call(ledger)


@pytest.mark.parametrize(
    "write",
    [
        "record_dispatched",
        "record_failed",
        "release",
        "reset_failed",
        "record_run_progress",
        "record_lifecycle_intent",
        "record_deploy_finished",
    ],
)
def test_a_lost_condition_is_false_not_an_error(stubbed: tuple[Ledger, Stubber, Any], write: str) -> None:
    ledger, stubber, _ = stubbed
    operation, call = WRITES[write]
    stubber.add_client_error(operation, service_error_code="ConditionalCheckFailedException", http_status_code=400)

    assert call(ledger) is False


def test_a_lost_take_over_is_claim_contended(stubbed: tuple[Ledger, Stubber, Any]) -> None:
    ledger, stubber, _ = stubbed
    stubber.add_client_error("update_item", service_error_code="ConditionalCheckFailedException", http_status_code=400)

    with pytest.raises(ClaimContended):
        ledger.take_over(HELD, "you", 20.0)


def test_a_lost_claim_returns_the_item_that_won(stubbed: tuple[Ledger, Stubber, Any]) -> None:
    ledger, stubber, _ = stubbed
    winner = {"instance_id": {"S": INSTANCE}, "status": {"S": "DISPATCHED"}, "launch_key": {"S": "token-1"},
              "dispatch_id": {"S": "d-0"}, "run_id": {"N": "41"}}  # fmt: skip
    stubber.add_client_error(
        "put_item",
        service_error_code="ConditionalCheckFailedException",
        http_status_code=400,
        modeled_fields={"Item": winner},
    )

    claim = ledger.claim(LAUNCH, "d-1", "me", 10.0)

    assert isinstance(claim, Existing)
    assert (claim.entry.status, claim.entry.dispatch_id, claim.entry.run_id) == (Status.DISPATCHED, "d-0", 41)
