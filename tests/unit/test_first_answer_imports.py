"""What a dispatcher's cold start loads and builds: only what a new launch's first answer needs, the clients in
Lambda's init phase. The drainer's, tracker's and sweep's code and App signing wait for their own (rare, for a
dispatcher) paths, each tested where it runs: tests/unit/test_app_jwt.py, tests/integration/test_credentials.py,
tests/integration/test_deferred_paths.py."""

import subprocess
import sys

#: Modules a dispatcher's first answer never needs (bench/cold_path.py measured what each cost).
DEFERRED = (
    "deploy_trigger.drain",
    "deploy_trigger.tracking",
    "deploy_trigger.sweep",
    "deploy_trigger.alerts",
    "deploy_trigger.app_jwt",
    "rsa",
    "pyasn1",
    "jwt",
    "cryptography",
    "aws_lambda_powertools.utilities.parameters",
)


def test_importing_the_handler_and_building_the_dispatcher_loads_nothing_it_defers() -> None:
    probe = (
        "import sys\n"
        "from deploy_trigger import handler, runtime\n"
        "runtime.dispatcher()\n"
        f"deferred = {DEFERRED!r}\n"
        "print(sorted(name for name in sys.modules if name.startswith(deferred)))\n"
    )
    environment = {
        "LEDGER_TABLE_NAME": "ledger",
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_WORKFLOW": "deploy.yml",
        "GITHUB_REF": "main",
        "GITHUB_CREDENTIALS_SECRET": "deploy-trigger/github",
        "AWS_REGION": "us-east-1",
        "DRAINER_FUNCTION_NAME": "deploy-trigger-drainer",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "unit",
        "AWS_SECRET_ACCESS_KEY": "unit",
        "PYTHONPATH": ":".join(sys.path),
    }
    answer = subprocess.run(  # noqa: S603 - our own interpreter, a fixed script
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, env=environment
    )

    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "[]"


def _built_after_import(**environment: str) -> str:
    probe = (
        "from deploy_trigger import handler, runtime\n"
        "factories = (runtime.dynamodb_client, runtime.secretsmanager_client, runtime.settings, runtime.dispatcher)\n"
        "print(' '.join(str(factory.cache_info().currsize) for factory in factories))\n"
    )
    answer = subprocess.run(  # noqa: S603 - our own interpreter, a fixed script
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": ":".join(sys.path), **environment},
    )
    assert answer.returncode == 0, answer.stderr
    return answer.stdout.strip()


def test_lambda_s_init_phase_builds_the_two_clients_every_function_uses_and_no_setting() -> None:
    assert _built_after_import(AWS_LAMBDA_INITIALIZATION_TYPE="on-demand") == "1 1 0 0"


def test_anywhere_else_importing_the_handler_builds_nothing() -> None:
    assert _built_after_import() == "0 0 0 0"
