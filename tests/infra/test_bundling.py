"""The dispatcher's asset: Lambda-platform wheels plus the deploy_trigger package, and nothing else."""

import json
from pathlib import Path

import pytest
from aws_cdk import aws_lambda as lambda_

from infra.constructs.bundling import PipWheelBundling, manylinux_platforms
from tests.infra.synthesis import REQUIRED_CONTEXT, Synthesized, synthesize


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
    for package in ("requests", "aws_lambda_powertools", "jwt", "cryptography"):
        assert (asset_dir / package / "__init__.py").is_file(), package


def test_native_dependencies_are_built_for_lambda_arm64_python_3_13(asset_dir: Path) -> None:
    cffi_backend = sorted(path.name for path in asset_dir.glob("_cffi_backend*.so"))
    assert cffi_backend == ["_cffi_backend.cpython-313-aarch64-linux-gnu.so"]
    cryptography_wheel = (next(asset_dir.glob("cryptography-*.dist-info")) / "WHEEL").read_text()
    assert "aarch64" in cryptography_wheel
    assert "x86_64" not in cryptography_wheel


def test_asset_holds_nothing_from_tests_infra_or_bytecode(asset_dir: Path) -> None:
    names = {path.name for path in asset_dir.rglob("*")}
    top_level = {path.name for path in asset_dir.iterdir()}

    assert not {"tests", "infra", "bin"} & top_level
    assert "__pycache__" not in names
    assert not [name for name in names if name.endswith((".pyc", ".pyo"))]
    assert "requirements.txt" not in top_level


def test_asset_metadata_points_cdk_at_the_staged_directory(synthesized: Synthesized, asset_dir: Path) -> None:
    manifest = json.loads((synthesized.assembly_dir / "DeployTrigger.assets.json").read_text())
    sources = [entry["source"] for entry in manifest["files"].values()]

    assert {"path": asset_dir.name, "packaging": "zip"} in sources


def test_both_functions_share_one_asset_built_once(synthesized: Synthesized, asset_dir: Path) -> None:
    manifest = json.loads((synthesized.assembly_dir / "DeployTrigger.assets.json").read_text())
    zipped = [entry["source"] for entry in manifest["files"].values() if entry["source"].get("packaging") == "zip"]
    codes = [function["Properties"]["Code"] for function in synthesized.resources("AWS::Lambda::Function").values()]

    assert zipped == [{"path": asset_dir.name, "packaging": "zip"}]
    assert len(codes) == 2  # dispatcher and tracker
    assert codes[0] == codes[1]
    assert len(list(synthesized.assembly_dir.glob("asset.*"))) == 1


def test_platform_tags_cover_every_glibc_lambda_python_runs_on() -> None:
    platforms = manylinux_platforms(lambda_.Architecture.ARM_64)

    assert platforms[0] == "manylinux_2_34_aarch64"  # Amazon Linux 2023, preferred first
    assert "manylinux_2_28_aarch64" in platforms
    assert platforms[-1] == "manylinux2014_aarch64"  # cffi's only aarch64 wheels
    assert all("x86_64" not in platform for platform in platforms)


def test_cache_key_changes_with_requirements_python_and_architecture(tmp_path: Path) -> None:
    source = tmp_path / "lambda_src"
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
    source = tmp_path / "lambda_src"
    (source / "deploy_trigger").mkdir(parents=True)
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
