"""Synthesizing the stack for tests: the app as app.py builds it, with explicit example context.

Each test module synthesizes once (a module-scoped fixture); bundling then reuses the wheel cache.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk.assertions import Template

from infra.compliance import add_compliance_checks
from infra.stack import DeployTriggerStack

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
}


@dataclass(frozen=True)
class Synthesized:
    stack: DeployTriggerStack
    template: Template
    template_json: Mapping[str, object]
    assembly_dir: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, object]]:
        found: dict[str, dict[str, object]] = self.template.find_resources(resource_type)
        return found


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
