"""status and audit: what they gather, through small ports instead of boto3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hookhaven.audit import DeliveryState
from hookhaven.memory import MemoryEventStore
from hookhaven.models import AttemptOutcome
from hookhaven.operations.audit import audit_window
from hookhaven.operations.status import status
from hookhaven.ports import QueueDepth
from tests.unit.test_audit import NOW, attempt, event


@dataclass
class Queue:
    now: QueueDepth

    def depth(self) -> QueueDepth:
        return self.now


@dataclass
class Age:
    seconds: int | None

    def oldest_message_age(self) -> int | None:
        return self.seconds


def test_the_success_rate_counts_attempts_that_reached_a_subscriber():
    store = MemoryEventStore()
    for record in (
        attempt("evt_1", "sub_ok", 1, AttemptOutcome.DELIVERED, status_code=200),
        attempt("evt_2", "sub_ok", 1, AttemptOutcome.DELIVERED, status_code=200),
        attempt("evt_1", "sub_bad", 1, AttemptOutcome.RETRYING, status_code=500),
        attempt("evt_2", "sub_bad", 1, AttemptOutcome.EXHAUSTED, status_code=500),
        attempt("evt_1", "sub_gone", 1, AttemptOutcome.GONE, status_code=410),
        attempt("evt_1", "sub_off", 1, AttemptOutcome.DROPPED, reason="disabled"),  # not sent
    ):
        store.record_attempt(record)
    report = status(
        deliveries=Queue(QueueDepth(visible=3, in_flight=2, delayed=1)),
        dead_letters=Queue(QueueDepth(visible=4, in_flight=0)),
        oldest=Age(90),
        events=store,
        now=NOW,
    )
    assert (report.attempts, report.delivered, report.success_rate) == (5, 2, 0.4)
    assert report.failing == [("sub_bad", 2), ("sub_gone", 1)]
    assert (report.deliveries.visible, report.deliveries.in_flight) == (3, 2)
    assert report.dead_letters.visible == 4
    assert report.oldest_message_age == 90
    quiet = status(
        deliveries=Queue(QueueDepth(0, 0)),
        dead_letters=Queue(QueueDepth(0, 0)),
        oldest=Age(None),
        events=MemoryEventStore(),
        now=NOW,
    )
    assert (quiet.attempts, quiet.success_rate, quiet.failing) == (0, None, [])


def test_the_audit_bounds_pending_deliveries_by_everything_the_queue_holds():
    store = MemoryEventStore()
    store.events["evt_1"] = event("evt_1", "sub_a", "sub_b", "sub_c")
    store.record_attempt(attempt("evt_1", "sub_a", 1, AttemptOutcome.DELIVERED, status_code=200))
    stages: list[str] = []

    def watch(name: str) -> Any:
        stages.append(name)
        return lambda done, total: None

    queue = Queue(QueueDepth(visible=0, in_flight=0, delayed=1))  # one delayed message
    report = audit_window(store, queue, since=NOW - 3600, until=NOW, stages=watch)
    assert report.totals()["delivered"] == 1
    assert report.totals()["pending"] == 1
    assert report.unaccounted == 1
    assert report.queued_messages == 1
    assert stages == ["reading events", "reading attempts"]
    assert [d.state for d in report.in_state(DeliveryState.UNACCOUNTED)] == [
        DeliveryState.UNACCOUNTED
    ]
