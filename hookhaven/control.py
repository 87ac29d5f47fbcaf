"""Delivery control: a rate limit and a concurrency limit per subscription, and a circuit
breaker that stops hammering a subscriber that is down.

A delivery that is held back is not an attempt: no request is made, none of its attempts
is spent, and it waits in the queue (its message hidden until it may go), never in a
running function. Its attempt record says ``held``, why, and until when.

State is shared by every dispatcher through three small items per subscription in the
events table (``CONTROL#<subscription id>``), changed only by conditional or atomic
updates (``ControlStore``):

- ``RATE``: the next free slot (GCRA, the "theoretical arrival time"). Each delivery
  reserves the next slot with one atomic update; one whose slot is more than a second
  away is hidden until then and remembers its slot in its ``held`` record, so that it
  reserves no second one when it comes back. A delivery is never sent before its slot
  nor more than one interval after it (a late one reserves again), so a subscription
  limited to N a second gets at most N + 1 requests in any one-second window, and at
  most N in the long run.
- ``INFLIGHT``: leases of the requests in flight (id -> expiry); a delivery that finds
  ``max_in_flight`` live leases waits in the queue, longer each time it finds them so.
  A lease left by a crashed invocation expires after the request timeout.
- ``CIRCUIT``: consecutive failures, since when, and while open when the next probe may
  go. ``circuit_failure_threshold`` consecutive failed attempts open the circuit: then
  its deliveries are held until the next probe time, and one delivery at a time (a
  lease) is sent as the probe, at intervals doubling from ``circuit_probe_seconds`` to
  ``circuit_probe_max_seconds``. The first success closes it; the held deliveries come
  back within one probe interval. A subscription with no success for
  ``disable_after_failing`` is disabled with the reason; its queued deliveries are then
  dropped with a record, and ``replay --subscription`` delivers them after ``enable``.

Each transition (opened, closed, disabled) is made by one conditional write, so exactly
one dispatcher publishes its operational event.
"""

from __future__ import annotations

import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from hookhaven.models import AttemptOutcome, AttemptRecord, Subscription
from hookhaven.operational import (
    OperationalEvents,
    circuit_closed,
    circuit_opened,
    iso,
    subscription_disabled,
)
from hookhaven.ports import StorageUnavailable

logger = logging.getLogger(__name__)

#: A delivery whose slot is at most this far away waits for it inside the invocation (in
#: its worker thread); further, it waits in the queue. SQS hides messages in whole seconds.
IN_INVOCATION_WAIT_SECONDS = 1.0
#: A lease outlives its request by this much (the attempt record and visibility calls).
LEASE_MARGIN_SECONDS = 10
#: Held for max_in_flight: hidden one second more on each such receive, up to this.
MAX_IN_FLIGHT_HOLD_SECONDS = 30
#: A closed circuit read (or written) here is taken as still closed for this long: a
#: circuit another dispatcher opens meanwhile holds this one's deliveries up to that much
#: later (one that fails a delivery itself learns at once: its failure count comes back
#: with the circuit).
CLOSED_CIRCUIT_CACHE_SECONDS = 5.0
#: Held while a probe is in flight: back this soon (plus up to as much again), to see
#: whether it closed the circuit.
PROBE_SETTLE_SECONDS = 3


class Hold(StrEnum):
    """Why a delivery was held back (its ``held`` record says so)."""

    RATE_LIMIT = "rate_limit"
    CIRCUIT_OPEN = "circuit_open"
    MAX_IN_FLIGHT = "max_in_flight"


@dataclass(frozen=True)
class Circuit:
    """A subscription's circuit, as stored (all None/0: closed, never failed)."""

    failures: int = 0
    failing_since: float | None = None
    last_failure: str | None = None
    opened_at: float | None = None
    probe_at: float | None = None
    probe_interval: int | None = None
    probe_lease_until: float | None = None

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def probing(self, now: float) -> bool:
        return self.probe_lease_until is not None and self.probe_lease_until > now

    def state(self, now: float) -> str:
        if not self.is_open:
            return "closed"
        return "probing" if self.probing(now) else "open"

    def describe(self, now: float) -> str:
        """One line for ``subscriptions show`` and ``status``."""
        if not self.is_open:
            if self.failures:
                since = iso(self.failing_since) if self.failing_since else "?"
                return f"closed ({self.failures} failure(s) in a row since {since})"
            return "closed"
        assert self.opened_at is not None
        opened = f"open since {iso(self.opened_at)} after {self.failures} failures"
        if self.probing(now):
            return f"{opened}; probing now"
        probe = iso(self.probe_at) if self.probe_at is not None else "?"
        return f"{opened}; next probe at {probe}"


class ControlStore(Protocol):
    """The shared state of delivery control (``hookhaven.aws.control``, ``hookhaven.memory``).

    Every method raises ``StorageUnavailable`` when the store cannot be reached.
    """

    def circuit(self, subscription_id: str) -> Circuit: ...

    def reserve_slot(self, subscription_id: str, now: float, interval: float) -> float:
        """Reserve the next free slot (never earlier than ``now``); return its time."""
        ...

    def acquire_lease(
        self, subscription_id: str, lease_id: str, *, now: float, expires_at: float, maximum: int
    ) -> bool: ...

    def release_lease(self, subscription_id: str, lease_id: str) -> None: ...

    def take_probe(self, subscription_id: str, *, now: float, lease_until: float) -> bool:
        """Become the probe of an open circuit whose probe is due and not taken."""
        ...

    def record_failure(self, subscription_id: str, *, now: float, failure: str) -> Circuit:
        """Count one more failure in a row; the circuit after it."""
        ...

    def open_circuit(
        self, subscription_id: str, *, now: float, probe_at: float, interval: int
    ) -> bool:
        """Open a closed circuit; False if another dispatcher already had."""
        ...

    def next_probe(
        self, subscription_id: str, *, probe_at: float, interval: int, lease_until: float
    ) -> None:
        """After a failed probe: the next one, and the lease given back."""
        ...

    def record_success(self, subscription_id: str) -> Circuit | None:
        """Close the circuit and forget the failures; the circuit before, or None if there
        was nothing to reset."""
        ...

    def reset(self, subscription_id: str) -> None:
        """Forget everything (an operator enabled the subscription again)."""
        ...


class Disabler(Protocol):
    def disable(self, subscription_id: str, reason: str, now: float) -> bool:
        """True if this call disabled it (it was enabled)."""
        ...


@dataclass(frozen=True)
class ControlSettings:
    failure_threshold: int = 20
    probe_seconds: int = 30
    probe_max_seconds: int = 3600
    disable_after_seconds: int = 5 * 86400
    request_timeout_seconds: int = 15


@dataclass(frozen=True)
class Admitted:
    """The delivery may go: at its rate ``slot`` (if it has one), holding ``lease``."""

    #: Its rate slot (epoch seconds), if the subscription is rate limited.
    slot: float | None = None
    probe: bool = False
    lease: str | None = None
    #: The circuit as read before the request (a success resets it only if needed).
    circuit: Circuit = Circuit()

    def wait(self, now: float) -> float:
        """How long until its slot (0 without one, or once it has come)."""
        return max(0.0, self.slot - now) if self.slot is not None else 0.0


@dataclass(frozen=True)
class Held:
    """The delivery waits in the queue until ``until``; ``record``: write a ``held``
    attempt record (the first hold of its kind for this message, or a reserved slot)."""

    hold: Hold
    until: float
    reason: str
    record: bool = True


def last_hold(history: Sequence[AttemptRecord]) -> AttemptRecord | None:
    """The message's latest record, if it is a hold."""
    if not history:
        return None
    last = max(history, key=lambda r: (r.at, r.outcome is AttemptOutcome.HELD))
    return last if last.outcome is AttemptOutcome.HELD else None


class DeliveryControl:
    def __init__(
        self,
        store: ControlStore,
        disabler: Disabler,
        operational: OperationalEvents,
        settings: ControlSettings,
        *,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._disabler = disabler
        self._operational = operational
        self._settings = settings
        self._rng = rng or random.Random()  # noqa: S311 (spreading, not a secret)
        self._monotonic = monotonic
        #: Closed circuits as last read or written here, until a monotonic time.
        self._closed: dict[str, tuple[Circuit, float]] = {}

    def _circuit(self, subscription_id: str) -> Circuit:
        """The circuit; one that was closed is taken as still closed for
        ``CLOSED_CIRCUIT_CACHE_SECONDS`` (a read per subscription every few seconds, not one
        per delivery). An open one is always read: whether a delivery is held depends on it."""
        cached = self._closed.get(subscription_id)
        if cached is not None and cached[1] > self._monotonic():
            return cached[0]
        circuit = self._store.circuit(subscription_id)
        self._remember(subscription_id, circuit)
        return circuit

    def _remember(self, subscription_id: str, circuit: Circuit) -> None:
        if circuit.is_open:
            self._closed.pop(subscription_id, None)
        else:
            until = self._monotonic() + CLOSED_CIRCUIT_CACHE_SECONDS
            self._closed[subscription_id] = (circuit, until)

    def admit(
        self,
        subscription: Subscription,
        history: Sequence[AttemptRecord],
        now: float,
        receive_count: int,
    ) -> Admitted | Held:
        """Whether this delivery may go now. An unreadable circuit counts as closed; a rate
        slot or lease that cannot be had raises ``StorageUnavailable`` (the caller defers
        the delivery a moment: no request, no attempt spent)."""
        held_before = last_hold(history)
        try:
            circuit = self._circuit(subscription.id)
        except StorageUnavailable:
            # Taken as closed: at worst one more request to a subscriber that is down,
            # where holding would delay every delivery for a DynamoDB hiccup.
            logger.warning("circuit unreadable", extra={"subscription_id": subscription.id})
            circuit = Circuit()
        probe = False
        if circuit.is_open:
            gate = self._circuit_gate(subscription, circuit, now, held_before)
            if isinstance(gate, Held):
                return gate
            probe = True
        slot = None
        if subscription.rate is not None:
            slot = self._slot(subscription, held_before, now)
            if slot - now > IN_INVOCATION_WAIT_SECONDS:
                reserved = held_before is not None and held_before.next_attempt_at == slot
                return Held(
                    Hold.RATE_LIMIT,
                    slot,
                    f"rate limit {subscription.rate}: its slot is at {iso(slot)}",
                    record=not reserved,
                )
        lease = None
        if subscription.max_in_flight is not None:
            lease = uuid.uuid4().hex
            expires = (
                now
                + max(0.0, (slot or now) - now)
                + self._settings.request_timeout_seconds
                + LEASE_MARGIN_SECONDS
            )
            if not self._store.acquire_lease(
                subscription.id,
                lease,
                now=now,
                expires_at=expires,
                maximum=subscription.max_in_flight,
            ):
                hold_for = min(receive_count, MAX_IN_FLIGHT_HOLD_SECONDS)
                return Held(
                    Hold.MAX_IN_FLIGHT,
                    now + hold_for * self._rng.uniform(0.5, 1.5),
                    f"{subscription.max_in_flight} request(s) already in flight",
                    record=not _same(held_before, Hold.MAX_IN_FLIGHT),
                )
        return Admitted(slot=slot, probe=probe, lease=lease, circuit=circuit)

    def _circuit_gate(
        self,
        subscription: Subscription,
        circuit: Circuit,
        now: float,
        held_before: AttemptRecord | None,
    ) -> Held | None:
        assert circuit.opened_at is not None
        lease_until = now + self._settings.request_timeout_seconds + LEASE_MARGIN_SECONDS
        due = circuit.probe_at is None or circuit.probe_at <= now
        if (
            due
            and not circuit.probing(now)
            and self._store.take_probe(subscription.id, now=now, lease_until=lease_until)
        ):
            return None
        if circuit.probing(now) and circuit.probe_lease_until is not None:
            # A probe is in flight: most answer within a second or two, so look again
            # shortly (never later than its lease runs out), spread a little.
            until = min(circuit.probe_lease_until, now + PROBE_SETTLE_SECONDS)
            until += self._rng.uniform(0, PROBE_SETTLE_SECONDS)
        else:
            interval = circuit.probe_interval or self._settings.probe_seconds
            base = max(circuit.probe_at or now, now + PROBE_SETTLE_SECONDS)
            # Spread over a tenth of the interval: not every held delivery at once.
            until = base + self._rng.uniform(0, max(1.0, interval / 10))
        return Held(
            Hold.CIRCUIT_OPEN,
            until,
            f"circuit open since {iso(circuit.opened_at)} after {circuit.failures} failures",
            record=not _same(held_before, Hold.CIRCUIT_OPEN),
        )

    def _slot(
        self, subscription: Subscription, held_before: AttemptRecord | None, now: float
    ) -> float:
        assert subscription.rate is not None
        interval = subscription.rate.interval
        if (
            held_before is not None
            and held_before.hold == Hold.RATE_LIMIT
            and held_before.next_attempt_at is not None
            and now <= held_before.next_attempt_at + interval
        ):
            return held_before.next_attempt_at  # reserved on an earlier receive
        return self._store.reserve_slot(subscription.id, now, interval)

    def late(self, subscription: Subscription, admitted: Admitted, now: float) -> float | None:
        """Just before its request: a rate-limited delivery that is more than one interval
        past its slot (its thread was slow to run) would crowd the slots after it, so it
        takes the next free slot instead; returns that slot, or None if it is in time."""
        if admitted.slot is None or subscription.rate is None:
            return None
        interval = subscription.rate.interval
        if now <= admitted.slot + interval:
            return None
        return self._store.reserve_slot(subscription.id, now, interval)

    def release(self, subscription: Subscription, admitted: Admitted) -> None:
        if admitted.lease is None:
            return
        try:
            self._store.release_lease(subscription.id, admitted.lease)
        except StorageUnavailable:
            logger.warning(
                "could not release an in-flight lease; it expires by itself",
                extra={"subscription_id": subscription.id},
            )

    def succeeded(self, subscription: Subscription, now: float, url_host: str | None) -> bool:
        """A request succeeded: forget the failures; True if that closed the circuit."""
        try:
            before = self._store.record_success(subscription.id)
            self._remember(subscription.id, Circuit())
        except StorageUnavailable:
            logger.warning(
                "could not reset the circuit", extra={"subscription_id": subscription.id}
            )
            return False
        if before is None or not before.is_open:
            return False
        logger.info("circuit closed", extra={"subscription_id": subscription.id})
        self._operational.publish(
            circuit_closed(subscription.id, at=now, url_host=url_host, opened_at=before.opened_at)
        )
        return True

    def failed(
        self,
        subscription: Subscription,
        now: float,
        failure: str,
        url_host: str | None,
        *,
        probe: bool,
    ) -> str | None:
        """A request failed: count it; "opened" if that opened the circuit, "disabled" if
        the subscription has failed for too long."""
        settings = self._settings
        change = None
        try:
            circuit = self._store.record_failure(subscription.id, now=now, failure=failure)
            self._remember(subscription.id, circuit)
            if circuit.is_open:
                if probe:
                    interval = min(
                        2 * (circuit.probe_interval or settings.probe_seconds),
                        settings.probe_max_seconds,
                    )
                    self._store.next_probe(
                        subscription.id,
                        probe_at=now + interval,
                        interval=interval,
                        lease_until=circuit.probe_lease_until or 0,
                    )
            elif circuit.failures >= settings.failure_threshold:
                interval = settings.probe_seconds
                self._closed.pop(subscription.id, None)
                if self._store.open_circuit(
                    subscription.id, now=now, probe_at=now + interval, interval=interval
                ):
                    change = "opened"
                    logger.warning(
                        "circuit opened",
                        extra={"subscription_id": subscription.id, "failures": circuit.failures},
                    )
                    self._operational.publish(
                        circuit_opened(
                            subscription.id,
                            at=now,
                            url_host=url_host,
                            consecutive_failures=circuit.failures,
                            last_failure=failure,
                            next_probe_at=now + interval,
                        )
                    )
        except StorageUnavailable:
            logger.warning(
                "could not count the failure", extra={"subscription_id": subscription.id}
            )
            return None
        failing_since = circuit.failing_since
        if failing_since is not None and now - failing_since >= settings.disable_after_seconds:
            days = settings.disable_after_seconds / 86400
            reason = (
                f"no successful delivery since {iso(failing_since)} "
                f"({days:g} day{'s' if days != 1 else ''} or more); last failure: {failure}"
            )
            if self.disable(subscription.id, reason, now, url_host):
                change = "disabled"
        return change

    def disable(self, subscription_id: str, reason: str, now: float, url_host: str | None) -> bool:
        """Disable the subscription; True (and the operational event) if this call did."""
        try:
            changed = self._disabler.disable(subscription_id, reason, now)
        except StorageUnavailable:
            logger.warning("could not disable the subscription", extra={"reason": reason})
            return False
        if changed:
            logger.warning(
                "subscription disabled",
                extra={"subscription_id": subscription_id, "reason": reason},
            )
            self._operational.publish(
                subscription_disabled(subscription_id, reason=reason, at=now, url_host=url_host)
            )
        return changed


def _same(held_before: AttemptRecord | None, hold: Hold) -> bool:
    return held_before is not None and held_before.hold == hold


def whole_seconds_until(until: float, now: float) -> int:
    """SQS hides in whole seconds: at least one, never shorter than asked."""
    return max(1, math.ceil(until - now))
