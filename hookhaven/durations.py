"""Human durations ("90s", "5m", "2h", "3d", "1h30m") to and from whole seconds."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(value: str | int) -> int:
    """Return the number of seconds in ``value``.

    Accepts a non-negative integer (seconds) or a string of one or more
    ``<number><unit>`` parts with units s, m, h, d, w, e.g. ``"1h30m"``.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value}")
        return value
    text = value.strip().lower()
    if text.isascii() and text.isdigit():
        return int(text)
    if not text or _PART.sub("", text) != "":
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 2h, 3d or 1h30m)")
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))


def format_duration(seconds: int | float) -> str:
    """Shortest exact spelling of ``seconds``: 0s, 5s, 5m, 2h, 1h30m, 3d."""
    remaining = round(seconds)
    if remaining == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
