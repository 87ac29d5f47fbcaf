"""What was received and what became of it: events in a window, and one event's story."""

from __future__ import annotations

from dataclasses import dataclass

from hookhaven.audit import Delivery, delivery_state
from hookhaven.models import AttemptRecord, EventRecord, EventSummary
from hookhaven.operations import OperationError, Stages, stage
from hookhaven.ports import EventReader


def list_events(
    events: EventReader,
    *,
    since: float,
    source: str | None = None,
    limit: int | None = None,
    stages: Stages | None = None,
) -> list[EventSummary]:
    """Events received since ``since``, newest first; reading stops once ``limit`` are in."""
    return events.events_since(
        since, source=source, limit=limit, progress=stage(stages, "reading events")
    )


def get_event(events: EventReader, event_id: str) -> EventRecord:
    event = events.get_event(event_id)
    if event is None:
        raise OperationError(
            f"no event with id {event_id} (events are kept for the retention period)"
        )
    return event


@dataclass(frozen=True)
class DeliveryStory:
    """One subscription's delivery of an event: its state, and every attempt, oldest first."""

    subscription_id: str
    delivery: Delivery
    attempts: list[AttemptRecord]

    @property
    def last_attempt(self) -> AttemptRecord | None:
        return max(self.attempts, key=lambda a: (a.at, a.attempt), default=None)


@dataclass(frozen=True)
class EventStory:
    event: EventRecord
    deliveries: list[DeliveryStory]


def event_story(events: EventReader, event_id: str) -> EventStory:
    """The event, and per subscription it was queued for, its attempts and its state."""
    event = get_event(events, event_id)
    attempts = sorted(events.attempts(event_id), key=lambda a: (a.subscription_id, a.at))
    per_subscription: dict[str, list[AttemptRecord]] = {s: [] for s in event.subscriptions}
    for attempt in attempts:
        per_subscription.setdefault(attempt.subscription_id, []).append(attempt)
    return EventStory(
        event,
        [
            DeliveryStory(subscription, delivery_state(event, subscription, history), history)
            for subscription, history in per_subscription.items()
        ],
    )
