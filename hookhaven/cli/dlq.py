"""``hookhaven dlq``: deliveries that exhausted their retries."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hookhaven.cli.render import emit, fields, progress_bars, say, table
from hookhaven.cli.state import state
from hookhaven.operations import dlq
from hookhaven.ports import DeadLetter

app = typer.Typer(help="Deliveries that exhausted their retries.", no_args_is_help=True)


def letter_view(letter: DeadLetter) -> dict[str, Any]:
    delivery = letter.delivery or {}
    return {
        "message_id": letter.message_id,
        "event_id": letter.event_id,
        "subscription_id": letter.subscription_id,
        "event_type": delivery.get("event_type"),
        "source": delivery.get("source"),
        "receive_count": letter.receive_count,
        "sent_at": letter.sent_at,
        "reason": dlq.reason(letter),
    }


@app.command("list")
def list_(
    ctx: typer.Context,
    subscription: Annotated[str | None, typer.Option("--subscription")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
) -> None:
    """Messages in the dead-letter queue (read without removing them)."""
    st = state(ctx)
    letters = dlq.list_dead_letters(st.dead_letters, subscription=subscription, limit=limit)
    views = [letter_view(letter) for letter in letters]
    columns = ("message id", "event", "subscription", "type", "reason")
    rows = (
        (v["message_id"], v["event_id"] or "-", v["subscription_id"] or "-",
         v["event_type"] or "-", v["reason"])
        for v in views
    )  # fmt: skip
    emit(st, views, lambda: table(st, columns, rows))


@app.command("show")
def show(
    ctx: typer.Context, message_id: Annotated[str, typer.Argument(metavar="MESSAGE_ID")]
) -> None:
    """One dead-lettered message: what it was for and why it is here."""
    st = state(ctx)
    letter = dlq.get_dead_letter(st.dead_letters, message_id)
    view = {**letter_view(letter), "body": dlq.delivery(letter)}
    emit(st, view, lambda: fields(st, view, str))


@app.command("redrive")
def redrive(
    ctx: typer.Context,
    subscription: Annotated[str | None, typer.Option("--subscription")] = None,
    maximum: Annotated[int | None, typer.Option("--max", min=1)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, move nothing.")] = False,
) -> None:
    """Move dead-lettered deliveries back for a fresh retry schedule (send, then delete)."""
    st = state(ctx)
    with progress_bars(st) as stages:
        report = dlq.redrive(
            st.dead_letters,
            st.dead_letters_depth,
            subscription=subscription,
            maximum=maximum,
            dry_run=dry_run,
            stages=stages,
        )
    data = {"matched": report.matched, "moved": report.moved, "dry_run": dry_run}
    verb, count = ("would move", report.matched) if dry_run else ("moved", report.moved)
    emit(st, data, lambda: say(st, f"{verb} {count} message(s) back to the deliveries queue"))
