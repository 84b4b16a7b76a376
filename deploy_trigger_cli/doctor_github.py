"""``doctor``'s GitHub checks: the credentials secret, the token and what it may do, the repository, the workflow
and its contract, the ref. Each check reads what the dispatcher will rely on, and nothing is dispatched.

The checks run in order, each on what the earlier ones found (the token, the repository's default branch, the
workflow's file path); when one makes the rest impossible, those are skipped rather than failed, so the output
points at the first cause. The verdicts on the credentials themselves are in ``doctor_credentials``.

In batch mode the workflow is held to the batch contract instead: the inputs ``dispatch_id`` and ``instances``, the
batch run-name, and one more check, ``matrix``: one job per instance that the tracker can follow.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from deploy_trigger.github_auth import AppCredentials, Credentials
from deploy_trigger.settings import Settings
from deploy_trigger.workflow_contract import BATCH_RESERVED_INPUTS, RESERVED_INPUTS
from deploy_trigger_cli.checks import CheckResult, failed, passed, skipped, warned
from deploy_trigger_cli.doctor_credentials import (
    CLASSIC,
    PERMISSIONS,
    SECRET,
    STORED_INSTALLATION,
    TOKEN,
    app_permissions_verdict,
    classic_permissions_verdict,
    read_credentials,
    token_kind,
)
from deploy_trigger_cli.github_reader import Answer, GitHubReader, GitHubUnreachable
from deploy_trigger_cli.workflow_contract import (
    SUGGESTED_BATCH_MATRIX,
    SUGGESTED_BATCH_RUN_NAME,
    SUGGESTED_RUN_NAME,
    Workflow,
    WorkflowUnreadable,
    batch_matrix_problems,
    batch_matrix_summary,
    input_problems,
    parse_workflow,
    run_name_problem,
)

API_VERSION = "api-version"
REPOSITORY = "repository"
WORKFLOW = "workflow"
WORKFLOW_INPUTS = "workflow-inputs"
RUN_NAME = "run-name"
MATRIX = "matrix"
REF = "ref"
CHECKS = (SECRET, API_VERSION, TOKEN, REPOSITORY, PERMISSIONS, WORKFLOW, WORKFLOW_INPUTS, RUN_NAME, REF)
#: Batch mode checks the workflow's matrix job too, with the other checks that read the workflow file.
BATCH_CHECKS = (*CHECKS[:-1], MATRIX, REF)


#: The API version every GitHub Enterprise Server serves; none serves 2026-03-10 (github/rest-api-description).
GHES_API_VERSION = "2022-11-28"
_DOTCOM_API_HOST = "api.github.com"


class _Stop(Exception):
    """The remaining GitHub checks cannot run; every check not yet decided is skipped with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GitHubChecks:
    def __init__(
        self,
        settings: Settings,
        secretsmanager: Any,
        reader: GitHubReader,
        clock: Callable[[], float] = time.time,
        *,
        batch: bool = False,
    ) -> None:
        self._settings = settings
        self._secretsmanager = secretsmanager
        self._reader = reader
        self._clock = clock
        #: Batch mode: the workflow is held to the batch contract (its inputs, run-name and matrix job).
        self._batch = batch
        self._results: dict[str, CheckResult] = {}
        self._current = SECRET

    def run(self) -> list[CheckResult]:
        try:
            self._run()
        except _Stop as stop:
            reason = stop.reason
        except GitHubUnreachable as error:
            self._record(
                failed(self._current, str(error), "check GITHUB_API_URL, and that this machine can reach GitHub")
            )
            reason = "not checked: GitHub could not be reached"
        else:
            reason = "not checked"
        return [self._results.get(name) or skipped(name, reason) for name in self._checks()]

    def _checks(self) -> tuple[str, ...]:
        return BATCH_CHECKS if self._batch else CHECKS

    def _file_checks(self) -> tuple[str, ...]:
        """The checks that read the workflow file: when it cannot be read, each of them is decided alike."""
        return (WORKFLOW_INPUTS, RUN_NAME, MATRIX) if self._batch else (WORKFLOW_INPUTS, RUN_NAME)

    def _record_file_checks(self, verdict: Callable[[str, str], CheckResult], reason: str) -> None:
        """Every file check not yet decided gets ``verdict(name, reason)`` (a check already failed keeps its own)."""
        for name in self._file_checks():
            self._record(verdict(name, reason))

    # -- the sequence --------------------------------------------------------------------------------------

    def _run(self) -> None:
        credentials = self._check_secret()
        self._current = API_VERSION
        if not self._check_api_version():
            raise _Stop("not checked: GitHub refuses the configured API version")
        if isinstance(credentials, AppCredentials):
            token, app_permissions = self._check_app_token(credentials)
            repository = self._check_repository(token)
            self._check_app_permissions(app_permissions)
        else:
            token = credentials.token
            repository = self._get_repository_as_token_check(token)
            self._check_repository(token, repository)
            self._check_token_permissions(token, repository)
        workflow_path = self._check_workflow(token)
        if workflow_path is not None:
            self._check_contract(token, workflow_path, str(repository.body.get("default_branch") or "main"))
        else:
            self._record_file_checks(skipped, "not checked: the workflow was not found")
        self._check_ref(token)

    # -- API version ---------------------------------------------------------------------------------------

    def _check_api_version(self) -> bool:
        """Whether the server serves the configured ``X-GitHub-Api-Version``; ``GET /meta`` needs no token.

        A server refuses an API version it does not serve with 400 on every request, so every later check would
        fail for a reason that has nothing to do with it; GitHub Enterprise Server does not serve 2026-03-10.
        """
        version, url = self._settings.github.api_version, self._settings.github.api_url
        answer = self._reader.get("/meta", None)
        release = answer.body.get("installed_version") if isinstance(answer.body, dict) else None
        server = f"GitHub Enterprise Server {release}" if release else f"GitHub at {url}"
        if answer.status == 200:
            self._record(passed(API_VERSION, f"{server} serves API version {version}"))
            return True
        enterprise = urlsplit(url).hostname != _DOTCOM_API_HOST
        if answer.status == 400 and "version" in answer.message.lower():
            fix = f"set GITHUB_API_VERSION (CDK context githubApiVersion) to a version {url} serves"
            if enterprise and version != GHES_API_VERSION:
                fix = (
                    f"GitHub Enterprise Server does not serve API version {version}: set GITHUB_API_VERSION "
                    f"(CDK context githubApiVersion) to {GHES_API_VERSION}"
                )
            self._record(
                failed(
                    API_VERSION,
                    f"{server} refuses API version {version} ({answer.summary}): every dispatch would fail",
                    fix,
                )
            )
            return False
        self._record(warned(API_VERSION, f"could not ask {url} which API versions it serves ({answer.summary})"))
        return True

    # -- secret and token --------------------------------------------------------------------------------

    def _check_secret(self) -> Credentials:
        self._current = SECRET
        verdict, credentials = read_credentials(
            self._secretsmanager, self._settings.github.credentials_secret, self._clock()
        )
        self._record(verdict)
        if credentials is None:
            raise _Stop("not checked: the credentials secret holds no usable credentials")
        return credentials

    def _check_app_token(self, credentials: AppCredentials) -> tuple[str, dict[str, str]]:
        self._current = TOKEN
        answer = self._reader.post(
            f"/app/installations/{quote(credentials.installation_id, safe='')}/access_tokens",
            credentials.jwt(self._clock()),
        )
        if answer.status == 201 and isinstance(answer.body, dict) and answer.body.get("token"):
            self._record(
                passed(
                    TOKEN,
                    f"GitHub App {credentials.app_id}: GitHub issued an installation token for installation "
                    f"{credentials.installation_id}",
                )
            )
            return str(answer.body["token"]), dict(answer.body.get("permissions") or {})
        self._record(
            failed(
                TOKEN,
                f"GitHub refused the App credentials ({answer.summary})",
                "check app_id, installation_id and private_key in the secret; the App must be installed on the "
                "repository's owner (installation_id is in the installation's settings URL)",
            )
        )
        raise _Stop("not checked: no valid GitHub token")

    def _get_repository_as_token_check(self, token: str) -> Answer:
        """A personal token is valid when GitHub does not answer 401; the repository answer is used again."""
        self._current = TOKEN
        answer = self._reader.get(f"/repos/{self._settings.github.repository}", token)
        if answer.status == 401:
            self._record(
                failed(
                    TOKEN,
                    f"GitHub does not accept the token ({answer.summary}): it is expired, revoked or mistyped",
                    f"create a new token and store it: aws secretsmanager put-secret-value "
                    f"--secret-id {self._settings.github.credentials_secret} --secret-string ...",
                )
            )
            raise _Stop("not checked: no valid GitHub token")
        kind = token_kind(token, answer.headers.get("x-oauth-scopes"))
        if kind == STORED_INSTALLATION:
            self._record(
                warned(
                    TOKEN,
                    f"the secret holds a {kind}: GitHub accepts it now, but it expires within an hour",
                    "store the App's credentials (app_id, installation_id, private_key) instead: the dispatcher "
                    "mints its own installation tokens from them",
                )
            )
        else:
            self._record(passed(TOKEN, f"GitHub accepts the {kind}"))
        return answer

    # -- repository and permissions -------------------------------------------------------------------------

    def _check_repository(self, token: str, answer: Answer | None = None) -> Answer:
        self._current = REPOSITORY
        repository = self._settings.github.repository
        if answer is None:
            answer = self._reader.get(f"/repos/{repository}", token)
        if answer.status == 200 and isinstance(answer.body, dict):
            visibility = "private" if answer.body.get("private") else "public"
            branch = answer.body.get("default_branch")
            self._record(passed(REPOSITORY, f"{repository} exists ({visibility}, default branch {branch})"))
            return answer
        if answer.status == 404:
            self._record(
                failed(
                    REPOSITORY,
                    f"{repository} was not found, or this token cannot see it (GitHub answers 404 for both)",
                    "check GITHUB_REPOSITORY / --repository (owner/name); a fine-grained token or an App must be "
                    "granted this repository",
                )
            )
        else:
            self._record(failed(REPOSITORY, f"GitHub would not show {repository} ({answer.summary})"))
        raise _Stop("not checked: the repository is not accessible")

    def _check_app_permissions(self, permissions: dict[str, str]) -> None:
        self._current = PERMISSIONS
        self._record(app_permissions_verdict(permissions))

    def _check_token_permissions(self, token: str, repository: Answer) -> None:
        self._current = PERMISSIONS
        header = repository.headers.get("x-oauth-scopes")
        kind = token_kind(token, header)
        if kind == CLASSIC and header is not None:
            self._record(
                classic_permissions_verdict(
                    header, repository.body, self._settings.github.repository, self._settings.github.credentials_secret
                )
            )
            return
        # Fine-grained, a stored installation token, or unknown: listing runs is all that can be proven.
        answer = self._reader.get(
            f"/repos/{self._settings.github.repository}/actions/workflows/{quote(self._settings.github.workflow)}/runs",
            token,
            {"per_page": 1},
        )
        if answer.status == 200:
            self._record(
                warned(
                    PERMISSIONS,
                    f"{kind}: cannot verify actions:write without dispatching; listing runs works (actions:read)",
                    "make sure the token has Repository permissions > Actions: Read and write on "
                    f"{self._settings.github.repository}",
                )
            )
        elif answer.status == 404:
            self._record(skipped(PERMISSIONS, "not checked: listing the workflow's runs needs the workflow"))
        else:
            self._record(
                failed(
                    PERMISSIONS,
                    f"{kind}: listing the workflow's runs failed ({answer.summary}), so it lacks even Actions: read",
                    "give the token Repository permissions > Actions: Read and write on "
                    f"{self._settings.github.repository}",
                )
            )

    # -- workflow and its contract ------------------------------------------------------------------------

    def _check_workflow(self, token: str) -> str | None:
        """The workflow file's path when the workflow exists (active or not); None when GitHub shows none."""
        self._current = WORKFLOW
        repository, workflow = self._settings.github.repository, self._settings.github.workflow
        answer = self._reader.get(f"/repos/{repository}/actions/workflows/{quote(workflow)}", token)
        if answer.status == 200 and isinstance(answer.body, dict):
            path = str(answer.body.get("path") or f".github/workflows/{workflow}")
            state = answer.body.get("state")
            if state == "active":
                self._record(passed(WORKFLOW, f"{path} ({answer.body.get('name')}) exists and is active"))
            else:
                self._record(
                    failed(
                        WORKFLOW,
                        f"{path} exists but is {state}: GitHub starts no runs of a disabled workflow",
                        f"enable it: the repository's Actions tab, or `gh workflow enable {workflow} -R {repository}`",
                    )
                )
            return path
        if answer.status == 404:
            self._record(
                failed(
                    WORKFLOW,
                    f"workflow {workflow!r} was not found in {repository}",
                    "the file must be in .github/workflows/ on the default branch; check GITHUB_WORKFLOW / "
                    "--workflow (a file name such as deploy.yml, or the workflow's numeric ID)",
                )
            )
        else:
            self._record(
                failed(
                    WORKFLOW,
                    f"GitHub would not show workflow {workflow!r} ({answer.summary})",
                    "the token needs Actions: Read and write on the repository",
                )
            )
        return None

    def _check_contract(self, token: str, path: str, default_branch: str) -> None:
        """Inputs and run-name, on the default branch (GitHub only dispatches workflows present there) and, when
        the dispatched ref is another one, on that ref too (the run uses the ref's copy of the file)."""
        self._current = WORKFLOW_INPUTS
        refs = [default_branch]
        if _short_ref(self._settings.github_ref) != default_branch:
            refs.append(self._settings.github_ref)
        parsed: list[tuple[str, Workflow]] = []
        for ref in refs:
            answer = self._reader.get(
                f"/repos/{self._settings.github.repository}/contents/{quote(path)}", token, {"ref": ref}
            )
            if answer.status == 403:
                reason = (
                    f"cannot read {path} with this token ({answer.summary}): not checked. The dispatcher itself "
                    "does not need to read files; grant Contents: read to let doctor check the workflow"
                )
                self._record_file_checks(warned, reason)
                return
            text = _file_text(answer)
            if text is None and ref != default_branch and answer.status == 404 and "ref" in answer.message:
                continue  # the ref itself is missing: the ref check says so, once
            if text is None:
                where = "the default branch" if ref == default_branch else "the ref the dispatcher sends"
                self._record(
                    failed(
                        WORKFLOW_INPUTS,
                        f"could not read {path} on {ref}, {where} ({answer.summary})",
                        f"commit the workflow to {ref}",
                    )
                )
                self._record_file_checks(skipped, "not checked: the workflow file could not be read")
                return
            try:
                parsed.append((ref, parse_workflow(text)))
            except WorkflowUnreadable as error:
                self._record(failed(WORKFLOW_INPUTS, f"{path} on {ref}: {error}", "fix the file's YAML"))
                self._record_file_checks(skipped, "not checked: the workflow file could not be parsed")
                return
        self._record(self._inputs_verdict(path, parsed))
        self._record(self._run_name_verdict(path, parsed))
        if self._batch:
            self._record(self._matrix_verdict(path, parsed))

    def _inputs_verdict(self, path: str, parsed: list[tuple[str, Workflow]]) -> CheckResult:
        reserved = BATCH_RESERVED_INPUTS if self._batch else RESERVED_INPUTS
        sent = set(reserved) | set(self._settings.workflow_extra_inputs)
        problems = [
            f"{path} on {ref}: {problem}" for ref, workflow in parsed for problem in input_problems(workflow, sent)
        ]
        if problems:
            return failed(
                WORKFLOW_INPUTS,
                "; ".join(problems),
                self._other_mode_fix(parsed)
                or f"declare every input the dispatcher sends ({', '.join(sorted(sent))}) under "
                f"on.workflow_dispatch.inputs (type: string), as in {self._example()}",
            )
        where = " and ".join(ref for ref, _ in parsed)
        mode = " in batch mode" if self._batch else ""
        return passed(
            WORKFLOW_INPUTS,
            f"{path} on {where} has a workflow_dispatch trigger declaring all {len(sent)} inputs the dispatcher "
            f"sends{mode} ({', '.join(sorted(sent))})",
        )

    def _run_name_verdict(self, path: str, parsed: list[tuple[str, Workflow]]) -> CheckResult:
        problems = [
            f"{path} on {ref}: {problem}" for ref, workflow in parsed if (problem := run_name_problem(workflow))
        ]
        if problems:
            suggested = SUGGESTED_BATCH_RUN_NAME if self._batch else SUGGESTED_RUN_NAME
            return failed(RUN_NAME, "; ".join(problems), f"set run-name: {suggested}")
        return passed(RUN_NAME, f"run-name {parsed[0][1].run_name!r} carries the dispatch ID")

    def _matrix_verdict(self, path: str, parsed: list[tuple[str, Workflow]]) -> CheckResult:
        """Batch mode: one job per instance, none cancelled by a sibling, each named so the tracker can follow it."""
        problems = [
            f"{path} on {ref}: {problem}" for ref, workflow in parsed for problem in batch_matrix_problems(workflow)
        ]
        if problems:
            return failed(
                MATRIX, "; ".join(problems), f"give one job {SUGGESTED_BATCH_MATRIX}, as in {self._example()}"
            )
        return passed(MATRIX, batch_matrix_summary(parsed[0][1]))

    def _other_mode_fix(self, parsed: list[tuple[str, Workflow]]) -> str | None:
        """When the workflow is the other mode's (it declares that mode's own input), the fix is to pair the right
        workflow with the mode: adding the other mode's inputs to WORKFLOW_EXTRA_INPUTS would not make it deploy."""
        theirs, ours = ("instance_id", "instances") if self._batch else ("instances", "instance_id")
        if not any(theirs in workflow.inputs and ours not in workflow.inputs for _, workflow in parsed):
            return None
        if self._batch:
            return (
                "this is a single-instance workflow, and the dispatcher is in batch mode: point githubWorkflow "
                "(GITHUB_WORKFLOW) at a batch workflow such as examples/workflows/deploy-batch.yml, or turn batch "
                "mode off (CDK context batchDispatch)"
            )
        return (
            "this is a batch workflow, and the dispatcher is not in batch mode: point githubWorkflow "
            "(GITHUB_WORKFLOW) at a single-instance workflow such as examples/workflows/deploy.yml, or turn batch "
            "mode on (CDK context batchDispatch)"
        )

    def _example(self) -> str:
        return f"examples/workflows/{'deploy-batch.yml' if self._batch else 'deploy.yml'}"

    # -- ref ----------------------------------------------------------------------------------------------

    def _check_ref(self, token: str) -> None:
        self._current = REF
        repository, ref = self._settings.github.repository, self._settings.github_ref
        name = _short_ref(ref)
        lookups: list[tuple[str, str]] = []
        if not ref.startswith("refs/tags/"):
            lookups.append(("branch", f"/repos/{repository}/branches/{quote(name)}"))
        if not ref.startswith("refs/heads/"):
            lookups.append(("tag", f"/repos/{repository}/git/ref/tags/{quote(name)}"))
        answers = []
        for kind, path in lookups:
            answer = self._reader.get(path, token)
            if answer.status == 200:
                self._record(passed(REF, f"{kind} {name} exists in {repository}"))
                return
            answers.append(answer)
        refused = [answer for answer in answers if answer.status != 404]
        if refused:
            self._record(
                warned(
                    REF,
                    f"could not look {ref!r} up ({refused[0].summary}): not checked",
                    "grant the token Contents: read to let doctor check the ref",
                )
            )
            return
        self._record(
            failed(
                REF,
                f"{ref!r} is neither a branch nor a tag of {repository}: GitHub rejects every dispatch "
                f'(422 "No ref found for: {ref}")',
                "create it, or set GITHUB_REF / --ref to an existing branch or tag",
            )
        )

    def _record(self, result: CheckResult) -> None:
        self._results.setdefault(result.name, result)


def _short_ref(ref: str) -> str:
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def _file_text(answer: Answer) -> str | None:
    if answer.status != 200 or not isinstance(answer.body, dict) or answer.body.get("encoding") != "base64":
        return None
    try:
        return base64.b64decode(str(answer.body.get("content", ""))).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
