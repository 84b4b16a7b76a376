"""The EventBridge rule that hands Auto Scaling launch events to the dispatcher."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

#: EventBridge's delivery retries (the maximum); they only cover failures to hand the event to Lambda
#: (missing permission, Lambda throttling the API call). Once Lambda queued it, Lambda's own retries apply.
DELIVERY_RETRY_ATTEMPTS = 185
#: Matches the dispatcher's maximum event age: an event older than 6 hours is left for an operator.
DELIVERY_MAX_EVENT_AGE = Duration.hours(6)


class LaunchEventRule(Construct):
    """Matches ``aws.autoscaling`` events of one detail-type, optionally from named groups only.

    Undeliverable events go to ``dead_letter_queue``; the target adds the queue policy that lets
    events.amazonaws.com send to it for this rule only (aws:SourceArn).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        detail_type: str,
        asg_names: Sequence[str],
        handler: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"deploy-trigger: '{detail_type}' events to the dispatcher",
            event_pattern=events.EventPattern(
                source=["aws.autoscaling"],
                detail_type=[detail_type],
                # No filter means any group in the account and region.
                detail={"AutoScalingGroupName": list(asg_names)} if asg_names else None,
            ),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                handler,
                retry_attempts=DELIVERY_RETRY_ATTEMPTS,
                max_event_age=DELIVERY_MAX_EVENT_AGE,
                dead_letter_queue=dead_letter_queue,
            )
        )
