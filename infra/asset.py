"""Build the functions' code asset without Docker.

The asset is a folder: ``functions/``, the ``hookhaven`` library (without the
CLI-only parts), and the pinned dependencies of ``lambda-requirements.txt``
installed from wheels for the target platform with pip's ``--platform`` and
``--only-binary``. What the Lambda Python runtime already provides (boto3,
botocore, s3transfer, jmespath, urllib3, python-dateutil, six) is left out.

Dependencies are cached per (requirements, platform) under the build folder, so
only the first build downloads anything.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = Path(__file__).resolve().parent / "lambda-requirements.txt"
#: Parts of the library that only the CLI (and its operations) and the local stack use.
CLI_ONLY = ("cli", "operations", "local")


@dataclass(frozen=True)
class Platform:
    """Where the asset will run: a CPython version and the wheel platforms it accepts."""

    name: str
    python_version: str | None = None  # None: the interpreter running the build
    platforms: tuple[str, ...] = ()  # empty: this machine's platform

    def pip_options(self) -> list[str]:
        if not self.platforms:
            return []
        options = ["--implementation", "cp", "--only-binary=:all:"]
        if self.python_version:
            options += ["--python-version", self.python_version]
        for platform in self.platforms:
            options += ["--platform", platform]
        return options


#: AWS Lambda, Python 3.14 on Graviton (arm64, Amazon Linux 2023, glibc 2.34).
LAMBDA_ARM64 = Platform(
    name="lambda-arm64-py3.14",
    python_version="3.14",
    platforms=(
        "manylinux_2_34_aarch64",
        "manylinux_2_28_aarch64",
        "manylinux_2_17_aarch64",
        "manylinux2014_aarch64",
    ),
)
#: The machine running the build: used by the test that imports the asset.
HOST = Platform(name="host")


def pinned_requirements() -> dict[str, str]:
    """``{normalized name: version}`` from the requirements file."""
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        pins[_normalize(name)] = version.strip()
    return pins


def _normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _source_files() -> list[Path]:
    files = sorted((ROOT / "functions").rglob("*.py"))
    for path in sorted((ROOT / "hookhaven").rglob("*")):
        relative = path.relative_to(ROOT / "hookhaven")
        if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        if relative.parts[0] in CLI_ONLY or relative.stem in CLI_ONLY:
            continue
        files.append(path)
    return files


def _publish(staging: Path, final: Path) -> Path:
    """Move a finished build into place; a concurrent build of the same content may win."""
    staging.chmod(0o755)  # mkdtemp makes 0700; Lambda reads the tree as another user
    try:
        staging.rename(final)
    except OSError:
        if not final.exists():
            raise
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _install_dependencies(build_root: Path, platform: Platform) -> Path:
    key = hashlib.sha256(
        REQUIREMENTS.read_bytes() + repr((platform, sys.version_info[:2])).encode()
    ).hexdigest()[:16]
    deps = build_root / "deps" / f"{platform.name}-{key}"
    if deps.exists():
        return deps
    deps.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{deps.name}-", dir=deps.parent))
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-compile",
        "--target",
        str(partial),
        *platform.pip_options(),
        "--requirement",
        str(REQUIREMENTS),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise RuntimeError(
            f"could not install the Lambda dependencies for {platform.name}:\n{result.stderr}"
        )
    for stale in partial.glob("*.dist-info/RECORD"):
        stale.unlink()  # absolute build paths; nothing at run time reads them
    shutil.rmtree(partial / "bin", ignore_errors=True)
    return _publish(partial, deps)


def build_asset(build_root: Path | None = None, platform: Platform = LAMBDA_ARM64) -> Path:
    """Build the asset folder for ``platform`` and return its path.

    The folder's name carries a hash of everything in it, so a build never
    changes a folder another process may be reading (a synth staging it, say);
    an unchanged tree reuses the folder built before.
    """
    build_root = build_root or ROOT / "build"
    deps = _install_dependencies(build_root, platform)
    sources = _source_files()
    digest = hashlib.sha256(deps.name.encode())
    for source in sources:
        digest.update(str(source.relative_to(ROOT)).encode() + b"\0" + source.read_bytes())
    asset = build_root / "asset" / f"{platform.name}-{digest.hexdigest()[:16]}"
    if asset.exists():
        return asset
    asset.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{asset.name}-", dir=asset.parent))
    shutil.copytree(deps, staging, dirs_exist_ok=True)
    for source in sources:
        destination = staging / source.relative_to(ROOT)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    _prune(asset.parent, keep=asset, prefix=f"{platform.name}-")
    return _publish(staging, asset)


def _prune(folder: Path, *, keep: Path, prefix: str, max_age_seconds: int = 3600) -> None:
    """Remove old builds of this platform; recent ones may still be in use by a running synth."""
    cutoff = time.time() - max_age_seconds
    for old in folder.glob(f"{prefix}*"):
        if old != keep and old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)


if __name__ == "__main__":
    print(build_asset(platform=HOST if "--host" in sys.argv else LAMBDA_ARM64))
