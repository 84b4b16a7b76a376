"""The GitHub credentials: an existing Secrets Manager secret, referenced (never created, no value here)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

#: Secrets Manager appends six random characters to a secret's name in its ARN.
_ARN_SUFFIX_WILDCARD = "-??????"


class GitHubCredentials(Construct):
    """A reference to the secret holding the GitHub token or App key, and to its KMS key when it has one.

    ``secret_reference`` is a name, a partial ARN (no random suffix) or a complete ARN. A name or a
    partial ARN is granted with the ``-??????`` wildcard that matches exactly that secret's random suffix.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, secret_reference: str, kms_key_arn: str | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self.secret_reference = secret_reference
        self.kms_key_arn = kms_key_arn
        self.secret: secretsmanager.ISecret
        if not secret_reference.startswith("arn:"):
            self.secret = secretsmanager.Secret.from_secret_name_v2(self, "Secret", secret_reference)
            # secret_arn is the name's ARN without the suffix; the wildcard matches exactly the suffix.
            self.policy_arn = self.secret.secret_arn + _ARN_SUFFIX_WILDCARD
        elif _is_complete_arn(secret_reference):
            self.secret = secretsmanager.Secret.from_secret_complete_arn(self, "Secret", secret_reference)
            self.policy_arn = secret_reference
        else:
            self.secret = secretsmanager.Secret.from_secret_partial_arn(self, "Secret", secret_reference)
            self.policy_arn = secret_reference + _ARN_SUFFIX_WILDCARD

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """GetSecretValue on this one secret, and Decrypt on its key only when called through Secrets Manager.

        Not ``ISecret.grant_read``: that also grants DescribeSecret, which the dispatcher never calls.
        """
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["secretsmanager:GetSecretValue"], resource_arns=[self.policy_arn]
        )
        if self.kms_key_arn is not None:
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt"],
                    resources=[self.kms_key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": f"secretsmanager.{Stack.of(self).region}.amazonaws.com",
                        }
                    },
                )
            )


def _is_complete_arn(arn: str) -> bool:
    # A partial ARN of a secret whose own name ends in "-" and six letters or digits looks complete:
    # give such a secret by its complete ARN.
    name = arn.split(":secret:", 1)[1]
    suffix = name.rsplit("-", 1)[-1]
    return "-" in name and len(suffix) == 6 and suffix.isalnum()
