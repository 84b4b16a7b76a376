"""The metrics the Lambda emits, named once: the code emits them and the CDK alarms and dashboard read them.

Kept free of imports so that the CDK app can use it without loading the Lambda's dependencies.
"""

NAMESPACE = "DeployTrigger"
SERVICE = "deploy-trigger"

# Every metric carries one dimension, service=SERVICE (Powertools' default dimension).
DISPATCHED = "Dispatched"  # GitHub accepted a workflow_dispatch
DUPLICATE_SUPPRESSED = "DuplicateSuppressed"  # an event for a launch already dispatched: no GitHub call
RECONCILED_FOUND = "ReconciledFound"  # a takeover found the earlier attempt's run: recorded, no POST
RECONCILED_NOT_FOUND = "ReconciledNotFound"  # a takeover found no run: dispatched with the same dispatch_id
EVENT_IGNORED = "EventIgnored"  # not a launch we deploy (other detail-type, warm pool, ASG not allowed)
EVENT_REJECTED = "EventRejected"  # malformed event: validation error, kept in the DLQ
DISPATCH_REJECTED = "DispatchRejected"  # GitHub refused the dispatch for good (4xx): ledger FAILED, DLQ
OUTCOME_UNKNOWN = "OutcomeUnknown"  # 5xx / timeout / dropped connection: reconciled before any new POST
RATE_LIMITED = "RateLimited"  # GitHub refused a request for a rate limit (it did not act); never re-sent by the caller
CLAIM_CONTENDED = "ClaimContended"  # another invocation holds a live lease on the instance
STALE_EVENT_IGNORED = "StaleEventIgnored"  # a late event of an earlier launch of the instance: nothing sent
WARM_POOL_CONTINUED = "WarmPoolContinued"  # an instance entered the warm pool: its action continued, not deployed
LAUNCHES_FOUND_BY_SWEEP = "LaunchesFoundBySweep"  # dispatched for a launch whose event never came (the sweep)
GITHUB_LATENCY = "GitHubLatency"  # milliseconds per GitHub API call
QUEUED_FOR_BUDGET = "QueuedForBudget"  # GitHub's budget had no room: the launch was parked for the drainer

# The drainer (the queue of launches waiting for GitHub budget; one run at a time, every minute and on wake-up)
DRAINED = "Drained"  # a queued launch dispatched by the drainer (also counted in Dispatched)
REQUEUED = "Requeued"  # a queued launch put back: rate limited again, GitHub unreachable, or outcome unknown
RATE_LIMIT_WAITS = "RateLimitWaits"  # the drainer met a rate limit and paused every sender for as long as asked
LAUNCHES_WAITING = "LaunchesWaiting"  # launches in the queue after the run
OLDEST_WAITING_SECONDS = "OldestWaitingSeconds"  # age of the oldest waiting launch (from its launch)
EXPECTED_DRAIN_SECONDS = "ExpectedDrainSeconds"  # when the last waiting launch would be sent at the current pace
HOOK_HEADROOM_SECONDS = "HookHeadroomSeconds"  # least time a waiting hook launch would have left at its turn
BATCHES_DISPATCHED = "BatchesDispatched"  # batch mode: runs GitHub accepted, each deploying many instances

# The tracker (one pass a minute over unfinished deployments)
DEPLOY_SUCCEEDED = "DeploySucceeded"  # the run succeeded
DEPLOY_FAILED = "DeployFailed"  # the run ended in failure, cancellation or timeout
DEPLOY_NO_RUN = "DeployNoRun"  # GitHub never listed a run for the dispatch
DEPLOY_STUCK = "DeployStuck"  # the run was still unfinished after MAX_DEPLOY_SECONDS
DEPLOY_DURATION = "DeployDuration"  # seconds from the first claim to the run's end
LIFECYCLE_CONTINUED = "LifecycleContinued"  # instance let into service
LIFECYCLE_ABANDONED = "LifecycleAbandoned"  # instance terminated and replaced: many in a row = crash loop
LIFECYCLE_ALREADY_ENDED = "LifecycleAlreadyEnded"  # no active action: the workflow completed it, or it timed out
HEARTBEATS = "LifecycleHeartbeats"  # heartbeats recorded for slow but healthy deploys
TRACKER_BACKLOG = "TrackerBacklog"  # unfinished deployments due for a check at the start of a pass
TRACKER_ERRORS = "TrackerErrors"  # entries a pass could not check (retried next pass)
UNRESOLVED_OUTCOMES = "UnresolvedOutcomes"  # outcome-unknown dispatches no retry reconciled within 15 minutes
