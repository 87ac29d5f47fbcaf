"""The dispatcher's rules: one queued delivery in, one attempt out, and what SQS should do next.

For each message, in these steps (each a method of ``Dispatcher``):

1. parse it: a malformed message goes straight to the DLQ with its reason;
2. find the subscription: deleted or disabled, the delivery is dropped with a record
   saying why;
3. fetch the body, when it is too large for the message and lives in S3;
4. sign (Standard Webhooks, every active secret) and send;
5. classify the response (delivered, 410 gone, or a failure of some class);
6. record the attempt;
7. on failure, schedule the next attempt: set the message's visibility to the next
   backoff (Retry-After honoured within bounds) before it is reported failed.

The attempt number is the message's ApproximateReceiveCount, so the queue's
maxReceiveCount (the schedule's length) moves the message to the DLQ after the last
attempt.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import ValidationError

from hookhaven import __version__
from hookhaven.models import (
    AttemptOutcome,
    AttemptRecord,
    BodyPointer,
    DeliveryMessage,
    Subscription,
    is_reserved_header,
)
from hookhaven.ports import ConfigReader, StorageUnavailable
from hookhaven.retry import (
    FailureClass,
    clamp_retry_after,
    classify_status,
    parse_retry_after,
    scheduled_delay,
)
from hookhaven.sender import SendResult
from hookhaven.signatures import standard_signature_header
from hookhaven.tunables import RuntimeTunables

logger = logging.getLogger(__name__)

USER_AGENT = f"hookhaven/{__version__}"


class NotAttempted(StrEnum):
    """Why a queued message was not attempted at all."""

    MALFORMED = "malformed"  # not a delivery message: parked in the DLQ with its reason
    ERROR = "error"  # an unexpected error: kept, back after the queue's visibility timeout


#: Outcomes after which SQS must keep the message (reported as a batch item failure).
KEEPS_MESSAGE = frozenset({AttemptOutcome.RETRYING, AttemptOutcome.EXHAUSTED, NotAttempted.ERROR})


@dataclass(frozen=True)
class Handled:
    """What became of one queued message: an attempt's outcome, or why there was none."""

    outcome: AttemptOutcome | NotAttempted
    attempt: int
    failure: FailureClass | None = None
    latency_ms: float | None = None
    end_to_end_ms: float | None = None
    delay_seconds: int | None = None
    event_id: str | None = None
    subscription_id: str | None = None

    @property
    def keeps_message(self) -> bool:
        return self.outcome in KEEPS_MESSAGE


@dataclass(frozen=True)
class QueuedDelivery:
    """What the dispatcher needs from one SQS record."""

    message_id: str
    body: str
    receive_count: int
    receipt_handle: str


class SubscriptionStore(ConfigReader, Protocol):
    def get_subscription(self, subscription_id: str) -> Subscription | None: ...

    def disable_subscription(self, subscription_id: str, reason: str, now: float) -> None: ...


class AttemptStore(Protocol):
    def record_attempt(self, attempt: AttemptRecord, *, expires_at: int) -> None: ...


class BodyReader(Protocol):
    def get(self, pointer: BodyPointer) -> bytes: ...


class QueueControl(Protocol):
    def change_visibility(self, receipt_handle: str, seconds: int) -> None: ...

    def dead_letter(self, body: str, reason: str) -> None: ...


class Poster(Protocol):
    def post(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult: ...


class SubscriptionCache:
    """Subscriptions by id, refreshed at most every ``ttl`` seconds (one query).

    An id missing from the cache is read directly before anything is decided: a
    subscription added a moment ago must get its deliveries, never be dropped as
    "deleted" because the cache is older than it.
    """

    def __init__(
        self, store: SubscriptionStore, *, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._loaded_at: float | None = None
        self._by_id: dict[str, Subscription] = {}

    def get(self, subscription_id: str) -> Subscription | None:
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at >= self._ttl:
            self._by_id = {s.id: s for s in self._store.list_subscriptions()}
            self._loaded_at = now
        found = self._by_id.get(subscription_id)
        if found is None:
            found = self._store.get_subscription(subscription_id)
            if found is not None:
                self._by_id[subscription_id] = found
        return found

    def disable(self, subscription_id: str, reason: str, now: float) -> None:
        self._store.disable_subscription(subscription_id, reason, now)
        self._loaded_at = None


def delivery_headers(
    message: DeliveryMessage, subscription: Subscription, attempt: int, now: float, body: bytes
) -> dict[str, str]:
    """Standard Webhooks headers (one signature per active secret) plus hookhaven's own."""
    timestamp = int(now)
    secrets = [s.value for s in subscription.secrets if s.active(now)]
    headers = {
        name: value for name, value in subscription.headers.items() if not is_reserved_header(name)
    }
    headers.update(
        {
            "content-type": message.content_type,
            "user-agent": USER_AGENT,
            "webhook-id": message.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": standard_signature_header(
                secrets, message.event_id, timestamp, body
            ),
            "hookhaven-source": message.source,
            "hookhaven-event-type": message.event_type,
            "hookhaven-attempt": str(attempt),
        }
    )
    return headers


@dataclass(frozen=True)
class Attempt:
    """One attempt at one delivery: what every step needs, and what it has found so far."""

    message: DeliveryMessage
    number: int
    now: float
    receipt_handle: str
    subscription: Subscription | None = None
    sent: SendResult | None = field(default=None, repr=False)

    def handled(
        self,
        outcome: AttemptOutcome,
        *,
        failure: FailureClass | None = None,
        end_to_end_ms: float | None = None,
        delay_seconds: int | None = None,
    ) -> Handled:
        return Handled(
            outcome,
            self.number,
            failure=failure,
            latency_ms=self.sent.latency_ms if self.sent else None,
            end_to_end_ms=end_to_end_ms,
            delay_seconds=delay_seconds,
            event_id=self.message.event_id,
            subscription_id=self.message.subscription_id,
        )

    def record(
        self,
        outcome: AttemptOutcome,
        *,
        reason: str | None = None,
        failure: FailureClass | None = None,
        detail: str | None = None,
        next_attempt_at: float | None = None,
    ) -> AttemptRecord:
        sent = self.sent
        return AttemptRecord(
            event_id=self.message.event_id,
            subscription_id=self.message.subscription_id,
            attempt=self.number,
            at=self.now,
            outcome=outcome,
            url_host=_host(self.subscription.url) if self.subscription else None,
            status_code=sent.status if sent else None,
            error=str(failure) if failure else None,
            error_detail=detail,
            latency_ms=round(sent.latency_ms, 1) if sent else None,
            response_body=sent.response_body if sent and sent.response_body else None,
            next_attempt_at=next_attempt_at,
            reason=reason,
        )

    def log_keys(self) -> dict[str, str]:
        """Deliveries run in worker threads, so the logger's shared correlation id cannot be
        set per delivery; each line carries its own."""
        return {
            "correlation_id": self.message.event_id,
            "event_id": self.message.event_id,
            "subscription_id": self.message.subscription_id,
        }


class Dispatcher:
    def __init__(
        self,
        *,
        subscriptions: SubscriptionCache,
        attempts: AttemptStore,
        bodies: BodyReader,
        queue: QueueControl,
        sender: Poster,
        settings: RuntimeTunables,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._subscriptions = subscriptions
        self._attempts = attempts
        self._bodies = bodies
        self._queue = queue
        self._sender = sender
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)

    def process(self, queued: QueuedDelivery) -> Handled:
        message = self._parse(queued)
        if message is None:
            return Handled(NotAttempted.MALFORMED, queued.receive_count)
        attempt = Attempt(
            message=message,
            number=queued.receive_count,
            now=self._clock(),
            receipt_handle=queued.receipt_handle,
        )
        subscription = self._subscriptions.get(message.subscription_id)
        if subscription is None or not subscription.enabled:
            return self._drop(attempt, subscription)
        attempt = replace(attempt, subscription=subscription)
        try:
            body = self._fetch_body(message)
        except StorageUnavailable as error:
            return self._schedule(attempt, FailureClass.STORAGE, detail=str(error))
        attempt = replace(attempt, sent=self._send(attempt, subscription, body))
        return self._classify(attempt, subscription)

    def _parse(self, queued: QueuedDelivery) -> DeliveryMessage | None:
        try:
            return DeliveryMessage.model_validate_json(queued.body)
        except ValidationError as error:
            reason = f"malformed delivery message: {error.error_count()} problem(s)"
            self._queue.dead_letter(queued.body, reason)
            logger.error("message sent to the DLQ", extra={"reason": reason})
            return None

    def _drop(self, attempt: Attempt, subscription: Subscription | None) -> Handled:
        reason = (
            "subscription deleted"
            if subscription is None
            else f"subscription disabled: {subscription.status_reason or 'by an operator'}"
        )
        self._record(attempt, attempt.record(AttemptOutcome.DROPPED, reason=reason))
        return attempt.handled(AttemptOutcome.DROPPED)

    def _fetch_body(self, message: DeliveryMessage) -> bytes:
        if message.body_ref is not None:
            return self._bodies.get(message.body_ref)
        return message.inline_body() or b""

    def _send(self, attempt: Attempt, subscription: Subscription, body: bytes) -> SendResult:
        headers = delivery_headers(attempt.message, subscription, attempt.number, attempt.now, body)
        return self._sender.post(subscription.url, headers, body)

    def _classify(self, attempt: Attempt, subscription: Subscription) -> Handled:
        sent = attempt.sent
        assert sent is not None
        if sent.status is None:
            assert sent.error is not None
            return self._schedule(attempt, sent.error, detail=sent.error_detail)
        verdict = classify_status(sent.status)
        if verdict.delivered:
            self._record(attempt, attempt.record(AttemptOutcome.DELIVERED))
            return attempt.handled(
                AttemptOutcome.DELIVERED,
                end_to_end_ms=(self._clock() - attempt.message.received_at) * 1000,
            )
        assert verdict.failure is not None
        if verdict.gone:
            reason = f"410 Gone from {_host(subscription.url)} at attempt {attempt.number}"
            self._subscriptions.disable(subscription.id, reason, attempt.now)
            self._record(attempt, attempt.record(AttemptOutcome.GONE, reason=reason))
            return attempt.handled(AttemptOutcome.GONE, failure=verdict.failure)
        retry_after = (
            parse_retry_after(sent.retry_after, attempt.now) if verdict.honour_retry_after else None
        )
        return self._schedule(attempt, verdict.failure, retry_after=retry_after)

    def _schedule(
        self,
        attempt: Attempt,
        failure: FailureClass,
        *,
        detail: str | None = None,
        retry_after: int | None = None,
    ) -> Handled:
        """A failed attempt: the next one after the schedule's delay, or none if it was the last."""
        delay = scheduled_delay(
            attempt.number, self._settings.retry_schedule, self._settings.retry_jitter, self._rng
        )
        if delay is None:
            # Visibility 0: SQS moves the message to the DLQ on its next receive.
            self._set_visibility(attempt, 0)
            record = attempt.record(AttemptOutcome.EXHAUSTED, failure=failure, detail=detail)
            self._record(attempt, record)
            return attempt.handled(AttemptOutcome.EXHAUSTED, failure=failure)
        if retry_after is not None:
            delay = clamp_retry_after(retry_after, delay)
        self._set_visibility(attempt, delay)
        record = attempt.record(
            AttemptOutcome.RETRYING,
            failure=failure,
            detail=detail,
            next_attempt_at=attempt.now + delay,
        )
        self._record(attempt, record)
        return attempt.handled(AttemptOutcome.RETRYING, failure=failure, delay_seconds=delay)

    def _set_visibility(self, attempt: Attempt, seconds: int) -> None:
        try:
            self._queue.change_visibility(attempt.receipt_handle, seconds)
        except StorageUnavailable:
            # The message then reappears after the queue's own visibility timeout: later
            # than planned, never lost.
            logger.warning(
                "could not set the retry delay", extra={"delay": seconds, **attempt.log_keys()}
            )

    def _record(self, attempt: Attempt, record: AttemptRecord) -> None:
        expires_at = int(attempt.now) + self._settings.retention_days * 86400
        try:
            self._attempts.record_attempt(record, expires_at=expires_at)
        except StorageUnavailable:
            # The delivery itself stands; a lost attempt record must not cause a second POST.
            logger.exception(
                "could not record the attempt",
                extra={"outcome": str(record.outcome), **attempt.log_keys()},
            )


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""
