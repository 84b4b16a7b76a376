"""The ledger: one DynamoDB item per launched instance, the record that makes each dispatch happen once."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from deploy_trigger.ledger.schema import BATCH_KEY_PREFIX, BUDGET_KEY, TABLE_DEFINITION, TRACKING_INDEX, TTL_ATTRIBUTE
from infra.compliance import skip_checkov

#: The dispatcher's calls on the instances' items and the budget item: conditional writes (the claim is a PutItem;
#: take-over, parking in the queue, every outcome and a shared pause are UpdateItems). It never scans, queries,
#: deletes or writes in batches.
DISPATCHER_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem")
#: Its one read: the shared GitHub budget item, once a container has met a rate limit (``github_budget.BudgetGate``),
#: granted on that item's key only.
DISPATCHER_BUDGET_READ = ("dynamodb:GetItem",)
#: Batch mode: a dispatcher that finds the budget idle sends the queue's due launches with its own, read with a Query
#: on the tracking index; it writes their batch's manifest with the PutItem and UpdateItem it has already.
DISPATCHER_BATCH_INDEX_ACTIONS = ("dynamodb:Query",)
#: The tracker finds what is due with a Query on the tracking index and moves each item on with a
#: conditional UpdateItem; it never reads the table itself.
TRACKER_INDEX_ACTIONS = ("dynamodb:Query",)
TRACKER_TABLE_ACTIONS = ("dynamodb:UpdateItem",)
#: The sweep asks which instances the ledger has never seen (``Ledger.known``). Its reference item
#: (``Ledger.sweep_since``, launch-successful mode) is written and read back by one UpdateItem, already granted.
TRACKER_SWEEP_ACTIONS = ("dynamodb:BatchGetItem",)
#: The drainer reads the queue with a Query on the tracking index (its WAITING partition), and takes, parks and
#: settles each launch, and holds and paces the budget item, with conditional UpdateItems; it never reads an item.
DRAINER_INDEX_ACTIONS = ("dynamodb:Query",)
DRAINER_TABLE_ACTIONS = ("dynamodb:UpdateItem",)
#: In batch mode (context ``batchDispatch``) the drainer also keeps an item per batch it sends, the batch's manifest,
#: keyed ``schema.BATCH_KEY_PREFIX`` and the batch's dispatch ID (no instance ID begins with ``#``). It creates one
#: with a conditional PutItem and reads it with GetItem, granted on those keys only (a ``dynamodb:LeadingKeys``
#: condition), so it still reads no instance's item; it updates one with the UpdateItem it has on the whole table
#: already (manifests expire by the table's TTL: nothing deletes them), as it takes and records a batch's members.
DRAINER_BATCH_ACTIONS = ("dynamodb:PutItem", "dynamodb:GetItem")


class LedgerTable(Construct):
    """The table keyed on ``instance_id``: on-demand, TTL on ``expires_at``, point-in-time recovery.

    The ``open-deployments`` index is sparse: the dispatcher sets ``tracking`` when GitHub accepts a
    dispatch and the tracker removes it when the deployment ends, so the tracker's Query reads only the
    unfinished deployments that are due (``next_check_at`` <= now), never the whole table. It exists
    whether or not the tracker is enabled: the dispatcher writes the attributes either way, and turning the
    tracker on later then needs no index build on a live table.

    Kept when the stack is deleted unless ``removal_policy`` is DESTROY: it is the only record of what
    was dispatched for which instance.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        (partition_key,) = TABLE_DEFINITION["KeySchema"]
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=_attribute(partition_key["AttributeName"]),
            billing_mode=dynamodb.BillingMode(TABLE_DEFINITION["BillingMode"]),
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=removal_policy,
        )
        skip_checkov(
            self.table,
            {
                "CKV_AWS_119": "Encrypted at rest with the AWS-managed key (aws/dynamodb). A customer KMS key is a "
                "deployment choice (key policy, rotation, cost) this stack leaves to the account."
            },
        )
        for index in TABLE_DEFINITION["GlobalSecondaryIndexes"]:
            hash_key, range_key = index["KeySchema"]
            self.table.add_global_secondary_index(
                index_name=index["IndexName"],
                partition_key=_attribute(hash_key["AttributeName"]),
                sort_key=_attribute(range_key["AttributeName"]),
                projection_type=dynamodb.ProjectionType(index["Projection"]["ProjectionType"]),
            )
        #: The index's ARN, the only resource the tracker may Query.
        self.tracking_index_arn = f"{self.table.table_arn}/index/{TRACKING_INDEX}"

    def grant_dispatcher_access(self, grantee: iam.IGrantable, *, batches: bool = False) -> iam.Grant:
        """Exactly the actions the dispatcher calls, on this table only (no stream), and GetItem on the budget item
        only (the condition on the partition key). When it sends ``batches`` (a quiet period's launch sends what is
        queued with it), Query on the tracking index too: the queue's partition is read there."""
        writes = iam.Grant.add_to_principal(
            grantee=grantee, actions=list(DISPATCHER_ACTIONS), resource_arns=[self.table.table_arn]
        )
        budget_read = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(DISPATCHER_BUDGET_READ),
            resource_arns=[self.table.table_arn],
            conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [BUDGET_KEY]}},
        )
        grant = writes.combine(budget_read)
        if batches:
            queue = iam.Grant.add_to_principal(
                grantee=grantee, actions=list(DISPATCHER_BATCH_INDEX_ACTIONS), resource_arns=[self.tracking_index_arn]
            )
            grant = grant.combine(queue)
        return grant

    def grant_tracker_access(self, grantee: iam.IGrantable, *, sweeps: bool = False) -> iam.Grant:
        """Query on the tracking index only, UpdateItem (and, when it ``sweeps``, BatchGetItem) on the table only:
        nothing else the tracker calls."""
        query = iam.Grant.add_to_principal(
            grantee=grantee, actions=list(TRACKER_INDEX_ACTIONS), resource_arns=[self.tracking_index_arn]
        )
        table_actions = TRACKER_TABLE_ACTIONS + (TRACKER_SWEEP_ACTIONS if sweeps else ())
        update = iam.Grant.add_to_principal(
            grantee=grantee, actions=list(table_actions), resource_arns=[self.table.table_arn]
        )
        return query.combine(update)

    def grant_drainer_access(self, grantee: iam.IGrantable, *, batches: bool = False) -> iam.Grant:
        """Query on the tracking index only and UpdateItem on the table only, and, when it sends ``batches``, the
        manifests' actions on the batches' keys only (the condition on the partition key): nothing else the drainer
        calls."""
        query = iam.Grant.add_to_principal(
            grantee=grantee, actions=list(DRAINER_INDEX_ACTIONS), resource_arns=[self.tracking_index_arn]
        )
        update = iam.Grant.add_to_principal(
            grantee=grantee, actions=list(DRAINER_TABLE_ACTIONS), resource_arns=[self.table.table_arn]
        )
        grant = query.combine(update)
        if batches:
            manifests = iam.Grant.add_to_principal(
                grantee=grantee,
                actions=list(DRAINER_BATCH_ACTIONS),
                resource_arns=[self.table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{BATCH_KEY_PREFIX}*"]}},
            )
            grant = grant.combine(manifests)
        return grant


_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


def _attribute(name: str) -> dynamodb.Attribute:
    """A key attribute, typed as the table definition declares it."""
    (kind,) = (a["AttributeType"] for a in TABLE_DEFINITION["AttributeDefinitions"] if a["AttributeName"] == name)
    return dynamodb.Attribute(name=name, type=_ATTRIBUTE_TYPES[kind])
