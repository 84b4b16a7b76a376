"""Synthesizing the stack for tests: the app as app.py builds it, with explicit example context.

Each test module synthesizes once (a module-scoped fixture); bundling then reuses the wheel cache.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from deploy_trigger import metric_names
from infra.compliance import add_compliance_checks
from infra.stack import DeployTriggerStack

#: The one dimension every custom metric carries (Powertools' default dimension).
SERVICE_DIMENSION = [{"Name": "service", "Value": metric_names.SERVICE}]


def secret_arn(name: str) -> dict[str, Any]:
    """The ARN CloudFormation builds for a secret in the stack's own partition, region and account."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":secretsmanager:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":secret:{name}",
            ],
        ]
    }


#: The only Secrets Manager statement a function gets, for the example secret name: GetSecretValue on that
#: secret (a name gets the -?????? suffix Secrets Manager appends to every secret's ARN).
SECRET_READ_STATEMENT: dict[str, Any] = {
    "Action": "secretsmanager:GetSecretValue",
    "Effect": "Allow",
    "Resource": secret_arn("deploy-trigger/github-??????"),
}

#: The context a user must give, with example values (cdk.json deliberately has none of these).
REQUIRED_CONTEXT: Mapping[str, object] = {
    "githubRepository": "example-org/example-app",
    "githubWorkflow": "deploy.yml",
    "githubCredentialsSecret": "deploy-trigger/github",
}

#: Every optional key set to something other than its default.
CUSTOMIZED_CONTEXT: Mapping[str, object] = {
    **REQUIRED_CONTEXT,
    "mode": "launch-successful",
    "githubRef": "release",
    "githubCredentialsSecret": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:deploy-trigger/github",
    "githubCredentialsKmsKeyArn": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "githubApiUrl": "https://github.example.com/api/v3",
    "githubApiVersion": "2022-11-28",
    "asgNames": ["web-asg", "worker-asg"],
    "workflowExtraInputs": {"environment": "production", "region_label": "eu"},
    "dispatcherTimeoutSeconds": 45,
    "reservedConcurrency": 3,
    "alarmEmail": "oncall@example.com",
    "removalPolicy": "destroy",
    "trackerEnabled": False,
    "runAppearTimeoutSeconds": 900,
    "heartbeatIntervalSeconds": 600,
    "maxDeploySeconds": 7200,
    "lifecycleHookName": "platform-deploy",
    "lifecycleHookHeartbeatTimeoutSeconds": 1800,
    "lifecycleHookDefaultResult": "CONTINUE",
    "crashLoopAbandonThreshold": 5,
    "githubMutationIntervalSeconds": 2.5,
    "batchDispatch": True,
    "batchMaxInstances": 64,
}

#: The tracker with every one of its own keys changed, in lifecycle-hook mode and scoped to named groups
#: (CUSTOMIZED_CONTEXT turns the tracker off, to show that everything of it goes).
TRACKER_CONTEXT: Mapping[str, object] = {
    **REQUIRED_CONTEXT,
    "asgNames": ["web-asg", "worker-asg"],
    "runAppearTimeoutSeconds": 900,
    "heartbeatIntervalSeconds": 600,
    "maxDeploySeconds": 7200,
    "lifecycleHookHeartbeatTimeoutSeconds": 1800,
    "crashLoopAbandonThreshold": 5,
}


@dataclass(frozen=True)
class Synthesized:
    stack: DeployTriggerStack
    template: Template
    template_json: Mapping[str, object]
    assembly_dir: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self.template.find_resources(resource_type)
        return found

    def logical_id(self, resource_type: str, path_part: str) -> str:
        """The logical ID of the one resource of this type whose ID mentions ``path_part``."""
        matches = [key for key in self.resources(resource_type) if path_part in key]
        assert len(matches) == 1, matches
        return matches[0]

    def properties(self, resource_type: str, path_part: str) -> dict[str, Any]:
        properties: dict[str, Any] = self.resources(resource_type)[self.logical_id(resource_type, path_part)][
            "Properties"
        ]
        return properties

    def ref(self, resource_type: str, path_part: str) -> dict[str, str]:
        """How the template refers to that resource: ``{"Ref": logical ID}``."""
        return {"Ref": self.logical_id(resource_type, path_part)}

    def arn(self, resource_type: str, path_part: str) -> dict[str, list[str]]:
        """How the template refers to that resource's ARN: ``{"Fn::GetAtt": [logical ID, "Arn"]}``."""
        return {"Fn::GetAtt": [self.logical_id(resource_type, path_part), "Arn"]}

    def role_statements(self, path_part: str) -> list[dict[str, Any]]:
        """The statements of the policy CDK attaches to the role whose ID mentions ``path_part``."""
        policy = self.properties("AWS::IAM::Policy", f"{path_part}Role")["PolicyDocument"]
        statements: list[dict[str, Any]] = policy["Statement"]
        return statements


def synthesize(
    context: Mapping[str, object], outdir: Path, *, bundle: bool = True, compliance: bool = True
) -> Synthesized:
    """Synthesize the app as app.py does. ``bundle=False`` skips the asset build for tests that ignore it."""
    full_context = dict(context)
    if not bundle:
        full_context["aws:cdk:bundling-stacks"] = []  # CDK's own switch: bundle no stack
    app = cdk.App(context=full_context, outdir=str(outdir))
    stack = DeployTriggerStack(app, "DeployTrigger")
    if compliance:
        add_compliance_checks(app)
    assembly = app.synth()
    template_path = Path(assembly.directory) / stack.template_file
    template_json = json.loads(template_path.read_text())
    return Synthesized(
        stack=stack,
        template=Template.from_json(template_json),
        template_json=template_json,
        assembly_dir=Path(assembly.directory),
    )


def synthesize_template(context: Mapping[str, object], outdir: Path) -> Synthesized:
    """Synthesize only the template: no asset build, no compliance checks (for a test that reads a property)."""
    return synthesize(context, outdir, bundle=False, compliance=False)
