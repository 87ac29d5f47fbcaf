"""Patch of moto's EventBridge: PutEvents refuses what EventBridge refuses for its size.

Replaces ``moto.events.models:EventsBackend.put_events`` with one that first measures the
request's entries as EventBridge does (``quotas.put_events_entry_size``) and refuses the
whole request over ``quotas.EVENTBRIDGE_PUT_EVENTS_SIZE_MAX`` with a ValidationException,
as EventBridge does; moto checks only the number of entries. The rest is moto's: rules on
the bus, and their SQS targets, which the local stack's operational events queue is.
"""

from __future__ import annotations

from typing import Any

from hookhaven import quotas
from hookhaven.local.emulator.compat import Patches

#: What this module replaces or relies on (checked before anything is patched).
REPLACES = (
    "moto.events.models:EventsBackend.put_events",
    "moto.events.exceptions:ValidationException",
)
TOO_LARGE = "Total size of the entries in the request is over the limit."


def request_size(entries: list[dict[str, Any]]) -> int:
    return sum(
        quotas.put_events_entry_size(
            source=str(entry.get("Source") or ""),
            detail_type=str(entry.get("DetailType") or ""),
            detail=entry.get("Detail"),
            resources=[str(r) for r in entry.get("Resources") or () if r is not None],
            time=entry.get("Time") is not None,
        )
        for entry in entries
    )


def install(patches: Patches) -> None:
    from moto.events import models
    from moto.events.exceptions import ValidationException

    put_events = models.EventsBackend.put_events

    def sized_put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if request_size(events) > quotas.EVENTBRIDGE_PUT_EVENTS_SIZE_MAX.value:
            raise ValidationException(TOO_LARGE)
        return put_events(self, events)

    patches.set(models.EventsBackend, "put_events", sized_put_events)
