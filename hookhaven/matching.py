"""Which subscriptions an event goes to."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import TypeVar

from hookhaven.models import ANY_SOURCE, SubscriptionRoute

R = TypeVar("R", bound=SubscriptionRoute)


def type_matches(pattern: str, event_type: str) -> bool:
    """Glob match, case-sensitive: ``*``, ``order.*``, ``orders/*``, or an exact type."""
    return pattern == "*" or fnmatchcase(event_type, pattern)


def matching_subscriptions(subscriptions: Iterable[R], source: str, event_type: str) -> list[R]:
    """Enabled subscriptions of ``source`` (or of every source) with a pattern that matches."""
    return [
        s
        for s in subscriptions
        if s.enabled
        and s.source in (source, ANY_SOURCE)
        and any(type_matches(p, event_type) for p in s.event_types)
    ]
