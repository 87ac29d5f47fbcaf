"""Time-sortable unique ids: ``evt_`` / ``sub_`` + a ULID (48-bit ms time, 80 random bits)."""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now: float | None = None) -> str:
    """26 Crockford base32 characters; lexical order follows time to the millisecond."""
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD[index])
    return "".join(reversed(chars))


def new_event_id(now: float | None = None) -> str:
    return "evt_" + ulid(now)


def new_subscription_id(now: float | None = None) -> str:
    return "sub_" + ulid(now)
