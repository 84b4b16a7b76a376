"""cdk-nag (AWS Solutions, Serverless) and cfn-lint accept the synthesized template, for each kind of config."""

from pathlib import Path

import pytest
from aws_cdk.assertions import Annotations, Match
from cfnlint.api import lint_file

from tests.infra.synthesis import CUSTOMIZED_CONTEXT, REQUIRED_CONTEXT, TRACKER_CONTEXT, Synthesized, synthesize

CONFIGURATIONS = {
    "defaults": REQUIRED_CONTEXT,
    # KMS key, email subscription, partial secret ARN, ASG filter, destroy policy, no tracker...
    "customized": CUSTOMIZED_CONTEXT,
    # Batch mode beside the tracker and the hook (CUSTOMIZED_CONTEXT has it without either): the manifests' grant.
    "batch-dispatch": {**REQUIRED_CONTEXT, "batchDispatch": True},
    # The tracker's lifecycle permissions scoped to named groups (their own IAM5 suppression).
    "tracker-with-asg-names": TRACKER_CONTEXT,
    "complete-secret-arn": {
        **REQUIRED_CONTEXT,
        "githubCredentialsSecret": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:deploy-trigger/github-AbC123",
        "reservedConcurrency": "unreserved",
    },
}


@pytest.fixture(scope="module", params=sorted(CONFIGURATIONS))
def synthesized(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    # The rule packs and cfn-lint read the template; the asset's contents do not matter here.
    return synthesize(CONFIGURATIONS[request.param], tmp_path_factory.mktemp("cdk.out"), bundle=False)


@pytest.mark.parametrize("pack", ["AwsSolutions", "Serverless"])
def test_no_unsuppressed_cdk_nag_findings(synthesized: Synthesized, pack: str) -> None:
    annotations = Annotations.from_stack(synthesized.stack)
    finding = Match.string_like_regexp(f"{pack}-.*")

    assert annotations.find_error("*", finding) == []
    assert annotations.find_warning("*", finding) == []


def test_no_warnings_or_errors_at_all(synthesized: Synthesized) -> None:
    annotations = Annotations.from_stack(synthesized.stack)

    assert annotations.find_error("*", Match.any_value()) == []
    assert annotations.find_warning("*", Match.any_value()) == []


def test_every_suppression_gives_a_reason(synthesized: Synthesized) -> None:
    suppressions = [
        rule
        for resource in synthesized.template_json["Resources"].values()  # type: ignore[attr-defined]
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]

    assert suppressions
    for rule in suppressions:
        assert len(rule["reason"]) > 60, rule
        if rule["id"] == "AwsSolutions-IAM5":
            assert rule["applies_to"], rule  # wildcard suppressions name the exact resource


def test_cfn_lint_finds_nothing(synthesized: Synthesized) -> None:
    template = Path(synthesized.assembly_dir) / synthesized.stack.template_file

    matches = lint_file(template)

    assert [str(match) for match in matches] == []
