"""The local stack's AWS emulator: moto's server, with one change for speed.

moto backs up every table a TransactWriteItems touches with ``copy.deepcopy``
so it can roll back, which makes each transaction cost as much as the whole
table: a surge of events gets slower with every event already kept. Here the
backup copies the table's item index and its items one level deep instead
(each stored item is copied, nested attribute values are shared). A rollback
still restores exactly the items the transaction changed, because moto
replaces or updates items, it never edits shared nested values in place.

Run as ``python -m hookhaven.local.emulator -H 127.0.0.1 -p 4566``.
"""

from __future__ import annotations

import copy as _copy
import sys
from collections import defaultdict
from types import SimpleNamespace
from typing import Any


def _item_backup(item: Any) -> Any:
    backup = _copy.copy(item)
    if isinstance(getattr(item, "attrs", None), dict):
        # A plain dict: LimitedSizeDict re-measures the whole item on every key it copies.
        backup.attrs = dict(item.attrs)
    return backup


def _table_backup(table: Any) -> Any:
    backup = _copy.copy(table)
    backup.items = defaultdict(
        dict,
        {
            key: (
                {r: _item_backup(i) for r, i in value.items()}
                if isinstance(value, dict)
                else _item_backup(value)
            )
            for key, value in table.items.items()
        },
    )
    return backup


def _install() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            return _table_backup(value)
        return _copy.deepcopy(value, memo)

    models.copy = SimpleNamespace(deepcopy=deepcopy, copy=_copy.copy)  # type: ignore[attr-defined,assignment]


def main() -> None:
    _install()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
