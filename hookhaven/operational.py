"""Operational events: what an operator's own systems should react to, as EventBridge events.

The dispatcher publishes one event per occurrence, each from the one invocation that
caused it (the conditional write that opened a circuit, closed it or disabled a
subscription; the last attempt of a delivery), so each is published once. Publishing is
best effort: a failure is logged and counted, never allowed to fail or repeat a delivery.

Every event has ``source`` ``hookhaven`` (``SOURCE``), one of the ``DetailType`` values,
and a ``detail`` whose keys are documented in the README ("Operational events"): the ids
an operator needs, and under ``commands`` the CLI lines that act on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

logger = logging.getLogger(__name__)

#: The ``source`` of every operational event (an EventBridge rule matches on it).
SOURCE = "hookhaven"
#: The shape of ``detail``; bumped only if a key changes meaning or goes away.
DETAIL_VERSION = 1


class DetailType(StrEnum):
    SUBSCRIPTION_DISABLED = "Subscription Disabled"
    CIRCUIT_OPENED = "Subscription Circuit Opened"
    CIRCUIT_CLOSED = "Subscription Circuit Closed"
    DELIVERY_EXHAUSTED = "Delivery Exhausted"


@dataclass(frozen=True)
class OperationalEvent:
    detail_type: DetailType
    detail: dict[str, Any]
    at: float = field(default=0.0)


class OperationalEvents(Protocol):
    """Where operational events go (``hookhaven.aws.eventbridge``, or nowhere)."""

    def publish(self, event: OperationalEvent) -> None:
        """Best effort: never raises."""
        ...


class NoOperationalEvents:
    """Operational events turned off (``operational_events_bus`` empty)."""

    def publish(self, event: OperationalEvent) -> None:
        return None


class RecordedOperationalEvents:
    """Keeps what was published, in order (tests and the in-memory relay)."""

    def __init__(self) -> None:
        self.published: list[OperationalEvent] = []

    def publish(self, event: OperationalEvent) -> None:
        self.published.append(event)


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _detail(at: float, **values: Any) -> dict[str, Any]:
    return {"version": DETAIL_VERSION, "at": iso(at), **values}


def subscription_disabled(
    subscription_id: str, *, reason: str, at: float, url_host: str | None
) -> OperationalEvent:
    """The relay disabled a subscription (410 Gone, or no success for the disable window);
    its queued deliveries are dropped with a record, and replayed after it is enabled."""
    return OperationalEvent(
        DetailType.SUBSCRIPTION_DISABLED,
        _detail(
            at,
            subscription_id=subscription_id,
            url_host=url_host,
            reason=reason,
            commands={
                "show": f"hookhaven subscriptions show {subscription_id}",
                "enable": f"hookhaven subscriptions enable {subscription_id}",
                "replay": f"hookhaven replay --subscription {subscription_id} --since 7d",
            },
        ),
        at,
    )


def circuit_opened(
    subscription_id: str,
    *,
    at: float,
    url_host: str | None,
    consecutive_failures: int,
    last_failure: str | None,
    next_probe_at: float,
) -> OperationalEvent:
    return OperationalEvent(
        DetailType.CIRCUIT_OPENED,
        _detail(
            at,
            subscription_id=subscription_id,
            url_host=url_host,
            consecutive_failures=consecutive_failures,
            last_failure=last_failure,
            next_probe_at=iso(next_probe_at),
            commands={"show": f"hookhaven subscriptions show {subscription_id}"},
        ),
        at,
    )


def circuit_closed(
    subscription_id: str, *, at: float, url_host: str | None, opened_at: float | None
) -> OperationalEvent:
    return OperationalEvent(
        DetailType.CIRCUIT_CLOSED,
        _detail(
            at,
            subscription_id=subscription_id,
            url_host=url_host,
            opened_at=iso(opened_at) if opened_at is not None else None,
            open_seconds=round(at - opened_at) if opened_at is not None else None,
            commands={"show": f"hookhaven subscriptions show {subscription_id}"},
        ),
        at,
    )


def delivery_exhausted(
    *,
    event_id: str,
    subscription_id: str,
    source: str,
    event_type: str,
    attempts: int,
    last_failure: str,
    at: float,
    url_host: str | None,
) -> OperationalEvent:
    return OperationalEvent(
        DetailType.DELIVERY_EXHAUSTED,
        _detail(
            at,
            event_id=event_id,
            subscription_id=subscription_id,
            source=source,
            event_type=event_type,
            url_host=url_host,
            attempts=attempts,
            last_failure=last_failure,
            commands={
                "show": f"hookhaven events show {event_id}",
                "replay": f"hookhaven replay {event_id} --subscription {subscription_id}",
                "dlq": f"hookhaven dlq redrive --subscription {subscription_id}",
            },
        ),
        at,
    )
