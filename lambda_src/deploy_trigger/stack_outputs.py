"""The deployed stack's output keys, named once: the CDK stack exports them and the operator CLI reads them.

Kept free of imports so that the CDK app and the CLI can use it without loading the Lambda's dependencies.
"""

LEDGER_TABLE_NAME = "LedgerTableName"
DISPATCHER_FUNCTION_NAME = "DispatcherFunctionName"
DELIVERY_DLQ_URL = "DeliveryDlqUrl"
FAILURE_DLQ_URL = "FailureDlqUrl"
EVENT_RULE_NAME = "EventRuleName"
CREDENTIALS_SECRET_ARN = "CredentialsSecretArn"  # noqa: S105  (an output key)
GITHUB_REPOSITORY = "GithubRepository"
GITHUB_WORKFLOW = "GithubWorkflow"
GITHUB_REF = "GithubRef"
# For an operator: the CLI does not read these.
ALARM_TOPIC_ARN = "AlarmTopicArn"
DASHBOARD_NAME = "DashboardName"
TRACKER_FUNCTION_NAME = "TrackerFunctionName"  # only when the tracker is enabled
DRAINER_FUNCTION_NAME = "DrainerFunctionName"  # its logs and metrics tell how the queue for GitHub budget drains

#: The keys the operator CLI reads; each fills in one of its flags.
CLI_KEYS = (
    LEDGER_TABLE_NAME,
    DISPATCHER_FUNCTION_NAME,
    DELIVERY_DLQ_URL,
    FAILURE_DLQ_URL,
    EVENT_RULE_NAME,
    CREDENTIALS_SECRET_ARN,
    GITHUB_REPOSITORY,
    GITHUB_WORKFLOW,
    GITHUB_REF,
)
