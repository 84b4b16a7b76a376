"""The CDK app of deploy-trigger: a reusable ``DeployTrigger`` construct and the stack that deploys it.

Importing this package quiets jsii's Node.js version banners. aws-cdk-lib runs inside a Node.js child
process that jsii starts on the first ``import aws_cdk``; on Node 20 (end-of-life since 2026-04-30) it
prints a 12-line banner to stderr on every synth and every test run, which buries the warnings that
matter (cdk-nag, deprecations). The switches are read when that process starts, so they must be set
before aws_cdk is imported: app.py and tests/infra/conftest.py import this package first for that reason.
``setdefault`` keeps a value the caller set on purpose (e.g. an empty one to see the banners again).
The end-of-life switch takes the major versions to silence: only Node 20 is silenced, so a Node that
reaches end-of-life later is reported again.
"""

import os

JSII_NODE_WARNING_SWITCHES = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
}

for _name, _value in JSII_NODE_WARNING_SWITCHES.items():
    os.environ.setdefault(_name, _value)
