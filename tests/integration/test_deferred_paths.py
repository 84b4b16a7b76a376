"""The dispatcher's rare paths whose code its cold start no longer loads (tests/unit/test_first_answer_imports.py):
each still works when it is met."""

from collections.abc import Callable

from stand_ins.autoscaling_events import lifecycle_action
from stand_ins.github_double import GitHubDouble, RateLimited
from stand_ins.invoke import invoke
from stand_ins.moto_server import SerializedMotoServer
from tests.integration.conftest import Stack


def test_a_rate_limited_container_wakes_the_drainer_function_once_its_first_launch_is_queued(
    stack: Stack, moto_server: SerializedMotoServer, github: GitHubDouble, instance_ids: Callable[[], str]
) -> None:
    # No such function on moto: the wake-up is still sent (and its failure logged, never raised: the schedule drains).
    stack.configure(DRAINER_FUNCTION_NAME="deploy-trigger-drainer")
    github.inject(RateLimited(retry_after=60, status=429))
    moto_server.reset_calls()

    queued = [invoke(lifecycle_action(instance_ids())) for _ in range(2)]

    assert [answer.result and answer.result["result"] for answer in queued] == ["queued", "queued"]
    assert moto_server.calls["lambda:POST"] == 1  # one asynchronous Invoke: at most one wake-up per 10 s
    assert github.count("POST", "/dispatches") == 1  # the second launch read the pause and joined the queue
