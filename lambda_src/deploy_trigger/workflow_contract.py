"""What the workflow must declare and how it must name its runs: the dispatcher's side of the contract.

Kept free of imports so that the CLI, the CDK app and the local GitHub double can use it without loading the
Lambda's dependencies. examples/workflows/deploy.yml follows it (tests/unit/test_workflow_contract.py checks).
"""

#: Inputs the dispatcher always sends; the workflow must declare each of them.
RESERVED_INPUTS = frozenset({"instance_id", "dispatch_id", "asg_name", "lifecycle_hook_name", "aws_region"})
#: GitHub accepts at most 25 inputs on a workflow_dispatch.
MAX_WORKFLOW_INPUTS = 25
#: The workflow's ``run-name``. GitHub's dispatch API has no idempotency key: the dispatch ID in the run's
#: title is the only way to find a run whose dispatch answer was lost.
RUN_NAME = "Deploy ${{ inputs.instance_id }} (${{ inputs.dispatch_id }})"
