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


def dispatch_problem(
    body: Mapping[str, Any], version: str, *, legacy_ghes: bool, refs: Set[str], declared_inputs: Set[str]
) -> str | None:
    """The 422 message for an unacceptable dispatch body, or None when GitHub would create the run."""
    # return_run_details exists only for API version 2022-11-28 on github.com and GHES >= 3.21; 2026-03-10
    # answers with the run details unasked and rejects the parameter, like any unknown key.
    permitted = {"ref", "inputs"}
    if version == LEGACY_API_VERSION and not legacy_ghes:
        permitted.add("return_run_details")
    for key in body:
        if key not in permitted:
            return f'Invalid request.\n\n"{key}" is not a permitted key.'
    if not isinstance(body.get("return_run_details", False), bool):
        return "Invalid request.\n\nFor 'properties/return_run_details', value is not a boolean."
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        return 'Invalid request.\n\n"ref" wasn\'t supplied.'
    if short_ref(ref) not in refs:
        return f"No ref found for: {ref}"
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        return "Invalid request.\n\nFor 'properties/inputs', value is not an object."
    return _inputs_problem(inputs, declared_inputs)


def _inputs_problem(inputs: Mapping[str, Any], declared_inputs: Set[str]) -> str | None:
    undeclared = sorted(set(inputs) - declared_inputs)
    if undeclared:
        return f"Unexpected inputs provided: {json.dumps(undeclared)}"
    for name, value in inputs.items():
        if not isinstance(value, str):
            return f"Invalid request.\n\nFor 'properties/{name}', {json.dumps(value)} is not a string."
    if len(inputs) > MAX_INPUTS:
        return f"You may only define up to {MAX_INPUTS} inputs for a workflow_dispatch event."
    if sum(len(name) + len(value) for name, value in inputs.items()) > MAX_INPUTS_CHARACTERS:
        return f"Inputs are too large: at most {MAX_INPUTS_CHARACTERS} characters in all."
    return None
