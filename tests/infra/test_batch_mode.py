"""Batch mode (context ``batchDispatch``): what it adds to the stack, and that off it adds nothing at all.

Off, the template is byte for byte the template of a stack that never heard of the mode. On, the dispatcher and the
drainer get ``BATCH_MAX_INSTANCES``, and the drainer may keep the batches' manifests in the ledger; nothing else of
the template changes.
"""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from deploy_trigger.settings import Settings
from infra.config import ConfigurationError
from infra.constructs.drainer import ROLE_DESCRIPTION, ROLE_DESCRIPTION_BATCHED
from tests.infra.synthesis import CUSTOMIZED_CONTEXT, REQUIRED_CONTEXT, Synthesized, synthesize_template

BATCH_CONTEXT = {**REQUIRED_CONTEXT, "batchDispatch": True}
#: CUSTOMIZED_CONTEXT (batch mode on, 64 instances) without either batch key.
CUSTOMIZED_WITHOUT_BATCH = {key: value for key, value in CUSTOMIZED_CONTEXT.items() if not key.startswith("batch")}
#: The drainer's one new statement: the manifests' own calls, on keys `#batch#...` only.
MANIFEST_STATEMENT_ACTIONS = ["dynamodb:PutItem", "dynamodb:GetItem"]
FUNCTIONS = ("Dispatcher", "Drainer")
LEDGER = ("AWS::DynamoDB::Table", "Ledger")


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize_template(BATCH_CONTEXT, tmp_path_factory.mktemp("cdk.out"))


def template_bytes(synthesized: Synthesized) -> bytes:
    return (synthesized.assembly_dir / synthesized.stack.template_file).read_bytes()


def variables(synthesized: Synthesized, function: str) -> dict[str, Any]:
    found: dict[str, Any] = synthesized.properties("AWS::Lambda::Function", function)["Environment"]["Variables"]
    return found


def manifest_statement(synthesized: Synthesized) -> dict[str, Any]:
    return {
        "Action": MANIFEST_STATEMENT_ACTIONS,
        "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#batch#*"]}},
        "Effect": "Allow",
        "Resource": synthesized.arn(*LEDGER),
    }


# --- Off: nothing at all ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "off",
    [
        {"batchDispatch": False},
        {"batchDispatch": "false", "batchMaxInstances": 10},  # a batch size is ignored with the mode off
    ],
    ids=["off", "off-with-a-batch-size"],
)
def test_off_the_template_is_byte_for_byte_the_template_without_the_keys(
    synthesized: Synthesized, tmp_path: Path, off: dict[str, object]
) -> None:
    without_the_keys = template_bytes(synthesized)

    assert template_bytes(synthesize_template({**REQUIRED_CONTEXT, **off}, tmp_path)) == without_the_keys
    assert b"BATCH_MAX_INSTANCES" not in without_the_keys
    assert b"#batch#" not in without_the_keys


def test_off_a_customized_template_is_byte_for_byte_the_one_without_the_keys(tmp_path: Path) -> None:
    without = synthesize_template(CUSTOMIZED_WITHOUT_BATCH, tmp_path / "without")
    off = synthesize_template({**CUSTOMIZED_WITHOUT_BATCH, "batchDispatch": False}, tmp_path / "off")

    assert template_bytes(off) == template_bytes(without)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_off_the_functions_have_no_batch_variable(synthesized: Synthesized, function: str) -> None:
    assert "BATCH_MAX_INSTANCES" not in variables(synthesized, function)


# --- On: the batch size in both functions' environment ----------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_on_the_dispatcher_and_the_drainer_get_the_batch_size(
    synthesized: Synthesized, batched: Synthesized, customized: Synthesized, function: str
) -> None:
    # The default size (256), and the configured one (64): and otherwise the environment of batch mode off.
    assert variables(batched, function) == {**variables(synthesized, function), "BATCH_MAX_INSTANCES": "256"}
    assert variables(customized, function)["BATCH_MAX_INSTANCES"] == "64"


def test_on_the_tracker_gets_no_batch_variable(synthesized: Synthesized, batched: Synthesized) -> None:
    # The tracker tells a batch's run by its ledger entries; its settings have no batch size.
    tracker = synthesized.properties("AWS::Lambda::Function", "Tracker")["Environment"]

    assert batched.properties("AWS::Lambda::Function", "Tracker")["Environment"] == tracker


@pytest.mark.parametrize("function", FUNCTIONS)
def test_on_the_environment_is_accepted_by_the_settings_model(batched: Synthesized, function: str) -> None:
    # Tokens in the template; names once deployed.
    environment = {**variables(batched, function), "LEDGER_TABLE_NAME": "ledger", "DRAINER_FUNCTION_NAME": "drainer"}

    assert Settings.from_env({**environment, "AWS_REGION": "eu-west-1"}).batch_max_instances == 256


# --- On: IAM ------------------------------------------------------------------------------------------


def test_on_the_drainer_may_keep_batch_manifests_and_nothing_more(
    synthesized: Synthesized, batched: Synthesized
) -> None:
    # GetItem and PutItem (conditional) on the `#batch#` keys only: still no instance's item is read or replaced.
    # Its UpdateItems of a manifest need nothing new: UpdateItem is already the drainer's on the table.
    off = synthesized.role_statements("Drainer")
    update = off.index({"Action": "dynamodb:UpdateItem", "Effect": "Allow", "Resource": batched.arn(*LEDGER)})

    assert batched.role_statements("Drainer") == [*off[: update + 1], manifest_statement(batched), *off[update + 1 :]]


def test_on_the_customized_drainer_may_keep_batch_manifests_too(customized: Synthesized) -> None:
    assert manifest_statement(customized) in customized.role_statements("Drainer")


def test_on_the_tracker_needs_no_new_permission(synthesized: Synthesized, batched: Synthesized) -> None:
    # Its job listing is a GitHub call, no AWS one.
    assert batched.role_statements("Tracker") == synthesized.role_statements("Tracker")


def test_on_the_dispatcher_may_read_the_queue_and_nothing_more(synthesized: Synthesized, batched: Synthesized) -> None:
    # A quiet period's launch sends what is queued with it: one Query on the tracking index, nothing else new (the
    # batch's manifest is written with the PutItem and UpdateItem it has on the table already).
    off, on = synthesized.role_statements("Dispatcher"), batched.role_statements("Dispatcher")
    new = [statement for statement in on if statement not in off]

    assert [statement for statement in on if statement in off] == off
    assert [statement["Action"] for statement in new] == ["dynamodb:Query"]
    assert "/index/" in json.dumps(new[0]["Resource"])


def test_on_the_drainer_s_role_says_it_keeps_batch_manifests(synthesized: Synthesized, batched: Synthesized) -> None:
    def description(synthesized: Synthesized) -> str:
        return str(synthesized.properties("AWS::IAM::Role", "DrainerRole")["Description"])

    assert description(synthesized) == ROLE_DESCRIPTION
    assert description(batched) == ROLE_DESCRIPTION_BATCHED


def test_on_the_drainer_keeps_its_timeout_and_memory(synthesized: Synthesized, batched: Synthesized) -> None:
    # One dispatch for up to 256 launches: a backlog takes fewer runs, not longer ones.
    for key, value in (("Timeout", 900), ("MemorySize", 256)):
        assert batched.properties("AWS::Lambda::Function", "Drainer")[key] == value
        assert synthesized.properties("AWS::Lambda::Function", "Drainer")[key] == value


# --- On: nothing else changes -------------------------------------------------------------------------


def test_on_nothing_else_of_the_template_changes(synthesized: Synthesized, batched: Synthesized) -> None:
    """Take out what batch mode adds (the two variables, the drainer's statement and role description, the
    dispatcher's Query on the queue): what remains is the template of batch mode off."""
    template = copy.deepcopy(dict(batched.template_json))
    resources = template["Resources"]
    for function in FUNCTIONS:
        del resources[batched.logical_id("AWS::Lambda::Function", function)]["Properties"]["Environment"]["Variables"][
            "BATCH_MAX_INSTANCES"
        ]
    policy = resources[batched.logical_id("AWS::IAM::Policy", "DrainerRole")]["Properties"]["PolicyDocument"]
    policy["Statement"].remove(manifest_statement(batched))
    dispatcher = resources[batched.logical_id("AWS::IAM::Policy", "DispatcherRole")]["Properties"]["PolicyDocument"]
    dispatcher["Statement"] = [
        statement for statement in dispatcher["Statement"] if statement in synthesized.role_statements("Dispatcher")
    ]
    role = resources[batched.logical_id("AWS::IAM::Role", "DrainerRole")]["Properties"]
    role["Description"] = ROLE_DESCRIPTION

    assert template == synthesized.template_json


# --- Out of range: refused at synth -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "complaint"),
    [
        ({"batchDispatch": True, "batchMaxInstances": 1}, "must be between 2 and 256 instances, got 1"),
        ({"batchDispatch": True, "batchMaxInstances": 257}, "must be between 2 and 256 instances, got 257"),
        ({"batchDispatch": False, "batchMaxInstances": 0}, "must be between 2 and 256 instances, got 0"),
        ({"batchDispatch": True, "batchMaxInstances": "lots"}, "must be a whole number, got 'lots'"),
    ],
)
def test_a_batch_size_out_of_range_is_refused_at_synth(
    tmp_path: Path, context: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        synthesize_template({**REQUIRED_CONTEXT, **context}, tmp_path)

    assert str(raised.value).startswith(f"context key 'batchMaxInstances' {complaint}")
    assert "-c batchMaxInstances=256" in str(raised.value)


def test_in_batch_mode_an_extra_input_named_like_a_batch_input_is_refused_at_synth(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="may not set the dispatcher's own inputs in batch mode: instances"):
        synthesize_template({**BATCH_CONTEXT, "workflowExtraInputs": {"instances": "[]"}}, tmp_path)
