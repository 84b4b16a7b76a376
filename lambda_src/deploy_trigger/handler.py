"""The Lambda entry points: thin, they parse, call one domain object, and map the result to logs and metrics.

``handler`` (the dispatcher) is invoked asynchronously by EventBridge with Auto Scaling events. A raised
exception fails the invocation on purpose: Lambda retries it (the ledger makes that safe) and, once retries
are spent, sends the event with the error to the on-failure queue, where an alarm sees it. Returning means
the event is done with.

``drainer_handler`` is invoked every minute by a schedule, and by a dispatcher that queued a launch for GitHub
budget; it sends the queue at GitHub's pace (``deploy_trigger.drain``) and reports how it stands.

``tracker_handler`` is invoked every minute by a schedule and runs one tracking pass, then the sweep for
launches whose event never came (``deploy_trigger.sweep``), which hands them to the dispatcher.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from deploy_trigger import metric_names, runtime
from deploy_trigger.deadline import Deadline
from deploy_trigger.dispatch import Outcome
from deploy_trigger.errors import (
    ClaimContended,
    DispatchRejected,
    MalformedEvent,
    OutcomeUnknown,
    PermanentFailure,
    RetryLater,
)
from deploy_trigger.events import Ignored, parse_event
from deploy_trigger.observability import count, logger, metrics, seconds

#: Every outcome has its entry (tests/unit/test_outcome_metrics.py): a missing one would fail the invocation after
#: the work was done, and Lambda would retry, then dead-letter, a settled event.
_OUTCOME_METRICS: dict[Outcome, str] = {
    Outcome.DISPATCHED: metric_names.DISPATCHED,
    Outcome.RECONCILED: metric_names.RECONCILED_FOUND,
    Outcome.DUPLICATE: metric_names.DUPLICATE_SUPPRESSED,
    Outcome.STALE: metric_names.STALE_EVENT_IGNORED,
    Outcome.WARM_POOL: metric_names.WARM_POOL_CONTINUED,
    Outcome.QUEUED: metric_names.QUEUED_FOR_BUDGET,
}
#: Rate limits are counted where they happen (each one, including those waited out), in the GitHub client.
_RETRY_METRICS: dict[type[RetryLater], str] = {
    OutcomeUnknown: metric_names.OUTCOME_UNKNOWN,
    ClaimContended: metric_names.CLAIM_CONTENDED,
}


runtime.prepare_container()  # Lambda imports this module in its init phase: the clients are built there


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    dispatcher = runtime.dispatcher()
    try:
        settings = runtime.settings()
        launch = parse_event(event, settings.allowed_asg_names, settings.lifecycle_hook_name)
    except MalformedEvent as error:
        count(metric_names.EVENT_REJECTED)
        logger.error("rejected a malformed event; it goes to the dead-letter queue", extra={"error": str(error)})
        raise
    if isinstance(launch, Ignored):
        count(metric_names.EVENT_IGNORED)
        logger.info("ignored event", extra={"reason": launch.reason})
        return {"result": "ignored", "reason": launch.reason}

    logger.append_keys(instance_id=launch.instance_id, asg_name=launch.asg_name)
    try:
        result = dispatcher.handle(launch, Deadline.from_context(context))
    except RetryLater as error:
        metric = _RETRY_METRICS.get(type(error))
        if metric:
            count(metric)
        logger.warning(
            "dispatch not settled; Lambda retries the event", extra={"error": str(error), "kind": type(error).__name__}
        )
        raise
    except PermanentFailure as error:
        details: dict[str, object] = {"error": str(error)}
        if isinstance(error, DispatchRejected):
            count(metric_names.DISPATCH_REJECTED)
            details["github_status"] = error.status
        logger.error("dispatch failed for good; the event goes to the dead-letter queue", extra=details)
        raise

    count(_OUTCOME_METRICS[result.outcome])
    if launch.found_by_sweep and result.outcome in (Outcome.DISPATCHED, Outcome.RECONCILED):
        count(metric_names.LAUNCHES_FOUND_BY_SWEEP)
    if result.reconciled_not_found:
        count(metric_names.RECONCILED_NOT_FOUND)
    logger.info(f"launch {result.outcome.value}", extra=result.as_dict())
    return result.as_dict()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def drainer_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = runtime.drainer().drain(Deadline.from_context(context))
    for name, value in report.counts.items():
        count(name, value)
    count(metric_names.LAUNCHES_WAITING, report.waiting)
    seconds(metric_names.OLDEST_WAITING_SECONDS, report.oldest_wait_seconds)
    seconds(metric_names.EXPECTED_DRAIN_SECONDS, report.expected_drain_seconds)
    if report.hook_headroom_seconds is not None:
        seconds(metric_names.HOOK_HEADROOM_SECONDS, report.hook_headroom_seconds)
    result = report.as_dict()
    logger.info("drain run done", extra={"drain": result})
    return result


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def tracker_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    tracker, sweeper = runtime.tracker(), runtime.sweeper()
    deadline = Deadline.from_context(context)
    report = tracker.run_pass(deadline)
    count(metric_names.TRACKER_BACKLOG, report.due)
    count(metric_names.UNRESOLVED_OUTCOMES, len(report.unresolved))
    for name, value in report.counts.items():
        count(name, value)
    for duration in report.durations:
        seconds(metric_names.DEPLOY_DURATION, duration)
    result = report.as_dict()
    if sweeper is not None:
        # After the pass: following the deployments already dispatched comes first, the sweep takes what is left.
        sweep = sweeper.sweep(deadline)
        for name, value in sweep.counts.items():
            count(name, value)
        result["sweep"] = sweep.as_dict()
    logger.info("tracking pass done", extra={"pass": result})
    return result
