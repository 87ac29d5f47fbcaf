"""The dead-letter queue: what is in it, and moving it back for a fresh retry schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hookhaven.operations import OperationError, Stages, stage
from hookhaven.ports import DeadLetter, DeadLetterQueue, QueueInspector, RedriveReport


def reason(letter: DeadLetter) -> str:
    """Why it is there: the reason it was parked with, else what a DLQ message means."""
    return letter.reason or ("retries exhausted" if letter.event_id else "malformed")


def delivery(letter: DeadLetter) -> dict[str, Any] | str:
    """What it would have delivered (without the body itself), or its raw text."""
    fields = {k: v for k, v in (letter.delivery or {}).items() if k != "body_b64"}
    return fields or letter.body


def _for(subscription: str | None) -> Callable[[DeadLetter], bool]:
    return lambda letter: subscription is None or letter.subscription_id == subscription


def list_dead_letters(
    dead_letters: DeadLetterQueue, *, subscription: str | None = None, limit: int | None = None
) -> list[DeadLetter]:
    """Up to ``limit`` messages (one subscription's, or all), left where they are."""
    return dead_letters.browse(limit=limit, matches=_for(subscription))


def get_dead_letter(dead_letters: DeadLetterQueue, message_id: str) -> DeadLetter:
    found = dead_letters.browse(limit=1, matches=lambda letter: letter.message_id == message_id)
    if not found:
        raise OperationError(f"no message {message_id} in the dead-letter queue")
    return found[0]


def redrive(
    dead_letters: DeadLetterQueue,
    depth: QueueInspector,
    *,
    subscription: str | None = None,
    maximum: int | None = None,
    dry_run: bool = False,
    stages: Stages | None = None,
) -> RedriveReport:
    """Send matching messages back to the deliveries queue, then delete them from the DLQ.

    ``depth`` (the DLQ's) sizes the progress; it is only read when someone watches.
    """
    progress = None if dry_run else stage(stages, "redriving")
    total = 0
    if progress is not None:
        waiting = depth.depth().visible
        total = min(waiting, maximum) if maximum else waiting

    def moved(count: int) -> None:
        if progress is not None:
            progress(count, total)

    return dead_letters.redrive(
        matches=_for(subscription), maximum=maximum, dry_run=dry_run, on_progress=moved
    )
