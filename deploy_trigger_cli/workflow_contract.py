"""The workflow's side of the contract, read from its YAML: a ``workflow_dispatch`` trigger that declares every
input the dispatcher sends, and a ``run-name`` that carries the dispatch ID.

Why each matters: GitHub answers a dispatch with an undeclared input with 422 "Unexpected inputs provided", which
the dispatcher must treat as final (FAILED); and the dispatch API has no idempotency key, so when an answer is lost
the dispatcher finds the run it may have started only by the dispatch ID in the run's title (``display_title``,
rendered from ``run-name``). Without it, a retry could start a second deployment.

In batch mode the run deploys many instances, one matrix job each, and the tracker follows each instance by the
job that has its instance ID in its name: :func:`batch_matrix_problems` checks the one matrix job it needs.

YAML 1.1 (PyYAML) reads the bare key ``on`` as the boolean True; both spellings are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]  # PyYAML ships no stubs; types-PyYAML is optional

from deploy_trigger.workflow_contract import BATCH_RUN_NAME, RUN_NAME

#: ``${{ inputs.dispatch_id }}`` (or ``github.event.inputs.dispatch_id``) anywhere in an expression.
_DISPATCH_ID_EXPRESSION = re.compile(
    r"\$\{\{(?:(?!\}\}).)*?\b(?:github\.event\.)?inputs\.dispatch_id\b(?:(?!\}\}).)*\}\}", re.DOTALL
)
SUGGESTED_RUN_NAME = RUN_NAME
SUGGESTED_BATCH_RUN_NAME = BATCH_RUN_NAME
#: A matrix value that is exactly ``${{ fromJSON(inputs.instances) }}``: one entry per instance the batch holds.
#: GitHub's function and context names are case-insensitive.
_INSTANCES_EXPRESSION = re.compile(
    r"^\$\{\{\s*fromjson\(\s*(?:github\.event\.)?inputs\.instances\s*\)\s*\}\}$", re.IGNORECASE
)
#: The matrix of the example batch workflow, as the fix to show.
SUGGESTED_BATCH_MATRIX = (
    "strategy: {fail-fast: false, matrix: {instance: ${{ fromJSON(inputs.instances) }}}} and "
    "name: ${{ matrix.instance.instance_id }}"
)


class WorkflowUnreadable(ValueError):
    """The text is not YAML, or not a workflow (a mapping)."""


@dataclass(frozen=True)
class Workflow:
    has_dispatch_trigger: bool
    #: Input name -> its declaration (``required``, ``default``, ``type``...).
    inputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    run_name: str | None = None
    #: Job ID -> its definition, for the batch contract's matrix job.
    jobs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


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
    raw_jobs = document.get("jobs")
    jobs = {
        str(name): job
        for name, job in (raw_jobs.items() if isinstance(raw_jobs, Mapping) else [])
        if isinstance(job, Mapping)
    }
    return Workflow(has_dispatch, inputs, str(run_name) if run_name is not None else None, jobs)


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


@dataclass(frozen=True)
class _MatrixJob:
    """A job whose matrix has one entry per instance: ``key`` is the matrix key over ``inputs.instances``."""

    job_id: str
    job: Mapping[str, Any]
    key: str

    @property
    def strategy(self) -> Mapping[str, Any]:
        strategy = self.job.get("strategy")
        return strategy if isinstance(strategy, Mapping) else {}

    @property
    def instance_id_expression(self) -> str:
        """What renders the entry's instance ID: ``include`` spreads each object's fields into the matrix itself."""
        return "matrix.instance_id" if self.key == "include" else f"matrix.{self.key}.instance_id"


def _matrix_jobs(workflow: Workflow) -> list[_MatrixJob]:
    found = []
    for job_id, job in workflow.jobs.items():
        strategy = job.get("strategy")
        matrix = strategy.get("matrix") if isinstance(strategy, Mapping) else None
        for key, value in matrix.items() if isinstance(matrix, Mapping) else []:
            if isinstance(value, str) and _INSTANCES_EXPRESSION.match(value.strip()):
                found.append(_MatrixJob(job_id, job, str(key)))
    return found


def batch_matrix_problems(workflow: Workflow) -> list[str]:
    """What keeps a batch run from deploying each instance once, in a job of its own that the tracker can follow;
    empty when nothing."""
    jobs = _matrix_jobs(workflow)
    if not jobs:
        return [
            "it has no job with a matrix over ${{ fromJSON(inputs.instances) }}: the run does not deploy each instance "
            "in a job of its own, and the tracker, which follows each instance by its job, finds none"
        ]
    if len(jobs) > 1:
        return [
            f"jobs {', '.join(job.job_id for job in jobs)} each have a matrix over inputs.instances: the tracker "
            "follows one job per instance (the latest with its ID in the name) and may judge an instance before its "
            "deployment ended; deploy, verify and complete the lifecycle action in one job"
        ]
    (job,) = jobs
    return [problem for check in (_other_dimensions, _fail_fast, _job_name) if (problem := check(job))]


def _other_dimensions(job: _MatrixJob) -> str | None:
    matrix = job.strategy.get("matrix")
    others = sorted(str(key) for key in matrix if key != job.key) if isinstance(matrix, Mapping) else []
    if not others:
        return None
    return (
        f"job {job.job_id}'s matrix has key(s) {', '.join(others)} besides {job.key}: GitHub runs a job for every "
        "combination, so each instance would be deployed more than once"
    )


def _fail_fast(job: _MatrixJob) -> str | None:
    if job.strategy.get("fail-fast") is False:
        return None
    return (
        f"job {job.job_id} does not set fail-fast: false (GitHub's default is true): the first instance that fails "
        "cancels the jobs of its siblings, and instances that were fine are left undeployed"
    )


def _job_name(job: _MatrixJob) -> str | None:
    name = job.job.get("name")
    expression = re.compile(
        rf"\$\{{\{{(?:(?!\}}\}}).)*?\b{re.escape(job.instance_id_expression)}\b", re.DOTALL | re.IGNORECASE
    )
    if isinstance(name, str) and expression.search(name):
        return None
    named = f"'s name {name!r}" if isinstance(name, str) else " has no name, so it"
    return (
        f"job {job.job_id}{named} does not contain ${{{{ {job.instance_id_expression} }}}}: the tracker finds each "
        "instance's job by the instance ID in its name, and cannot follow an instance whose job it cannot find"
    )


def batch_matrix_summary(workflow: Workflow) -> str:
    """The matrix job, in words, for a workflow without :func:`batch_matrix_problems`."""
    (job,) = _matrix_jobs(workflow)
    return f"job {job.job_id} runs one job per instance, named ${{{{ {job.instance_id_expression} }}}}, fail-fast false"
