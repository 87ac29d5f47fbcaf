"""The dispatcher's rules: one queued delivery in, one attempt out, and what SQS should do next.

For each message: parse it (a malformed one goes straight to the DLQ with its
reason), find the subscription (gone or disabled: drop, with an attempt record
saying why), fetch a large body from S3, sign with every active secret, POST,
classify the response, record the attempt, and on failure set the message's
visibility to the next backoff before reporting it failed. The attempt number
is the message's ApproximateReceiveCount, so the queue's maxReceiveCount (the
schedule's length) moves the message to the DLQ after the last attempt.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
)
from hookhaven.ports import ConfigReader, StorageUnavailable
from hookhaven.retry import (
    OutcomeClass,
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
#: Headers a subscription's static headers may not replace (plus every webhook-* and
#: hookhaven-* name); ``subscriptions add`` refuses them by the same rule.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "user-agent", "transfer-encoding", "connection"}
)
RESERVED_HEADER_PREFIXES = ("webhook-", "hookhaven-")


def is_reserved_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_HEADER_PREFIXES)


class Result(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # failed; visibility set to the next backoff
    EXHAUSTED = "exhausted"  # failed for the last time; SQS moves it to the DLQ
    GONE = "gone"  # 410; subscription disabled
    DROPPED = "dropped"  # subscription deleted or disabled
    DEAD_LETTERED = "dead_lettered"  # malformed; sent to the DLQ by us
    ERROR = "error"  # unexpected; kept with the queue's default visibility

    @property
    def keeps_message(self) -> bool:
        """Whether SQS must keep the message (report it as a batch item failure)."""
        return self in (Result.RETRY, Result.EXHAUSTED, Result.ERROR)


@dataclass(frozen=True)
class Outcome:
    result: Result
    attempt: int
    failure: OutcomeClass | None = None
    latency_ms: float | None = None
    end_to_end_ms: float | None = None
    delay_seconds: int | None = None
    event_id: str | None = None
    subscription_id: str | None = None


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

    def process(self, delivery: QueuedDelivery) -> Outcome:
        attempt = delivery.receive_count
        try:
            message = DeliveryMessage.model_validate_json(delivery.body)
        except ValidationError as error:
            reason = f"malformed delivery message: {error.error_count()} problem(s)"
            self._queue.dead_letter(delivery.body, reason)
            logger.error("message sent to the DLQ", extra={"reason": reason})
            return Outcome(Result.DEAD_LETTERED, attempt)

        now = self._clock()
        subscription = self._subscriptions.get(message.subscription_id)
        if subscription is None or not subscription.enabled:
            reason = (
                "subscription deleted"
                if subscription is None
                else f"subscription disabled: {subscription.status_reason or 'by an operator'}"
            )
            self._record(message, attempt, now, AttemptOutcome.DROPPED, reason=reason)
            return Outcome(
                Result.DROPPED,
                attempt,
                event_id=message.event_id,
                subscription_id=message.subscription_id,
            )

        if message.body_ref is not None:
            try:
                body = self._bodies.get(message.body_ref)
            except StorageUnavailable as error:
                return self._failed(
                    delivery.receipt_handle,
                    message,
                    subscription,
                    attempt,
                    now,
                    OutcomeClass.STORAGE,
                    str(error),
                    None,
                )
        else:
            body = message.inline_body() or b""

        headers = delivery_headers(message, subscription, attempt, now, body)
        sent = self._sender.post(subscription.url, headers, body)
        if sent.status is None:
            assert sent.error is not None
            return self._failed(
                delivery.receipt_handle,
                message,
                subscription,
                attempt,
                now,
                sent.error,
                sent.error_detail,
                sent,
            )
        verdict = classify_status(sent.status)
        if verdict.delivered:
            self._record(message, attempt, now, AttemptOutcome.DELIVERED, subscription, sent)
            return Outcome(
                Result.DELIVERED,
                attempt,
                latency_ms=sent.latency_ms,
                end_to_end_ms=(self._clock() - message.received_at) * 1000,
                event_id=message.event_id,
                subscription_id=subscription.id,
            )
        if verdict.gone:
            reason = f"410 Gone from {_host(subscription.url)} at attempt {attempt}"
            self._subscriptions.disable(subscription.id, reason, now)
            self._record(
                message, attempt, now, AttemptOutcome.GONE, subscription, sent, reason=reason
            )
            return Outcome(
                Result.GONE,
                attempt,
                failure=verdict.failure,
                latency_ms=sent.latency_ms,
                event_id=message.event_id,
                subscription_id=subscription.id,
            )
        assert verdict.failure is not None
        retry_after = (
            parse_retry_after(sent.retry_after, now) if verdict.honour_retry_after else None
        )
        return self._failed(
            delivery.receipt_handle,
            message,
            subscription,
            attempt,
            now,
            verdict.failure,
            None,
            sent,
            retry_after,
        )

    def _failed(
        self,
        receipt: str,
        message: DeliveryMessage,
        subscription: Subscription,
        attempt: int,
        now: float,
        failure: OutcomeClass,
        detail: str | None,
        sent: SendResult | None,
        retry_after: int | None = None,
    ) -> Outcome:
        delay = scheduled_delay(
            attempt, self._settings.retry_schedule, self._settings.retry_jitter, self._rng
        )
        common = {
            "failure": failure,
            "latency_ms": sent.latency_ms if sent else None,
            "event_id": message.event_id,
            "subscription_id": subscription.id,
        }
        if delay is None:
            # Visibility 0: SQS moves the message to the DLQ on its next receive.
            self._set_visibility(receipt, 0, message)
            self._record(
                message,
                attempt,
                now,
                AttemptOutcome.EXHAUSTED,
                subscription,
                sent,
                error=failure,
                detail=detail,
            )
            return Outcome(Result.EXHAUSTED, attempt, **common)  # type: ignore[arg-type]
        if retry_after is not None:
            delay = clamp_retry_after(retry_after, delay)
        self._set_visibility(receipt, delay, message)
        self._record(
            message,
            attempt,
            now,
            AttemptOutcome.RETRYING,
            subscription,
            sent,
            error=failure,
            detail=detail,
            next_attempt_at=now + delay,
        )
        return Outcome(Result.RETRY, attempt, delay_seconds=delay, **common)  # type: ignore[arg-type]

    def _set_visibility(self, receipt: str, seconds: int, message: DeliveryMessage) -> None:
        try:
            self._queue.change_visibility(receipt, seconds)
        except StorageUnavailable:
            # The message then reappears after the queue's own visibility timeout: later
            # than planned, never lost.
            logger.warning(
                "could not set the retry delay", extra={"delay": seconds, **_ids(message)}
            )

    def _record(
        self,
        message: DeliveryMessage,
        attempt: int,
        now: float,
        outcome: AttemptOutcome,
        subscription: Subscription | None = None,
        sent: SendResult | None = None,
        *,
        reason: str | None = None,
        error: OutcomeClass | None = None,
        detail: str | None = None,
        next_attempt_at: float | None = None,
    ) -> None:
        record = AttemptRecord(
            event_id=message.event_id,
            subscription_id=message.subscription_id,
            attempt=attempt,
            at=now,
            outcome=outcome,
            url_host=_host(subscription.url) if subscription else None,
            status_code=sent.status if sent else None,
            error=str(error) if error else None,
            error_detail=detail,
            latency_ms=round(sent.latency_ms, 1) if sent else None,
            response_body=sent.response_body if sent and sent.response_body else None,
            next_attempt_at=next_attempt_at,
            reason=reason,
        )
        expires_at = int(now) + self._settings.retention_days * 86400
        try:
            self._attempts.record_attempt(record, expires_at=expires_at)
        except StorageUnavailable:
            # The delivery itself stands; a lost attempt record must not cause a second POST.
            logger.exception(
                "could not record the attempt", extra={"outcome": str(outcome), **_ids(message)}
            )


def _ids(message: DeliveryMessage) -> dict[str, str]:
    """Log keys for a delivery. Deliveries run in worker threads, so the logger's shared
    correlation id cannot be set per delivery; each line carries its own."""
    return {
        "correlation_id": message.event_id,
        "event_id": message.event_id,
        "subscription_id": message.subscription_id,
    }


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""
