"""In-memory adapters for the ports: unit tests and benchmarks use them instead of AWS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from hookhaven.control import Circuit
from hookhaven.models import (
    AttemptRecord,
    BodyPointer,
    DeliveryMessage,
    EventRecord,
    EventSummary,
    Source,
    Subscription,
    SubscriptionRoute,
)
from hookhaven.ports import Claim, DedupeKey, Progress


@dataclass
class MemoryConfig:
    sources: dict[str, Source] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    reads: int = 0

    def list_sources(self) -> list[Source]:
        self.reads += 1
        return list(self.sources.values())

    def list_subscriptions(self) -> list[Subscription]:
        return list(self.subscriptions.values())

    def list_routes(self) -> list[SubscriptionRoute]:
        """What the receiver's grant lets it read: no URLs, no secrets."""
        return [
            SubscriptionRoute.model_validate(
                s.model_dump(include=set(SubscriptionRoute.model_fields))
            )
            for s in self.subscriptions.values()
        ]

    def get_subscription(self, subscription_id: str) -> Subscription | None:
        return self.subscriptions.get(subscription_id)

    def disable_subscription(self, subscription_id: str, reason: str, now: float) -> bool:
        found = self.subscriptions.get(subscription_id)
        if found is None or not found.enabled:
            return False
        self.subscriptions[subscription_id] = found.model_copy(
            update={"enabled": False, "status_reason": reason, "updated_at": now}
        )
        return True

    def get_source(self, name: str) -> Source | None:
        return self.sources.get(name)

    def put_source(self, source: Source) -> None:
        self.sources[source.name] = source

    def put_subscription(self, subscription: Subscription) -> None:
        self.subscriptions[subscription.id] = subscription

    def delete_source(self, name: str) -> bool:
        return self.sources.pop(name, None) is not None

    def delete_subscription(self, subscription_id: str) -> bool:
        return self.subscriptions.pop(subscription_id, None) is not None


@dataclass
class MemoryEchoSecrets:
    """The echo subscriber's secrets per smoke run: ``(secrets, expires_at)`` by key."""

    runs: dict[str, tuple[tuple[str, ...], float]] = field(default_factory=dict)

    def put(self, key: str, secrets: Sequence[str], *, expires_at: float) -> None:
        self.runs[key] = (tuple(secrets), expires_at)

    def get(self, key: str, now: float) -> list[str]:
        secrets, expires_at = self.runs.get(key, ((), 0.0))
        return list(secrets) if expires_at > now else []

    def delete(self, key: str) -> bool:
        return self.runs.pop(key, None) is not None


@dataclass
class _DedupeRecord:
    event_id: str
    status: str
    lease_until: float
    expires_at: float
    enqueued: frozenset[str] = frozenset()


@dataclass
class MemoryEventStore:
    events: dict[str, EventRecord] = field(default_factory=dict)
    dedupe: dict[DedupeKey, _DedupeRecord] = field(default_factory=dict)
    attempt_records: list[AttemptRecord] = field(default_factory=list)

    def claim(self, key: DedupeKey, event_id: str, *, now: float, window: int, lease: int) -> Claim:
        old = self.dedupe.get(key)
        if old is None or old.expires_at < now:
            self.dedupe[key] = _DedupeRecord(event_id, "in_progress", now + lease, now + window)
            return Claim("new", event_id)
        if old.status == "complete":
            return Claim("duplicate", old.event_id)
        if old.status == "in_progress" and old.lease_until > now:
            return Claim("in_progress", old.event_id)
        old.status, old.lease_until = "in_progress", now + lease
        return Claim("resumed", old.event_id, old.enqueued)

    def release(self, key: DedupeKey, event_id: str, enqueued: frozenset[str]) -> None:
        record = self.dedupe[key]
        if record.event_id == event_id:
            record.status, record.lease_until, record.enqueued = "failed", 0, enqueued

    def accept(self, event: EventRecord, key: DedupeKey | None, *, expires_at: int) -> None:
        self.events[event.id] = event
        if key is not None:
            self.dedupe[key].status = "complete"

    def record_attempt(self, attempt: AttemptRecord, *, expires_at: int = 0) -> None:
        self.attempt_records.append(attempt)

    def message_history(
        self, event_id: str, subscription_id: str, message_id: str
    ) -> list[AttemptRecord]:
        wanted = (event_id, subscription_id, message_id)
        return [
            a
            for a in self.attempt_records
            if (a.event_id, a.subscription_id, a.message_id) == wanted
        ]

    def get_event(self, event_id: str) -> EventRecord | None:
        return self.events.get(event_id)

    def attempts(self, event_id: str, *, consistent: bool = False) -> list[AttemptRecord]:
        return [a for a in self.attempt_records if a.event_id == event_id]

    def events_since(
        self,
        since: float,
        *,
        source: str | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> list[EventSummary]:
        found = sorted(
            (
                e
                for e in self.events.values()
                if e.received_at >= since and source in (None, e.source)
            ),
            key=lambda e: e.received_at,
            reverse=True,
        )
        if progress is not None:
            progress(1, 1)  # one "day": everything is in memory
        # As the time indexes hand them out: summaries, never bodies.
        fields = set(EventSummary.model_fields)
        return [
            EventSummary.model_validate(e.model_dump(include=fields))
            for e in (found[:limit] if limit else found)
        ]

    def attempts_since(self, since: float, progress: Progress | None = None) -> list[AttemptRecord]:
        if progress is not None:
            progress(1, 1)
        return [a for a in self.attempt_records if a.at >= since]


@dataclass
class MemoryBodyStore:
    bucket: str = "memory"
    objects: dict[str, bytes] = field(default_factory=dict)

    def put(self, key: str, body: bytes, content_type: str) -> BodyPointer:
        self.objects[key] = body
        return BodyPointer(bucket=self.bucket, key=key)


@dataclass
class MemoryQueue:
    messages: list[DeliveryMessage] = field(default_factory=list)

    def send(self, messages: Sequence[DeliveryMessage]) -> set[str]:
        self.messages.extend(messages)
        return set()


@dataclass
class MemoryControlStore:
    """Delivery control's shared state (``hookhaven.aws.control``), in one process."""

    circuits: dict[str, Circuit] = field(default_factory=dict)
    tat: dict[str, float] = field(default_factory=dict)
    leases: dict[str, dict[str, float]] = field(default_factory=dict)

    def circuit(self, subscription_id: str) -> Circuit:
        return self.circuits.get(subscription_id, Circuit())

    def reserve_slot(self, subscription_id: str, now: float, interval: float) -> float:
        slot = max(self.tat.get(subscription_id, now), now)
        self.tat[subscription_id] = slot + interval
        return slot

    def acquire_lease(
        self, subscription_id: str, lease_id: str, *, now: float, expires_at: float, maximum: int
    ) -> bool:
        live = {k: v for k, v in self.leases.get(subscription_id, {}).items() if v > now}
        if len(live) >= maximum:
            return False
        live[lease_id] = expires_at
        self.leases[subscription_id] = live
        return True

    def release_lease(self, subscription_id: str, lease_id: str) -> None:
        self.leases.get(subscription_id, {}).pop(lease_id, None)

    def take_probe(self, subscription_id: str, *, now: float, lease_until: float) -> bool:
        circuit = self.circuit(subscription_id)
        due = circuit.probe_at is not None and circuit.probe_at <= now
        if not circuit.is_open or not due or circuit.probing(now):
            return False
        self.circuits[subscription_id] = replace(circuit, probe_lease_until=lease_until)
        return True

    def record_failure(self, subscription_id: str, *, now: float, failure: str) -> Circuit:
        circuit = self.circuit(subscription_id)
        circuit = replace(
            circuit,
            failures=circuit.failures + 1,
            failing_since=circuit.failing_since or now,
            last_failure=failure,
        )
        self.circuits[subscription_id] = circuit
        return circuit

    def open_circuit(
        self, subscription_id: str, *, now: float, probe_at: float, interval: int
    ) -> bool:
        circuit = self.circuit(subscription_id)
        if circuit.is_open:
            return False
        self.circuits[subscription_id] = replace(
            circuit, opened_at=now, probe_at=probe_at, probe_interval=interval
        )
        return True

    def next_probe(
        self, subscription_id: str, *, probe_at: float, interval: int, lease_until: float
    ) -> None:
        circuit = self.circuit(subscription_id)
        if circuit.probe_lease_until == lease_until:
            self.circuits[subscription_id] = replace(
                circuit, probe_at=probe_at, probe_interval=interval, probe_lease_until=None
            )

    def record_success(self, subscription_id: str) -> Circuit | None:
        return self.circuits.pop(subscription_id, None)

    def reset(self, subscription_id: str) -> None:
        self.circuits.pop(subscription_id, None)
        self.tat.pop(subscription_id, None)
        self.leases.pop(subscription_id, None)
