"""What the workflow must declare and how it must name its runs: the dispatcher's side of the contract.

Kept free of imports so that the CLI, the CDK app and the local GitHub double can use it without loading the
Lambda's dependencies. examples/workflows/deploy.yml and deploy-batch.yml follow it (tests/examples/ checks).
"""

#: Inputs the dispatcher always sends; the workflow must declare each of them.
RESERVED_INPUTS = frozenset({"instance_id", "dispatch_id", "asg_name", "lifecycle_hook_name", "aws_region"})
#: GitHub accepts at most 25 inputs on a workflow_dispatch.
MAX_WORKFLOW_INPUTS = 25
#: The workflow's ``run-name``. GitHub's dispatch API has no idempotency key: the dispatch ID in the run's
#: title is the only way to find a run whose dispatch answer was lost.
RUN_NAME = "Deploy ${{ inputs.instance_id }} (${{ inputs.dispatch_id }})"

# -- batch mode (context key ``batchDispatch``): one run deploys many instances, one matrix job each -----------

#: Inputs the dispatcher sends in batch mode: the batch's dispatch ID, and the instances as a JSON array of
#: objects, each with :data:`BATCH_INSTANCE_FIELDS`, in the batch's order (its members' ``batch_position``).
BATCH_RESERVED_INPUTS = frozenset({"dispatch_id", "instances"})
#: The keys of each object in the ``instances`` input: what the single workflow gets as inputs, per instance.
BATCH_INSTANCE_FIELDS = ("instance_id", "asg_name", "lifecycle_hook_name", "aws_region")
#: The batch workflow's ``run-name``: reconciliation finds a batch's run by its dispatch ID, as a single run's.
BATCH_RUN_NAME = "Deploy batch (${{ inputs.dispatch_id }})"
#: GitHub runs at most 256 jobs from one matrix ("Actions limits"): a batch holds at most this many instances.
MAX_BATCH_INSTANCES = 256
#: GitHub accepts at most this many characters of inputs in all on a workflow_dispatch.
MAX_INPUTS_CHARACTERS = 65_535
