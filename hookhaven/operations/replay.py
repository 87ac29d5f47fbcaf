"""Deliver events again, under their original ``webhook-id``: named events, or every event
of a window that did not reach a subscription (after it was down, or disabled)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hookhaven.audit import DeliveryState, delivery_state
from hookhaven.models import AttemptRecord, EventRecord, delivery_messages
from hookhaven.operations import OperationError, Stages, stage
from hookhaven.ports import DeliveryQueue, EventReader


@dataclass(frozen=True)
class Replayed:
    event_id: str
    subscriptions: list[str]


def replay_events(
    events: EventReader,
    queue: DeliveryQueue,
    event_ids: Sequence[str],
    *,
    subscription: str | None = None,
    stages: Stages | None = None,
) -> list[Replayed]:
    """Each event again to all its subscriptions, or to ``subscription`` only. Every id is
    checked before anything is sent."""
    plan: list[tuple[EventRecord, list[str]]] = []
    for event_id in event_ids:
        event = events.get_event(event_id)
        if event is None:
            raise OperationError(f"no event with id {event_id}")
        targets = list(event.subscriptions)
        if subscription is not None:
            if subscription not in targets:
                raise OperationError(f"event {event_id} was not for subscription {subscription}")
            targets = [subscription]
        if not targets:
            raise OperationError(f"event {event_id} matched no subscription; nothing to replay")
        plan.append((event, targets))
    return _enqueue(queue, plan, stages)


def replay_missed(
    events: EventReader,
    queue: DeliveryQueue,
    *,
    since: float,
    subscription: str,
    include_delivered: bool = False,
    stages: Stages | None = None,
) -> list[Replayed]:
    """Every event received since ``since`` that was meant for ``subscription`` and did not
    reach it (or, with ``include_delivered``, every one meant for it), oldest first.

    Attempts come from the time index, which can lag a write by a moment: a delivery that
    succeeded just now may go out once more, under the same webhook-id its subscriber
    dedupes on.
    """
    received = events.events_since(since, progress=stage(stages, "reading events"))
    meant = [e for e in reversed(received) if subscription in e.subscriptions]
    if not include_delivered and meant:
        history: dict[str, list[AttemptRecord]] = {}
        for attempt in events.attempts_since(since, stage(stages, "reading attempts")):
            if attempt.subscription_id == subscription:
                history.setdefault(attempt.event_id, []).append(attempt)
        meant = [
            event
            for event in meant
            if delivery_state(event, subscription, history.get(event.id, [])).state
            is not DeliveryState.DELIVERED
        ]
    # The time index carries no bodies: each event to replay is read whole.
    whole = (events.get_event(event.id) for event in meant)
    plan = [(event, [subscription]) for event in whole if event is not None]
    return _enqueue(queue, plan, stages)


def _enqueue(
    queue: DeliveryQueue, plan: list[tuple[EventRecord, list[str]]], stages: Stages | None
) -> list[Replayed]:
    progress = stage(stages, "replaying") if len(plan) > 1 else None
    done: list[Replayed] = []
    for event, targets in plan:
        failed = queue.send(delivery_messages(event, targets))
        if failed:
            which = f"could not enqueue for {', '.join(sorted(failed))}"
            if len(plan) > 1:
                which = which.replace(" for ", f" {event.id} for ", 1)
                which += f" ({len(done)} event(s) before it were replayed)"
            raise OperationError(f"{which}; run replay again")
        done.append(Replayed(event.id, targets))
        if progress is not None:
            progress(len(done), len(plan))
    return done
