"""The rule packs every synth is checked against: cdk-nag's AWS Solutions and Serverless packs.

Each suppression sits next to the resource it concerns, with the reason specific to this service.
"""

from __future__ import annotations

from aws_cdk import AspectPriority, Aspects
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


def add_compliance_checks(scope: IConstruct) -> None:
    # READONLY priority: the packs run after every mutating aspect, so they see the final resources.
    Aspects.of(scope).add(AwsSolutionsChecks(verbose=True), priority=AspectPriority.READONLY)
    Aspects.of(scope).add(ServerlessChecks(verbose=True), priority=AspectPriority.READONLY)
