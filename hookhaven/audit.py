"""Account for every accepted event, per subscription it was queued for.

Each (event, subscription) pair is one delivery, and ends up in exactly one state:

- ``delivered``: an attempt was answered 2xx (later attempts, e.g. a replay, change nothing);
- ``dead_lettered``: the last attempt used up the retry schedule, so SQS moved (or is about
  to move) the message to the DLQ, where an operator can redrive it;
- ``dropped``: the subscription was deleted or disabled (by an operator, or by a 410)
  before it could be delivered; the attempt record says why;
- ``pending``: still on the deliveries queue, waiting for its first attempt, for a retry,
  or held back by delivery control (with the time it is due);
- ``unaccounted``: none of the above. The promise is that this is always zero.

A delivery with no attempt yet, or whose retry is due, can only be pending if the
deliveries queue still holds a message for it. SQS cannot be searched without receiving
(which would spend an attempt), so the queue's message count bounds how many pending
deliveries can really be queued: any beyond that, oldest first, are unaccounted. Once
the queue is empty, every delivery is delivered, dead-lettered, dropped or unaccounted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from hookhaven.models import AttemptOutcome, AttemptRecord, EventSummary


class DeliveryState(StrEnum):
    DELIVERED = "delivered"
    PENDING = "pending"
    DEAD_LETTERED = "dead_lettered"
    DROPPED = "dropped"
    UNACCOUNTED = "unaccounted"


@dataclass(frozen=True)
class Delivery:
    event_id: str
    subscription_id: str
    source: str
    received_at: float
    state: DeliveryState
    attempts: int = 0
    next_attempt_at: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AuditReport:
    since: float
    until: float
    events: int
    queued_messages: int
    deliveries: list[Delivery] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        counts = Counter(d.state for d in self.deliveries)
        return {state.value: counts.get(state, 0) for state in DeliveryState}

    def by_subscription(self) -> dict[str, dict[str, int]]:
        rows: dict[str, Counter[DeliveryState]] = {}
        for delivery in self.deliveries:
            rows.setdefault(delivery.subscription_id, Counter())[delivery.state] += 1
        return {
            subscription: {state.value: counts.get(state, 0) for state in DeliveryState}
            for subscription, counts in sorted(rows.items())
        }

    def in_state(self, state: DeliveryState) -> list[Delivery]:
        return [d for d in self.deliveries if d.state is state]

    @property
    def unaccounted(self) -> int:
        return len(self.in_state(DeliveryState.UNACCOUNTED))


def audit(
    events: Sequence[EventSummary],
    attempts: Iterable[AttemptRecord],
    *,
    queued_messages: int,
    since: float,
    until: float,
    recheck: Callable[[str], list[AttemptRecord]] | None = None,
) -> AuditReport:
    """The state of every delivery of ``events``.

    ``attempts`` may come from an eventually consistent index; ``recheck(event_id)``, a
    consistent read of one event's attempts, is consulted before a delivery is called
    pending or unaccounted.
    """
    by_delivery: dict[tuple[str, str], list[AttemptRecord]] = {}
    for attempt in attempts:
        by_delivery.setdefault((attempt.event_id, attempt.subscription_id), []).append(attempt)

    deliveries: list[Delivery] = []
    rechecked: dict[str, list[AttemptRecord]] = {}
    for event in events:
        for subscription_id in event.subscriptions:
            history = by_delivery.get((event.id, subscription_id), [])
            delivery = delivery_state(event, subscription_id, history)
            if delivery.state is DeliveryState.PENDING and recheck is not None:
                if event.id not in rechecked:
                    rechecked[event.id] = recheck(event.id)
                fresh = [a for a in rechecked[event.id] if a.subscription_id == subscription_id]
                delivery = delivery_state(event, subscription_id, fresh)
            deliveries.append(delivery)

    # SQS holds at most ``queued_messages`` of the pending ones; the rest are lost.
    pending = [d for d in deliveries if d.state is DeliveryState.PENDING]
    excess = len(pending) - queued_messages
    if excess > 0:
        # The longest overdue first: a message that should have been attempted long ago is
        # the likeliest to be the one that is missing.
        overdue = sorted(pending, key=lambda d: d.next_attempt_at or d.received_at)[:excess]
        lost = {(d.event_id, d.subscription_id) for d in overdue}
        deliveries = [
            replace(d, state=DeliveryState.UNACCOUNTED, reason="not on the deliveries queue")
            if (d.event_id, d.subscription_id) in lost
            else d
            for d in deliveries
        ]
    return AuditReport(
        since=since,
        until=until,
        events=len(events),
        queued_messages=queued_messages,
        deliveries=deliveries,
    )


def delivery_state(
    event: EventSummary, subscription_id: str, history: Sequence[AttemptRecord]
) -> Delivery:
    """What became of ``event`` for one subscription, judged by that delivery's attempts
    alone: the one place a delivery's state is worked out (``audit`` and ``events show``).

    It is never ``unaccounted``: only the audit, which also knows what the queue holds,
    can tell that a pending delivery is lost.
    """
    delivery = Delivery(
        event_id=event.id,
        subscription_id=subscription_id,
        source=event.source,
        received_at=event.received_at,
        state=DeliveryState.PENDING,
        attempts=len({a.attempt for a in history if a.outcome is not AttemptOutcome.HELD}),
    )
    if any(a.outcome is AttemptOutcome.DELIVERED for a in history):
        return replace(delivery, state=DeliveryState.DELIVERED)
    if not history:
        return delivery  # queued, not attempted yet
    last = max(history, key=lambda a: (a.at, a.attempt))
    if last.outcome in (AttemptOutcome.RETRYING, AttemptOutcome.HELD):
        # Held back by delivery control: still queued, due when its hold ends.
        return replace(delivery, next_attempt_at=last.next_attempt_at)
    if last.outcome is AttemptOutcome.EXHAUSTED:
        failure = last.error or f"HTTP {last.status_code}"
        return replace(
            delivery, state=DeliveryState.DEAD_LETTERED, reason=f"retries exhausted: {failure}"
        )
    if last.outcome is AttemptOutcome.GONE:
        reason = last.reason or "the subscriber answered 410 Gone; subscription disabled"
    else:
        reason = last.reason or "the subscription was deleted or disabled"
    return replace(delivery, state=DeliveryState.DROPPED, reason=reason)
