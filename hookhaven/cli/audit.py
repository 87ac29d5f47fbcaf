"""``hookhaven audit``: every delivery of a window accounted for; exit 1 if one is not."""

from __future__ import annotations

import time
from collections import Counter
from typing import Annotated, Any

import typer

from hookhaven.audit import AuditReport, DeliveryState
from hookhaven.cli.render import emit, progress_bars, say, table, when
from hookhaven.cli.state import State, seconds, state
from hookhaven.cli.target import CliError
from hookhaven.durations import format_duration
from hookhaven.operations.audit import audit_window

#: Pending deliveries listed in the text report (--json lists all).
PENDING_SHOWN = 10


def _view(report: AuditReport, source: str | None) -> dict[str, Any]:
    def listed(state_: DeliveryState) -> list[dict[str, Any]]:
        return [
            {
                "event_id": d.event_id,
                "subscription_id": d.subscription_id,
                "source": d.source,
                "received_at": d.received_at,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at,
                "reason": d.reason,
            }
            for d in report.in_state(state_)
        ]

    return {
        "since": report.since,
        "until": report.until,
        "source": source,
        "events": report.events,
        "deliveries": len(report.deliveries),
        "queued_messages": report.queued_messages,
        "totals": report.totals(),
        "subscriptions": report.by_subscription(),
        **{
            state_.value: listed(state_)
            for state_ in DeliveryState
            if state_ is not DeliveryState.DELIVERED
        },
    }


def _draw(st: State, report: AuditReport, data: dict[str, Any]) -> None:
    scope = f"source {data['source']}" if data["source"] else "all sources"
    window = format_duration(round(report.until - report.since))
    st.console.print(
        f"{report.events} event(s) from {scope} since {when(report.since)} UTC "
        f"({window}): {len(report.deliveries)} deliveries; the deliveries "
        f"queue holds {report.queued_messages} message(s)"
    )
    totals = data["totals"]
    rows = [
        (subscription_id, *(str(counts[s.value]) for s in DeliveryState))
        for subscription_id, counts in data["subscriptions"].items()
    ]
    rows.append(("total", *(str(totals[s.value]) for s in DeliveryState)))
    columns = ("subscription", *(s.value.replace("_", " ") for s in DeliveryState))
    table(st, columns, rows, bold_last=True)
    pending = data["pending"]
    for entry in pending[:PENDING_SHOWN]:
        due = entry["next_attempt_at"]
        say(
            st,
            f"pending {entry['event_id']} -> {entry['subscription_id']}: "
            + (f"next attempt {when(due)} UTC" if due else "queued, first attempt due"),
        )
    if len(pending) > PENDING_SHOWN:
        say(st, f"... and {len(pending) - PENDING_SHOWN} more pending (--json lists all)")
    reasons = Counter(entry["reason"] for entry in data["dead_lettered"] + data["dropped"])
    for reason, count in reasons.most_common():
        say(st, f"{count} x {reason}")
    for entry in data["unaccounted"]:
        st.console.print(
            f"UNACCOUNTED {entry['event_id']} -> {entry['subscription_id']}: {entry['reason']}",
            style="bold red",
            markup=False,
            highlight=False,
        )


def audit(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="How far back, e.g. 1h, 3d.")] = "24h",
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
) -> None:
    """Account for every event received in the window, per subscription; exit 1 if any
    delivery is unaccounted for."""
    st = state(ctx)
    window = seconds(since, "--since")
    until = time.time()
    with progress_bars(st) as stages:
        report = audit_window(
            st.events,
            st.deliveries_depth,
            since=until - window,
            until=until,
            source=source,
            stages=stages,
        )
    data = _view(report, source)
    emit(st, data, lambda: _draw(st, report, data))
    if report.unaccounted:
        raise CliError(f"{report.unaccounted} deliveries are unaccounted for")
