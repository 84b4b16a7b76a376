"""tests/infra: CDK assertions on the synthesized stack, cdk-nag and cfn-lint.

``infra`` is imported first: it quiets jsii's Node.js version banners, which must happen before anything
imports aws_cdk (see infra/__init__.py). Shared helpers live in tests/infra/synthesis.py.
"""

import infra  # noqa: F401, I001 - first, before anything imports aws_cdk

import pytest

from tests.infra.synthesis import CUSTOMIZED_CONTEXT, REQUIRED_CONTEXT, Synthesized, synthesize_template


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The template of the required context alone (every default), synthesized once for every module that reads it
    (a module synthesizing with other options defines its own ``synthesized``)."""
    return synthesize_template(REQUIRED_CONTEXT, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def customized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every context key changed (``CUSTOMIZED_CONTEXT``): launch-successful mode, no tracker, and the rest."""
    return synthesize_template(CUSTOMIZED_CONTEXT, tmp_path_factory.mktemp("cdk.out"))
