"""What the tracker and the drainer share (``infra.constructs.scheduled_function``): a schedule every minute, and
runs that nothing retries or keeps, since what they work on lives in the ledger."""

import pytest

from tests.infra.synthesis import Synthesized

SCHEDULED = ["Tracker", "Drainer"]


@pytest.mark.parametrize("function", SCHEDULED)
def test_a_run_is_never_retried_nor_kept(synthesized: Synthesized, function: str) -> None:
    invoke_config = synthesized.properties("AWS::Lambda::EventInvokeConfig", function)

    assert invoke_config == {
        "FunctionName": synthesized.ref("AWS::Lambda::Function", function),
        "Qualifier": "$LATEST",
        "MaximumRetryAttempts": 0,
        "MaximumEventAgeInSeconds": 60,
    }


@pytest.mark.parametrize("function", SCHEDULED)
def test_the_schedule_invokes_it_every_minute_without_retries(synthesized: Synthesized, function: str) -> None:
    rule = synthesized.properties("AWS::Events::Rule", f"{function}Schedule")

    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert rule["State"] == "ENABLED"
    assert "EventPattern" not in rule
    assert rule["Targets"] == [
        {
            "Arn": synthesized.arn("AWS::Lambda::Function", function),
            "Id": "Target0",
            "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
        }
    ]
    synthesized.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": synthesized.arn("AWS::Lambda::Function", function),
            "Principal": "events.amazonaws.com",
            "SourceArn": synthesized.arn("AWS::Events::Rule", f"{function}Schedule"),
        },
    )
