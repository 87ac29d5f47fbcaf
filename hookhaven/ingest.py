"""The receiver's rules: verify, dedupe, keep, fan out; answer only when nothing can be lost.

Order of work for one request, and why:

1. size, source, signature: cheap checks first, nothing written for a rejected request;
2. claim the provider event id (one conditional write): a duplicate stops here;
3. large body to S3, then one queue message per matching subscription (source, event
   type, then each subscription's content filter over the body: ``hookhaven.matching``);
4. record the event and complete the claim in one transaction: only now is it accepted.

If 3 or 4 fails the claim is released as *failed* with the subscriptions already
enqueued, and the provider gets 503. Its retry resumes the claim under the same
event id and enqueues only what is missing, so a subscriber never receives the
event twice under two different ``webhook-id`` values.

Why the claim is not Powertools' idempotency utility: that utility remembers a
request as in progress or completed (with its response), and deletes the record
when the request fails, so a retry starts afresh under a new event id. Here a
failed request must leave behind which subscriptions it already enqueued, so that
the retry resumes under the same event id and enqueues only the rest; the claim
(``EventStore.claim``/``release``/``accept``) keeps exactly that, in one item.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable
from typing import NamedTuple

from hookhaven.ids import new_event_id
from hookhaven.matching import FilterError, filter_by_content, matching_subscriptions
from hookhaven.models import (
    BodyPointer,
    DeliveryMessage,
    EventRecord,
    Source,
    SubscriptionRoute,
    delivery_messages,
)
from hookhaven.ports import (
    BodyStore,
    DedupeKey,
    DeliveryQueue,
    EventStore,
    RouteReader,
    StorageUnavailable,
)
from hookhaven.tunables import RuntimeTunables
from hookhaven.verification import (
    Answer,
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    VerifiedWebhook,
    signs_url,
    verify,
)

#: How long a claim in progress blocks a concurrent retry when the caller does not say
#: (longer than the receiver's timeout).
CLAIM_LEASE_SECONDS = 60
#: Added to the invocation's remaining time: past its deadline the holder of a claim
#: cannot write any more, so a retry may take over; the margin covers clock skew.
CLAIM_LEASE_MARGIN_SECONDS = 5
#: Headers worth keeping with the event; never signatures, tokens or cookies.
KEPT_HEADERS = frozenset(
    {
        "content-type",
        "user-agent",
        "webhook-id",
        "svix-id",
        "x-github-event",
        "x-github-delivery",
        "x-github-hook-id",
        "x-github-hook-installation-target-type",
        "x-github-hook-installation-target-id",
        "x-shopify-topic",
        "x-shopify-webhook-id",
        "x-shopify-event-id",
        "x-shopify-shop-domain",
        "x-shopify-api-version",
        "x-shopify-triggered-at",
        "x-slack-retry-num",
        "x-slack-retry-reason",
    }
)


class UnknownSource(Exception):
    pass


class PayloadTooLarge(Exception):
    pass


class InProgress(Exception):
    """The same provider event is being processed by another request right now."""


class Unavailable(Exception):
    """Storing or enqueueing failed; nothing was accepted, the provider should retry."""


class Accepted(NamedTuple):
    """An event recorded and enqueued. (The outcomes are named tuples: one is built per
    request, for a fraction of a frozen dataclass's cost.)"""

    event_id: str
    fan_out: int
    event_type: str
    #: Subscriptions whose filter failed to evaluate over this event (they missed it).
    filter_errors: tuple[FilterError, ...] = ()
    #: Answer 200 with no body (``VerifiedWebhook.empty_answer``).
    empty_answer: bool = False
    #: The provider's own answer instead of 202 (``VerifiedWebhook.reply``).
    reply: Answer | None = None


class Duplicate(NamedTuple):
    event_id: str
    empty_answer: bool = False
    reply: Answer | None = None


class Challenge(NamedTuple):
    """A handshake answered; nothing recorded."""

    answer: Answer


#: What the receiver answers a request it did not refuse.
Received = Accepted | Duplicate | Challenge

__all__ = [
    "Accepted",
    "Challenge",
    "Duplicate",
    "InProgress",
    "InvalidSignature",
    "MalformedPayload",
    "PayloadTooLarge",
    "Received",
    "Receiver",
    "SourceDirectory",
    "Unavailable",
    "UnknownSource",
]


class SourceDirectory:
    """Sources and subscriptions, cached in memory for ``ttl`` seconds.

    One refresh reads the whole (small) configuration. A change shows everywhere
    within ``ttl``; a name not in the cache triggers a refresh at most once per
    ``MISS_REFRESH_SECONDS``, so a source just added works within a second while a
    flood of requests for unknown names costs one read a second, not one each.
    """

    MISS_REFRESH_SECONDS = 1.0

    def __init__(
        self, config: RouteReader, *, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config
        self._ttl = ttl
        self._clock = clock
        self._loaded_at: float | None = None
        self._sources: dict[str, Source] = {}
        self._routes: list[SubscriptionRoute] = []

    def _fresh(self, *, max_age: float | None = None) -> None:
        now = self._clock()
        limit = self._ttl if max_age is None else min(self._ttl, max_age)
        if self._loaded_at is not None and now - self._loaded_at < limit:
            return
        sources = self._config.list_sources()
        routes = self._config.list_routes()
        self._sources = {s.name: s for s in sources}
        self._routes = routes
        self._loaded_at = now

    def source(self, name: str) -> Source | None:
        self._fresh()
        if name not in self._sources:
            self._fresh(max_age=self.MISS_REFRESH_SECONDS)
        return self._sources.get(name)

    def subscriptions_for(self, source: str, event_type: str) -> list[SubscriptionRoute]:
        """By source and event type; their content filters are for the caller to apply."""
        self._fresh()
        return matching_subscriptions(self._routes, source, event_type)


def dedupe_key(source: str, verified: VerifiedWebhook, body_sha256: str) -> DedupeKey:
    """What makes a repeat a duplicate: the provider's event id where the signature covers
    it; else the exact body. An id from an unsigned header can be changed by anyone who saw
    one genuine request, so for those kinds (github, shopify, hmac with a header id) a
    byte-identical body is a duplicate within the dedupe window, whatever its headers say:
    a replay under a fresh id, under another event type, or with no id at all. Where the
    signature covers something other than the body's bytes (Twilio's sorted form fields),
    that is what must be identical (``VerifiedWebhook.signed_content``)."""
    if verified.trusted_id is not None:
        return DedupeKey(source, verified.trusted_id)
    if verified.signed_content is not None:
        return DedupeKey(source, f"sha256:{hashlib.sha256(verified.signed_content).hexdigest()}")
    return DedupeKey(source, f"sha256:{body_sha256}")


class Receiver:
    def __init__(
        self,
        *,
        directory: SourceDirectory,
        events: EventStore,
        bodies: BodyStore,
        queue: DeliveryQueue,
        settings: RuntimeTunables,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self._events = events
        self._bodies = bodies
        self._queue = queue
        self._settings = settings
        self._clock = clock

    @property
    def public_base_url(self) -> str:
        return self._settings.public_base_url

    def has_source(self, source_name: str) -> bool:
        """Whether ``source_name`` is configured: what a ``HEAD`` asks (Trello checks its
        callback URL so when a webhook is created)."""
        try:
            return self._directory.source(source_name) is not None
        except StorageUnavailable as error:
            raise Unavailable("could not read the source configuration") from error

    def receive(
        self,
        source_name: str,
        request: InboundRequest,
        *,
        lease_seconds: float | None = None,
        url: Callable[[], str] | None = None,
    ) -> Received:
        """``lease_seconds``: how long this request may hold the event's claim; the handler
        passes its invocation's remaining time plus a margin, so a provider's retry after a
        crash or a timeout waits seconds, not a minute.

        ``url``: rebuilds the public URL the provider called, asked for only when the
        source's kind signs it (Twilio, Square, HubSpot, Trello); it then replaces
        ``request.url``."""
        if len(request.body) > self._settings.max_body_bytes:
            raise PayloadTooLarge(
                f"the body is {len(request.body)} bytes; the limit is "
                f"{self._settings.max_body_bytes}"
            )
        try:
            source = self._directory.source(source_name)
        except StorageUnavailable as error:
            raise Unavailable("could not read the source configuration") from error
        if source is None:
            raise UnknownSource(source_name)
        if url is not None and signs_url(source.kind):
            request = request._replace(url=url())
        now = self._clock()
        verified = verify(source, request, now)
        if verified.answer is not None:
            return Challenge(verified.answer)

        digest = hashlib.sha256(request.body).hexdigest()
        key = dedupe_key(source.name, verified, digest)
        event_id = new_event_id(now)
        try:
            claim = self._events.claim(
                key,
                event_id,
                now=now,
                window=self._settings.dedupe_window,
                lease=math.ceil(lease_seconds) if lease_seconds else CLAIM_LEASE_SECONDS,
            )
        except StorageUnavailable as error:
            raise Unavailable("could not record the event") from error
        if claim.state == "duplicate":
            return Duplicate(
                claim.event_id, empty_answer=verified.empty_answer, reply=verified.reply
            )
        if claim.state == "in_progress":
            raise InProgress(claim.event_id)
        event_id, enqueued = claim.event_id, claim.enqueued

        sent: set[str] = set()
        try:
            candidates = self._directory.subscriptions_for(source.name, verified.event_type)
            filtered = filter_by_content(candidates, request.body)
            subscriptions = filtered.matched
            record, messages = self._build(
                source,
                request,
                verified.event_type,
                verified.provider_event_id,
                event_id,
                now,
                subscriptions,
                digest,
            )
            pending = [m for m in messages if m.subscription_id not in enqueued]
            failed = self._queue.send(pending)
            sent = {m.subscription_id for m in pending} - failed
            if failed:
                raise StorageUnavailable(f"{len(failed)} of {len(pending)} messages not enqueued")
            expires_at = int(now) + self._settings.retention_days * 86400
            self._events.accept(record, key, expires_at=expires_at)
        except Exception as error:
            # Whatever went wrong (an AWS failure, or a bug), let the provider's retry
            # resume this claim; if even the release fails, the lease runs out instead.
            with contextlib.suppress(StorageUnavailable):
                self._events.release(key, event_id, enqueued | sent)
            if isinstance(error, StorageUnavailable):
                raise Unavailable(str(error)) from error
            raise
        return Accepted(
            event_id=event_id,
            fan_out=len(messages),
            event_type=verified.event_type,
            filter_errors=tuple(filtered.errors),
            empty_answer=verified.empty_answer,
            reply=verified.reply,
        )

    def _build(
        self,
        source: Source,
        request: InboundRequest,
        event_type: str,
        provider_event_id: str | None,
        event_id: str,
        now: float,
        subscriptions: list[SubscriptionRoute],
        digest: str,
    ) -> tuple[EventRecord, list[DeliveryMessage]]:
        body = request.body
        content_type = request.content_type
        body_ref: BodyPointer | None = None
        if len(body) > self._settings.inline_body_limit_bytes:
            body_ref = self._bodies.put(f"{source.name}/{event_id}", body, content_type)
        record = EventRecord(
            id=event_id,
            source=source.name,
            event_type=event_type,
            provider_event_id=provider_event_id,
            received_at=now,
            content_type=content_type,
            headers={k: v for k, v in request.headers.items() if k in KEPT_HEADERS},
            body_size=len(body),
            body_sha256=digest,
            body=None if body_ref else body,
            body_ref=body_ref,
            subscriptions=tuple(s.id for s in subscriptions),
        )
        return record, delivery_messages(record, (s.id for s in subscriptions))
