"""The ledger: one DynamoDB item per launched instance, the record that makes each dispatch happen once."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

PARTITION_KEY = "instance_id"
#: Epoch seconds after which DynamoDB may delete the item (set by the dispatcher).
TTL_ATTRIBUTE = "expires_at"

#: The only calls the dispatcher makes on the table: read a launch's item, and conditional writes
#: (claim, take over, record the outcome). Nothing scans, queries, deletes or writes in batches.
DISPATCHER_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")


class Ledger(Construct):
    """The table keyed on ``instance_id``: on-demand, TTL on ``expires_at``, point-in-time recovery.

    Kept when the stack is deleted unless ``removal_policy`` is DESTROY: it is the only record of what
    was dispatched for which instance.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            # On demand: launches come in bursts (scale-out) and then nothing for hours.
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=removal_policy,
        )

    def grant_dispatcher_access(self, grantee: iam.IGrantable) -> iam.Grant:
        """Exactly the actions the dispatcher calls, on this table only (no index, no stream)."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(DISPATCHER_ACTIONS), resource_arns=[self.table.table_arn]
        )
