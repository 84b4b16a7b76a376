"""The example IAM policies for the workflow's OIDC role stay least-privilege: one repository and branch may
assume the role, and it may only run commands on, and complete lifecycle actions of, the deploy's group."""

import json
from pathlib import Path
from typing import Any

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
    send = next(s for s in statements if s["Action"] == "ssm:SendCommand")
    assert send["Condition"]["StringEquals"]["ssm:resourceTag/aws:autoscaling:groupName"] == "web-asg"
