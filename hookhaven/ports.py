"""What the domain needs from the outside world. Adapters in ``hookhaven.aws`` (and the
in-memory ones in ``hookhaven.memory``) implement these; the domain never imports boto3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from hookhaven.models import BodyPointer, DeliveryMessage, EventRecord, Source, Subscription

#: Told ``(done, total)`` as a long read goes on (the CLI draws a progress bar with it).
Progress = Callable[[int, int], None]


class StorageUnavailable(Exception):
    """An AWS call failed (throttling, outage, timeout). Callers answer 503; nothing is kept."""


class ConfigReader(Protocol):
    def list_sources(self) -> list[Source]: ...

    def list_subscriptions(self) -> list[Subscription]: ...


@dataclass(frozen=True)
class DedupeKey:
    source: str
    provider_event_id: str


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a provider event id for processing.

    ``new``: first time seen; ``resumed``: an earlier attempt failed part-way, its event id
    and the subscriptions it already enqueued are reused; ``duplicate``: accepted before;
    ``in_progress``: another request is processing it right now.
    """

    state: Literal["new", "resumed", "duplicate", "in_progress"]
    event_id: str
    enqueued: frozenset[str] = field(default_factory=frozenset)


class EventStore(Protocol):
    def claim(
        self, key: DedupeKey, event_id: str, *, now: float, window: int, lease: int
    ) -> Claim: ...

    def release(self, key: DedupeKey, event_id: str, enqueued: frozenset[str]) -> None:
        """Mark a claim failed, remembering what was enqueued, so a retry resumes it."""
        ...

    def accept(self, event: EventRecord, key: DedupeKey | None, *, expires_at: int) -> None:
        """Record the event and complete its claim, together or not at all."""
        ...


class BodyStore(Protocol):
    def put(self, key: str, body: bytes, content_type: str) -> BodyPointer: ...


class DeliveryQueue(Protocol):
    def send(self, messages: Sequence[DeliveryMessage]) -> set[str]:
        """Enqueue every message; return the subscription ids whose message could not be sent."""
        ...
