"""`fleet`: Auto Scaling groups on moto server joined with ledger entries written through the ledger's codec."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from deploy_trigger.ledger.codec import encode_item
from deploy_trigger.ledger.model import Status
from deploy_trigger.ledger.schema import iso_time
from deploy_trigger_cli import fleet
from tests.cli.conftest import CliResult
from tests.cli.paging import SmallPages
from tests.stand_in_fixtures import Deployment

Run = Callable[..., CliResult]
NEW_SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
OLD_SHA = "0f9e8d7c6b5a49382716f5e4d3c2b1a098765432"


class Fleet:
    """Auto Scaling groups with instances on moto, and the ledger entries their deploys would have left."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.autoscaling = boto3.client("autoscaling", endpoint_url=deployment.endpoint)
        self.template = f"deploy-trigger-test-{uuid.uuid4().hex[:8]}"
        boto3.client("ec2", endpoint_url=deployment.endpoint).create_launch_template(
            LaunchTemplateName=self.template,
            LaunchTemplateData={"ImageId": "ami-12345678", "InstanceType": "t3.micro"},
        )

    def group(self, size: int) -> tuple[str, list[str]]:
        """A new group of ``size`` instances: its name and its instance IDs."""
        name = f"web-asg-{uuid.uuid4().hex[:8]}"
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": self.template},
            MinSize=0,
            MaxSize=max(size, 1),
            DesiredCapacity=size,
            AvailabilityZones=["us-east-1a"],
        )
        return name, self.instance_ids(name)

    def instance_ids(self, name: str) -> list[str]:
        group = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        return sorted(instance["InstanceId"] for instance in group["Instances"])

    def record(
        self,
        instance_id: str,
        asg_name: str,
        status: Status,
        *,
        head_sha: str | None = None,
        finished_minutes_ago: float | None = None,
        conclusion: str | None = None,
        deploy_outcome: str | None = None,
    ) -> None:
        """The instance's ledger item, as the dispatcher and the tracker would have left it."""
        now = time.time()
        attributes: dict[str, object] = {
            "instance_id": instance_id,
            "status": status.value,
            "launch_key": f"launch-{instance_id}",
            "dispatch_id": uuid.uuid4().hex,
            "attempts": 1,
            "asg_name": asg_name,
            "created_at": iso_time(now - 3600),
            "updated_at": iso_time(now),
        }
        if status is not Status.CLAIMED and status is not Status.FAILED:
            attributes |= {"run_id": 4242, "run_url": "https://github.com/acme/web/actions/runs/4242"}
        optional = {
            "head_sha": head_sha,
            "conclusion": conclusion,
            "deploy_outcome": deploy_outcome,
            "finished_at": iso_time(now - finished_minutes_ago * 60) if finished_minutes_ago is not None else None,
        }
        attributes |= {name: value for name, value in optional.items() if value is not None}
        self.deployment.dynamodb.put_item(TableName=self.deployment.table, Item=encode_item(attributes))

    def succeeded(self, instance_id: str, asg_name: str, head_sha: str, finished_minutes_ago: float) -> None:
        self.record(
            instance_id,
            asg_name,
            Status.SUCCEEDED,
            head_sha=head_sha,
            finished_minutes_ago=finished_minutes_ago,
            conclusion="success",
            deploy_outcome="succeeded",
        )


@pytest.fixture
def fleet_on_moto(deployment: Deployment) -> Fleet:
    return Fleet(deployment)


def by_instance(result: CliResult) -> dict[str, dict[str, Any]]:
    return {row["instance_id"]: row for group in result.json()["groups"] for row in group["instances"]}


def row_of(result: CliResult, instance_id: str) -> str:
    [row] = [line for line in result.out.splitlines() if line.startswith(instance_id)]
    return row


# -- verdicts ---------------------------------------------------------------------------------------------------


def test_a_fleet_all_on_the_newest_commit_exits_0_and_shows_each_instance(fleet_on_moto: Fleet, run_cli: Run) -> None:
    group, instances = fleet_on_moto.group(3)
    for minutes, instance in enumerate(instances):
        fleet_on_moto.succeeded(instance, group, NEW_SHA, finished_minutes_ago=minutes + 1)

    result = run_cli("fleet", "--asg", group)

    assert result.code == 0, result.err
    assert result.out.startswith(f"{group}: newest successful deploy a1b2c3d (on {instances[0]}, finished")
    for instance in instances:
        assert row_of(result, instance).split()[:6] == [
            instance,
            "InService",
            "SUCCEEDED",
            "a1b2c3d",
            "succeeded",
            "current:",
        ]
    assert result.out.rstrip().endswith("3 instances in 1 group: 3 current. Nothing flagged.")


def test_an_instance_on_an_older_commit_is_flagged_and_exits_1(fleet_on_moto: Fleet, run_cli: Run) -> None:
    group, (new_1, new_2, old) = fleet_on_moto.group(3)  # the flagged one sorts last by ID
    fleet_on_moto.succeeded(old, group, OLD_SHA, finished_minutes_ago=90)
    fleet_on_moto.succeeded(new_1, group, NEW_SHA, finished_minutes_ago=10)
    fleet_on_moto.succeeded(new_2, group, NEW_SHA, finished_minutes_ago=5)

    result = run_cli("fleet", "--asg", group)
    rows = by_instance(run_cli("fleet", "--asg", group, "--json"))

    assert result.code == 1
    assert row_of(result, old).split()[3:6] == ["0f9e8d7", "succeeded", "!"]
    assert "older-commit: runs 0f9e8d7; the group's newest successful deploy is a1b2c3d" in row_of(result, old)
    assert result.out.splitlines()[2].startswith(old)  # yet flagged instances come first
    assert {instance: row["verdict"] for instance, row in rows.items()} == {
        old: "older-commit",
        new_1: "current",
        new_2: "current",
    }
    assert "1 flagged" in result.out


def test_a_rollback_makes_the_instances_still_on_the_rolled_back_commit_the_older_ones(
    fleet_on_moto: Fleet, run_cli: Run
) -> None:
    group, (rolled_back, on_revert) = fleet_on_moto.group(2)
    fleet_on_moto.succeeded(rolled_back, group, NEW_SHA, finished_minutes_ago=60)
    fleet_on_moto.succeeded(on_revert, group, OLD_SHA, finished_minutes_ago=2)  # the revert deployed last

    result = run_cli("fleet", "--asg", group, "--json")

    assert result.code == 1
    assert result.json()["flagged"] == [rolled_back]
    assert result.json()["groups"][0]["newest_deploy"]["head_sha"] == OLD_SHA


def test_an_instance_without_a_ledger_entry_is_flagged(fleet_on_moto: Fleet, run_cli: Run) -> None:
    group, (deployed, unknown) = fleet_on_moto.group(2)
    fleet_on_moto.succeeded(deployed, group, NEW_SHA, finished_minutes_ago=5)

    result = run_cli("fleet", "--asg", group)

    assert result.code == 1
    assert row_of(result, unknown).split()[:6] == [unknown, "InService", "-", "-", "-", "!"]
    assert "not-deployed: no ledger entry" in row_of(result, unknown)
    assert "1 current, 1 not-deployed. 1 flagged." in result.out


@pytest.mark.parametrize(
    ("status", "outcome", "conclusion", "shown"),
    [
        (Status.DEPLOY_FAILED, "failed", "failure", "failed (failure)"),
        (Status.DEPLOY_FAILED, "stuck", None, "stuck"),
        (Status.FAILED, None, None, "-"),
    ],
)
def test_a_failed_deploy_is_flagged_with_its_outcome(
    fleet_on_moto: Fleet, run_cli: Run, status: Status, outcome: str | None, conclusion: str | None, shown: str
) -> None:
    group, (deployed, failed) = fleet_on_moto.group(2)
    fleet_on_moto.succeeded(deployed, group, NEW_SHA, finished_minutes_ago=30)
    fleet_on_moto.record(
        failed,
        group,
        status,
        head_sha=OLD_SHA if outcome else None,
        finished_minutes_ago=1 if outcome else None,
        conclusion=conclusion,
        deploy_outcome=outcome,
    )

    result = run_cli("fleet", "--asg", group)
    row = by_instance(run_cli("fleet", "--asg", group, "--json"))[failed]

    assert result.code == 1
    assert f"{status.value}  " in row_of(result, failed)
    assert f"  {shown}  " in row_of(result, failed)
    assert f"failed: {status.value}: `deploy-trigger status {failed}` says why" in row_of(result, failed)
    assert (row["verdict"], row["flagged"], row["conclusion"], row["deploy_outcome"]) == (
        "failed",
        True,
        conclusion,
        outcome,
    )


@pytest.mark.parametrize("status", [Status.CLAIMED, Status.DISPATCHED, Status.RUNNING])
def test_an_instance_being_deployed_is_not_flagged(fleet_on_moto: Fleet, run_cli: Run, status: Status) -> None:
    group, (deployed, deploying) = fleet_on_moto.group(2)
    fleet_on_moto.succeeded(deployed, group, NEW_SHA, finished_minutes_ago=30)
    fleet_on_moto.record(deploying, group, status)

    result = run_cli("fleet", "--asg", group)

    assert result.code == 0, result.out
    assert f"deploying: {status.value.lower()}: the deploy is under way" in row_of(result, deploying)
    assert "1 current, 1 deploying. Nothing flagged." in result.out


def test_a_reset_entry_and_a_success_without_a_recorded_commit_are_flagged(fleet_on_moto: Fleet, run_cli: Run) -> None:
    group, (deployed, reset, no_commit) = fleet_on_moto.group(3)
    fleet_on_moto.succeeded(deployed, group, NEW_SHA, finished_minutes_ago=30)
    fleet_on_moto.record(reset, group, Status.RESET)
    fleet_on_moto.record(no_commit, group, Status.SUCCEEDED, finished_minutes_ago=1, deploy_outcome="succeeded")

    rows = by_instance(run_cli("fleet", "--asg", group, "--json"))

    assert (rows[reset]["verdict"], rows[no_commit]["verdict"]) == ("not-deployed", "unknown-commit")
    assert rows[reset]["flagged"]
    assert rows[no_commit]["flagged"]
    assert rows[deployed]["verdict"] == "current"  # the newest success with a commit is the reference


def test_the_lifecycle_state_is_auto_scalings(fleet_on_moto: Fleet, run_cli: Run) -> None:
    group, (standing_by, *_) = fleet_on_moto.group(1)
    fleet_on_moto.autoscaling.enter_standby(
        AutoScalingGroupName=group, InstanceIds=[standing_by], ShouldDecrementDesiredCapacity=True
    )
    fleet_on_moto.succeeded(standing_by, group, NEW_SHA, finished_minutes_ago=3)

    row = by_instance(run_cli("fleet", "--asg", group, "--json"))[standing_by]

    assert (row["lifecycle_state"], row["health_status"]) == ("Standby", "Healthy")


# -- output ---------------------------------------------------------------------------------------------------


def test_json_has_each_group_its_newest_deploy_and_every_instance(fleet_on_moto: Fleet, run_cli: Run) -> None:
    web, (current, behind) = fleet_on_moto.group(2)
    api, (missing,) = fleet_on_moto.group(1)
    fleet_on_moto.succeeded(current, web, NEW_SHA, finished_minutes_ago=5)
    fleet_on_moto.succeeded(behind, web, OLD_SHA, finished_minutes_ago=50)

    result = run_cli("fleet", "--asg", f"{web},{api}", "--json")
    document = result.json()

    assert result.code == 1
    assert document["table"] == fleet_on_moto.deployment.table
    assert document["flagged"] == [behind, missing]
    assert document["counts"] == {
        "current": 1,
        "older-commit": 1,
        "unknown-commit": 0,
        "deploying": 0,
        "failed": 0,
        "not-deployed": 1,
    }
    assert [group["name"] for group in document["groups"]] == [web, api]
    newest = document["groups"][0]["newest_deploy"]
    assert (newest["head_sha"], newest["instance_id"], newest["run_id"]) == (NEW_SHA, current, 4242)
    assert newest["finished_at"].endswith("Z")
    assert document["groups"][1]["newest_deploy"] is None
    row = document["groups"][0]["instances"][0]
    assert row == {
        "instance_id": behind,
        "lifecycle_state": "InService",
        "health_status": "Healthy",
        "ledger_status": "SUCCEEDED",
        "head_sha": OLD_SHA,
        "conclusion": "success",
        "deploy_outcome": "succeeded",
        "run_id": 4242,
        "run_url": "https://github.com/acme/web/actions/runs/4242",
        "finished_at": row["finished_at"],
        "verdict": "older-commit",
        "flagged": True,
        "reason": "runs 0f9e8d7; the group's newest successful deploy is a1b2c3d",
    }
    assert document["groups"][1]["instances"][0]["ledger_status"] is None


def test_an_empty_group_is_shown_and_flags_nothing(fleet_on_moto: Fleet, run_cli: Run) -> None:
    group, _ = fleet_on_moto.group(0)

    result = run_cli("fleet", "--asg", group)

    assert result.code == 0
    assert f"{group}: no successful deploy with a recorded commit\n  (no instances)" in result.out
    assert result.out.rstrip().endswith("0 instances in 1 group. Nothing flagged.")


# -- reading AWS ------------------------------------------------------------------------------------------------


class RecordingDynamoDB:
    """The real client, recording how many keys each BatchGetItem asked for; ``hold_back`` keys of the first
    call come back as UnprocessedKeys (as when DynamoDB throttles), ``always_hold_back`` of every call."""

    def __init__(self, client: Any, hold_back: int = 0, *, always_hold_back: int = 0) -> None:
        self._client = client
        self._hold_back = hold_back
        self._always_hold_back = always_hold_back
        self.requested: list[int] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        [(table, request)] = RequestItems.items()
        self.requested.append(len(request["Keys"]))
        held = self._always_hold_back or (self._hold_back if len(self.requested) == 1 else 0)
        asked, kept = request["Keys"][held:], request["Keys"][:held]
        answer: dict[str, Any] = (
            self._client.batch_get_item(RequestItems={table: {**request, "Keys": asked}})
            if asked
            else {"Responses": {table: []}}  # DynamoDB refuses an empty request; throttled, it answers this
        )
        answer["UnprocessedKeys"] = {table: {"Keys": kept}} if kept else {}
        return answer


def test_more_than_100_instances_are_read_in_batches_of_100(
    fleet_on_moto: Fleet, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, instances = fleet_on_moto.group(130)
    for instance in instances:
        fleet_on_moto.succeeded(instance, group, NEW_SHA, finished_minutes_ago=5)
    dynamodb = RecordingDynamoDB(fleet_on_moto.deployment.dynamodb, hold_back=7)
    monkeypatch.setattr(fleet, "FIRST_BACKOFF_SECONDS", 0.0)

    result = run_cli("fleet", "--asg", group, "--json", aws_clients={"dynamodb": dynamodb})

    assert result.code == 0, result.err
    assert dynamodb.requested == [100, 7, 30]  # the first batch's unprocessed keys, asked again, then the rest
    assert result.json()["counts"]["current"] == 130
    assert sorted(by_instance(result)) == instances


def test_keys_left_unprocessed_after_every_retry_fail_the_command(
    fleet_on_moto: Fleet, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, _ = fleet_on_moto.group(2)
    dynamodb = RecordingDynamoDB(fleet_on_moto.deployment.dynamodb, always_hold_back=1)
    monkeypatch.setattr(fleet, "FIRST_BACKOFF_SECONDS", 0.0)

    result = run_cli("fleet", "--asg", group, aws_clients={"dynamodb": dynamodb})

    assert result.code == 1
    assert "left 1 keys unprocessed after 6 retries" in result.err
    assert len(dynamodb.requested) == 1 + fleet.UNPROCESSED_RETRIES
    assert result.out == ""


def test_groups_are_read_across_pages(fleet_on_moto: Fleet, run_cli: Run) -> None:
    names = [fleet_on_moto.group(1)[0] for _ in range(3)]

    one_group_per_page = SmallPages(fleet_on_moto.autoscaling, 1)  # every DescribeAutoScalingGroups page

    result = run_cli("fleet", "--asg", ",".join(names), "--json", aws_clients={"autoscaling": one_group_per_page})

    assert [group["name"] for group in result.json()["groups"]] == names
    assert all(len(group["instances"]) == 1 for group in result.json()["groups"])


# -- configuration --------------------------------------------------------------------------------------------


def test_without_asg_the_dispatchers_allowed_groups_are_shown(fleet_on_moto: Fleet, run_cli: Run) -> None:
    web, (web_instance,) = fleet_on_moto.group(1)
    api, (api_instance,) = fleet_on_moto.group(1)
    fleet_on_moto.deployment.configure(ALLOWED_ASG_NAMES=f" {web}, {api} ")
    fleet_on_moto.succeeded(web_instance, web, NEW_SHA, finished_minutes_ago=1)
    fleet_on_moto.succeeded(api_instance, api, OLD_SHA, finished_minutes_ago=1)

    result = run_cli("fleet", "--json")

    assert result.code == 0, result.err
    assert [group["name"] for group in result.json()["groups"]] == sorted([web, api])


def test_without_asg_or_allowed_groups_it_asks_for_asg(fleet_on_moto: Fleet, run_cli: Run) -> None:
    result = run_cli("fleet")

    assert result.code == 2
    assert "no Auto Scaling group to look at: pass --asg NAME" in result.err
    assert "ALLOWED_ASG_NAMES" in result.err
    assert "Traceback" not in result.err
    assert result.out == ""


def test_a_group_auto_scaling_does_not_know_is_a_configuration_error(fleet_on_moto: Fleet, run_cli: Run) -> None:
    known, _ = fleet_on_moto.group(1)

    result = run_cli("fleet", "--asg", known, "--asg", "no-such-asg", "--json")

    assert result.code == 2
    assert result.json()["error"].startswith("no Auto Scaling group 'no-such-asg' in this account and region")


def test_a_missing_table_is_a_configuration_error(fleet_on_moto: Fleet, run_cli: Run) -> None:
    group, _ = fleet_on_moto.group(1)

    result = run_cli("fleet", "--asg", group, "--table", "no-such-table")

    assert result.code == 2
    assert "table 'no-such-table' does not exist" in result.err
