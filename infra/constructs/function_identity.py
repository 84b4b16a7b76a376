"""A function's own log group and an explicit role that may write only to it.

Both of the service's functions start this way: the default role attaches AWSLambdaBasicExecutionRole,
which may write to every log group in the account, and a log group made by the function on first use has
no retention and outlives the stack.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct


def own_logs_and_role(
    scope: Construct, *, retention: logs.RetentionDays, removal_policy: RemovalPolicy, role_description: str
) -> tuple[logs.LogGroup, iam.Role]:
    log_group = logs.LogGroup(scope, "Logs", retention=retention, removal_policy=removal_policy)
    role = iam.Role(
        scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=role_description
    )
    log_group.grant_write(role)
    return log_group, role
