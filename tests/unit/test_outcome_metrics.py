"""Every outcome the dispatcher or the tracker can reach is counted: a new outcome without its metric would
raise in the handler after the work was done, and Lambda would retry (and dead-letter) a settled event."""

from deploy_trigger import handler, tracking
from deploy_trigger.dispatch import Outcome
from deploy_trigger.tracking import DeployOutcome


def test_every_dispatch_outcome_has_its_metric() -> None:
    assert set(handler._OUTCOME_METRICS) == set(Outcome)


def test_every_deploy_outcome_has_its_metric() -> None:
    assert set(tracking._OUTCOME_METRICS) == set(DeployOutcome)
