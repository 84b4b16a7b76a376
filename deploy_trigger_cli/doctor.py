"""``doctor``: checks a real configuration end to end and says, per check, what is wrong and what to do.

One line per check (✓ pass, ✗ fail, ! cannot tell, - skipped because an earlier check failed). The exit code
is 0 only when no check failed: warnings are things doctor cannot prove (a fine-grained token's Actions: write)
or that do not stop dispatching, and they are listed so a person can decide.

Batch mode is the dispatcher's own setting, read where doctor reads the rest of its configuration (this shell's
environment, or with ``--stack`` the deployed function's): doctor checks the workflow against the contract the
dispatcher really uses, and needs no flag that could disagree with the deployment.
"""

from __future__ import annotations

from typing import Any

from deploy_trigger_cli import config as settings_sources
from deploy_trigger_cli.aws import AwsClients
from deploy_trigger_cli.checks import CheckResult, Outcome
from deploy_trigger_cli.config import Config
from deploy_trigger_cli.doctor_aws import ledger_checks, rule_check
from deploy_trigger_cli.doctor_github import GitHubChecks
from deploy_trigger_cli.errors import EXIT_FAILED, EXIT_OK
from deploy_trigger_cli.github_reader import GitHubReader
from deploy_trigger_cli.output import Output, mark


#: The dispatcher's batch setting (CDK context key ``batchDispatch``): 0 is off, else the most instances a run deploys.
def run_doctor(config: Config, aws: AwsClients, out: Output) -> int:
    settings = config.settings()  # batch mode from the dispatcher's own BATCH_MAX_INSTANCES, validated there
    batch = settings.batch_max_instances
    reader = GitHubReader(settings.github.api_url, settings.github.api_version)
    try:
        results = GitHubChecks(settings, aws.client("secretsmanager"), reader, batch=batch > 0).run()
    finally:
        reader.close()
    results += ledger_checks(aws.client("dynamodb"), settings.ledger_table_name)
    results.append(
        rule_check(
            aws.client("events"), config.value(settings_sources.RULE_NAME), config.value(settings_sources.FUNCTION_NAME)
        )
    )
    ok = not any(result.outcome == Outcome.FAIL for result in results)
    checked: dict[str, Any] = {
        "repository": settings.github.repository,
        "workflow": settings.github.workflow,
        "ref": settings.github_ref,
        "secret": settings.github.credentials_secret,
        "github_api_url": settings.github.api_url,
        "table": settings.ledger_table_name,
        "rule_name": config.value(settings_sources.RULE_NAME),
        "function_name": config.value(settings_sources.FUNCTION_NAME),
        "region": settings.aws_region,
        "batch_max_instances": batch,
    }
    out.result(
        {"ok": ok, "configuration": checked, "checks": [result.as_json() for result in results]},
        _render(results, checked),
    )
    return EXIT_OK if ok else EXIT_FAILED


def _render(results: list[CheckResult], checked: dict[str, Any]) -> str:
    header = (
        f"deploy-trigger doctor: {checked['repository']}, workflow {checked['workflow']} at {checked['ref']}, "
        f"table {checked['table']} ({checked['region']})"
    )
    if checked["batch_max_instances"]:
        header += f", batch mode (up to {checked['batch_max_instances']} instances a run)"
    width = max(len(result.name) for result in results)
    lines = [header, ""]
    for result in results:
        line = f"{mark(result.outcome)} {result.name.ljust(width)}  {result.reason}"
        if result.fix and result.outcome in (Outcome.FAIL, Outcome.WARN):
            line += f". Fix: {result.fix}"
        lines.append(line)
    counts = {outcome: sum(1 for r in results if r.outcome == outcome) for outcome in Outcome}
    lines.append("")
    if counts[Outcome.FAIL]:
        lines.append(
            f"{counts[Outcome.FAIL]} check(s) failed, {counts[Outcome.WARN]} warning(s), "
            f"{counts[Outcome.SKIP]} skipped: the dispatcher cannot work as configured."
        )
    elif counts[Outcome.WARN]:
        lines.append(f"No check failed; {counts[Outcome.WARN]} warning(s) to review.")
    else:
        lines.append(f"All {len(results)} checks passed.")
    return "\n".join(lines)
