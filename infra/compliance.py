"""The rule packs every synth is checked against: cdk-nag's AWS Solutions and Serverless packs (and checkov, which
tests/infra/test_checkov.py runs on the template).

Each suppression sits next to the resource it concerns, with the reason specific to this service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from aws_cdk import AspectPriority, Aspects, CfnResource
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


def skip_checkov(construct: IConstruct, reasons: Mapping[str, str]) -> None:
    """checkov's inline skip (``Metadata.checkov.skip``) on the construct's resource: check ID -> why."""
    resource = construct if isinstance(construct, CfnResource) else cast(CfnResource, construct.node.default_child)
    existing = cast(dict[str, Any], resource.get_metadata("checkov") or {"skip": []})
    skips = [*existing["skip"], *({"id": rule, "comment": reason} for rule, reason in reasons.items())]
    resource.add_metadata("checkov", {"skip": skips})


def add_compliance_checks(scope: IConstruct) -> None:
    # READONLY priority: the packs run after every mutating aspect, so they see the final resources.
    Aspects.of(scope).add(AwsSolutionsChecks(verbose=True), priority=AspectPriority.READONLY)
    Aspects.of(scope).add(ServerlessChecks(verbose=True), priority=AspectPriority.READONLY)
