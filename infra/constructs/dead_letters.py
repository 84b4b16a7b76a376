"""A dead-letter queue: where an event goes when nothing else could handle it, kept for a human."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.compliance import skip_checkov

#: SQS's maximum: an operator back from a long weekend still finds the event.
RETENTION = Duration.days(14)


class DeadLetterQueue(Construct):
    """An SQS queue for undeliverable or failed events: SQS-managed encryption, TLS-only, 14-day retention.

    SQS-managed encryption (not a customer KMS key) keeps EventBridge and Lambda able to send to it
    without key-policy grants.
    """

    def __init__(self, scope: Construct, construct_id: str, *, purpose: str, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RETENTION,
            removal_policy=removal_policy,
        )
        reason = (
            f"This queue is itself a dead-letter sink ({purpose}). Its messages are read by an operator, "
            "and an alarm fires on the first one; a further queue behind it would only hide them."
        )
        skip_checkov(
            self.queue,
            {
                "CKV_AWS_27": "Encrypted with SQS-managed keys (SqsManagedSseEnabled), which checkov does not "
                "recognise: it accepts only a KMS key. A customer key would also need EventBridge and Lambda "
                "granted on it, or the sinks would refuse the messages they exist to keep."
            },
        )
        NagSuppressions.add_resource_suppressions(
            self.queue,
            [
                NagPackSuppression(id="AwsSolutions-SQS3", reason=reason),
                NagPackSuppression(id="Serverless-SQSRedrivePolicy", reason=reason),
            ],
        )
