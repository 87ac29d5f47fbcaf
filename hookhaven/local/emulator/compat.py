"""Whether the emulator's patches fit the moto and werkzeug installed, and applying them safely.

The patches replace private names of moto, werkzeug and ``http.server`` and carry
copies of moto's own code, so they are right for the exact versions they were written
and tested against, and for no other. At start-up the emulator checks (``check()``):

- the installed moto and werkzeug are exactly ``PINNED``;
- every name a patch replaces (the modules' ``REPLACES``) is there.

If either fails it patches nothing and serves stock moto (one request at a time still,
so requests stay atomic), after one warning line on stderr saying so. The patches are
applied through ``Patches``, which puts everything back if one of them fails part way,
so a half-patched moto never serves a request.

Upgrading moto or werkzeug: update the lock (``make lock``), then ``PINNED`` here, and
run tests/e2e/test_emulator.py, which compares the patched emulator with stock moto.
tests/unit/test_emulator_compat.py fails until ``PINNED`` and the lock agree with what
is installed.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The exact versions the patches were written and verified against (distribution names
#: as pip spells them in the lock, constraints.txt).
PINNED: Mapping[str, str] = {"moto": "5.2.5", "werkzeug": "3.1.9"}
#: The modules the emulator needs to run at all: moto and what its server extra adds.
SERVER_MODULES = ("moto", "werkzeug", "flask", "flask_cors")
#: What to install when they are missing.
INSTALL_HINT = "pip install 'hookhaven[local]'"
#: How to get the pinned versions.
PINNED_HINT = (
    "run `make dev` in a hookhaven checkout (constraints.txt pins them), or "
    + "pip install "
    + " ".join(
        f"'{name}{'[server]' if name == 'moto' else ''}=={version}'"
        for name, version in PINNED.items()
    )
)


class MotoMissing(RuntimeError):
    """moto's server is not installed: the local stack cannot run."""


class Incompatible(Exception):
    """A patch found moto (or werkzeug) other than it was written for."""


@dataclass(frozen=True)
class Compatibility:
    """The outcome of ``check()``: whether to patch, and a line saying why or why not."""

    ok: bool
    message: str
    #: Distribution name -> installed version (None: not installed).
    installed: Mapping[str, str | None] = field(default_factory=dict)
    #: Patch targets that are missing, as ``module:attribute.path``.
    missing: tuple[str, ...] = ()


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def require_moto() -> None:
    """Raise ``MotoMissing`` (one line, saying what to install) unless moto's server can run.

    Cheap: it looks the modules up without importing them.
    """
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise MotoMissing(_not_installed(missing))


def _not_installed(missing: list[str]) -> str:
    return (
        f"the local stack's AWS emulator needs moto's server, and {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} not installed: {INSTALL_HINT}"
    )


def check(*, targets: bool = True) -> Compatibility:
    """Whether the emulator may patch the installed moto and werkzeug.

    ``targets=False`` compares the versions only, without importing moto to look up each
    patch target: for a process that does not run moto itself (``hookhaven dev``). With
    the pinned versions the targets are there (tests/unit/test_emulator_compat.py).
    """
    installed = {name: installed_version(name) for name in PINNED}
    if installed["moto"] is None:
        return Compatibility(ok=False, message=_not_installed(["moto"]), installed=installed)
    if installed != dict(PINNED):
        return Compatibility(
            ok=False,
            message=fallback_message(
                f"{_versions(installed)} are installed, "
                f"but its patches were written for {_versions(PINNED)}"
            ),
            installed=installed,
        )
    if targets:
        missing = missing_targets(_replaced())
        if missing:
            return Compatibility(
                ok=False,
                message=fallback_message(
                    f"the installed {_versions(installed)} have no "
                    f"{', '.join(missing)}, which its patches replace"
                ),
                installed=installed,
                missing=missing,
            )
    return Compatibility(
        ok=True,
        message=f"hookhaven emulator: {_versions(installed)}, as pinned: patched for speed",
        installed=installed,
    )


def fallback_message(reason: str) -> str:
    """The one warning line for running stock moto's server, for ``reason``."""
    return (
        f"hookhaven emulator: WARNING: {reason}; running stock moto's server instead, "
        f"so the local stack will be slower (requests stay atomic). For the pinned "
        f"versions, {PINNED_HINT}."
    )


def missing_targets(targets: Iterable[str]) -> tuple[str, ...]:
    """The targets (``module:attribute.path``) that cannot be found."""
    return tuple(target for target in targets if not _resolves(target))


def _resolves(target: str) -> bool:
    module_name, _, path = target.partition(":")
    try:
        owner: Any = importlib.import_module(module_name)
        for name in path.split(".") if path else ():
            # Looked up on the class (or module) itself: a property is not run.
            owner = getattr(owner, name)
    except Exception:  # not importable, or not there
        return False
    return True


def _replaced() -> tuple[str, ...]:
    from hookhaven.local.emulator import core, dynamodb, events, server, sqs

    return core.REPLACES + sqs.REPLACES + dynamodb.REPLACES + events.REPLACES + server.REPLACES


def _versions(versions: Mapping[str, str | None]) -> str:
    spelled = {"werkzeug": "Werkzeug"}
    return " and ".join(
        f"{spelled.get(name, name)} {version or '(none)'}" for name, version in versions.items()
    )


class Patches:
    """Attributes replaced through ``set``, which ``undo`` puts back, the latest first."""

    def __init__(self) -> None:
        self._made: list[tuple[Any, str, bool, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        """``setattr(owner, name, value)``, remembering what ``owner`` itself held."""
        own = vars(owner)
        self._made.append((owner, name, name in own, own.get(name)))
        setattr(owner, name, value)

    def undo(self) -> None:
        while self._made:
            owner, name, had, value = self._made.pop()
            if had:
                setattr(owner, name, value)
            else:
                delattr(owner, name)

    def __len__(self) -> int:
        return len(self._made)
