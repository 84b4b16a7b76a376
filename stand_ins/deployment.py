"""The one deployment of deploy-trigger that the stand-ins serve, for the tests and the drill alike: its GitHub
repository, workflow and token, and the environment its dispatcher function runs with."""

from __future__ import annotations

from stand_ins.fake_credentials import made_up_token

TOKEN = made_up_token()  # a made-up classic PAT: only the local GitHub double accepts it
REPOSITORY = "acme/app"
WORKFLOW = "deploy.yml"
REF = "main"
#: How long past a lease a takeover waits before reconciling, against the double's listing delay.
RUN_LISTING_DELAY_SECONDS = 1.5
#: The account moto answers for (its default).
ACCOUNT = "123456789012"


def function_environment(
    *, aws_endpoint_url: str, table: str, secret: str, lease_margin_seconds: float, github_api_url: str | None = None
) -> dict[str, str]:
    """The dispatcher's own settings, as the CDK stack sets them, pointed at the stand-ins. Without
    ``github_api_url`` the function would call github.com, which no test or drill can reach."""
    environment = {
        "AWS_ENDPOINT_URL": aws_endpoint_url,
        "LEDGER_TABLE_NAME": table,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_WORKFLOW": WORKFLOW,
        "GITHUB_REF": REF,
        "GITHUB_CREDENTIALS_SECRET": secret,
        "LEASE_MARGIN_SECONDS": f"{lease_margin_seconds:g}",
        # The GitHub double lists a run it created after LISTING_DELAY_SECONDS (time compressed like the
        # rest): a takeover waits a little longer than that before it believes "no run listed".
        "RUN_LISTING_DELAY_SECONDS": f"{RUN_LISTING_DELAY_SECONDS:g}",
    }
    if github_api_url is not None:
        environment["GITHUB_API_URL"] = github_api_url
    return environment
