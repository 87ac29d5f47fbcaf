"""``hookhaven events``: what was received and what became of it; ``hookhaven replay``."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from hookhaven.audit import DeliveryState
from hookhaven.cli.render import emit, progress_bars, say, table, when
from hookhaven.cli.state import State, seconds, state
from hookhaven.operations import events as operations
from hookhaven.operations.events import DeliveryStory, EventStory
from hookhaven.operations.replay import Replayed, replay_events, replay_missed

app = typer.Typer(help="What was received and what became of it.", no_args_is_help=True)
#: Events are read one day partition at a time: a wider window earns a progress bar.
DAY = 86400


@app.command("list")
def list_(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option("--source")] = None,
    since: Annotated[str, typer.Option("--since", help="How far back, e.g. 1h, 3d.")] = "24h",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
) -> None:
    """Recent events, newest first."""
    st = state(ctx)
    window = seconds(since, "--since")
    with progress_bars(st, wanted=window > DAY) as stages:
        found = operations.list_events(
            st.events, since=time.time() - window, source=source, limit=limit, stages=stages
        )
    views: list[dict[str, Any]] = [
        {
            "id": e.id,
            "source": e.source,
            "type": e.event_type,
            "received_at": e.received_at,
            "provider_event_id": e.provider_event_id,
            "subscriptions": len(e.subscriptions),
            "size": e.body_size,
        }
        for e in found
    ]
    columns = ("id", "received (UTC)", "source", "type", "subscriptions", "bytes")
    rows = (
        (v["id"], when(v["received_at"]), v["source"], v["type"], str(v["subscriptions"]),
         str(v["size"]))
        for v in views
    )  # fmt: skip
    emit(st, views, lambda: table(st, columns, rows))


def state_text(story: DeliveryStory) -> str:
    """A delivery's state in words, from ``hookhaven.audit.delivery_state``."""
    delivery, last = story.delivery, story.last_attempt
    if delivery.state is DeliveryState.PENDING:
        if last is None:
            return "pending (no attempt yet)"
        return f"pending: attempt {last.attempt + 1} at {when(delivery.next_attempt_at)} UTC"
    if delivery.state is DeliveryState.DEAD_LETTERED:
        return "dead-lettered (see `hookhaven dlq list`)"
    if delivery.state is DeliveryState.DROPPED:
        return f"dropped: {delivery.reason}"
    return str(delivery.state)


def matched_text(matched: list[str]) -> str:
    """Which subscriptions the event matched (source, event type and filter) at fan-out."""
    if not matched:
        return "matched no subscription (by source, event type and filter): nothing queued"
    count = f"{len(matched)} subscription{'s' if len(matched) > 1 else ''}"
    return f"matched {count}: {', '.join(matched)}"


def _story_view(story: EventStory) -> dict[str, Any]:
    event = story.event
    return {
        "id": event.id,
        "source": event.source,
        "type": event.event_type,
        "provider_event_id": event.provider_event_id,
        "received_at": event.received_at,
        "content_type": event.content_type,
        "size": event.body_size,
        "sha256": event.body_sha256,
        # The subscriptions it was queued for at fan-out: source, event type and filter matched.
        "matched": list(event.subscriptions),
        "subscriptions": [
            {
                "subscription_id": d.subscription_id,
                "state": state_text(d),
                "attempts": [a.model_dump(mode="json", exclude_none=True) for a in d.attempts],
            }
            for d in story.deliveries
        ],
    }


def _attempt_row(item: dict[str, Any]) -> tuple[str, ...]:
    result = str(item.get("status_code") or item.get("error") or "")
    if item.get("error_detail"):
        result += f" ({item['error_detail'][:60]})"
    if item.get("reason"):
        result += f" {item['reason']}"
    latency = f"{item['latency_ms']:.0f} ms" if "latency_ms" in item else "-"
    due = item.get("next_attempt_at")
    following = f"retry {when(due)}" if due else item["outcome"]
    return when(item["at"]), str(item["attempt"]), result, latency, following


@app.command("show")
def show(ctx: typer.Context, event_id: Annotated[str, typer.Argument(metavar="EVENT_ID")]) -> None:
    """One event and every delivery attempt, per subscription, as a timeline."""
    st = state(ctx)
    story = operations.event_story(st.events, event_id)
    view, event = _story_view(story), story.event

    def draw() -> None:
        st.console.print(
            f"[bold]{event.id}[/] {event.event_type} from {event.source}, received "
            f"{when(event.received_at)} UTC, {event.body_size} bytes",
            highlight=False,
        )
        say(st, matched_text(view["matched"]))
        for entry in view["subscriptions"]:
            say(st, f"\n{entry['subscription_id']}: {entry['state']}")
            columns = ("time (UTC)", "attempt", "result", "latency", "next / final")
            table(st, columns, (_attempt_row(item) for item in entry["attempts"]))

    emit(st, view, draw)


def _replayed(st: State, replayed: list[Replayed]) -> None:
    views = [{"id": r.event_id, "subscriptions": r.subscriptions} for r in replayed]
    deliveries = sum(len(r.subscriptions) for r in replayed)
    text = f"replaying {len(replayed)} event(s): {deliveries} deliveries queued"
    emit(st, {"replayed": views}, lambda: say(st, text if replayed else "nothing to replay"))


def replay(
    ctx: typer.Context,
    event_ids: Annotated[
        list[str] | None, typer.Argument(metavar="EVENT_ID", show_default=False)
    ] = None,
    subscription: Annotated[
        str | None, typer.Option("--subscription", help="Only this subscription.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Every event of this window (e.g. 3d) that did not reach --subscription.",
        ),
    ] = None,
    include_delivered: Annotated[
        bool, typer.Option("--all", help="With --since: the delivered ones too.")
    ] = False,
) -> None:
    """Deliver events again, under their original webhook-id.

    EVENT_IDs go to all their subscriptions, or to --subscription only. --since with
    --subscription replays every event of the window that did not reach that subscription
    (--all: every one meant for it), as after a subscriber that was down is back.
    """
    st = state(ctx)
    if since is None:
        if not event_ids:
            raise typer.BadParameter("give EVENT_ID(s), or --since with --subscription")
        if include_delivered:
            raise typer.BadParameter("--all goes with --since", param_hint="'--all'")
        with progress_bars(st, wanted=len(event_ids) > 1) as stages:
            replayed = replay_events(
                st.events,
                st.deliveries_queue,
                event_ids,
                subscription=subscription,
                stages=stages,
            )
        if len(event_ids) > 1:
            _replayed(st, replayed)
            return
        (one,) = replayed
        text = f"replaying {one.event_id} to {len(one.subscriptions)} subscription(s)"
        emit(st, {"id": one.event_id, "subscriptions": one.subscriptions}, lambda: say(st, text))
        return
    if event_ids:
        raise typer.BadParameter("give EVENT_ID(s) or --since, not both", param_hint="'--since'")
    if subscription is None:
        raise typer.BadParameter("needs --subscription", param_hint="'--since'")
    window = seconds(since, "--since")
    with progress_bars(st) as stages:
        replayed = replay_missed(
            st.events,
            st.deliveries_queue,
            since=time.time() - window,
            subscription=subscription,
            include_delivered=include_delivered,
            stages=stages,
        )
    _replayed(st, replayed)
