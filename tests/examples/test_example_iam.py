"""The example IAM policies for the workflow's OIDC role stay least-privilege: one repository and branch may
assume the role, and it may only run commands on, and complete lifecycle actions of, the deploy's group."""

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples" / "iam"


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())  # type: ignore[no-any-return]


def test_only_one_repository_branch_can_assume_the_role() -> None:
    (statement,) = load("github-oidc-trust-policy.json")["Statement"]

    condition = statement["Condition"]["StringEquals"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert condition["token.actions.githubusercontent.com:sub"].startswith("repo:")
    assert "*" not in condition["token.actions.githubusercontent.com:sub"]


def test_permissions_have_no_wildcard_action_and_lifecycle_calls_are_scoped_to_the_group() -> None:
    statements = load("github-deploy-permissions.json")["Statement"]

    actions = [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert all("*" not in action for action in actions)
    lifecycle = next(s for s in statements if "autoscaling:CompleteLifecycleAction" in s["Action"])
    assert lifecycle["Resource"].endswith("autoScalingGroupName/web-asg")
    assert allowed_to_send(statements, "web-asg")
    assert not allowed_to_send(statements, "other-asg")


# No IAM policy evaluator installs offline from PyPI that we would trust with conditions: moto's access control
# ignores Condition blocks, and the linters (parliament, iam-policy-validator) check syntax or call AWS. So this models
# the one authorization that matters, the way the Systems Manager guide describes it ("Restricting Run Command access
# based on tags"): SendCommand is authorized once for the document and once for each instance, each against the
# statements whose Resource matches it, with its own tags. The AWS-owned document has no tags.
DOCUMENT = "arn:aws:ssm:REGION::document/AWS-RunShellScript"
INSTANCE = "arn:aws:ec2:REGION:ACCOUNT_ID:instance/i-0123456789abcdef0"


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _allows(statement: dict[str, Any], action: str, resource: str, tags: dict[str, str]) -> bool:
    if statement["Effect"] != "Allow" or action not in _listed(statement["Action"]):
        return False
    if not any(fnmatchcase(resource, pattern) for pattern in _listed(statement["Resource"])):
        return False
    for operator, conditions in statement.get("Condition", {}).items():
        assert operator == "StringEquals", f"the model knows StringEquals only, not {operator}"
        for key, expected in conditions.items():
            tag = key.removeprefix("ssm:resourceTag/")
            if tags.get(tag) not in _listed(expected):
                return False
    return True


def allowed_to_send(statements: list[dict[str, Any]], instance_group: str) -> bool:
    """Whether SendCommand of AWS-RunShellScript to an instance of ``instance_group`` is allowed."""
    document = any(_allows(s, "ssm:SendCommand", DOCUMENT, {}) for s in statements)
    tags = {"aws:autoscaling:groupName": instance_group}
    instance = any(_allows(s, "ssm:SendCommand", INSTANCE, tags) for s in statements)
    return document and instance


#: The policy as it was: the document and the instances in one statement under the group-tag condition.
OLD_POLICY = [
    {
        "Effect": "Allow",
        "Action": "ssm:SendCommand",
        "Resource": [DOCUMENT, "arn:aws:ec2:REGION:ACCOUNT_ID:instance/*"],
        "Condition": {"StringEquals": {"ssm:resourceTag/aws:autoscaling:groupName": "web-asg"}},
    }
]


@pytest.mark.parametrize("group", ["web-asg", "other-asg"])
def test_the_old_combined_statement_denies_every_deploy(group: str) -> None:
    """The untagged document fails the tag condition, so no instance, of any group, can be sent a command."""
    assert not allowed_to_send(OLD_POLICY, group)


def test_the_document_statement_has_no_condition_and_the_instance_statement_has_the_group_tag() -> None:
    """The shape of AWS's own examples, asserted directly as well as through the model above."""
    statements = load("github-deploy-permissions.json")["Statement"]
    send = [s for s in statements if "ssm:SendCommand" in _listed(s["Action"])]

    document = next(s for s in send if _listed(s["Resource"]) == [DOCUMENT])
    instances = next(s for s in send if s is not document)
    assert "Condition" not in document
    assert _listed(instances["Resource"]) == ["arn:aws:ec2:REGION:ACCOUNT_ID:instance/*"]
    assert instances["Condition"] == {"StringEquals": {"ssm:resourceTag/aws:autoscaling:groupName": "web-asg"}}
    assert len(send) == 2


def test_the_workflow_may_ask_whether_the_agent_is_registered() -> None:
    """ssm-run.sh polls DescribeInstanceInformation; it supports no resource-level permission, so Resource is *."""
    statements = load("github-deploy-permissions.json")["Statement"]

    assert any(_allows(s, "ssm:DescribeInstanceInformation", "*", {}) for s in statements)
