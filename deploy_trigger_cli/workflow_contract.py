"""The workflow's side of the contract, read from its YAML: a ``workflow_dispatch`` trigger that declares every
input the dispatcher sends, and a ``run-name`` that carries the dispatch ID.

Why each matters: GitHub answers a dispatch with an undeclared input with 422 "Unexpected inputs provided", which
the dispatcher must treat as final (FAILED); and the dispatch API has no idempotency key, so when an answer is lost
the dispatcher finds the run it may have started only by the dispatch ID in the run's title (``display_title``,
rendered from ``run-name``). Without it, a retry could start a second deployment.

YAML 1.1 (PyYAML) reads the bare key ``on`` as the boolean True; both spellings are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]  # PyYAML ships no stubs; types-PyYAML is optional

from deploy_trigger.workflow_contract import RUN_NAME

#: ``${{ inputs.dispatch_id }}`` (or ``github.event.inputs.dispatch_id``) anywhere in an expression.
_DISPATCH_ID_EXPRESSION = re.compile(
    r"\$\{\{(?:(?!\}\}).)*?\b(?:github\.event\.)?inputs\.dispatch_id\b(?:(?!\}\}).)*\}\}", re.DOTALL
)
SUGGESTED_RUN_NAME = RUN_NAME


class WorkflowUnreadable(ValueError):
    """The text is not YAML, or not a workflow (a mapping)."""


@dataclass(frozen=True)
class Workflow:
    has_dispatch_trigger: bool
    #: Input name -> its declaration (``required``, ``default``, ``type``...).
    inputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    run_name: str | None = None


def parse_workflow(text: str) -> Workflow:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise WorkflowUnreadable(f"the workflow file is not valid YAML{line}") from None
    if not isinstance(document, Mapping):
        raise WorkflowUnreadable("the workflow file is not a YAML mapping")
    triggers = document.get(True, document.get("on"))
    dispatch: object = None
    if isinstance(triggers, str):
        has_dispatch = triggers == "workflow_dispatch"
    elif isinstance(triggers, list):
        has_dispatch = "workflow_dispatch" in triggers
    elif isinstance(triggers, Mapping):
        has_dispatch = "workflow_dispatch" in triggers
        dispatch = triggers.get("workflow_dispatch")
    else:
        has_dispatch = False
    raw_inputs = dispatch.get("inputs") if isinstance(dispatch, Mapping) else None
    inputs = {
        str(name): (spec if isinstance(spec, Mapping) else {})
        for name, spec in (raw_inputs.items() if isinstance(raw_inputs, Mapping) else [])
    }
    run_name = document.get("run-name")
    return Workflow(has_dispatch, inputs, str(run_name) if run_name is not None else None)


def input_problems(workflow: Workflow, sent: Set[str]) -> list[str]:
    """What GitHub would refuse about a dispatch sending ``sent``, in plain words; empty when nothing."""
    if not workflow.has_dispatch_trigger:
        return [
            "it has no workflow_dispatch trigger, so GitHub refuses every dispatch "
            "(422 \"Workflow does not have 'workflow_dispatch' trigger\")"
        ]
    problems = []
    undeclared = sorted(sent - workflow.inputs.keys())
    if undeclared:
        problems.append(
            f"it does not declare input(s) {', '.join(undeclared)} that the dispatcher sends, so GitHub rejects "
            'every dispatch (422 "Unexpected inputs provided") and the launches end FAILED'
        )
    unsent = sorted(
        name
        for name, spec in workflow.inputs.items()
        if spec.get("required") is True and "default" not in spec and name not in sent
    )
    if unsent:
        problems.append(
            f"it requires input(s) {', '.join(unsent)} that the dispatcher does not send, so GitHub rejects the "
            "dispatch (422); add them to WORKFLOW_EXTRA_INPUTS or give them a default"
        )
    return problems


def run_name_problem(workflow: Workflow) -> str | None:
    if workflow.run_name is None:
        return (
            "it has no run-name, so its runs are titled with the workflow's name: a dispatch whose answer was lost "
            "cannot be found again, and the retry may start a second deployment"
        )
    if not _DISPATCH_ID_EXPRESSION.search(workflow.run_name):
        return (
            f"its run-name {workflow.run_name!r} does not contain ${{{{ inputs.dispatch_id }}}}: a dispatch whose "
            "answer was lost cannot be found again, and the retry may start a second deployment"
        )
    return None
