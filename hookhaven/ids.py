"""Time-sortable unique ids: ``evt_`` / ``sub_`` + a ULID (48-bit ms time, 80 random bits)."""

from __future__ import annotations

import base64
import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_FROM_RFC4648 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD)


def ulid(now: float | None = None) -> str:
    """26 Crockford base32 characters; lexical order follows time to the millisecond."""
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    # 128 bits as 26 five-bit digits: shift left by 30 so the 130-bit big-endian digit
    # string starts at a byte boundary of 20 bytes, let the C base32 encoder do the work,
    # then map RFC 4648's alphabet to Crockford's.
    encoded = base64.b32encode((value << 30).to_bytes(20, "big")).decode()
    return encoded[:26].translate(_FROM_RFC4648)


def new_event_id(now: float | None = None) -> str:
    return "evt_" + ulid(now)


def new_subscription_id(now: float | None = None) -> str:
    return "sub_" + ulid(now)
