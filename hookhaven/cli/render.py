"""How the CLI answers: JSON with --json, else rich text and tables; progress bars on a
terminal; errors as one line on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hookhaven.cli.state import State
from hookhaven.operations import Stages


def emit(st: State, data: Any, draw: Callable[[], None]) -> None:
    """``data`` as JSON with --json, else whatever ``draw`` prints."""
    if st.json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        draw()


def say(st: State, text: str) -> None:
    """A line of plain text: no markup, no highlighting of what it quotes."""
    st.console.print(text, markup=False, highlight=False)


def error_line(message: str) -> None:
    # Plain print, not rich: the message stays on one line whatever the terminal width.
    print(f"error: {' '.join(message.split())}", file=sys.stderr)


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def table(
    st: State, columns: Iterable[str], rows: Iterable[Iterable[str]], *, bold_last: bool = False
) -> None:
    grid = Table(*columns)
    for row in rows:
        grid.add_row(*row)
    if bold_last and grid.rows:
        grid.rows[-1].style = "bold"  # a total
    st.console.print(grid)


def fields(st: State, view: dict[str, Any], secret: Callable[[dict[str, Any]], str]) -> None:
    """One ``key: value`` line per field of a ``show`` view; times in UTC, and one line per
    secret (never its value unless the view holds it)."""
    for key, value in view.items():
        if key == "secrets":
            for index, entry in enumerate(value, 1):
                say(st, f"secret {index}: {secret(entry)}")
        elif key == "delivery" and isinstance(value, dict):
            say(st, f"delivery: {value['summary']}")
        elif key.endswith("_at"):
            say(st, f"{key}: {when(value)}")
        else:
            say(st, f"{key}: {value}")


def shows_progress(console: Console, as_json: bool) -> bool:
    """Progress bars are for a person at a terminal: never in JSON, a pipe or a file."""
    return not as_json and console.is_terminal


@contextmanager
def progress_bars(st: State, *, wanted: bool = True) -> Iterator[Stages | None]:
    """One bar per stage of a long operation, or None (no bars) when nobody would see them."""
    if not wanted or not shows_progress(st.console, st.json):
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=st.console) as bars:

        def stage(name: str) -> Callable[[int, int], None]:
            task = bars.add_task(name, total=None)
            return lambda done, total: bars.update(task, completed=done, total=total or None)

        yield stage
