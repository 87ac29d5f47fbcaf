"""How hookhaven is doing right now: the backlog, the DLQ, and the last hour's deliveries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hookhaven.control import ControlStore
from hookhaven.models import AttemptOutcome
from hookhaven.operations.config import delivery_state
from hookhaven.ports import ConfigReader, EventReader, QueueAge, QueueDepth, QueueInspector

#: How far back ``status`` counts delivery attempts.
RECENT_SECONDS = 3600
#: How many of the most failing subscriptions it names.
FAILING_SHOWN = 5


@dataclass(frozen=True)
class Status:
    deliveries: QueueDepth
    oldest_message_age: int | None  # seconds; None without CloudWatch data
    dead_letters: QueueDepth
    #: Attempts in the last hour that reached (or tried to reach) a subscriber.
    attempts: int
    delivered: int
    #: (subscription id, failed attempts), the most failing first.
    failing: list[tuple[str, int]] = field(default_factory=list)
    #: Subscriptions whose deliveries do not flow: (id, state, summary), e.g. an open
    #: circuit or a subscription disabled for failing too long.
    not_flowing: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        return round(self.delivered / self.attempts, 4) if self.attempts else None


def status(
    *,
    deliveries: QueueInspector,
    dead_letters: QueueInspector,
    oldest: QueueAge,
    events: EventReader,
    now: float,
    subscriptions: ConfigReader | None = None,
    control: ControlStore | None = None,
) -> Status:
    queue = deliveries.depth()
    dead = dead_letters.depth()
    recent = events.attempts_since(now - RECENT_SECONDS)
    delivered = sum(1 for a in recent if a.outcome is AttemptOutcome.DELIVERED)
    failing = Counter(a.subscription_id for a in recent if a.outcome.failed)
    not_flowing = []
    if subscriptions is not None and control is not None:
        for subscription in subscriptions.list_subscriptions():
            state = delivery_state(subscription, control, now)
            if state["state"] != "closed":
                not_flowing.append((subscription.id, state["state"], state["summary"]))
    return Status(
        not_flowing=not_flowing,
        deliveries=queue,
        oldest_message_age=oldest.oldest_message_age(),
        dead_letters=dead,
        attempts=delivered + failing.total(),
        delivered=delivered,
        failing=failing.most_common(FAILING_SHOWN),
    )
