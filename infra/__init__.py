"""The CDK app of deploy-trigger: a reusable ``DeployTrigger`` construct and the stack that deploys it.
Importing this package before aws_cdk quiets jsii's Node.js version banners (only Node 20's end of life)."""

import os

JSII_NODE_WARNING_SWITCHES = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
}

# jsii reads these when it starts Node.js, on the first aws_cdk import; a value set on purpose is kept.
for _name, _value in JSII_NODE_WARNING_SWITCHES.items():
    os.environ.setdefault(_name, _value)
