"""Batch mode end to end, through the real handlers: a launch in a quiet period is sent at once by its own invocation,
the launches right behind it are queued and the drainer sends them as one run of the batch workflow (the GitHub double
serves it: one matrix job per instance), and the tracker follows each instance's own job: one failed instance is
abandoned and alerted, its siblings go into service."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from deploy_trigger.deadline import Deadline
from deploy_trigger.handler import drainer_handler
from deploy_trigger.ledger.model import Status
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.tracking import Tracker
from deploy_trigger_cli.local_lambda import LocalLambdaContext
from stand_ins.deployment import REPOSITORY, TOKEN, WORKFLOW
from stand_ins.github_double import BATCH_DECLARED_INPUTS, BATCH_RUN_NAME, GitHubDouble
from stand_ins.invoke import invoke
from tests.integration.conftest import TRACKER_CONFIG, Stack, github_client
from tests.integration.test_tracker import HOOK, DyingAutoScaling, Inbox
from tests.stand_in_fixtures import Deployment

POST = ("POST", "/dispatches")


@pytest.fixture
def github(deployment: Deployment) -> Iterator[GitHubDouble]:
    """The double serving the batch workflow, and the functions in batch mode."""
    with GitHubDouble(
        repository=REPOSITORY,
        workflow=WORKFLOW,
        tokens={TOKEN},
        declared_inputs=BATCH_DECLARED_INPUTS,
        run_name=BATCH_RUN_NAME,
        listing_delay=0,
    ) as double:
        deployment.use_github(double)
        # GitHub's second between mutations, made 5: the launches right behind the first arrive well within it, however
        # slow this machine is today.
        deployment.configure(BATCH_MAX_INSTANCES="256", GITHUB_MUTATION_INTERVAL_SECONDS="5")
        yield double


@pytest.fixture
def group() -> DyingAutoScaling:
    group = DyingAutoScaling()
    group.add_group("web-asg", HOOK)
    return group


def launch_all(group: DyingAutoScaling, instances: list[str]) -> list[dict[str, Any]]:
    answers = []
    for instance in instances:
        answer = invoke(group.launch("web-asg", instance)[0])
        assert answer.error is None
        assert answer.result is not None
        answers.append(answer.result)
    return answers


def test_a_batch_with_one_failing_job_abandons_that_instance_and_continues_its_siblings(
    stack: Stack, github: GitHubDouble, group: DyingAutoScaling, instance_ids: Callable[[], str]
) -> None:
    instances = [instance_ids() for _ in range(3)]
    failing = instances[1]
    github.set_failing_instances({failing})

    answers = launch_all(group, instances)
    drained = drainer_handler({}, LocalLambdaContext(budget_seconds=30))

    # The first goes alone at once; the two right behind it (within GitHub's second) wait for one batch.
    assert [answer["result"] for answer in answers] == ["dispatched", "queued", "queued"]
    assert github.count(*POST) == 2
    assert drained["BatchesDispatched"] == 1
    alone, batch = github.runs
    assert {i: len(jobs) for i, jobs in github.jobs_by_instance().items()} == dict.fromkeys(instances, 1)
    assert [stack.item(i).run_id for i in instances] == [alone.id, batch.id, batch.id]

    inbox = Inbox()
    ledger = Ledger(stack.dynamodb, stack.table)
    tracker = Tracker(ledger, github_client(stack, github), group, inbox, TRACKER_CONFIG)
    tracker.run_pass(Deadline(30))
    assert group.ended() == []  # every job still going: nothing decided
    for run in (alone, batch):
        github.set_run_status(run.id)  # the runs end; the failing instance's job failed, and so did its run
    report = tracker.run_pass(Deadline(30)).as_dict()

    assert sorted(group.ended()) == sorted(
        (instance, "ABANDON" if instance == failing else "CONTINUE") for instance in instances
    )
    (alert,) = inbox.alerts
    assert (alert.instance_id, alert.conclusion) == (failing, "failure")
    assert alert.dispatch_id == stack.item(failing).batch_id  # the ID in the batch run's name
    assert {i: stack.item(i).status for i in instances} == {
        i: Status.DEPLOY_FAILED if i == failing else Status.SUCCEEDED for i in instances
    }
    assert (report["DeploySucceeded"], report["DeployFailed"]) == (2, 1)


def test_a_redelivered_event_for_a_batched_instance_deploys_nothing_more(
    stack: Stack, github: GitHubDouble, group: DyingAutoScaling, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    event = group.launch("web-asg", instance)[0]

    first = invoke(event)
    drainer_handler({}, LocalLambdaContext(budget_seconds=30))
    again = invoke(event)
    drainer_handler({}, LocalLambdaContext(budget_seconds=30))

    assert (first.result or {}).get("result") == "dispatched"
    assert (again.result or {}).get("result") == "duplicate"
    assert github.count(*POST) == 1
    assert [len(jobs) for jobs in github.jobs_by_instance().values()] == [1]
