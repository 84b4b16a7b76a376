"""What GitHub checks in a workflow-dispatch body, and how it titles the run: pure functions, no HTTP.

Messages are GitHub's (422 bodies), so a client's error handling is exercised against the real wording.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Set
from typing import Any

LEGACY_API_VERSION = "2022-11-28"
CURRENT_API_VERSION = "2026-03-10"
#: "The maximum number of top-level properties for inputs is 25. The maximum payload for inputs is 65,535
#: characters." (GitHub docs, "Events that trigger workflows", workflow_dispatch.)
MAX_INPUTS = 25
MAX_INPUTS_CHARACTERS = 65_535

_RUN_NAME_INPUT = re.compile(r"\$\{\{\s*inputs\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")


def short_ref(ref: str) -> str:
    """``refs/heads/main`` and ``main`` name the same branch."""
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def render_run_name(template: str, inputs: Mapping[str, str]) -> str:
    """Substitute ``${{ inputs.X }}`` the way Actions renders ``run-name`` (a missing input renders empty)."""
    return _RUN_NAME_INPUT.sub(lambda match: inputs.get(match.group(1), ""), template)


#: The first GitHub Enterprise Server release that knows ``return_run_details`` (github/rest-api-description).
GHES_RUN_DETAILS_SINCE = (3, 21)


def ghes_release(version: str) -> tuple[int, int]:
    """``"3.20"`` (or ``"3.20.4"``) as ``(3, 20)``; ``ValueError`` for anything else."""
    major, minor, *_ = version.split(".")
    return int(major), int(minor)


def dispatch_problem(
    body: Mapping[str, Any], version: str, *, ghes: tuple[int, int] | None, refs: Set[str], declared_inputs: Set[str]
) -> tuple[int, str] | None:
    """``(status, message)`` for an unacceptable dispatch body, or None when GitHub would create the run.

    ``ghes`` is the GitHub Enterprise Server release, None for github.com.
    """
    unknown = _unknown_key_problem(body, version, ghes)
    if unknown is not None:
        return unknown
    if not isinstance(body.get("return_run_details", False), bool):
        return 422, "Invalid request.\n\nFor 'properties/return_run_details', value is not a boolean."
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        return 422, 'Invalid request.\n\n"ref" wasn\'t supplied.'
    if short_ref(ref) not in refs:
        return 422, f"No ref found for: {ref}"
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        return 422, "Invalid request.\n\nFor 'properties/inputs', value is not an object."
    problem = _inputs_problem(inputs, declared_inputs)
    return None if problem is None else (422, problem)


def _unknown_key_problem(body: Mapping[str, Any], version: str, ghes: tuple[int, int] | None) -> tuple[int, str] | None:
    # return_run_details exists only for API version 2022-11-28 on github.com and GHES >= 3.21; 2026-03-10
    # answers with the run details unasked and rejects the parameter, like any unknown key.
    old_ghes = ghes is not None and ghes < GHES_RUN_DETAILS_SINCE
    permitted = {"ref", "inputs"}
    if version == LEGACY_API_VERSION and not old_ghes:
        permitted.add("return_run_details")
    for key in body:
        if key not in permitted:
            if old_ghes:
                # GHES 3.20 and older refuse an unknown key with 400, not 422 (cli/cli#12672;
                # benc-uk/workflow-dispatch#86 on GHES 3.19).
                return 400, f'"{key}" is not a permitted key.'
            return 422, f'Invalid request.\n\n"{key}" is not a permitted key.'
    return None


def _inputs_problem(inputs: Mapping[str, Any], declared_inputs: Set[str]) -> str | None:
    undeclared = sorted(set(inputs) - declared_inputs)
    if undeclared:
        return f"Unexpected inputs provided: {json.dumps(undeclared)}"
    for name, value in inputs.items():
        if not isinstance(value, str):
            return f"Invalid request.\n\nFor 'properties/{name}', {json.dumps(value)} is not a string."
    if len(inputs) > MAX_INPUTS:
        return f"You may only define up to {MAX_INPUTS} inputs for a workflow_dispatch event."
    if inputs_characters(inputs) > MAX_INPUTS_CHARACTERS:
        return f"Inputs are too large: at most {MAX_INPUTS_CHARACTERS} characters in all."
    return None


def inputs_characters(inputs: Mapping[str, str]) -> int:
    """The size of the inputs' payload as the double measures it against ``MAX_INPUTS_CHARACTERS``.

    GitHub does not say how it measures "the payload for inputs". The double takes the strict reading, the inputs
    object as compact JSON (names, values, quotes, separators, and the escapes a JSON value such as a batch's
    ``instances`` needs), so a client that sizes its inputs to fit here fits GitHub under any plainer reading.
    """
    return len(json.dumps(dict(inputs), separators=(",", ":"), ensure_ascii=False))
