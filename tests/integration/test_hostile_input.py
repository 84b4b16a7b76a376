"""Malformed and hostile events through the real handler: never a dispatch, never a crash outside the
validation error that sends the event to the dead-letter queue."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy_trigger.errors import MalformedEvent
from stand_ins.github_double import GitHubDouble
from stand_ins.invoke import invoke
from tests.integration.conftest import Stack
from tests.integration.emf import metrics

EVENTS = Path(__file__).parent.parent / "events"
LAUNCH = json.loads((EVENTS / "lifecycle_action.json").read_text())

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
hostile_strings = st.sampled_from(
    ["", " ", "i-", "i-0123456789abcdef0\n", "I-0123456789ABCDEF0", "i-0123456789abcdef0123", "${{ secrets.TOKEN }}",
     "'; DROP TABLE ledger; --", "\u202ei-0123456789abcdef0", "i-0123456789abcdeg0", "x" * 2000]
)  # fmt: skip
values = scalars | hostile_strings | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=5), scalars)


@st.composite
def mutated_launch(draw: st.DrawFn) -> Any:
    event = copy.deepcopy(LAUNCH)
    for key in draw(st.lists(st.sampled_from(["EC2InstanceId", "AutoScalingGroupName", "LifecycleActionToken",
                                                  "LifecycleHookName"]), min_size=1, max_size=3)):  # fmt: skip
        if draw(st.booleans()):
            event["detail"][key] = draw(values)
        else:
            event["detail"].pop(key, None)
    return event


@pytest.mark.parametrize(
    "event",
    [
        [],
        "EC2 Instance-launch Lifecycle Action",
        {"source": "aws.autoscaling", "detail-type": "EC2 Instance-launch Lifecycle Action"},
        {**LAUNCH, "detail": None},
        {**LAUNCH, "detail": ["i-0123456789abcdef0"]},
    ],
)
def test_malformed_event_is_rejected_with_a_metric_and_no_dispatch(
    stack: Stack, github: GitHubDouble, event: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = invoke(event)

    assert outcome.error == "MalformedEvent"
    assert metrics(capsys.readouterr().out)["EventRejected"] == 1
    assert github.requests == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=mutated_launch())
def test_hostile_launch_fields_never_dispatch_anything_but_a_valid_instance(
    stack: Stack, github: GitHubDouble, event: Any
) -> None:
    before = len(github.runs)

    outcome = invoke(event)

    assert outcome.error in {None, MalformedEvent.__name__}, outcome.message
    if outcome.error is None and outcome.result and outcome.result["result"] in {"dispatched", "duplicate"}:
        assert outcome.result["instance_id"] == event["detail"]["EC2InstanceId"]
    else:
        assert len(github.runs) == before
