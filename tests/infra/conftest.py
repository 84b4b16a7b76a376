"""tests/infra: CDK assertions on the synthesized stack, cdk-nag and cfn-lint.

``infra`` is imported first: it quiets jsii's Node.js version banners, which must happen before anything
imports aws_cdk (see infra/__init__.py). Shared helpers live in tests/infra/synthesis.py.
"""

import infra  # noqa: F401
