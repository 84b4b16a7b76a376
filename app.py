#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth|deploy` runs this (see cdk.json). Configuration comes from CDK context."""

import sys

# First, before aws_cdk starts Node.js: importing infra quiets jsii's Node version banners (see infra/__init__.py).
import infra  # noqa: F401  # isort: skip

import aws_cdk as cdk

from infra.compliance import add_compliance_checks
from infra.config import ConfigurationError
from infra.stack import DeployTriggerStack


def main() -> None:
    app = cdk.App()
    try:
        DeployTriggerStack(
            app,
            "DeployTrigger",
            description="deploy-trigger: one GitHub Actions workflow_dispatch per EC2 instance an ASG launches",
        )
    except ConfigurationError as error:
        # A configuration mistake is the user's to fix, not a crash: one line, no traceback.
        sys.exit(f"deploy-trigger: {error}")
    add_compliance_checks(app)
    app.synth()


if __name__ == "__main__":
    main()
