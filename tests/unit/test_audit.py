"""Every delivery ends in exactly one state, and pending ones must fit in the queue."""

from __future__ import annotations

from hookhaven.audit import DeliveryState, audit
from hookhaven.models import AttemptOutcome, AttemptRecord, EventRecord

NOW = 1_800_000_000.0


def event(event_id: str, *subscriptions: str, at: float = NOW - 600) -> EventRecord:
    return EventRecord(
        id=event_id,
        source="bookhaven",
        event_type="order.created",
        provider_event_id=event_id,
        received_at=at,
        content_type="application/json",
        headers={},
        body_size=2,
        body_sha256="0" * 64,
        body=b"{}",
        subscriptions=subscriptions,
    )


def attempt(
    event_id: str, subscription: str, n: int, outcome: AttemptOutcome, **fields: object
) -> AttemptRecord:
    return AttemptRecord(
        event_id=event_id,
        subscription_id=subscription,
        attempt=n,
        at=NOW - 500 + n,
        outcome=outcome,
        **fields,
    )


def states(report) -> dict[tuple[str, str], DeliveryState]:
    return {(d.event_id, d.subscription_id): d.state for d in report.deliveries}


def run(events, attempts, queued=0, recheck=None):
    return audit(
        events, attempts, queued_messages=queued, since=NOW - 3600, until=NOW, recheck=recheck
    )


def test_each_delivery_is_judged_by_its_attempts():
    events = [event("evt_1", "sub_ok", "sub_retry", "sub_dead", "sub_gone", "sub_gone2")]
    attempts = [
        attempt("evt_1", "sub_ok", 1, AttemptOutcome.RETRYING, next_attempt_at=NOW - 490),
        attempt("evt_1", "sub_ok", 2, AttemptOutcome.DELIVERED, status_code=200),
        attempt("evt_1", "sub_retry", 1, AttemptOutcome.RETRYING, next_attempt_at=NOW + 60),
        attempt("evt_1", "sub_dead", 3, AttemptOutcome.EXHAUSTED, error="timeout"),
        attempt("evt_1", "sub_gone", 1, AttemptOutcome.GONE, reason="410 Gone"),
        attempt("evt_1", "sub_gone2", 1, AttemptOutcome.DROPPED, reason="subscription deleted"),
    ]
    report = run(events, attempts, queued=1)
    assert states(report) == {
        ("evt_1", "sub_ok"): DeliveryState.DELIVERED,
        ("evt_1", "sub_retry"): DeliveryState.PENDING,
        ("evt_1", "sub_dead"): DeliveryState.DEAD_LETTERED,
        ("evt_1", "sub_gone"): DeliveryState.DROPPED,
        ("evt_1", "sub_gone2"): DeliveryState.DROPPED,
    }
    (pending,) = report.in_state(DeliveryState.PENDING)
    assert pending.next_attempt_at == NOW + 60
    (dead,) = report.in_state(DeliveryState.DEAD_LETTERED)
    assert dead.reason == "retries exhausted: timeout"
    assert {d.reason for d in report.in_state(DeliveryState.DROPPED)} == {
        "410 Gone",
        "subscription deleted",
    }
    assert report.totals() == {
        "delivered": 1,
        "pending": 1,
        "dead_lettered": 1,
        "dropped": 2,
        "unaccounted": 0,
    }
    assert report.unaccounted == 0


def test_a_redriven_or_replayed_delivery_that_succeeds_is_delivered():
    attempts = [
        attempt("evt_1", "sub_a", 3, AttemptOutcome.EXHAUSTED, status_code=503),
        attempt("evt_1", "sub_a", 1, AttemptOutcome.DELIVERED, status_code=200),
    ]
    attempts[1] = attempts[1].model_copy(update={"at": NOW - 10})  # after the redrive
    assert states(run([event("evt_1", "sub_a")], attempts)) == {
        ("evt_1", "sub_a"): DeliveryState.DELIVERED
    }


def test_pending_deliveries_beyond_what_the_queue_holds_are_unaccounted_oldest_first():
    events = [
        event("evt_old", "sub_a", at=NOW - 900),
        event("evt_mid", "sub_a", at=NOW - 600),
        event("evt_new", "sub_a", at=NOW - 60),
    ]
    report = run(events, [], queued=1)
    assert states(report) == {
        ("evt_old", "sub_a"): DeliveryState.UNACCOUNTED,
        ("evt_mid", "sub_a"): DeliveryState.UNACCOUNTED,
        ("evt_new", "sub_a"): DeliveryState.PENDING,
    }
    assert report.unaccounted == 2
    assert report.in_state(DeliveryState.UNACCOUNTED)[0].reason == "not on the deliveries queue"


def test_an_empty_queue_means_nothing_can_still_be_pending():
    retrying = attempt("evt_1", "sub_a", 1, AttemptOutcome.RETRYING, next_attempt_at=NOW - 5)
    report = run([event("evt_1", "sub_a", "sub_b")], [retrying], queued=0)
    assert set(states(report).values()) == {DeliveryState.UNACCOUNTED}


def test_a_consistent_reread_settles_what_the_index_has_not_caught_up_with():
    reads: list[str] = []

    def recheck(event_id: str) -> list[AttemptRecord]:
        reads.append(event_id)
        return [attempt(event_id, "sub_a", 1, AttemptOutcome.DELIVERED, status_code=200)]

    report = run([event("evt_1", "sub_a", "sub_b")], [], queued=0, recheck=recheck)
    assert states(report) == {
        ("evt_1", "sub_a"): DeliveryState.DELIVERED,
        ("evt_1", "sub_b"): DeliveryState.UNACCOUNTED,
    }
    assert reads == ["evt_1"]  # once per event, not per subscription


def test_an_event_for_no_subscription_has_nothing_to_account_for():
    report = run([event("evt_1")], [])
    assert report.events == 1
    assert report.deliveries == []
    assert report.by_subscription() == {}
