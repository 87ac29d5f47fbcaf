"""EventBridge adapter: operational events put on a bus with PutEvents, best effort.

A failure never reaches the delivery that caused the event: a refused call (ClientError,
BotoCoreError) and an entry EventBridge failed inside a successful answer (HTTP 200 with
FailedEntryCount, ``quotas.EVENTBRIDGE_PARTIAL_FAILURE``) are both logged at WARNING with
the detail type and ids, and counted (``observe``, the ``OperationalEventsFailed`` metric
in Lambda). Nothing is retried beyond the client's own bounded retries: a delivery's time
is worth more than the event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from hookhaven import quotas
from hookhaven.operational import SOURCE, OperationalEvent

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

logger = logging.getLogger(__name__)

#: Told of every event: published (True) or not (False).
Observer = Callable[[OperationalEvent, bool], None]


def _ignore(event: OperationalEvent, published: bool) -> None:
    return None


def entry(event: OperationalEvent, bus: str) -> dict[str, Any]:
    """The PutEvents entry of one operational event."""
    at = event.at if event.at > 0 else datetime.now(UTC).timestamp()
    return {
        "Source": SOURCE,
        "DetailType": str(event.detail_type),
        "Detail": json.dumps(event.detail, separators=(",", ":")),
        "Time": datetime.fromtimestamp(at, UTC),
        "EventBusName": bus,
        "Resources": [],
    }


def _ids(event: OperationalEvent) -> dict[str, Any]:
    return {
        "detail_type": str(event.detail_type),
        "event_id": event.detail.get("event_id"),
        "subscription_id": event.detail.get("subscription_id"),
    }


class EventBridgeOperationalEvents:
    """``OperationalEvents`` on one bus (a name or ARN). The client is made on first use:
    most invocations publish nothing."""

    def __init__(
        self, client: Callable[[], EventBridgeClient], bus: str, *, observe: Observer = _ignore
    ) -> None:
        self._client = client
        self.bus = bus
        self._observe = observe

    def publish(self, event: OperationalEvent) -> None:
        try:
            published = self._put(event)
        except Exception:
            # The protocol's promise: whatever went wrong, the delivery goes on.
            logger.warning(
                "operational event not published: unexpected error",
                extra=_ids(event),
                exc_info=True,
            )
            published = False
        try:
            self._observe(event, published)
        except Exception:
            logger.warning("counting an operational event failed", extra=_ids(event), exc_info=True)

    def _put(self, event: OperationalEvent) -> bool:
        request = entry(event, self.bus)
        size = quotas.put_events_entry_size(
            source=request["Source"], detail_type=request["DetailType"], detail=request["Detail"]
        )
        if size > quotas.OPERATIONAL_EVENT_SIZE_MAX:
            logger.warning(
                "operational event not published: %d bytes, over %d",
                size,
                quotas.OPERATIONAL_EVENT_SIZE_MAX,
                extra=_ids(event),
            )
            return False
        try:
            response = self._client().put_events(Entries=[request])  # type: ignore[list-item]
        except (ClientError, BotoCoreError) as error:
            logger.warning(
                "operational event not published: %s", error, extra={**_ids(event), "bus": self.bus}
            )
            return False
        failed = [e for e in response.get("Entries", []) if e.get("ErrorCode")]
        if response.get("FailedEntryCount", 0) or failed:
            problem = failed[0] if failed else {}
            logger.warning(
                "operational event not published: %s %s",
                problem.get("ErrorCode", "failed"),
                problem.get("ErrorMessage", ""),
                extra={**_ids(event), "bus": self.bus},
            )
            return False
        return True
