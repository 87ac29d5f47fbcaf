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
   backoff (Retry-After honoured within bounds) before it is reported failed; after the
   last attempt, move the message to the DLQ (send there, then let SQS delete it here).

Attempts are counted from what the dispatcher did, not from receives: a receive whose
invocation was throttled, crashed or ran out of time made no request and must not spend
an attempt. The number of a message's attempt is one more than the attempt records it
already has (none on its first receive); the queue's redrive policy is only a backstop,
with slack above the number of attempts.

SQS counts a message's visibility from the moment it was received, 12 hours at most in
all, and refuses a ChangeMessageVisibility asking for more than is left
(``hookhaven.quotas.SQS_VISIBILITY_MAX``). Every delay is capped at what is left, and the
attempt record says when the next attempt really is.
"""

from __future__ import annotations

import contextlib
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
from hookhaven.control import (
    IN_INVOCATION_WAIT_SECONDS,
    Admitted,
    ControlSettings,
    ControlStore,
    DeliveryControl,
    Held,
    Hold,
    whole_seconds_until,
)
from hookhaven.models import (
    AttemptOutcome,
    AttemptRecord,
    BodyPointer,
    DeliveryMessage,
    Subscription,
    is_reserved_header,
)
from hookhaven.operational import (
    NoOperationalEvents,
    OperationalEvents,
    delivery_exhausted,
    iso,
)
from hookhaven.ports import StorageUnavailable, VisibilityRefused
from hookhaven.quotas import SQS_VISIBILITY_MAX
from hookhaven.retry import (
    FailureClass,
    clamp_retry_after,
    classify_status,
    parse_retry_after,
    scheduled_delay,
)
from hookhaven.sender import SendResult
from hookhaven.signatures import standard_signature_header
from hookhaven.tunables import (
    AWS_CALL_WORST_SECONDS,
    VISIBILITY_MARGIN_SECONDS,
    RuntimeTunables,
)

logger = logging.getLogger(__name__)

USER_AGENT = f"hookhaven/{__version__}"
#: When SQS refuses a visibility anyway, ask again for this much less, a few times.
VISIBILITY_RETRY_STEP_SECONDS = 300
VISIBILITY_RETRIES = 3
#: A message that could not be moved to the DLQ comes back this soon to be moved again.
DEAD_LETTER_RETRY_SECONDS = 60
#: A rate slot or in-flight lease could not be had: back this soon, no attempt spent.
CONTROL_UNAVAILABLE_SECONDS = 1


class NotAttempted(StrEnum):
    """Why a queued message was not attempted at all."""

    MALFORMED = "malformed"  # not a delivery message: parked in the DLQ with its reason
    DEFERRED = "deferred"  # the invocation's time ran short: back at once, no attempt spent
    PARKED = "parked"  # its attempts were used up on an earlier receive: moved to the DLQ now
    ERROR = "error"  # an unexpected error: kept, back after the queue's visibility timeout


@dataclass(frozen=True)
class Handled:
    """What became of one queued message: an attempt's outcome, or why there was none, and
    whether SQS must keep the message (a batch item failure) or may delete it."""

    outcome: AttemptOutcome | NotAttempted
    attempt: int
    keeps_message: bool
    failure: FailureClass | None = None
    latency_ms: float | None = None
    end_to_end_ms: float | None = None
    delay_seconds: int | None = None
    event_id: str | None = None
    subscription_id: str | None = None
    #: Held back: why (``AttemptOutcome.HELD``).
    hold: Hold | None = None
    #: What this attempt did to its subscription's circuit: "opened", "closed", "disabled".
    circuit: str | None = None


@dataclass(frozen=True)
class QueuedDelivery:
    """What the dispatcher needs from one SQS record."""

    message_id: str
    body: str
    receive_count: int
    receipt_handle: str
    #: When SQS handed this message over (epoch seconds): its 12 h visibility ceiling
    #: counts from then. Exact on a first receive; an early estimate on later ones.
    received_at: float


class SubscriptionStore(Protocol):
    """What the dispatcher reads and writes of the configuration: subscriptions only."""

    def list_subscriptions(self) -> list[Subscription]: ...

    def get_subscription(self, subscription_id: str) -> Subscription | None: ...

    def disable_subscription(self, subscription_id: str, reason: str, now: float) -> bool:
        """True if this call disabled it (it was there, and enabled)."""
        ...


class AttemptStore(Protocol):
    def record_attempt(self, attempt: AttemptRecord, *, expires_at: int) -> None: ...

    def message_history(
        self, event_id: str, subscription_id: str, message_id: str
    ) -> list[AttemptRecord]:
        """The records (attempts and holds) made from this SQS message, strongly consistent."""
        ...


class BodyReader(Protocol):
    def get(self, pointer: BodyPointer) -> bytes: ...


class QueueControl(Protocol):
    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """``VisibilityRefused`` when SQS refuses the value, ``StorageUnavailable`` else."""
        ...

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

    def disable(self, subscription_id: str, reason: str, now: float) -> bool:
        try:
            return self._store.disable_subscription(subscription_id, reason, now)
        finally:
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

    queued: QueuedDelivery
    message: DeliveryMessage
    number: int
    now: float
    subscription: Subscription | None = None
    sent: SendResult | None = field(default=None, repr=False)

    def handled(
        self,
        outcome: AttemptOutcome | NotAttempted,
        *,
        keeps_message: bool = False,
        failure: FailureClass | None = None,
        end_to_end_ms: float | None = None,
        delay_seconds: int | None = None,
    ) -> Handled:
        return Handled(
            outcome,
            self.number,
            keeps_message,
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
        hold: Hold | None = None,
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
            message_id=self.queued.message_id,
            hold=str(hold) if hold else None,
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
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        operational: OperationalEvents | None = None,
        control: ControlStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._operational = operational or NoOperationalEvents()
        if control is None:  # tests and benchmarks; Lambda is given DynamoDB's (wiring)
            from hookhaven.memory import MemoryControlStore

            control = MemoryControlStore()
        self._control = DeliveryControl(
            control,
            subscriptions,
            self._operational,
            ControlSettings(
                failure_threshold=settings.circuit_failure_threshold,
                probe_seconds=settings.circuit_probe_seconds,
                probe_max_seconds=settings.circuit_probe_max_seconds,
                disable_after_seconds=settings.disable_after_failing,
                request_timeout_seconds=settings.request_timeout_seconds,
            ),
            rng=rng,
            monotonic=monotonic,
        )
        self._sleep = sleep
        self._subscriptions = subscriptions
        self._attempts = attempts
        self._bodies = bodies
        self._queue = queue
        self._sender = sender
        self._settings = settings
        self._clock = clock
        self._monotonic = monotonic
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)

    def process(self, queued: QueuedDelivery, *, start_by: float | None = None) -> Handled:
        """``start_by``: a ``monotonic`` time after which no new request may start (the
        invocation would not be there to see it through); the message then comes back at
        once, without spending an attempt."""
        message = self._parse(queued)
        if message is None:
            return Handled(NotAttempted.MALFORMED, 0, keeps_message=False)
        if start_by is not None and self._monotonic() > start_by:
            return self._defer(queued, message)
        history = (
            []
            if queued.receive_count == 1
            else self._attempts.message_history(
                message.event_id, message.subscription_id, queued.message_id
            )
        )
        made = sum(1 for record in history if record.outcome.attempted)
        attempt = Attempt(queued=queued, message=message, number=made + 1, now=self._clock())
        if made >= self._settings.max_attempts:
            return self._park(replace(attempt, number=made))
        subscription = self._subscriptions.get(message.subscription_id)
        if subscription is None or not subscription.enabled:
            return self._drop(attempt, subscription)
        attempt = replace(attempt, subscription=subscription)
        try:
            gate = self._control.admit(subscription, history, attempt.now, queued.receive_count)
        except StorageUnavailable:
            logger.warning("delivery control unavailable", extra=attempt.log_keys())
            return self._defer(queued, message, seconds=CONTROL_UNAVAILABLE_SECONDS)
        if isinstance(gate, Held):
            return self._hold(attempt, gate)
        if start_by is not None and self._monotonic() + gate.wait(self._clock()) > start_by:
            # Delivery control's calls took the time left: come back, nothing spent.
            self._control.release(subscription, gate)
            return self._defer(queued, message)
        try:
            try:
                body = self._fetch_body(message)
            except StorageUnavailable as error:
                return self._schedule(attempt, FailureClass.STORAGE, detail=str(error))
            if gate.slot is not None:
                went = self._wait_for_slot(subscription, gate)
                if isinstance(went, Held):
                    return self._hold(attempt, went)
                attempt = replace(attempt, now=went)
            attempt = replace(attempt, sent=self._send(attempt, subscription, body))
            handled = self._classify(attempt, subscription)
        finally:
            self._control.release(subscription, gate)
        # The attempt is recorded and its retry set: what follows (the circuit's count, an
        # operational event) runs only if a call with all its retries still fits in the
        # invocation, which would otherwise be cut short with deliveries it had made.
        ends = None if start_by is None else start_by + self._settings.delivery_reserve_seconds
        if ends is not None and self._monotonic() + AWS_CALL_WORST_SECONDS > ends:
            logger.warning("circuit not told: the invocation is ending", extra=attempt.log_keys())
            return handled
        return self._settle(attempt, subscription, gate, handled)

    def _wait_for_slot(self, subscription: Subscription, gate: Admitted) -> Held | float:
        """Wait (less than a second) for the delivery's rate slot, by the clock. Returns
        the time it goes at, never before its slot nor more than one interval after (a
        thread that woke later takes the next free slot), or a hold when the slot it can
        have is further than a second away."""
        assert gate.slot is not None
        slot = gate.slot
        for _ in range(3):
            wait = slot - self._clock()
            if wait > 0:
                self._sleep(wait)
            now = self._clock()
            try:
                later = self._control.late(subscription, replace(gate, slot=slot), now)
            except StorageUnavailable:
                return now  # cannot tell: it goes now, perhaps a little late
            if later is None:
                return now
            slot = later
            if slot - self._clock() > IN_INVOCATION_WAIT_SECONDS:
                break
        return Held(
            Hold.RATE_LIMIT, slot, f"rate limit {subscription.rate}: its slot is at {iso(slot)}"
        )

    def _settle(
        self, attempt: Attempt, subscription: Subscription, gate: Admitted, handled: Handled
    ) -> Handled:
        """Tell the circuit breaker how the request went."""
        host = _host(subscription.url)
        if handled.outcome is AttemptOutcome.DELIVERED:
            if gate.probe or gate.circuit.failures or gate.circuit.is_open:
                closed = self._control.succeeded(subscription, self._clock(), host)
                return replace(handled, circuit="closed") if closed else handled
            return handled
        if handled.outcome in (AttemptOutcome.RETRYING, AttemptOutcome.EXHAUSTED):
            assert handled.failure is not None
            change = self._control.failed(
                subscription, self._clock(), str(handled.failure), host, probe=gate.probe
            )
            return replace(handled, circuit=change) if change else handled
        return handled

    def _hold(self, attempt: Attempt, held: Held) -> Handled:
        """Held back by delivery control: no request, no attempt spent; hidden until it may
        go (a rate slot: up to a second early, then it waits for the slot inside)."""
        now = self._clock()
        if held.hold is Hold.RATE_LIMIT:
            seconds = max(1, int(held.until - now))
        else:
            seconds = whole_seconds_until(held.until, now)
        if held.record:
            record = attempt.record(
                AttemptOutcome.HELD, reason=held.reason, next_attempt_at=held.until, hold=held.hold
            )
            self._record(attempt, record)
        _set_at, seconds_set = self._set_visibility(attempt.queued, seconds, attempt)
        return replace(
            attempt.handled(AttemptOutcome.HELD, keeps_message=True, delay_seconds=seconds_set),
            hold=held.hold,
        )

    def _parse(self, queued: QueuedDelivery) -> DeliveryMessage | None:
        try:
            return DeliveryMessage.model_validate_json(queued.body)
        except ValidationError as error:
            reason = f"malformed delivery message: {error.error_count()} problem(s)"
            self._queue.dead_letter(queued.body, reason)
            logger.error("message sent to the DLQ", extra={"reason": reason})
            return None

    def _defer(
        self, queued: QueuedDelivery, message: DeliveryMessage, *, seconds: int = 0
    ) -> Handled:
        with contextlib.suppress(StorageUnavailable):  # else back after the queue's timeout
            self._queue.change_visibility(queued.receipt_handle, seconds)
        return Handled(
            NotAttempted.DEFERRED,
            0,
            keeps_message=True,
            event_id=message.event_id,
            subscription_id=message.subscription_id,
        )

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
            self._control.disable(subscription.id, reason, attempt.now, _host(subscription.url))
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
        """A failed attempt: the next one after the schedule's delay, or to the DLQ if it was
        the last."""
        delay = scheduled_delay(
            attempt.number, self._settings.retry_schedule, self._settings.retry_jitter, self._rng
        )
        if delay is None:
            return self._exhaust(attempt, failure, detail)
        if retry_after is not None:
            delay = clamp_retry_after(retry_after, delay)
        set_at, delay_set = self._set_visibility(attempt.queued, delay, attempt)
        record = attempt.record(
            AttemptOutcome.RETRYING,
            failure=failure,
            detail=detail,
            # When it really comes back: the delay may have been shortened to fit the 12 h
            # SQS allows; None when SQS could not be told (then its own timeout applies).
            next_attempt_at=set_at + delay_set if delay_set is not None else None,
        )
        self._record(attempt, record)
        return attempt.handled(
            AttemptOutcome.RETRYING, keeps_message=True, failure=failure, delay_seconds=delay_set
        )

    def _exhaust(self, attempt: Attempt, failure: FailureClass, detail: str | None) -> Handled:
        """The last attempt failed: recorded first (so a later receive knows), then the
        message goes to the DLQ, sent there before SQS deletes it here."""
        record = attempt.record(AttemptOutcome.EXHAUSTED, failure=failure, detail=detail)
        self._record(attempt, record)
        reason = f"retries exhausted after {attempt.number} attempts: {failure}"
        moved = self._dead_letter(attempt, reason)
        message = attempt.message
        self._operational.publish(
            delivery_exhausted(
                event_id=message.event_id,
                subscription_id=message.subscription_id,
                source=message.source,
                event_type=message.event_type,
                attempts=attempt.number,
                last_failure=str(failure),
                at=attempt.now,
                url_host=_host(attempt.subscription.url) if attempt.subscription else None,
            )
        )
        return attempt.handled(AttemptOutcome.EXHAUSTED, keeps_message=not moved, failure=failure)

    def _park(self, attempt: Attempt) -> Handled:
        """Its attempts were used up on an earlier receive, whose move to the DLQ failed."""
        reason = f"retries exhausted after {attempt.number} attempts"
        moved = self._dead_letter(attempt, reason)
        return attempt.handled(NotAttempted.PARKED, keeps_message=not moved)

    def _dead_letter(self, attempt: Attempt, reason: str) -> bool:
        try:
            self._queue.dead_letter(attempt.queued.body, reason)
        except StorageUnavailable:
            logger.warning(
                "could not move the delivery to the DLQ; it stays queued and moves on its "
                "next receive",
                extra=attempt.log_keys(),
            )
            with contextlib.suppress(StorageUnavailable):
                self._queue.change_visibility(
                    attempt.queued.receipt_handle, DEAD_LETTER_RETRY_SECONDS
                )
            return False
        return True

    def _set_visibility(
        self, queued: QueuedDelivery, seconds: int, attempt: Attempt
    ) -> tuple[float, int | None]:
        """Hide the message for ``seconds``, or for what is left of its 12 hours if that is
        less. Returns when it was set and for how long (None: SQS could not be told)."""
        now = self._clock()
        left = SQS_VISIBILITY_MAX.value - (now - queued.received_at) - VISIBILITY_MARGIN_SECONDS
        seconds = max(0, min(seconds, int(left)))
        for _ in range(VISIBILITY_RETRIES):
            try:
                self._queue.change_visibility(queued.receipt_handle, seconds)
                return now, seconds
            except VisibilityRefused:
                # Received earlier than estimated: ask for less, never give up the delay.
                seconds = max(0, seconds - VISIBILITY_RETRY_STEP_SECONDS)
            except StorageUnavailable:
                break
        # The message then reappears after the queue's own visibility timeout: later than
        # planned, never lost.
        logger.warning(
            "could not set the retry delay", extra={"delay": seconds, **attempt.log_keys()}
        )
        return now, None

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
