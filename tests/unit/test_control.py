"""Delivery control through the dispatcher, with fakes and a clock the test moves: rate
slots, in-flight leases, the circuit breaker, disabling, and the operational events."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from hookhaven.control import CLOSED_CIRCUIT_CACHE_SECONDS, Circuit, Hold
from hookhaven.dispatch import Dispatcher, NotAttempted, QueuedDelivery, SubscriptionCache
from hookhaven.memory import MemoryControlStore
from hookhaven.models import AttemptOutcome, RateLimit
from hookhaven.operational import DetailType, RecordedOperationalEvents
from hookhaven.ports import StorageUnavailable
from hookhaven.sender import SendResult
from hookhaven.tunables import RuntimeTunables
from tests.unit.test_dispatch import NOW, Attempts, Bodies, Config, Queue, message, subscription


@dataclass
class Clock:
    """The deliveries of a batch run side by side: one waiting for its slot does not delay
    the next one's start, so a wait moves only the waiting delivery's own time."""

    now: float = NOW
    slept: list[float] = field(default_factory=list)
    waited: float = 0.0

    def __call__(self) -> float:
        return self.now + self.waited

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.waited = seconds


@dataclass
class Subscriber:
    status: int = 200
    at: list[float] = field(default_factory=list)
    clock: Clock | None = None

    def post(self, url, headers, body) -> SendResult:
        assert self.clock is not None
        self.at.append(self.clock())
        return SendResult(status=self.status, latency_ms=5.0)


@dataclass
class World:
    clock: Clock
    config: Config
    attempts: Attempts
    queue: Queue
    subscriber: Subscriber
    control: MemoryControlStore
    events: RecordedOperationalEvents
    dispatcher: Dispatcher
    receives: dict[str, int] = field(default_factory=dict)

    def deliver(self, n: int):
        """Message m-<n> (event n), received once more."""
        message_id = f"m-{n}"
        self.clock.waited = 0.0
        self.receives[message_id] = self.receives.get(message_id, 0) + 1
        return self.dispatcher.process(
            QueuedDelivery(
                message_id=message_id,
                body=message(event_id=f"evt_{n:026d}"),
                receive_count=self.receives[message_id],
                receipt_handle=f"r-{n}",
                received_at=self.clock.now,
            )
        )

    def records(self, n: int, outcome: AttemptOutcome | None = None):
        return [
            r
            for r in self.attempts.records
            if r.message_id == f"m-{n}" and outcome in (None, r.outcome)
        ]


def world(store=None, **settings) -> World:
    clock = Clock()
    config = Config()
    config.subscriptions["sub_1"] = subscription(**settings.pop("subscription", {}))
    attempts, queue, subscriber = Attempts(), Queue(), Subscriber(clock=clock)
    control = store or MemoryControlStore()
    events = RecordedOperationalEvents()
    tunables = {"retry_schedule": (0, 5, 300), "retry_jitter": 0, **settings}
    dispatcher = Dispatcher(
        subscriptions=SubscriptionCache(config, ttl=0),
        attempts=attempts,
        bodies=Bodies(),
        queue=queue,
        sender=subscriber,
        settings=RuntimeTunables(**tunables),
        clock=clock,
        rng=random.Random(5),
        operational=events,
        control=control,
        sleep=clock.sleep,
    )
    return World(clock, config, attempts, queue, subscriber, control, events, dispatcher)


def most_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + 1) for start in times)


# --- rate limit ---------------------------------------------------------------------


def test_a_rate_limited_surge_is_sent_at_its_slots_without_spending_attempts():
    w = world(subscription={"rate": RateLimit.parse("5/s")})
    first = [w.deliver(n) for n in range(1, 41)]
    # Five go within the first second (each waits for its slot inside the invocation)...
    assert sum(h.outcome is AttemptOutcome.DELIVERED for h in first) == 5
    assert w.clock.slept == pytest.approx([0.2, 0.4, 0.6, 0.8])
    # ...the rest wait in the queue until their slot, none of their attempts spent.
    held = [h for h in first if h.outcome is AttemptOutcome.HELD]
    assert len(held) == 35
    assert all(h.keeps_message and h.hold is Hold.RATE_LIMIT for h in held)
    slots = sorted(r.next_attempt_at or 0 for r in w.attempts.records if r.outcome == "held")
    assert slots == pytest.approx([NOW + 0.8 + 0.2 * k for k in range(1, 36)])
    # Each comes back when SQS shows it again (hidden in whole seconds, up to 1 s early).
    holds = {n: w.records(n, AttemptOutcome.HELD)[0] for n in range(6, 41)}
    for n, hold in sorted(holds.items(), key=lambda item: item[1].next_attempt_at or 0):
        slot = hold.next_attempt_at
        assert slot is not None
        hidden = next(s for r, s in reversed(w.queue.visibility) if r == f"r-{n}")
        assert slot - 1 <= hold.at + hidden <= slot
        w.clock.now = max(w.clock.now, slot - 0.5)
        handled = w.deliver(n)
        assert handled.outcome is AttemptOutcome.DELIVERED, n
        assert handled.attempt == 1  # holding spent nothing
    assert len(w.subscriber.at) == 40
    assert most_in_any_second(w.subscriber.at) <= 5 + 1  # the documented allowance: one
    # No second slot was reserved for a delivery that came back in time: 40 slots in all.
    assert w.control.tat["sub_1"] == pytest.approx(NOW + 40 * 0.2)
    assert len([r for r in w.attempts.records if r.outcome == "held"]) == 35


def test_a_delivery_back_long_after_its_slot_reserves_another():
    w = world(subscription={"rate": RateLimit.parse("2/s")})
    for n in range(1, 5):
        w.deliver(n)
    (held,) = w.records(4, AttemptOutcome.HELD)
    w.clock.now = held.next_attempt_at + 5  # SQS (or a busy dispatcher) was late
    handled = w.deliver(4)
    # Sent now, in a fresh slot: it never goes out of turn with the slots given since.
    assert handled.outcome is AttemptOutcome.DELIVERED
    assert w.control.tat["sub_1"] == pytest.approx(w.clock.now + 0.5)


def test_subscriptions_without_limits_are_not_slowed():
    w = world()
    for n in range(1, 51):
        assert w.deliver(n).outcome is AttemptOutcome.DELIVERED
    assert w.clock.slept == []
    assert w.queue.visibility == []


# --- in flight ----------------------------------------------------------------------


def test_max_in_flight_holds_a_delivery_while_the_limit_is_taken():
    store = MemoryControlStore()
    w = world(store, subscription={"max_in_flight": 1})
    store.acquire_lease("sub_1", "other", now=NOW, expires_at=NOW + 30, maximum=1)
    handled = w.deliver(1)
    assert handled.outcome is AttemptOutcome.HELD
    assert handled.hold is Hold.MAX_IN_FLIGHT
    assert w.subscriber.at == []
    assert handled.attempt == 1
    handled = w.deliver(1)  # still taken: held again, without a second record
    assert handled.outcome is AttemptOutcome.HELD
    assert len(w.records(1, AttemptOutcome.HELD)) == 1
    store.release_lease("sub_1", "other")
    assert w.deliver(1).outcome is AttemptOutcome.DELIVERED
    assert store.leases["sub_1"] == {}  # its own lease given back after the request


def test_a_lease_left_by_a_crashed_invocation_expires():
    store = MemoryControlStore()
    w = world(store, subscription={"max_in_flight": 1})
    store.acquire_lease("sub_1", "crashed", now=NOW, expires_at=NOW + 25, maximum=1)
    assert w.deliver(1).outcome is AttemptOutcome.HELD
    w.clock.now += 26
    assert w.deliver(1).outcome is AttemptOutcome.DELIVERED


# --- circuit breaker ----------------------------------------------------------------


def test_the_circuit_opens_holds_probes_and_closes_publishing_each_change_once():
    w = world(circuit_failure_threshold=3, circuit_probe_seconds=30)
    w.subscriber.status = 503
    outcomes = [w.deliver(n) for n in range(1, 4)]
    assert [h.circuit for h in outcomes] == [None, None, "opened"]
    assert [e.detail_type for e in w.events.published] == [DetailType.CIRCUIT_OPENED]
    opened = w.events.published[0].detail
    assert opened["subscription_id"] == "sub_1"
    assert opened["consecutive_failures"] == 3
    # Open: the next deliveries are held until the probe is due; no request, no attempt.
    for n in range(4, 20):
        handled = w.deliver(n)
        assert handled.outcome is AttemptOutcome.HELD
        assert handled.hold is Hold.CIRCUIT_OPEN
        assert handled.attempt == 1
    assert len(w.subscriber.at) == 3
    # The probe: one delivery goes; another arriving meanwhile waits for it to settle.
    w.clock.now += 31
    probe = w.deliver(4)
    assert probe.outcome is AttemptOutcome.RETRYING
    assert len(w.subscriber.at) == 4
    circuit = w.control.circuit("sub_1")
    assert circuit.probe_interval == 60
    assert circuit.probe_at == pytest.approx(w.clock.now + 60)
    assert w.deliver(5).outcome is AttemptOutcome.HELD
    # Recovered: the next probe succeeds and closes it; the held ones go straight through.
    w.subscriber.status = 200
    w.clock.now += 61
    assert w.deliver(6).circuit == "closed"
    for n in range(7, 20):
        assert w.deliver(n).outcome is AttemptOutcome.DELIVERED
    assert [e.detail_type for e in w.events.published] == [
        DetailType.CIRCUIT_OPENED,
        DetailType.CIRCUIT_CLOSED,
    ]
    assert w.events.published[1].detail["open_seconds"] == 92
    assert w.control.circuit("sub_1").failures == 0


def test_only_one_probe_at_a_time():
    w = world(circuit_failure_threshold=1, circuit_probe_seconds=30)
    w.subscriber.status = 503
    w.deliver(1)
    w.clock.now += 31
    store = w.control
    assert store.take_probe("sub_1", now=w.clock.now, lease_until=w.clock.now + 25)
    # Another dispatcher holds the probe: this one waits, however many come.
    for n in range(2, 8):
        assert w.deliver(n).outcome is AttemptOutcome.HELD
    assert len(w.subscriber.at) == 1


def test_a_held_delivery_writes_one_record_per_hold_not_per_receive():
    w = world(circuit_failure_threshold=1, circuit_probe_seconds=30)
    w.subscriber.status = 503
    w.deliver(1)
    for _ in range(5):
        w.deliver(2)
    (held,) = w.records(2, AttemptOutcome.HELD)
    assert held.hold == "circuit_open"
    assert "circuit open since" in (held.reason or "")


def test_a_subscription_failing_for_the_disable_window_is_disabled_and_its_deliveries_dropped():
    w = world(
        circuit_failure_threshold=2,
        circuit_probe_seconds=60,
        circuit_probe_max_seconds=600,
        disable_after_failing=3600,
    )
    w.subscriber.status = 500
    w.deliver(1)
    w.deliver(2)
    probes = 0
    while w.config.subscriptions["sub_1"].enabled:
        w.clock.now = (w.control.circuit("sub_1").probe_at or 0) + 1
        w.deliver(100 + probes)  # each probe is some queued delivery's attempt
        probes += 1
        assert probes < 20
    # Probes at doubling intervals (60, 120, 240, 480, 600, ...) until an hour had passed.
    assert w.clock.now - NOW >= 3600
    assert probes <= 10
    reason = w.config.subscriptions["sub_1"].status_reason or ""
    assert reason.startswith("no successful delivery since")
    assert "1 hour" not in reason
    disabled = [e for e in w.events.published if e.detail_type is DetailType.SUBSCRIPTION_DISABLED]
    assert len(disabled) == 1
    assert disabled[0].detail["commands"]["enable"] == "hookhaven subscriptions enable sub_1"
    # Its held deliveries are dropped with a record saying why.
    handled = w.deliver(4)
    assert handled.outcome is AttemptOutcome.DROPPED
    assert "no successful delivery since" in (w.records(4)[-1].reason or "")


def test_a_410_and_an_exhausted_delivery_are_published_once_each():
    w = world(retry_schedule=(0,))
    w.subscriber.status = 410
    w.deliver(1)
    w.deliver(2)  # disabled already: dropped, nothing published again
    w.config.subscriptions["sub_1"] = subscription()
    w.subscriber.status = 400
    w.deliver(3)
    types = [e.detail_type for e in w.events.published]
    assert types == [DetailType.SUBSCRIPTION_DISABLED, DetailType.DELIVERY_EXHAUSTED]
    exhausted = w.events.published[1].detail
    assert exhausted["event_id"] == f"evt_{3:026d}"
    assert exhausted["attempts"] == 1
    assert exhausted["last_failure"] == "status_4xx"


def test_successes_write_nothing_to_the_circuit():
    class Counting(MemoryControlStore):
        successes = 0

        def record_success(self, subscription_id: str):
            Counting.successes += 1
            return super().record_success(subscription_id)

    w = world(Counting())
    for n in range(1, 6):
        w.deliver(n)
    assert Counting.successes == 0  # one read per delivery, and no write while healthy


def test_an_unreadable_circuit_counts_as_closed_an_unobtainable_slot_defers():
    class Down(MemoryControlStore):
        def circuit(self, subscription_id: str):
            raise StorageUnavailable("throttled")

        def reserve_slot(self, subscription_id: str, now: float, interval: float) -> float:
            raise StorageUnavailable("throttled")

    w = world(Down())
    assert w.deliver(1).outcome is AttemptOutcome.DELIVERED
    w.config.subscriptions["sub_1"] = subscription(rate=RateLimit.parse("5/s"))
    handled = w.deliver(2)
    assert handled.outcome is NotAttempted.DEFERRED
    assert handled.keeps_message
    assert len(w.subscriber.at) == 1
    assert w.queue.visibility == [("r-2", 1)]


def test_a_delivery_whose_control_calls_took_the_time_left_comes_back_unattempted():
    ticks = iter([0.0, 50.0])  # the start check passes; after the slot, the time is up
    w = world(subscription={"rate": RateLimit.parse("5/s")})
    w.dispatcher._monotonic = lambda: next(ticks)
    handled = w.dispatcher.process(
        QueuedDelivery("m-1", message(), 1, "r-1", received_at=NOW), start_by=10.0
    )
    assert handled.outcome is NotAttempted.DEFERRED
    assert w.subscriber.at == []


def test_the_circuit_is_not_told_when_the_invocation_is_ending():
    w = world(circuit_failure_threshold=1)
    w.subscriber.status = 503
    clock = iter([0.0, 0.0, 60.0])  # start check, after admission, after the request
    w.dispatcher._monotonic = lambda: next(clock)
    handled = w.dispatcher.process(
        QueuedDelivery("m-1", message(), 1, "r-1", received_at=NOW), start_by=10.0
    )
    # The attempt is recorded and its retry set; counting the failure would not fit.
    assert handled.outcome is AttemptOutcome.RETRYING
    assert w.records(1, AttemptOutcome.RETRYING)
    assert w.control.circuit("sub_1").failures == 0


def test_a_delivery_whose_thread_ran_late_past_its_slot_takes_the_next_free_one():
    w = world(subscription={"rate": RateLimit.parse("5/s")})
    overshoot = {"by": 0.0}

    def slow_sleep(seconds: float) -> None:
        w.clock.slept.append(seconds)
        w.clock.waited = seconds + overshoot["by"]

    w.dispatcher._sleep = slow_sleep
    assert w.deliver(1).outcome is AttemptOutcome.DELIVERED  # slot NOW, no wait
    overshoot["by"] = 0.5  # the next one's thread wakes half a second after its slot
    assert w.deliver(2).outcome is AttemptOutcome.DELIVERED
    # Not sent at NOW + 0.7 in a slot of NOW + 0.2 (it would crowd the slots after it):
    # it took the next free slot, NOW + 0.7, and the one after is NOW + 0.9.
    assert w.subscriber.at == pytest.approx([NOW, NOW + 0.7])
    assert w.control.tat["sub_1"] == pytest.approx(NOW + 0.9)


def test_a_closed_circuit_is_read_every_few_seconds_an_open_one_every_time():
    class Counting(MemoryControlStore):
        reads = 0

        def circuit(self, subscription_id: str):
            Counting.reads += 1
            return super().circuit(subscription_id)

    store = Counting()
    w = world(store)
    ticks = {"now": 0.0}
    w.dispatcher._control._monotonic = lambda: ticks["now"]
    for n in range(1, 6):
        w.deliver(n)
    assert Counting.reads == 1
    # Another dispatcher opens the circuit: seen once this one's few seconds are up.
    store.circuits["sub_1"] = Circuit(failures=20, opened_at=NOW, probe_at=NOW + 60)
    assert w.deliver(6).outcome is AttemptOutcome.DELIVERED  # within the few seconds
    ticks["now"] = CLOSED_CIRCUIT_CACHE_SECONDS + 0.5
    assert w.deliver(7).outcome is AttemptOutcome.HELD
    assert w.deliver(8).outcome is AttemptOutcome.HELD
    assert Counting.reads == 3  # open: read on every delivery
