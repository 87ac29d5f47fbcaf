"""What an operator does to a hookhaven, as plain functions over the ports.

Each function takes the adapters it needs (``hookhaven.ports``), returns plain data and
raises ``OperationError`` for what the operator asked that cannot be done (and
``StorageUnavailable`` when AWS fails); nothing here prints. The ``hookhaven`` command
(``hookhaven.cli``) is a thin layer on top. CLI-only: not in the Lambda asset.
"""

from __future__ import annotations

from collections.abc import Callable

from hookhaven.ports import Progress


class OperationError(ValueError):
    """What the operator asked cannot be done; the message says why, for the operator."""


#: A long operation asks for one ``Progress`` per named stage ("reading events", ...);
#: None when nobody is watching.
Stages = Callable[[str], Progress]


def stage(stages: Stages | None, name: str) -> Progress | None:
    return stages(name) if stages is not None else None
