"""events: a window's events, and an event's story judged by the audit's one rule."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from hookhaven.audit import DeliveryState
from hookhaven.aws.dynamodb import DynamoEventStore
from hookhaven.memory import MemoryEventStore
from hookhaven.models import AttemptOutcome
from hookhaven.operations import OperationError
from hookhaven.operations.events import event_story, list_events
from hookhaven.resources import TIME_SHARDS
from tests.unit.test_audit import NOW, attempt, event


def test_an_events_story_has_each_subscriptions_state_from_the_audit_rule():
    store = MemoryEventStore()
    store.events["evt_1"] = event("evt_1", "sub_ok", "sub_retry", "sub_dead", "sub_gone", "sub_new")
    for record in (
        attempt("evt_1", "sub_ok", 1, AttemptOutcome.RETRYING, next_attempt_at=NOW - 490),
        attempt("evt_1", "sub_ok", 2, AttemptOutcome.DELIVERED, status_code=200),
        attempt("evt_1", "sub_retry", 1, AttemptOutcome.RETRYING, next_attempt_at=NOW + 60),
        attempt("evt_1", "sub_dead", 3, AttemptOutcome.EXHAUSTED, error="timeout"),
        attempt("evt_1", "sub_gone", 1, AttemptOutcome.GONE, reason="410 Gone"),
    ):
        store.record_attempt(record)
    story = event_story(store, "evt_1")
    states = {d.subscription_id: d.delivery.state for d in story.deliveries}
    assert states == {
        "sub_ok": DeliveryState.DELIVERED,
        "sub_retry": DeliveryState.PENDING,
        "sub_dead": DeliveryState.DEAD_LETTERED,
        "sub_gone": DeliveryState.DROPPED,
        "sub_new": DeliveryState.PENDING,
    }
    by_id = {d.subscription_id: d for d in story.deliveries}
    assert [a.attempt for a in by_id["sub_ok"].attempts] == [1, 2]  # oldest first
    assert by_id["sub_retry"].delivery.next_attempt_at == NOW + 60
    assert by_id["sub_new"].last_attempt is None
    with pytest.raises(OperationError, match="no event with id evt_2"):
        event_story(store, "evt_2")


def test_list_events_passes_limit_source_and_progress_through():
    store = MemoryEventStore()
    for index in range(5):
        store.events[f"evt_{index}"] = event(f"evt_{index}", "sub_a", at=NOW - 100 + index)
    stages: list[str] = []

    def watch(name: str) -> Any:
        stages.append(name)
        return lambda done, total: None

    found = list_events(store, since=NOW - 3600, limit=2, stages=watch)
    assert [e.id for e in found] == ["evt_4", "evt_3"]  # newest first
    assert stages == ["reading events"]
    assert list_events(store, since=NOW - 3600, source="elsewhere") == []


def test_a_limited_listing_stops_reading_once_it_has_enough(aws):
    client = boto3.client("dynamodb")
    store = DynamoEventStore(client, aws.events_table)
    now = time.time()
    for index in range(3):
        recent = event(f"evt_{index}", "sub_a", at=now - (3 - index) / 1000)  # today
        store.accept(recent, None, expires_at=int(now) + 3600)
    queries: list[str] = []
    client.meta.events.register(
        "before-call.dynamodb.Query", lambda **kwargs: queries.append("query")
    )
    days_read: list[int] = []

    def watch(name: str) -> Any:
        return lambda done, total: days_read.append(done)

    found = list_events(store, since=now - 30 * 86400, limit=2, stages=watch)
    assert [e.id for e in found] == ["evt_2", "evt_1"]
    assert len(queries) == TIME_SHARDS  # today's partitions only, not 31 days' worth
    assert days_read == [1]

    queries.clear()
    assert len(list_events(store, since=now - 30 * 86400, limit=1000)) == 3
    assert len(queries) == 31 * TIME_SHARDS  # unlimited: every day of the window
