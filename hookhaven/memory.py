"""In-memory adapters for the ports: unit tests and benchmarks use them instead of AWS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hookhaven.models import BodyPointer, DeliveryMessage, EventRecord, Source, Subscription
from hookhaven.ports import Claim, DedupeKey


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

    def get_subscription(self, subscription_id: str) -> Subscription | None:
        return self.subscriptions.get(subscription_id)


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
