"""The SNS topic every alarm and every deployment alert goes to, encrypted, optionally mailed to a human."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct


class AlarmTopic(Construct):
    """The topic (``topic``), its customer-managed key (``key``), the policies that let this account's
    CloudWatch alarms publish to it, and an email subscription when ``alarm_email`` is given.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, alarm_email: str | None, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        # A customer-managed key, because CloudWatch cannot publish to a topic encrypted with the AWS
        # managed aws/sns key (its key policy cannot grant cloudwatch.amazonaws.com).
        self.key = kms.Key(
            self,
            "TopicKey",
            description="deploy-trigger: encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToTheEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
            )
        )
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name="deploy-trigger alarms", master_key=self.key, enforce_ssl=True
        )
        # The topic policy that enforce_ssl creates replaces SNS's default one, which is what let CloudWatch
        # publish; so allow it explicitly, for this account's alarms only.
        stack = Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccountPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
                    },
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )
        if alarm_email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
            NagSuppressions.add_resource_suppressions(
                self.topic,
                [
                    NagPackSuppression(
                        id="Serverless-SNSRedrivePolicy",
                        reason="The email subscription only notifies a human; an undeliverable email has no "
                        "consumer to redrive to, and the alarm's state stays visible in CloudWatch.",
                    )
                ],
                apply_to_children=True,
            )
