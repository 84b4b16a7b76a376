"""Docker-free bundling of the dispatcher's code: pip installs Linux wheels for Lambda's platform locally.

The asset is the ``deploy_trigger`` package, found where Python imports it from (``lambda_src/`` in a checkout,
site-packages in another CDK app that installed this project): the third-party requirements it carries as
package data (``deploy_trigger/requirements.txt``) installed as prebuilt wheels for the Lambda runtime's
Python version and CPU architecture (``--platform ... --only-binary=:all:``, so nothing is compiled for the
build machine), with the package's code copied next to them. pip's result is
cached per requirements file, platform and Python version, so only the first synth on a machine (or after
a requirements change) needs the package index; later synths copy the cache. This bundler never lets CDK
fall back to Docker: if pip fails, synth fails with pip's own output.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

#: The package the handler lives in; copied into the asset beside its dependencies.
PACKAGE_NAME = "deploy_trigger"
#: The package's pinned runtime requirements: a build input, so never part of the function's code.
REQUIREMENTS_FILE = "requirements.txt"


def installed_package_dir(package: str = PACKAGE_NAME) -> Path:
    """The folder Python imports ``package`` from, so that a checkout and an installed wheel bundle alike."""
    location = importlib.resources.files(package)
    if not isinstance(location, Path):  # e.g. a zip import: nothing pip's --target output could sit beside
        raise RuntimeError(f"cannot bundle {package}: it is not imported from a folder ({location})")
    return location.resolve()


#: The dispatcher's source: the ``deploy_trigger`` package folder, holding its code and ``requirements.txt``.
LAMBDA_SOURCE = installed_package_dir()
#: The CDK CLI runs the app from the folder of its ``cdk.json``: the wheel cache lives beside the app that
#: synthesizes, never inside an installed package.
DEFAULT_CACHE_ROOT = Path.cwd() / ".cache" / "lambda-deps"

#: Never part of the asset, and never part of its source hash (bytecode changes on every test run).
ASSET_EXCLUDES = ("**/__pycache__", "**/*.pyc", "**/*.pyo")

#: Bump to invalidate every cached install when this module changes what it keeps from pip's output.
_CACHE_FORMAT = "1"

#: Lambda's Python 3.12+ runtimes run Amazon Linux 2023 (glibc 2.34). pip does not widen a
#: ``manylinux_2_x`` tag to older glibc versions by itself, so every version a wheel may be tagged for is
#: listed, newest first (pip prefers earlier tags): a native wheel (charset_normalizer's, requests' optional
#: speed-up, is the bundle's one) may carry any of them, manylinux2014 (= 2_17) included.
_GLIBC_MINORS = range(34, 16, -1)


def manylinux_platforms(architecture: lambda_.Architecture) -> tuple[str, ...]:
    """The ``--platform`` tags pip needs to pick wheels that load on Lambda for this architecture."""
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[architecture.name]
    return (*(f"manylinux_2_{minor}_{machine}" for minor in _GLIBC_MINORS), f"manylinux2014_{machine}")


@jsii.implements(ILocalBundling)
class PipWheelBundling:
    """Builds the asset on this machine with the running interpreter's pip (``sys.executable -m pip``)."""

    def __init__(
        self,
        *,
        source_dir: Path,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        cache_root: Path = DEFAULT_CACHE_ROOT,
    ) -> None:
        self._source_dir = source_dir
        self._requirements = source_dir / REQUIREMENTS_FILE
        self._python_version = runtime.name.removeprefix("python")  # "python3.13" -> "3.13"
        self._platforms = manylinux_platforms(architecture)
        self._cache_root = cache_root

    @property
    def cache_dir(self) -> Path:
        """The folder that holds (or will hold) pip's result for these requirements and this platform."""
        digest = hashlib.sha256()
        for part in (_CACHE_FORMAT, self._python_version, *self._platforms):
            digest.update(part.encode() + b"\0")
        digest.update(self._requirements.read_bytes())
        return self._cache_root / digest.hexdigest()[:32]

    # jsii passes BundlingOptions as keyword arguments; none of them matter to a local build.
    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: object) -> bool:
        dependencies = self._cached_dependencies()
        _copy_tree(dependencies, Path(output_dir))
        _copy_tree(self._source_dir, Path(output_dir) / PACKAGE_NAME, also_ignore=(REQUIREMENTS_FILE,))
        return True

    def _cached_dependencies(self) -> Path:
        target = self.cache_dir
        if target.is_dir():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        # Install beside the cache and rename into place, so a failed or concurrent synth never leaves a
        # half-filled cache folder behind that later synths would trust.
        staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=target.parent))
        try:
            self._pip_install(staging)
            # Console scripts carry this machine's interpreter path in their shebang and are never run on
            # Lambda; dropping them keeps the asset the same on every machine.
            shutil.rmtree(staging / "bin", ignore_errors=True)
            try:
                staging.rename(target)
            except OSError:
                if not target.is_dir():  # anything but "another synth finished first" is a real error
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _pip_install(self, target: Path) -> None:
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--requirement",
            str(self._requirements),
            "--target",
            str(target),
            *(argument for platform in self._platforms for argument in ("--platform", platform)),
            "--implementation",
            "cp",
            "--python-version",
            self._python_version,
            "--only-binary=:all:",
            "--no-compile",
            "--no-input",
            "--disable-pip-version-check",
        ]
        # pip's output is kept out of a successful synth (it would bury cdk-nag's findings) and shown whole
        # when it fails.
        result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            command, capture_output=True, text=True, check=False, env={**os.environ, "PIP_NO_INPUT": "1"}
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"bundling the dispatcher failed: pip could not install {self._requirements} for "
                f"Python {self._python_version} on {self._platforms[0]} (exit {result.returncode}).\n"
                f"Command: {' '.join(command)}\n{result.stdout}{result.stderr}"
            )


def _copy_tree(source: Path, destination: Path, also_ignore: tuple[str, ...] = ()) -> None:
    shutil.copytree(
        source,
        destination,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", *also_ignore),
    )


def dispatcher_code(
    *,
    runtime: lambda_.Runtime,
    architecture: lambda_.Architecture,
    source_dir: Path = LAMBDA_SOURCE,
    cache_root: Path = DEFAULT_CACHE_ROOT,
) -> lambda_.Code:
    """The dispatcher's deployment package, bundled locally (see the module docstring)."""
    bundler = PipWheelBundling(source_dir=source_dir, runtime=runtime, architecture=architecture, cache_root=cache_root)
    return lambda_.Code.from_asset(
        str(source_dir),
        exclude=list(ASSET_EXCLUDES),
        # The source hash covers requirements.txt (it lives in the package folder), so a changed pin re-bundles.
        asset_hash_type=AssetHashType.SOURCE,
        bundling=BundlingOptions(
            # Required by the API; never pulled, because the local bundler always succeeds or raises.
            image=runtime.bundling_image,
            local=bundler,
        ),
    )
