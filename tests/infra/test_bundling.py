"""The dispatcher's asset: Lambda-platform wheels plus the deploy_trigger package, and nothing else."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import aws_lambda as lambda_

import deploy_trigger
from infra.constructs.bundling import LAMBDA_SOURCE, PipWheelBundling, manylinux_platforms
from tests.infra.synthesis import REQUIRED_CONTEXT, Synthesized, synthesize

#: The folder that holds ``infra`` (this checkout), for a subprocess that imports the bundler from it.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(REQUIRED_CONTEXT, tmp_path_factory.mktemp("cdk.out"), compliance=False)


@pytest.fixture(scope="module")
def asset_dir(synthesized: Synthesized) -> Path:
    """The staged asset directory the dispatcher's code points to (cdk.out/asset.<hash>)."""
    s3_key = synthesized.properties("AWS::Lambda::Function", "Dispatcher")["Code"]["S3Key"]
    directory = synthesized.assembly_dir / f"asset.{s3_key.removesuffix('.zip')}"
    assert directory.is_dir(), sorted(p.name for p in synthesized.assembly_dir.iterdir())
    return directory


def test_asset_holds_the_handler_package(asset_dir: Path) -> None:
    assert (asset_dir / "deploy_trigger" / "handler.py").is_file()
    assert (asset_dir / "deploy_trigger" / "settings.py").is_file()
    assert (asset_dir / "deploy_trigger" / "metric_names.py").is_file()


def test_asset_holds_the_runtime_dependencies(asset_dir: Path) -> None:
    for package in ("requests", "aws_lambda_powertools", "rsa", "pyasn1"):
        assert (asset_dir / package / "__init__.py").is_file(), package


#: The unzipped bundle's ceiling. It was 22 MB when PyJWT needed cryptography (14 MB) to sign App JWTs.
MAX_BUNDLE_BYTES = 15_000_000


def test_asset_stays_under_15_mb_unzipped_without_cryptography(asset_dir: Path) -> None:
    size = sum(path.stat().st_size for path in asset_dir.rglob("*") if path.is_file())
    top_level = {path.name for path in asset_dir.iterdir()}

    assert size <= MAX_BUNDLE_BYTES, f"{size / 1e6:.1f} MB"
    assert not {"cryptography", "jwt", "cffi"} & top_level  # App JWTs are signed with rsa (deploy_trigger/app_jwt.py)


def test_native_dependencies_are_built_for_lambda_arm64_python_3_13(asset_dir: Path) -> None:
    compiled = sorted(path.name for path in (asset_dir / "charset_normalizer").glob("*.so"))
    assert compiled
    assert all(name.endswith(".cpython-313-aarch64-linux-gnu.so") for name in compiled), compiled
    charset_wheel = (next(asset_dir.glob("charset_normalizer-*.dist-info")) / "WHEEL").read_text()
    assert "aarch64" in charset_wheel
    assert "x86_64" not in charset_wheel


def test_asset_holds_nothing_from_tests_infra_or_bytecode(asset_dir: Path) -> None:
    names = {path.name for path in asset_dir.rglob("*")}
    top_level = {path.name for path in asset_dir.iterdir()}

    assert not {"tests", "infra", "bin"} & top_level
    assert "__pycache__" not in names
    assert not [name for name in names if name.endswith((".pyc", ".pyo"))]
    assert "requirements.txt" not in top_level


def test_asset_holds_the_package_code_but_not_its_requirements_file(asset_dir: Path) -> None:
    def python_files(package_dir: Path) -> set[str]:
        return {path.relative_to(package_dir).as_posix() for path in package_dir.rglob("*.py")}

    assert python_files(asset_dir / "deploy_trigger") == python_files(LAMBDA_SOURCE)
    assert not (asset_dir / "deploy_trigger" / "requirements.txt").exists()  # a build input, not code


def test_the_source_is_the_deploy_trigger_package_python_imports() -> None:
    assert Path(deploy_trigger.__file__).resolve().parent == LAMBDA_SOURCE
    assert (LAMBDA_SOURCE / "handler.py").is_file()
    assert (LAMBDA_SOURCE / "requirements.txt").is_file()  # package data, so a wheel carries it


def test_another_app_bundles_the_installed_package_and_caches_in_its_own_folder(tmp_path: Path) -> None:
    # deploy_trigger installed somewhere else than this checkout, as pip would put it in another app's venv.
    site_packages, app = tmp_path / "site-packages", tmp_path / "other-app"
    shutil.copytree(LAMBDA_SOURCE, site_packages / "deploy_trigger", ignore=shutil.ignore_patterns("__pycache__"))
    app.mkdir()
    show_locations = (
        "from infra.constructs.bundling import DEFAULT_CACHE_ROOT, LAMBDA_SOURCE\n"
        "print(LAMBDA_SOURCE)\n"
        "print(DEFAULT_CACHE_ROOT)\n"
    )

    answer = subprocess.run(  # noqa: S603 - fixed argument list
        [sys.executable, "-c", show_locations],
        cwd=app,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(site_packages), str(PROJECT_ROOT)])},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.splitlines() == [
        str((site_packages / "deploy_trigger").resolve()),
        str(app.resolve() / ".cache" / "lambda-deps"),
    ]


def test_asset_metadata_points_cdk_at_the_staged_directory(synthesized: Synthesized, asset_dir: Path) -> None:
    manifest = json.loads((synthesized.assembly_dir / "DeployTrigger.assets.json").read_text())
    sources = [entry["source"] for entry in manifest["files"].values()]

    assert {"path": asset_dir.name, "packaging": "zip"} in sources


def test_every_function_shares_one_asset_built_once(synthesized: Synthesized, asset_dir: Path) -> None:
    manifest = json.loads((synthesized.assembly_dir / "DeployTrigger.assets.json").read_text())
    zipped = [entry["source"] for entry in manifest["files"].values() if entry["source"].get("packaging") == "zip"]
    codes = [function["Properties"]["Code"] for function in synthesized.resources("AWS::Lambda::Function").values()]

    assert zipped == [{"path": asset_dir.name, "packaging": "zip"}]
    assert len(codes) == 3  # dispatcher, drainer and tracker
    assert codes[0] == codes[1] == codes[2]
    assert len(list(synthesized.assembly_dir.glob("asset.*"))) == 1


def test_platform_tags_cover_every_glibc_lambda_python_runs_on() -> None:
    platforms = manylinux_platforms(lambda_.Architecture.ARM_64)

    assert platforms[0] == "manylinux_2_34_aarch64"  # Amazon Linux 2023, preferred first
    assert "manylinux_2_28_aarch64" in platforms
    assert platforms[-1] == "manylinux2014_aarch64"  # cffi's only aarch64 wheels
    assert all("x86_64" not in platform for platform in platforms)


def test_cache_key_changes_with_requirements_python_and_architecture(tmp_path: Path) -> None:
    source = tmp_path / "deploy_trigger"
    source.mkdir()
    (source / "requirements.txt").write_text("requests==2.34.2\n")

    def cache_dir(runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> Path:
        return PipWheelBundling(
            source_dir=source, runtime=runtime, architecture=architecture, cache_root=tmp_path / "cache"
        ).cache_dir

    arm_313 = cache_dir(lambda_.Runtime.PYTHON_3_13, lambda_.Architecture.ARM_64)
    assert arm_313 == cache_dir(lambda_.Runtime.PYTHON_3_13, lambda_.Architecture.ARM_64)
    assert arm_313.parent == tmp_path / "cache"
    assert arm_313 != cache_dir(lambda_.Runtime.PYTHON_3_12, lambda_.Architecture.ARM_64)
    assert arm_313 != cache_dir(lambda_.Runtime.PYTHON_3_13, lambda_.Architecture.X86_64)
    (source / "requirements.txt").write_text("requests==2.34.1\n")
    assert arm_313 != cache_dir(lambda_.Runtime.PYTHON_3_13, lambda_.Architecture.ARM_64)


def test_pip_failure_stops_the_synth_with_pip_s_message(tmp_path: Path) -> None:
    source = tmp_path / "deploy_trigger"
    source.mkdir()
    # A local path that does not exist fails at once, without any index lookup.
    (source / "requirements.txt").write_text(f"{tmp_path / 'no-such-package'}\n")
    bundler = PipWheelBundling(
        source_dir=source,
        runtime=lambda_.Runtime.PYTHON_3_13,
        architecture=lambda_.Architecture.ARM_64,
        cache_root=tmp_path / "cache",
    )

    with pytest.raises(RuntimeError, match="bundling the dispatcher failed: pip could not install") as raised:
        bundler.try_bundle(str(tmp_path / "out"), image=lambda_.Runtime.PYTHON_3_13.bundling_image)

    assert "no-such-package" in str(raised.value)
    assert not list((tmp_path / "cache").iterdir())  # no half-filled cache entry left behind
