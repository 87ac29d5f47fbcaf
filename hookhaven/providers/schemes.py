"""HMAC signatures described as data: which header, hash, encoding and prefix, what is
signed, and where a timestamp comes from and how old it may be.

Most providers sign the raw body, or a timestamp joined to it, with a shared secret; they
differ only in these details, so one checked routine serves them all. A provider whose
scheme needs more (Twilio's URL and form fields, Zoom's handshake) supplies ``message``
and ``identify`` of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from hookhaven.models import Source
from hookhaven.signatures import any_equal, hmac_digest
from hookhaven.verification import (
    InboundRequest,
    InvalidSignature,
    VerifiedWebhook,
    Verifier,
    _json_object,
    _required,
    _unbase64,
    _unhex,
)

#: What a scheme signs, given the request and its timestamp as sent ("" if it has none):
#: one message, or several candidates any of which may match (Twilio's URL with and
#: without the default port).
Message = Callable[[InboundRequest, str], bytes | Sequence[bytes]]


def body(request: InboundRequest, timestamp: str) -> bytes:
    return request.body


def joined(before: str, between: str = "") -> Message:
    """``before`` + timestamp + ``between`` + body: ``joined("v0:", ":")`` is Slack's and
    Zoom's ``v0:{ts}:{body}``."""

    def message(request: InboundRequest, timestamp: str) -> bytes:
        return f"{before}{timestamp}{between}".encode() + request.body

    return message


@dataclass(frozen=True)
class Params:
    """A header of ``key=value`` items carrying a timestamp and one or more signatures:
    Calendly's ``t=..,v1=..``, Paddle's ``ts=..;h1=..``."""

    timestamp: str
    signature: str
    separator: str = ","


@dataclass(frozen=True)
class HmacScheme:
    header: str
    message: Message = body
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    #: Before the digest (``sha256=``); a signature without it matches nothing.
    prefix: str = ""
    #: Several signatures in the header (a rotation), split on this.
    separator: str | None = None
    #: The header is ``key=value`` items (timestamp and signatures), not a bare digest.
    params: Params | None = None
    timestamp_header: str | None = None
    timestamp_format: Literal["s", "ms", "iso"] = "s"
    #: How far the signed timestamp may be from now, as the provider documents it. None:
    #: the provider documents none (its retries may carry the first attempt's timestamp).
    tolerance: int | None = None

    @property
    def timestamped(self) -> bool:
        return self.params is not None or self.timestamp_header is not None

    def check(self, request: InboundRequest, secrets: list[str], now: float) -> str:
        """Raise ``InvalidSignature`` unless a signature matches a secret; the timestamp
        as sent ("" if the scheme has none)."""
        header = _required(request, self.header)
        timestamp = ""
        if self.params is not None:
            texts = []
            found = None
            for item in header.split(self.params.separator):
                key, _, value = item.strip().partition("=")
                if key == self.params.timestamp:
                    found = value
                elif key == self.params.signature:
                    texts.append(value)
            if found is None:
                raise InvalidSignature(f"no timestamp in {self.header}")
            timestamp = found
        else:
            texts = header.split(self.separator) if self.separator else [header]
        if self.timestamp_header is not None:
            timestamp = _required(request, self.timestamp_header)
        if self.timestamped:
            self._check_time(timestamp, now)
        provided = []
        for text in texts:
            text = text.strip()
            if not text.startswith(self.prefix):
                continue
            text = text[len(self.prefix) :]
            decoded = _unhex(text) if self.encoding == "hex" else _unbase64(text)
            if decoded:
                provided.append(decoded)
        messages = self.message(request, timestamp)
        if isinstance(messages, bytes):
            messages = [messages]
        expected = [
            hmac_digest(secret.encode(), message, self.algorithm)
            for secret in secrets
            for message in messages
        ]
        if not any_equal(expected, provided):
            raise InvalidSignature(f"{self.header} does not match")
        return timestamp

    def _check_time(self, text: str, now: float) -> None:
        seconds = parse_time(text, self.timestamp_format)
        if self.tolerance is not None and abs(now - seconds) > self.tolerance:
            raise InvalidSignature("timestamp outside the tolerance")


#: The most digits a timestamp may have, in seconds or in milliseconds: any time before the
#: year 33658, and no long string for int() to read.
_MAX_DIGITS = {"s": 12, "ms": 15}


def parse_time(text: str, form: Literal["s", "ms", "iso"]) -> float:
    """A timestamp as a provider sends it, in seconds; ``InvalidSignature`` if malformed."""
    if form == "iso":
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidSignature("malformed timestamp") from None
        if parsed.tzinfo is None:
            raise InvalidSignature("malformed timestamp: no time zone")
        return parsed.timestamp()
    if not (text.isascii() and text.isdigit()):
        raise InvalidSignature("malformed timestamp")
    # Equivalent mutant (make mutate): >= for >. It refuses a time of exactly 12 digits in
    # seconds (15 in ms) too: the year 5138 or later, which no provider sends.
    if len(text) > _MAX_DIGITS[form]:  # pragma: no mutate
        raise InvalidSignature("malformed timestamp")
    return int(text) / (1000 if form == "ms" else 1)


#: What a verified request is: its type and id, from the request, its body parsed as a
#: JSON object (None if it is not one), and the timestamp as sent.
Identify = Callable[[InboundRequest, dict[str, Any] | None, str], VerifiedWebhook]


def hmac_verifier(scheme: HmacScheme, identify: Identify) -> Verifier:
    def verifier(
        source: Source, request: InboundRequest, secrets: list[str], now: float
    ) -> VerifiedWebhook:
        timestamp = scheme.check(request, secrets, now)
        return identify(request, _json_object(request.body), timestamp)

    return verifier
