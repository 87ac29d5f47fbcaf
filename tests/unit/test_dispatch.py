"""The dispatcher's rules with fakes: signing, outcomes, backoff, records. No AWS, no network."""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from svix.webhooks import Webhook as SvixWebhook

from hookhaven.dispatch import Dispatcher, NotAttempted, QueuedDelivery, SubscriptionCache
from hookhaven.memory import MemoryConfig
from hookhaven.models import (
    AttemptOutcome,
    AttemptRecord,
    BodyPointer,
    DeliveryMessage,
    Secret,
    Subscription,
)
from hookhaven.ports import StorageUnavailable, VisibilityRefused
from hookhaven.retry import FailureClass
from hookhaven.sender import SendResult
from hookhaven.signatures import new_standard_secret
from hookhaven.tunables import RuntimeTunables

NOW = 1_795_881_600.0
BODY = b'{"type":"order.created","data":{"order":"BH-1001"}}'


class Config(MemoryConfig):
    disabled: list[tuple[str, str]]

    def disable_subscription(self, subscription_id: str, reason: str, now: float) -> bool:
        old = self.subscriptions[subscription_id]
        self.subscriptions[subscription_id] = old.model_copy(
            update={"enabled": False, "status_reason": reason}
        )
        return old.enabled


@dataclass
class Attempts:
    records: list[AttemptRecord] = field(default_factory=list)
    fail: bool = False
    counted: int = 0  # how often the dispatcher asked how many attempts a message made

    def record_attempt(self, attempt: AttemptRecord, *, expires_at: int) -> None:
        if self.fail:
            raise StorageUnavailable("throttled")
        self.records.append(attempt)

    def message_history(
        self, event_id: str, subscription_id: str, message_id: str
    ) -> list[AttemptRecord]:
        self.counted += 1
        wanted = (event_id, subscription_id, message_id)
        return [r for r in self.records if (r.event_id, r.subscription_id, r.message_id) == wanted]


@dataclass
class Queue:
    visibility: list[tuple[str, int]] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)
    #: SQS refuses visibilities above this (what is left of a message's 12 hours).
    refuse_over: int | None = None
    dead_letters_fail: bool = False

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        if self.refuse_over is not None and seconds > self.refuse_over:
            raise VisibilityRefused(f"{seconds} s")
        self.visibility.append((receipt_handle, seconds))

    def dead_letter(self, body: str, reason: str) -> None:
        if self.dead_letters_fail:
            raise StorageUnavailable("throttled")
        self.dead.append((body, reason))


@dataclass
class Bodies:
    objects: dict[str, bytes] = field(default_factory=dict)

    def get(self, pointer: BodyPointer) -> bytes:
        if pointer.key not in self.objects:
            raise StorageUnavailable("no such body")
        return self.objects[pointer.key]


@dataclass
class FakeSender:
    result: SendResult = field(default_factory=lambda: SendResult(status=200, latency_ms=12.0))
    sent: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def post(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        self.sent.append((url, dict(headers), body))
        return self.result


def subscription(**fields) -> Subscription:
    values = {
        "id": "sub_1",
        "url": "https://inventory.bookhaven.example/hooks",
        "secrets": (Secret(value=new_standard_secret(), created_at=NOW),),
        "created_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return Subscription(**values)


def message(**fields) -> str:
    values = {
        "event_id": "evt_01JDQ4Z6Y8M0000000000000AB",
        "subscription_id": "sub_1",
        "source": "bookhaven",
        "event_type": "order.created",
        "received_at": NOW - 2,
        "content_type": "application/json",
        "body_b64": base64.b64encode(BODY).decode(),
        "body_size": len(BODY),
        **fields,
    }
    return DeliveryMessage(**values).model_dump_json(exclude_none=True)


@pytest.fixture
def world():
    config = Config()
    config.subscriptions["sub_1"] = subscription()
    attempts, queue, bodies, sender = Attempts(), Queue(), Bodies(), FakeSender()
    dispatcher = Dispatcher(
        subscriptions=SubscriptionCache(config, ttl=0),
        attempts=attempts,
        bodies=bodies,
        queue=queue,
        sender=sender,
        settings=RuntimeTunables(retry_schedule=(0, 5, 300), retry_jitter=0),
        clock=lambda: NOW,
        rng=random.Random(3),
    )
    return config, attempts, queue, bodies, sender, dispatcher


def deliver(
    dispatcher: Dispatcher,
    body: str | None = None,
    attempt: int = 1,
    *,
    receives: int | None = None,
    received_at: float = NOW,
    start_by: float | None = None,
):
    """Attempt number ``attempt`` of message m-1: the attempts before it are on record, and
    it has been received ``receives`` times (as many as its attempts, unless said)."""
    records = dispatcher._attempts.records  # type: ignore[attr-defined]
    for earlier in range(1, attempt):
        parsed = DeliveryMessage.model_validate_json(body or message())
        records.append(
            AttemptRecord(
                event_id=parsed.event_id,
                subscription_id=parsed.subscription_id,
                attempt=earlier,
                at=NOW - 100 + earlier,
                outcome=AttemptOutcome.RETRYING,
                message_id="m-1",
            )
        )
    return dispatcher.process(
        QueuedDelivery(
            message_id="m-1",
            body=body or message(),
            receive_count=receives or attempt,
            receipt_handle="rh-1",
            received_at=received_at,
        ),
        start_by=start_by,
    )


def test_every_active_secret_signs_and_each_verifies_alone(world):
    config, attempts, queue, bodies, sender, _ = world
    now = time.time()  # the official verifiers check the timestamp against the real clock
    old, new, expired = new_standard_secret(), new_standard_secret(), new_standard_secret()
    config.subscriptions["sub_1"] = subscription(
        secrets=(
            Secret(value=old, created_at=now - 100, expires_at=now + 3600),
            Secret(value=new, created_at=now),
            Secret(value=expired, created_at=now - 100, expires_at=now - 1),
        )
    )
    dispatcher = Dispatcher(
        subscriptions=SubscriptionCache(config, ttl=0),
        attempts=attempts,
        bodies=bodies,
        queue=queue,
        sender=sender,
        settings=RuntimeTunables(),
    )
    assert deliver(dispatcher).outcome is AttemptOutcome.DELIVERED
    _, headers, body = sender.sent[0]
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    svix_headers = {
        "svix-id": headers["webhook-id"],
        "svix-timestamp": headers["webhook-timestamp"],
        "svix-signature": headers["webhook-signature"],
    }
    SvixWebhook(new).verify(body, svix_headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(expired).verify(body, headers)


def test_delivery_headers_and_static_headers_that_cannot_override_them(world):
    config, *_, sender, dispatcher = world
    config.subscriptions["sub_1"] = subscription(
        headers={
            "Authorization": "Bearer inventory-token",
            "Webhook-Id": "forged",
            "hookhaven-source": "x",
        }
    )
    deliver(dispatcher, attempt=3)
    _, headers, body = sender.sent[0]
    assert body == BODY
    assert headers["Authorization"] == "Bearer inventory-token"
    assert "Webhook-Id" not in headers
    assert headers["webhook-id"] == "evt_01JDQ4Z6Y8M0000000000000AB"
    assert headers["hookhaven-source"] == "bookhaven"
    assert headers["hookhaven-event-type"] == "order.created"
    assert headers["hookhaven-attempt"] == "3"
    assert headers["webhook-timestamp"] == str(int(NOW))
    assert headers["content-type"] == "application/json"


def test_success_records_the_attempt_and_end_to_end_latency(world):
    _, attempts, queue, *_, dispatcher = world
    outcome = deliver(dispatcher)
    assert outcome.outcome is AttemptOutcome.DELIVERED
    assert outcome.end_to_end_ms == pytest.approx(2000)
    assert queue.visibility == []
    (record,) = attempts.records
    assert (record.outcome, record.status_code, record.url_host) == (
        AttemptOutcome.DELIVERED,
        200,
        "inventory.bookhaven.example",
    )


@pytest.mark.parametrize(
    ("status", "result", "failure"),
    [
        (204, AttemptOutcome.DELIVERED, None),
        (301, AttemptOutcome.RETRYING, FailureClass.STATUS_3XX),
        (400, AttemptOutcome.RETRYING, FailureClass.STATUS_4XX),
        (410, AttemptOutcome.GONE, FailureClass.STATUS_4XX),
        (429, AttemptOutcome.RETRYING, FailureClass.STATUS_4XX),
        (500, AttemptOutcome.RETRYING, FailureClass.STATUS_5XX),
        (503, AttemptOutcome.RETRYING, FailureClass.STATUS_5XX),
    ],
)
def test_status_outcomes(world, status, result, failure):
    *_, sender, dispatcher = world
    sender.result = SendResult(status=status, latency_ms=5)
    outcome = deliver(dispatcher)
    assert (outcome.outcome, outcome.failure) == (result, failure)
    assert outcome.keeps_message == (result is AttemptOutcome.RETRYING)


@pytest.mark.parametrize(
    "error",
    [FailureClass.TIMEOUT, FailureClass.CONNECTION, FailureClass.DNS, FailureClass.SSRF_BLOCKED],
)
def test_transport_failures_retry_on_the_schedule(world, error):
    _, attempts, queue, _, sender, dispatcher = world
    sender.result = SendResult(status=None, latency_ms=3, error=error, error_detail="boom")
    outcome = deliver(dispatcher, attempt=2)
    assert outcome.outcome is AttemptOutcome.RETRYING
    assert queue.visibility == [("rh-1", 300)]
    assert attempts.records[-1].error == str(error)
    assert attempts.records[-1].next_attempt_at == NOW + 300


def test_retry_after_is_clamped_to_twice_the_schedule(world):
    _, _, queue, _, sender, dispatcher = world
    sender.result = SendResult(status=503, latency_ms=1, retry_after="3600")
    deliver(dispatcher, attempt=1)
    assert queue.visibility == [("rh-1", 10)]


def test_retry_after_is_ignored_for_a_plain_500(world):
    _, _, queue, _, sender, dispatcher = world
    sender.result = SendResult(status=500, latency_ms=1, retry_after="9")
    deliver(dispatcher, attempt=1)
    assert queue.visibility == [("rh-1", 5)]


def test_after_the_last_attempt_the_dispatcher_moves_the_delivery_to_the_dlq_itself(world):
    _, attempts, queue, _, sender, dispatcher = world
    sender.result = SendResult(status=500, latency_ms=1)
    outcome = deliver(dispatcher, attempt=3)
    assert outcome.outcome is AttemptOutcome.EXHAUSTED
    assert not outcome.keeps_message  # sent to the DLQ: SQS deletes it here
    assert queue.visibility == []
    ((body, reason),) = queue.dead
    assert body == message()
    assert reason == "retries exhausted after 3 attempts: status_5xx"
    assert attempts.records[-1].outcome is AttemptOutcome.EXHAUSTED
    assert attempts.records[-1].message_id == "m-1"


def test_receives_that_attempted_nothing_spend_no_attempt(world):
    """Two attempts made, but received five times (throttled invocations, a timeout): this
    is attempt 3, not 5, and the delivery is not given up."""
    _, attempts, queue, _, sender, dispatcher = world
    sender.result = SendResult(status=500, latency_ms=1)
    outcome = deliver(dispatcher, attempt=3, receives=5)
    assert outcome.attempt == 3
    assert sender.sent[0][1]["hookhaven-attempt"] == "3"
    assert attempts.records[-1].attempt == 3
    attempts.records.clear()
    sender.sent.clear()
    outcome = deliver(dispatcher, attempt=2, receives=7)
    assert outcome.outcome is AttemptOutcome.RETRYING
    assert queue.visibility[-1] == ("rh-1", 300)  # the delay after attempt 2, not the DLQ


def test_a_first_receive_needs_no_count_of_earlier_attempts(world):
    _, attempts, *_, dispatcher = world
    deliver(dispatcher)
    assert attempts.counted == 0
    deliver(dispatcher, attempt=2)
    assert attempts.counted == 1


def test_a_failed_move_to_the_dlq_keeps_the_message_and_the_next_receive_moves_it(world):
    *_, queue, _, sender, dispatcher = world
    sender.result = SendResult(status=500, latency_ms=1)
    queue.dead_letters_fail = True
    outcome = deliver(dispatcher, attempt=3)
    assert outcome.outcome is AttemptOutcome.EXHAUSTED
    assert outcome.keeps_message
    assert queue.visibility == [("rh-1", 60)]
    queue.dead_letters_fail = False
    sender.sent.clear()
    again = dispatcher.process(
        QueuedDelivery(
            message_id="m-1",
            body=message(),
            receive_count=4,
            receipt_handle="rh-2",
            received_at=NOW,
        )
    )
    assert again.outcome is NotAttempted.PARKED
    assert not again.keeps_message
    assert sender.sent == []  # no fourth request
    assert queue.dead == [(message(), "retries exhausted after 3 attempts")]


def test_a_long_delay_is_capped_at_what_is_left_of_the_twelve_hours(world):
    """SQS counts visibility from the receive, 12 h at most, and refuses more than is left."""
    _, attempts, queue, _, sender, dispatcher = world
    dispatcher._settings = RuntimeTunables(retry_schedule=(0, 43200, 43200), retry_jitter=0)
    sender.result = SendResult(status=503, latency_ms=1)
    deliver(dispatcher, received_at=NOW - 3600)  # received an hour ago
    left = 43200 - 3600 - 60
    assert queue.visibility == [("rh-1", left)]
    assert attempts.records[-1].next_attempt_at == NOW + left  # true to what was set


def test_a_refused_visibility_is_asked_again_shorter_not_given_up(world):
    _, attempts, queue, _, sender, dispatcher = world
    dispatcher._settings = RuntimeTunables(retry_schedule=(0, 43200, 43200), retry_jitter=0)
    sender.result = SendResult(status=500, latency_ms=1)
    queue.refuse_over = 42600  # received earlier than the dispatcher could know
    deliver(dispatcher, received_at=NOW)
    (set_,) = queue.visibility
    assert set_ == ("rh-1", 43200 - 60 - 2 * 300)
    assert attempts.records[-1].next_attempt_at == NOW + set_[1]


def test_a_delivery_not_started_in_time_comes_back_without_spending_an_attempt(world):
    _, attempts, queue, _, sender, dispatcher = world
    dispatcher._monotonic = lambda: 100.0
    outcome = deliver(dispatcher, start_by=99.0)
    assert outcome.outcome is NotAttempted.DEFERRED
    assert outcome.keeps_message
    assert sender.sent == []
    assert attempts.records == []  # nothing to count against the schedule
    assert queue.visibility == [("rh-1", 0)]  # back at once, for another invocation


def test_410_disables_with_a_reason(world):
    config, attempts, _, _, sender, dispatcher = world
    sender.result = SendResult(status=410, latency_ms=1)
    assert deliver(dispatcher).outcome is AttemptOutcome.GONE
    stored = config.subscriptions["sub_1"]
    assert stored.enabled is False
    assert stored.status_reason is not None
    assert "410" in stored.status_reason
    assert attempts.records[0].outcome is AttemptOutcome.GONE


def test_disabled_subscription_is_dropped_without_a_request(world):
    config, attempts, _, _, sender, dispatcher = world
    config.subscriptions["sub_1"] = subscription(enabled=False, status_reason="paused by ops")
    assert deliver(dispatcher).outcome is AttemptOutcome.DROPPED
    assert sender.sent == []
    assert attempts.records[0].reason == "subscription disabled: paused by ops"


def test_malformed_message_is_parked_with_its_reason(world):
    _, _, queue, _, sender, dispatcher = world
    outcome = deliver(dispatcher, body='{"event_id": 1}')
    assert outcome.outcome is NotAttempted.MALFORMED
    assert not outcome.keeps_message
    assert queue.dead[0][0] == '{"event_id": 1}'
    assert "malformed" in queue.dead[0][1]
    assert sender.sent == []


def test_body_by_pointer_comes_from_storage(world):
    _, _, _, bodies, sender, dispatcher = world
    bodies.objects["bodies/bookhaven/evt"] = b"\x00" * 100_000
    pointer = {"bucket": "b", "key": "bodies/bookhaven/evt"}
    deliver(dispatcher, body=message(body_b64=None, body_ref=pointer, body_size=100_000))
    assert sender.sent[0][2] == b"\x00" * 100_000


def test_storage_failure_for_the_body_retries_on_the_schedule(world):
    *_, sender, dispatcher = world
    pointer = {"bucket": "b", "key": "bodies/missing"}
    outcome = deliver(dispatcher, body=message(body_b64=None, body_ref=pointer, body_size=1))
    assert outcome.outcome is AttemptOutcome.RETRYING
    assert outcome.failure is FailureClass.STORAGE
    assert sender.sent == []


def test_a_lost_attempt_record_does_not_undo_a_delivery(world):
    _, attempts, *_, dispatcher = world
    attempts.fail = True
    assert deliver(dispatcher).outcome is AttemptOutcome.DELIVERED


def test_a_subscription_newer_than_the_cache_is_delivered_not_dropped(world):
    config, attempts, queue, bodies, sender, _ = world
    dispatcher = Dispatcher(
        subscriptions=SubscriptionCache(config, ttl=3600),
        attempts=attempts,
        bodies=bodies,
        queue=queue,
        sender=sender,
        settings=RuntimeTunables(),
        clock=lambda: NOW,
    )
    assert deliver(dispatcher).outcome is AttemptOutcome.DELIVERED  # loads the cache
    config.subscriptions["sub_new"] = subscription(id="sub_new")
    outcome = deliver(dispatcher, body=message(subscription_id="sub_new"))
    assert outcome.outcome is AttemptOutcome.DELIVERED
    del config.subscriptions["sub_new"]
    assert (
        deliver(dispatcher, body=message(subscription_id="sub_gone")).outcome
        is AttemptOutcome.DROPPED
    )
