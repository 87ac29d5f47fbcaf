"""The ``hookhaven`` command (CLI-only: not part of the Lambda asset)."""

from __future__ import annotations


def main() -> None:
    from hookhaven.cli.app import main as run

    run()
