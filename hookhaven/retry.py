"""When to try a delivery again: the schedule, jitter, Retry-After, and outcome classes.

Pure functions. The attempt number is the SQS message's ApproximateReceiveCount
(1 for the first attempt); ``schedule[n]`` is the delay before attempt ``n + 1``,
so ``schedule[0]`` (usually 0) is the delay before the first attempt and the
schedule's length is the number of attempts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from enum import StrEnum

from hookhaven.tunables import MAX_DELAY_SECONDS

#: Statuses whose Retry-After is honoured (within bounds).
RETRY_AFTER_STATUSES = frozenset({429, 502, 503, 504})


class FailureClass(StrEnum):
    """Why an attempt failed; the low-cardinality metric dimension."""

    STATUS_3XX = "status_3xx"
    STATUS_4XX = "status_4xx"
    STATUS_5XX = "status_5xx"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    DNS = "dns"
    TLS = "tls"
    SSRF_BLOCKED = "ssrf_blocked"
    STORAGE = "storage"


@dataclass(frozen=True)
class Verdict:
    """What one HTTP status means for the delivery."""

    delivered: bool = False
    gone: bool = False
    honour_retry_after: bool = False
    failure: FailureClass | None = None


def classify_status(status: int) -> Verdict:
    """2xx delivered; 410 gone; everything else (3xx included) retries on the schedule."""
    if 200 <= status < 300:
        return Verdict(delivered=True)
    if status == 410:
        return Verdict(gone=True, failure=FailureClass.STATUS_4XX)
    if 300 <= status < 400:
        failure = FailureClass.STATUS_3XX
    elif 400 <= status < 500:
        failure = FailureClass.STATUS_4XX
    else:
        failure = FailureClass.STATUS_5XX
    return Verdict(honour_retry_after=status in RETRY_AFTER_STATUSES, failure=failure)


def scheduled_delay(
    attempt: int, schedule: Sequence[int], jitter: float, rng: random.Random | None = None
) -> int | None:
    """Seconds to wait after failed attempt ``attempt``; None when it was the last one."""
    if attempt >= len(schedule):
        return None
    base = schedule[max(attempt, 0)]
    factor = 1 + (rng or random).uniform(-jitter, jitter)
    return max(0, min(MAX_DELAY_SECONDS, round(base * factor)))


def parse_retry_after(value: str | None, now: float) -> int | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        # More digits than any delay SQS can hold: as long as allowed. (int() refuses over
        # 4,300 digits, and a subscriber chooses this header.)
        return int(text) if len(text) <= 9 else MAX_DELAY_SECONDS
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, round(when.timestamp() - now))


def clamp_retry_after(retry_after: int, scheduled: int) -> int:
    """Honour the subscriber's wish, but never sooner than scheduled nor later than twice it."""
    return max(scheduled, min(retry_after, 2 * scheduled, MAX_DELAY_SECONDS))
