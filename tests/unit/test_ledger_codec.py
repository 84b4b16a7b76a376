"""The one item codec and the update builder: what the ledger writes is what every reader decodes."""

import subprocess
import sys

import pytest

from deploy_trigger.events import InstanceLaunch
from deploy_trigger.ledger.codec import UnreadableItem, decode_entry, encode, encode_item, new_claim
from deploy_trigger.ledger.model import Status, status_is
from deploy_trigger.ledger.schema import iso_time
from deploy_trigger.ledger.update import Update

INSTANCE = "i-0123456789abcdef0"
NOW = 1_800_000_000.25


def test_a_fresh_claim_decodes_to_the_entry_the_dispatcher_holds() -> None:
    launch = InstanceLaunch(INSTANCE, "web-asg", "token-1", "event-1", "EC2 Instance-launch Lifecycle Action",
                            lifecycle_hook_name="deploy-trigger-launch", lifecycle_action_token="token-1")  # fmt: skip
    attributes = new_claim(launch, "d-1", "owner-1", NOW + 35, NOW)

    entry = decode_entry(encode_item({"instance_id": INSTANCE, **attributes}))

    assert (entry.status, entry.launch_key, entry.dispatch_id, entry.attempts) == (Status.CLAIMED, "token-1", "d-1", 1)
    assert (entry.lease_owner, entry.lease_expires_at, entry.first_claimed_at) == ("owner-1", NOW + 35, NOW)
    assert entry.post_unconfirmed is True
    assert (entry.lifecycle_hook_name, entry.lifecycle_action_token) == ("deploy-trigger-launch", "token-1")
    assert "token-1" not in repr(entry).replace("launch_key='token-1'", "")  # the token is a capability


def test_times_history_and_numbers_decode_to_python_values() -> None:
    item = encode_item(
        {
            "instance_id": INSTANCE,
            "status": "SUCCEEDED",
            "run_id": 12345678901,
            "updated_at": iso_time(NOW),
            "history": [{"at": iso_time(NOW), "event": "claimed", "detail": "dispatch d-1"}],
        }
    )

    entry = decode_entry(item)

    assert entry.run_id == 12345678901
    assert entry.updated_at is not None
    assert entry.updated_at.timestamp() == pytest.approx(NOW, abs=0.001)
    assert [(event.event, event.detail) for event in entry.history] == [("claimed", "dispatch d-1")]


def test_an_item_with_an_unknown_status_is_refused_by_name() -> None:
    with pytest.raises(UnreadableItem, match="PAUSED"):
        decode_entry({"instance_id": {"S": INSTANCE}, "status": {"S": "PAUSED"}})


def test_encode_refuses_what_dynamodb_cannot_store_as_given() -> None:
    assert encode(1.23456) == {"N": "1.235"}
    with pytest.raises(TypeError, match="set"):
        encode({1, 2})


def test_an_update_sends_only_the_names_and_values_its_expressions_use() -> None:
    plain = Update(INSTANCE, NOW).set(run_id=7, run_url=None).arguments("ledger")

    assert plain["UpdateExpression"] == "SET updated_at = :updated_at, run_id = :run_id"
    assert set(plain["ExpressionAttributeValues"]) == {":updated_at", ":run_id"}
    assert "ExpressionAttributeNames" not in plain  # DynamoDB rejects names no expression uses
    assert "ConditionExpression" not in plain

    conditional = Update(INSTANCE, NOW).remove("tracking", "tracking").when(status_is(Status.FAILED))
    arguments = conditional.arguments("ledger")
    assert arguments["UpdateExpression"].endswith("REMOVE tracking")
    assert arguments["ExpressionAttributeNames"] == {"#status": "status"}


def test_one_placeholder_cannot_mean_two_values_in_one_update() -> None:
    with pytest.raises(ValueError, match=":launch_key"):
        Update(INSTANCE, NOW).set(launch_key="a").when(status_is(Status.RESET), launch_key="b")


def test_the_model_schema_and_codec_load_no_aws_sdk_or_http_client() -> None:
    """The CLI, the CDK app and the domain read the ledger's contract without botocore's import cost."""
    probe = (
        "import sys, deploy_trigger.ledger.model, deploy_trigger.ledger.schema, deploy_trigger.ledger.codec\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'requests') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)  # noqa: S603

    assert loaded.stdout.strip() == "[]"
