"""Gather what ``hookhaven.audit.audit`` needs for a window: events, attempts, the queue."""

from __future__ import annotations

from hookhaven.audit import AuditReport, audit
from hookhaven.operations import Stages, stage
from hookhaven.ports import EventReader, QueueInspector


def audit_window(
    events: EventReader,
    deliveries: QueueInspector,
    *,
    since: float,
    until: float,
    source: str | None = None,
    stages: Stages | None = None,
) -> AuditReport:
    """Every delivery of every event received from ``since`` to ``until``, accounted for."""
    received = events.events_since(since, source=source, progress=stage(stages, "reading events"))
    attempts = events.attempts_since(since, stage(stages, "reading attempts"))
    return audit(
        received,
        attempts,
        queued_messages=deliveries.depth().total,
        since=since,
        until=until,
        recheck=lambda event_id: events.attempts(event_id, consistent=True),
    )
