"""replay: named events again, or whatever of a window did not reach one subscription."""

from __future__ import annotations

from typing import Any

import pytest

from hookhaven.memory import MemoryEventStore, MemoryQueue
from hookhaven.models import AttemptOutcome, DeliveryMessage
from hookhaven.operations import OperationError
from hookhaven.operations.replay import Replayed, replay_events, replay_missed
from tests.unit.test_audit import NOW, attempt, event


def store_with(*events: Any) -> MemoryEventStore:
    store = MemoryEventStore()
    for record in events:
        store.events[record.id] = record
    return store


def sent(queue: MemoryQueue) -> list[tuple[str, str]]:
    return [(m.event_id, m.subscription_id) for m in queue.messages]


def test_one_event_goes_again_to_all_its_subscriptions_or_to_one():
    store, queue = store_with(event("evt_1", "sub_a", "sub_b")), MemoryQueue()
    assert replay_events(store, queue, ["evt_1"]) == [Replayed("evt_1", ["sub_a", "sub_b"])]
    assert replay_events(store, queue, ["evt_1"], subscription="sub_b") == [
        Replayed("evt_1", ["sub_b"])
    ]
    assert sent(queue) == [("evt_1", "sub_a"), ("evt_1", "sub_b"), ("evt_1", "sub_b")]
    message = queue.messages[0]
    assert isinstance(message, DeliveryMessage)
    assert message.inline_body() == b"{}"  # the original body, under the original id


def test_several_events_are_all_checked_before_any_is_sent():
    store = store_with(event("evt_1", "sub_a"), event("evt_2", "sub_b"), event("evt_none"))
    queue = MemoryQueue()
    refused = {
        "no event with id evt_ghost": (["evt_1", "evt_ghost"], None),
        "event evt_2 was not for subscription sub_a": (["evt_1", "evt_2"], "sub_a"),
        "evt_none matched no subscription": (["evt_1", "evt_none"], None),
    }
    for message, (ids, subscription) in refused.items():
        with pytest.raises(OperationError, match=message):
            replay_events(store, queue, ids, subscription=subscription)
    assert queue.messages == []
    progress: list[tuple[int, int]] = []
    replayed = replay_events(
        store, queue, ["evt_1", "evt_2"], stages=lambda name: lambda *p: progress.append(p)
    )
    assert [r.event_id for r in replayed] == ["evt_1", "evt_2"]
    assert progress == [(1, 2), (2, 2)]


def test_a_failed_enqueue_says_what_to_run_again():
    class Refusing(MemoryQueue):
        def send(self, messages: Any) -> set[str]:
            return {m.subscription_id for m in messages if m.event_id == "evt_2"}

    store = store_with(event("evt_1", "sub_a"), event("evt_2", "sub_a"))
    with pytest.raises(OperationError) as single:
        replay_events(store, Refusing(), ["evt_2"])
    assert str(single.value) == "could not enqueue for sub_a; run replay again"
    with pytest.raises(OperationError) as several:
        replay_events(store, Refusing(), ["evt_1", "evt_2"])
    assert str(several.value) == (
        "could not enqueue evt_2 for sub_a (1 event(s) before it were replayed); run replay again"
    )


def test_a_window_replays_what_did_not_reach_the_subscription_oldest_first():
    store = store_with(
        event("evt_delivered", "sub_a", "sub_b", at=NOW - 500),
        event("evt_dropped", "sub_a", at=NOW - 400),
        event("evt_dead", "sub_a", at=NOW - 300),
        event("evt_queued", "sub_a", at=NOW - 200),
        event("evt_other", "sub_b", at=NOW - 100),
        event("evt_old", "sub_a", at=NOW - 7200),
    )
    for record in (
        attempt("evt_delivered", "sub_a", 1, AttemptOutcome.DELIVERED, status_code=200),
        attempt("evt_delivered", "sub_b", 1, AttemptOutcome.RETRYING, next_attempt_at=NOW),
        attempt("evt_dropped", "sub_a", 1, AttemptOutcome.DROPPED, reason="disabled"),
        attempt("evt_dead", "sub_a", 12, AttemptOutcome.EXHAUSTED, status_code=503),
    ):
        store.record_attempt(record)
    stages: list[str] = []

    def watch(name: str) -> Any:
        stages.append(name)
        return lambda done, total: None

    queue = MemoryQueue()
    replayed = replay_missed(store, queue, since=NOW - 3600, subscription="sub_a", stages=watch)
    assert [r.event_id for r in replayed] == ["evt_dropped", "evt_dead", "evt_queued"]
    assert all(r.subscriptions == ["sub_a"] for r in replayed)
    assert set(sent(queue)) == {(e, "sub_a") for e in ("evt_dropped", "evt_dead", "evt_queued")}
    assert stages == ["reading events", "reading attempts", "replaying"]

    everything = replay_missed(
        store, MemoryQueue(), since=NOW - 3600, subscription="sub_a", include_delivered=True
    )
    assert [r.event_id for r in everything] == [
        "evt_delivered", "evt_dropped", "evt_dead", "evt_queued",
    ]  # fmt: skip
    assert replay_missed(store, MemoryQueue(), since=NOW - 3600, subscription="sub_c") == []
