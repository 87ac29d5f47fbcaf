"""What the domain needs from the outside world. Adapters in ``hookhaven.aws`` (and the
in-memory ones in ``hookhaven.memory``) implement these; the domain never imports boto3.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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

#: Told ``(done, total)`` as a long read goes on (the CLI draws a progress bar with it).
Progress = Callable[[int, int], None]


class StorageUnavailable(Exception):
    """An AWS call failed (throttling, outage, timeout). Callers answer 503; nothing is kept."""


class VisibilityRefused(StorageUnavailable):
    """SQS refused a visibility timeout: more than is left of the message's 12 hours."""


class RouteReader(Protocol):
    """What the receiver reads of the configuration: sources (with their secrets, to
    verify) and where subscriptions want events (without their URLs and secrets)."""

    def list_sources(self) -> list[Source]: ...

    def list_routes(self) -> list[SubscriptionRoute]: ...


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


# --- what the operator's commands need (hookhaven.operations) ---------------------------


class ConfigStore(ConfigReader, Protocol):
    """Sources and subscriptions, read and changed one at a time."""

    def get_source(self, name: str) -> Source | None: ...

    def put_source(self, source: Source) -> None: ...

    def delete_source(self, name: str) -> bool: ...

    def get_subscription(self, subscription_id: str) -> Subscription | None: ...

    def put_subscription(self, subscription: Subscription) -> None: ...

    def delete_subscription(self, subscription_id: str) -> bool: ...


class EchoSecrets(Protocol):
    """The echo subscriber's secrets: one entry per smoke run (``hookhaven.echo``)."""

    def put(self, key: str, secrets: Sequence[str], *, expires_at: float) -> None: ...

    def delete(self, key: str) -> bool: ...


class EventReader(Protocol):
    """Events and their attempts, as kept for ``events``, ``replay``, ``status`` and audit."""

    def get_event(self, event_id: str) -> EventRecord | None: ...

    def attempts(self, event_id: str, *, consistent: bool = False) -> list[AttemptRecord]: ...

    def events_since(
        self,
        since: float,
        *,
        source: str | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> list[EventSummary]: ...

    def attempts_since(
        self, since: float, progress: Progress | None = None
    ) -> list[AttemptRecord]: ...


@dataclass(frozen=True)
class QueueDepth:
    """A queue's approximate message counts."""

    visible: int
    in_flight: int  # received and not yet deleted, or waiting out a retry's backoff
    delayed: int = 0

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


class QueueInspector(Protocol):
    def depth(self) -> QueueDepth: ...


class QueueAge(Protocol):
    def oldest_message_age(self) -> int | None:
        """Seconds the oldest message has waited; None when nobody knows."""
        ...


@dataclass(frozen=True)
class DeadLetter:
    """One message in the dead-letter queue, as received (and released again)."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_at: float | None
    reason: str | None

    @property
    def delivery(self) -> dict[str, Any] | None:
        try:
            parsed = json.loads(self.body)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    @property
    def subscription_id(self) -> str | None:
        return self._field("subscription_id")

    @property
    def event_id(self) -> str | None:
        return self._field("event_id")

    def _field(self, name: str) -> str | None:
        delivery = self.delivery
        value = delivery.get(name) if delivery else None
        return value if isinstance(value, str) else None


@dataclass
class RedriveReport:
    matched: int = 0
    moved: int = 0


class DeadLetterQueue(Protocol):
    def browse(
        self, *, limit: int | None = None, matches: Callable[[DeadLetter], bool] = ...
    ) -> list[DeadLetter]:
        """Up to ``limit`` matching messages, left in the queue."""
        ...

    def redrive(
        self,
        *,
        matches: Callable[[DeadLetter], bool] = ...,
        maximum: int | None = None,
        dry_run: bool = False,
        on_progress: Callable[[int], None] = ...,
    ) -> RedriveReport:
        """Move matching messages back to the deliveries queue; ``on_progress(moved)``."""
        ...
