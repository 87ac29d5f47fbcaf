"""Which subscriptions an event goes to: its source and type, then each subscription's
content filter (``hookhaven.filters``) over the body."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Generic, TypeVar

from hookhaven.filters import FilterFailed, matches, parse_body
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


@dataclass(frozen=True)
class FilterError:
    """A subscription whose filter could not be evaluated over an event: it missed it."""

    subscription_id: str
    error: str  # the kind of error only: JMESPath's messages quote the body


@dataclass(frozen=True)
class Filtered(Generic[R]):
    matched: list[R]
    errors: list[FilterError] = field(default_factory=list)


def filter_by_content(subscriptions: Iterable[R], body: bytes) -> Filtered[R]:
    """The subscriptions whose filter is truthy over ``body`` (and those without one).

    The body is parsed as JSON once, and only if some subscription has a filter; a body
    that is not UTF-8 JSON matches no filter. A filter that fails to evaluate does not
    match, and is reported in ``errors``.
    """
    candidates = list(subscriptions)
    if all(s.filter is None for s in candidates):
        return Filtered(candidates)
    document = parse_body(body)
    matched: list[R] = []
    errors: list[FilterError] = []
    for subscription in candidates:
        if subscription.filter is None:
            matched.append(subscription)
            continue
        try:
            if matches(subscription.filter, document):
                matched.append(subscription)
        except FilterFailed as error:
            errors.append(FilterError(subscription.id, str(error)))
    return Filtered(matched, errors)
