"""The records hookhaven keeps and the messages it passes, as pydantic models."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hookhaven.filters import check_filter

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: A subscription for every source.
ANY_SOURCE = "*"
#: An event type or a subscription's pattern: the characters provider types use, and the
#: glob's ``*`` (``order.*``, ``orders/*``, ``*``); an event type itself has no ``*``.
EVENT_TYPE_PATTERN = re.compile(r"^[A-Za-z0-9._:/\-+@*]{1,128}$")
#: A static header's name (RFC 9110 token).
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
#: Headers a subscription's static headers may not replace (plus every webhook-* and
#: hookhaven-* name): the dispatcher sets them itself.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "user-agent", "transfer-encoding", "connection"}
)
RESERVED_HEADER_PREFIXES = ("webhook-", "hookhaven-")


def is_reserved_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_HEADER_PREFIXES)


class SourceKind(StrEnum):
    """How a source's requests are signed: ``hookhaven.catalog`` describes each."""

    STANDARD = "standard"
    STRIPE = "stripe"
    GITHUB = "github"
    SHOPIFY = "shopify"
    SLACK = "slack"
    HMAC = "hmac"
    # Standard Webhooks senders, by name.
    CLERK = "clerk"
    RESEND = "resend"
    REPLICATE = "replicate"
    OPENAI = "openai"
    # Providers that sign the URL they call (hookhaven/providers/urlsigned.py).
    TWILIO = "twilio"
    SQUARE = "square"
    HUBSPOT = "hubspot"
    TRELLO = "trello"
    # Providers with a signed timestamp or a handshake (hookhaven/providers/timestamped.py).
    ZOOM = "zoom"
    TWITCH = "twitch"
    PADDLE = "paddle"
    CALENDLY = "calendly"
    LINEAR = "linear"
    ZENDESK = "zendesk"
    # Providers that sign the body only (hookhaven/providers/bodyhmac.py).
    TYPEFORM = "typeform"
    INTERCOM = "intercom"
    BITBUCKET = "bitbucket"
    GITLAB = "gitlab"
    SENTRY = "sentry"
    VERCEL = "vercel"
    WOOCOMMERCE = "woocommerce"
    RAZORPAY = "razorpay"
    # Providers that sign with a public key (hookhaven/providers/keys.py).
    DISCORD = "discord"
    SENDGRID = "sendgrid"


class Secret(BaseModel):
    """One signing secret; an old one keeps working until ``expires_at`` during rotation."""

    model_config = ConfigDict(frozen=True)

    value: str = Field(min_length=1, repr=False)
    created_at: float
    expires_at: float | None = None

    def active(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


def rotated(
    secrets: tuple[Secret, ...], new: str, *, now: float, keep_old: float
) -> tuple[Secret, ...]:
    """``secrets`` plus ``new``: each still active old secret keeps working for ``keep_old``
    seconds more (never longer than it already would), expired ones are dropped."""
    kept = []
    for secret in secrets:
        if not secret.active(now):
            continue
        expires = now + keep_old
        if secret.expires_at is not None:
            expires = min(expires, secret.expires_at)
        kept.append(secret.model_copy(update={"expires_at": expires}))
    return (*kept, Secret(value=new, created_at=now))


class FieldRef(BaseModel):
    """Where a generic HMAC source carries a value: a header, or a top-level JSON field."""

    model_config = ConfigDict(frozen=True)

    location: Literal["header", "field"]
    name: str = Field(min_length=1, max_length=128)

    @classmethod
    def parse(cls, text: str) -> FieldRef:
        """``header:X-Event-Id`` or ``field:id``."""
        location, sep, name = text.partition(":")
        if not sep or location not in ("header", "field") or not name:
            raise ValueError(f"expected header:NAME or field:NAME, got {text!r}")
        return cls(location=location, name=name)

    def __str__(self) -> str:
        return f"{self.location}:{self.name}"


class HmacOptions(BaseModel):
    """How a generic ``hmac`` source signs: which header, which hash, which encoding."""

    model_config = ConfigDict(frozen=True)

    header: str = Field(default="x-signature", min_length=1, max_length=128)
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = Field(default="", max_length=32)
    id_from: FieldRef | None = None
    type_from: FieldRef | None = None

    @field_validator("header")
    @classmethod
    def _lower(cls, header: str) -> str:
        return header.lower()


class Source(BaseModel):
    """A provider endpoint: ``POST /webhooks/<name>``, verified the way ``kind`` says."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: SourceKind
    secrets: tuple[Secret, ...] = Field(min_length=1)
    hmac: HmacOptions | None = None
    created_at: float
    updated_at: float

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not SOURCE_NAME.match(name):
            raise ValueError(
                "a source name is 1-64 characters: lowercase letters, digits, '-' and '_'"
            )
        return name

    @model_validator(mode="after")
    def _hmac_options(self) -> Source:
        if self.kind == SourceKind.HMAC and self.hmac is None:
            object.__setattr__(self, "hmac", HmacOptions())
        return self

    def active_secrets(self, now: float) -> list[str]:
        return [s.value for s in self.secrets if s.active(now)]


class RateLimit(BaseModel):
    """At most ``count`` requests per ``per_seconds`` (1 or 60): ``5/s``, ``300/m``."""

    model_config = ConfigDict(frozen=True)

    count: int = Field(ge=1, le=10_000)
    per_seconds: Literal[1, 60] = 1

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        number, sep, unit = text.strip().partition("/")
        units = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
        if not sep or unit not in units or not number.isascii() or not number.isdigit():
            raise ValueError(f"expected a rate like 5/s or 300/m, got {text!r}")
        return cls(count=int(number), per_seconds=units[unit])

    @property
    def interval(self) -> float:
        """Seconds between two requests at the limit."""
        return self.per_seconds / self.count

    def __str__(self) -> str:
        return f"{self.count}/{'s' if self.per_seconds == 1 else 'm'}"


#: The most deliveries a subscription's ``max_in_flight`` may allow at once.
MAX_IN_FLIGHT = 1000


class SubscriptionRoute(BaseModel):
    """Which events a subscription wants: all the receiver may read of it (no URL, no
    secret; ``hookhaven.permissions.ROUTE_ATTRIBUTES``)."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str = ANY_SOURCE
    event_types: tuple[str, ...] = ("*",)
    enabled: bool = True
    #: A JMESPath expression over the event's JSON body; the subscription matches only
    #: where it is truthy (non-JSON bodies never match). None: every body matches.
    filter: str | None = None


class Subscription(SubscriptionRoute):
    """A subscriber: where matching events of a source (or of every source) are delivered."""

    url: str
    secrets: tuple[Secret, ...] = Field(min_length=1)
    status_reason: str | None = None
    description: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    #: Delivery control (``hookhaven.control``): None is unlimited.
    rate: RateLimit | None = None
    max_in_flight: int | None = Field(default=None, ge=1, le=1000)
    created_at: float
    updated_at: float


def check_subscription_input(
    *,
    source: str | None = None,
    event_types: tuple[str, ...] | None = None,
    headers: dict[str, str] | None = None,
    filter: str | None = None,
    max_in_flight: int | None = None,
) -> None:
    """Refuse what an operator may not set on a subscription (ValueError says why).

    Checked when a subscription is added or changed, not when one is read: a stored
    record that breaks a rule must not stop the dispatcher from reading the others (the
    dispatcher drops reserved static headers whatever the record says).
    """
    if source is not None and source != ANY_SOURCE and not SOURCE_NAME.match(source):
        raise ValueError(f"not a source name or {ANY_SOURCE}: {source!r}")
    if event_types is not None:
        if not event_types:
            raise ValueError("at least one event-type pattern, or * for every type")
        for pattern in event_types:
            if not EVENT_TYPE_PATTERN.match(pattern):
                raise ValueError(
                    f"bad event pattern {pattern!r}: use *, a prefix like order.*, or an exact type"
                )
    for name, value in (headers or {}).items():
        if not HEADER_NAME.match(name):
            raise ValueError(f"bad header name {name!r}")
        if is_reserved_header(name):
            raise ValueError(f"header {name}: hookhaven sets that header itself")
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name}: the value may not contain line breaks")
    if filter is not None:
        try:
            check_filter(filter)
        except ValueError as error:
            raise ValueError(f"bad filter: {error}") from None
    if max_in_flight is not None and not 1 <= max_in_flight <= MAX_IN_FLIGHT:
        raise ValueError(
            f"max in-flight is 1 to {MAX_IN_FLIGHT} deliveries at once, not {max_in_flight}"
        )


class BodyPointer(BaseModel):
    """Where a body too large for the queue message lives."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str


class DeliveryMessage(BaseModel):
    """One message on the deliveries queue: one event for one subscription.

    It carries everything the dispatcher needs to deliver, so delivery never
    waits on the event record: the body inline (base64) or a pointer to S3.
    """

    model_config = ConfigDict(frozen=True)

    v: Literal[1] = 1
    event_id: str
    subscription_id: str
    source: str
    event_type: str
    received_at: float
    content_type: str
    body_b64: str | None = None
    body_ref: BodyPointer | None = None
    body_size: int

    @model_validator(mode="after")
    def _one_body(self) -> DeliveryMessage:
        if (self.body_b64 is None) == (self.body_ref is None):
            raise ValueError("a delivery carries either body_b64 or body_ref")
        return self

    def inline_body(self) -> bytes | None:
        if self.body_b64 is None:
            return None
        try:
            return base64.b64decode(self.body_b64, validate=True)
        except binascii.Error as error:
            raise ValueError("body_b64 is not base64") from error


class EventSummary(BaseModel):
    """What listings and audits read of an event; all the time indexes carry of one."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    event_type: str
    provider_event_id: str | None = None
    received_at: float
    body_size: int
    subscriptions: tuple[str, ...]


class EventRecord(EventSummary):
    """What was received: kept for ``events show``, replay and audit."""

    content_type: str
    headers: dict[str, str]
    body_sha256: str
    body: bytes | None = Field(default=None, repr=False)
    body_ref: BodyPointer | None = None


def delivery_messages(event: EventRecord, subscription_ids: Iterable[str]) -> list[DeliveryMessage]:
    """The queue messages that deliver ``event``, one per subscription: built here only, for
    the receiver's fan-out and for ``replay``. The body is encoded once for all of them."""
    inline = base64.b64encode(event.body).decode() if event.body is not None else None
    return [
        DeliveryMessage(
            event_id=event.id,
            subscription_id=subscription_id,
            source=event.source,
            event_type=event.event_type,
            received_at=event.received_at,
            content_type=event.content_type,
            body_b64=inline,
            body_ref=event.body_ref,
            body_size=event.body_size,
        )
        for subscription_id in subscription_ids
    ]


class AttemptOutcome(StrEnum):
    """What one attempt at a delivery came to; kept in its attempt record."""

    DELIVERED = "delivered"
    RETRYING = "retrying"  # failed; the message comes back at the next backoff
    EXHAUSTED = "exhausted"  # the last attempt failed: SQS moves the message to the DLQ
    GONE = "gone"  # 410: the subscription was disabled
    DROPPED = "dropped"  # the subscription was deleted or disabled before this attempt
    #: Held back by delivery control (rate, in flight, open circuit): no request was made
    #: and no attempt spent; the message comes back at ``next_attempt_at``.
    HELD = "held"

    @property
    def failed(self) -> bool:
        """An attempt that reached (or tried to reach) the subscriber and did not succeed."""
        return self in (AttemptOutcome.RETRYING, AttemptOutcome.EXHAUSTED, AttemptOutcome.GONE)

    @property
    def attempted(self) -> bool:
        """A request was made (or refused by the SSRF guard): it counts against the schedule.
        A dropped or held delivery made none."""
        return self not in (AttemptOutcome.DROPPED, AttemptOutcome.HELD)


class AttemptRecord(BaseModel):
    """One delivery attempt, kept with its event (``events show`` reads them together)."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    subscription_id: str
    attempt: int
    at: float
    outcome: AttemptOutcome
    url_host: str | None = None
    status_code: int | None = None
    error: str | None = None
    error_detail: str | None = None
    latency_ms: float | None = None
    response_body: str | None = None
    next_attempt_at: float | None = None
    reason: str | None = None
    #: The SQS message the attempt was made from: the dispatcher counts the attempts of a
    #: message by it (a replay or a redrive is a new message, with a fresh schedule).
    message_id: str | None = None
    #: Why a ``held`` delivery was held (``hookhaven.control.Hold``).
    hold: str | None = None
