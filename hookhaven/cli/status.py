"""``hookhaven status``: queue depths, the oldest message, the last hour's deliveries."""

from __future__ import annotations

import time
from typing import Any

import typer

from hookhaven.cli.render import emit, say
from hookhaven.cli.state import State, state
from hookhaven.durations import format_duration
from hookhaven.operations.status import Status
from hookhaven.operations.status import status as current_status


def _view(report: Status) -> dict[str, Any]:
    return {
        "deliveries_queue": {
            "visible": report.deliveries.visible,
            "in_flight_or_waiting_to_retry": report.deliveries.in_flight,
            "oldest_message_age_seconds": report.oldest_message_age,
        },
        "dead_letter_queue": {"visible": report.dead_letters.visible},
        "last_hour": {
            "attempts": report.attempts,
            "delivered": report.delivered,
            "success_rate": report.success_rate,
            "failing_subscriptions": [
                {"subscription_id": s, "failed_attempts": n} for s, n in report.failing
            ],
        },
        "subscriptions_not_flowing": [
            {"subscription_id": s, "state": state, "summary": summary}
            for s, state, summary in report.not_flowing
        ],
    }


def _draw(st: State, report: Status) -> None:
    queue, age = report.deliveries, report.oldest_message_age
    oldest = format_duration(age) if age is not None else "unknown (no CloudWatch data)"
    st.console.print(
        f"deliveries queue: {queue.visible} waiting, {queue.in_flight} "
        f"in flight or backing off; oldest message {oldest}"
    )
    st.console.print(f"dead-letter queue: {report.dead_letters.visible} message(s)")
    rate = report.success_rate
    st.console.print(
        f"last hour: {report.delivered} of {report.attempts} attempts delivered"
        + (f" ({rate:.1%})" if rate is not None else "")
    )
    for subscription_id, failed in report.failing:
        say(st, f"  failing: {subscription_id} ({failed} failed attempts)")
    for subscription_id, _, summary in report.not_flowing:
        say(st, f"  {subscription_id}: {summary}")


def status(ctx: typer.Context) -> None:
    """Queue depths, oldest message age, and the last hour's delivery success."""
    st = state(ctx)
    report = current_status(
        deliveries=st.deliveries_depth,
        dead_letters=st.dead_letters_depth,
        oldest=st.oldest_delivery,
        events=st.events,
        now=time.time(),
        subscriptions=st.config,
        control=st.control,
    )
    emit(st, _view(report), lambda: _draw(st, report))
