"""The dispatcher handler under mock_aws, delivering to real HTTP servers on 127.0.0.1.

Batches come from the deliveries queue through the same poller the local stack
uses, so partial failures, visibility and the DLQ behave as with Lambda's event
source mapping.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from standardwebhooks.webhooks import Webhook

from hookhaven.aws.dynamodb import DynamoEventStore
from hookhaven.local.poller import QueuePoller
from hookhaven.models import AttemptOutcome, BodyPointer
from hookhaven.resources import BODY_PREFIX
from hookhaven.signatures import standard_signature
from hookhaven.tunables import Tunables
from tests.conftest import FakeLambdaContext, function_logs
from tests.integration.helpers import add_subscription, config, enqueue, queue_depth
from tests.subscribers import Reply, Subscriber


@pytest.fixture
def tunables() -> Tunables:
    # Three attempts, one second apart, no jitter: retries and the DLQ within a test.
    return Tunables.from_context(
        {"retry_schedule": ["0s", "1s", "1s"], "retry_jitter": 0, "request_timeout_seconds": 2}
    )


@pytest.fixture
def poll(aws, dispatcher_function):
    poller = QueuePoller(
        boto3.client("sqs"), aws.deliveries_queue_url, dispatcher_function.handler, wait_seconds=0
    )
    return poller.poll_once


def attempts(aws, event_id: str):
    return DynamoEventStore(boto3.client("dynamodb"), aws.events_table).attempts(event_id)


def test_delivery_is_signed_and_carries_the_original_bytes(aws, poll):
    with Subscriber() as inventory:
        subscription = add_subscription(
            aws, url=inventory.url, headers={"x-team": "inventory", "webhook-id": "forged"}
        )
        body = b'{"type":"order.created","data":{"order":"BH-1001","note":"caf\xc3\xa9"}}'
        message = enqueue(aws, subscription, body, content_type="application/json; charset=utf-8")
        result = poll()

    assert result.received == 1
    assert result.failed == set()
    (received,) = inventory.received
    assert received.body == body
    headers = received.headers
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["webhook-id"] == message.event_id
    assert headers["hookhaven-source"] == "bookhaven"
    assert headers["hookhaven-event-type"] == "order.created"
    assert headers["hookhaven-attempt"] == "1"
    assert headers["user-agent"].startswith("hookhaven/")
    assert headers["x-team"] == "inventory"
    # The provider-independent check a subscriber runs, with the official library.
    Webhook(subscription.secrets[0].value).verify(body, headers)
    (attempt,) = attempts(aws, message.event_id)
    assert attempt.outcome is AttemptOutcome.DELIVERED
    assert attempt.status_code == 200
    assert attempt.url_host == "127.0.0.1"
    assert attempt.response_body == "ok"
    assert queue_depth(aws.deliveries_queue_url) == 0


def test_a_500_is_retried_on_the_next_receive_with_the_same_webhook_id(aws, poll):
    with Subscriber(lambda n: Reply(500, body=b"db down") if n == 0 else Reply()) as warehouse:
        subscription = add_subscription(aws, url=warehouse.url)
        message = enqueue(aws, subscription)
        first = poll()
        assert first.failed == {next(iter(first.failed))}
        assert poll().received == 0  # invisible for the scheduled second
        time.sleep(1.2)
        second = poll()
    assert second.received == 1
    assert second.failed == set()
    one, two = warehouse.received
    assert one.headers["webhook-id"] == two.headers["webhook-id"] == message.event_id
    assert (one.headers["hookhaven-attempt"], two.headers["hookhaven-attempt"]) == ("1", "2")
    history = sorted(attempts(aws, message.event_id), key=lambda a: a.attempt)
    assert [(a.attempt, a.outcome, a.status_code) for a in history] == [
        (1, AttemptOutcome.RETRYING, 500),
        (2, AttemptOutcome.DELIVERED, 200),
    ]
    assert history[0].response_body == "db down"
    assert history[0].next_attempt_at is not None
    assert 0.9 <= history[0].next_attempt_at - history[0].at <= 1.1


def test_410_disables_the_subscription_and_stops(aws, poll):
    with Subscriber(lambda n: Reply(410, body=b"gone")) as email:
        subscription = add_subscription(aws, url=email.url)
        message = enqueue(aws, subscription)
        assert poll().failed == set()  # nothing left to retry
        later = enqueue(aws, subscription)
        assert poll().failed == set()
    assert len(email.received) == 1
    (stored,) = [s for s in config(aws).list_subscriptions() if s.id == subscription.id]
    assert stored.enabled is False
    assert stored.status_reason is not None
    assert "410" in stored.status_reason
    assert attempts(aws, message.event_id)[0].outcome is AttemptOutcome.GONE
    (dropped,) = attempts(aws, later.event_id)
    assert dropped.outcome is AttemptOutcome.DROPPED
    assert dropped.reason is not None
    assert "disabled" in dropped.reason
    assert queue_depth(aws.deliveries_queue_url) == 0


class RecordingSqs:
    def __init__(self, client: Any) -> None:
        self._client = client
        self.visibility: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def change_message_visibility(self, **kwargs: Any) -> Any:
        self.visibility.append(kwargs["VisibilityTimeout"])
        return self._client.change_message_visibility(**kwargs)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("1", 1), ("100", 2), ("0", 1), ("soon", 1)],
    ids=["honoured", "capped-at-twice-scheduled", "never-sooner-than-scheduled", "unparseable"],
)
def test_429_retry_after_sets_the_visibility_within_bounds(
    aws, poll, dispatcher_function, retry_after, expected
):
    recording = RecordingSqs(dispatcher_function.dispatcher._queue._client)
    dispatcher_function.dispatcher._queue._client = recording
    with Subscriber(lambda n: Reply(429, headers={"Retry-After": retry_after})) as busy:
        enqueue(aws, add_subscription(aws, url=busy.url))
        poll()
    assert recording.visibility == [expected]


def test_a_retry_after_of_five_thousand_digits_backs_off_instead_of_crashing(aws, poll):
    """int() refuses over 4,300 digits: the delivery crashed, left no attempt record and
    burned through its receives in minutes."""
    huge = "9" * 5000
    with Subscriber(lambda n: Reply(503, headers={"Retry-After": huge})) as busy:
        message = enqueue(aws, add_subscription(aws, url=busy.url))
        result = poll()
    assert result.error is None
    (attempt,) = attempts(aws, message.event_id)
    assert attempt.outcome is AttemptOutcome.RETRYING
    assert attempt.next_attempt_at is not None
    assert attempt.next_attempt_at - attempt.at <= 2 + 1  # twice the scheduled 1 s, at most


def test_a_hanging_endpoint_times_out_while_the_rest_of_the_batch_is_delivered(aws, poll):
    with (
        Subscriber(lambda n: Reply(delay=12)) as hanging,
        Subscriber() as healthy,
    ):
        stuck = enqueue(aws, add_subscription(aws, url=hanging.url))
        for _ in range(5):
            enqueue(aws, add_subscription(aws, url=healthy.url))
        started = time.time()
        result = poll()
        finished = time.time()
    assert result.received == 6
    assert len(result.failed) == 1
    assert len(healthy.received) == 5
    # Healthy deliveries did not wait for the hanging one, and nobody waited 12 s for it.
    assert max(r.at for r in healthy.received) - started < 1.5
    assert finished - started < 8
    (attempt,) = attempts(aws, stuck.event_id)
    assert attempt.error == "timeout"
    assert attempt.outcome is AttemptOutcome.RETRYING


def test_after_the_last_attempt_the_dispatcher_moves_the_delivery_to_the_dlq(aws, poll):
    with Subscriber(lambda n: Reply(503)) as down:
        message = enqueue(aws, add_subscription(aws, url=down.url))
        for _ in range(3):
            assert poll().received == 1
            time.sleep(1.2)
        # Moved by the dispatcher after its third attempt, not by SQS's redrive (a backstop
        # that would take ten more receives).
        assert queue_depth(aws.deliveries_queue_url) == 0
        assert poll().received == 0
    assert len(down.received) == 3
    dead = (
        boto3.client("sqs")
        .receive_message(QueueUrl=aws.dead_letter_queue_url, MessageAttributeNames=["All"])
        .get("Messages")
    )
    assert dead is not None
    assert json.loads(dead[0]["Body"])["event_id"] == message.event_id
    reason = dead[0]["MessageAttributes"]["hookhaven-reason"]["StringValue"]
    assert reason == "retries exhausted after 3 attempts: status_5xx"
    outcomes = [a.outcome for a in sorted(attempts(aws, message.event_id), key=lambda a: a.attempt)]
    assert outcomes == [AttemptOutcome.RETRYING, AttemptOutcome.RETRYING, AttemptOutcome.EXHAUSTED]


def test_a_large_body_is_fetched_from_s3(aws, poll):
    body = b"\x00binary\xff" * 20000
    key = BODY_PREFIX + "bookhaven/evt_large"
    boto3.client("s3").put_object(Bucket=aws.bodies_bucket, Key=key, Body=body)
    with Subscriber() as archive:
        subscription = add_subscription(aws, url=archive.url)
        enqueue(
            aws,
            subscription,
            body,
            content_type="application/octet-stream",
            body_ref=BodyPointer(bucket=aws.bodies_bucket, key=key),
        )
        assert poll().failed == set()
    received = archive.received[0]
    assert received.body == body
    # The standardwebhooks library only verifies UTF-8 bodies; check the spec's HMAC directly.
    expected = standard_signature(
        subscription.secrets[0].value,
        received.headers["webhook-id"],
        int(received.headers["webhook-timestamp"]),
        body,
    )
    assert received.headers["webhook-signature"] == expected


def test_a_deleted_subscription_is_dropped_with_a_reason(aws, poll):
    ghost = add_subscription(aws)
    message = enqueue(aws, ghost)
    boto3.client("dynamodb").delete_item(
        TableName=aws.config_table, Key={"pk": {"S": "SUBSCRIPTION"}, "sk": {"S": ghost.id}}
    )
    assert poll().failed == set()
    (attempt,) = attempts(aws, message.event_id)
    assert attempt.outcome is AttemptOutcome.DROPPED
    assert attempt.reason == "subscription deleted"


def test_a_malformed_message_goes_to_the_dlq_on_its_first_receive_with_its_reason(aws, poll):
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=aws.deliveries_queue_url, MessageBody="{not json")
    with Subscriber() as fine:
        good = enqueue(aws, add_subscription(aws, url=fine.url))
        result = poll()
    assert result.received == 2
    assert result.failed == set()
    assert fine.received[0].headers["webhook-id"] == good.event_id
    (dead,) = sqs.receive_message(
        QueueUrl=aws.dead_letter_queue_url, MessageAttributeNames=["All"]
    )["Messages"]
    assert dead["Body"] == "{not json"
    assert "malformed" in dead["MessageAttributes"]["hookhaven-reason"]["StringValue"]


def test_an_internal_address_is_blocked_at_delivery_and_retried(aws, poll):
    message = enqueue(aws, add_subscription(aws, url="http://10.0.0.7/hooks"))
    result = poll()
    assert len(result.failed) == 1
    (attempt,) = attempts(aws, message.event_id)
    assert attempt.error == "ssrf_blocked"
    assert attempt.status_code is None
    assert attempt.outcome is AttemptOutcome.RETRYING


def test_the_dispatcher_refuses_the_loopback_setting_inside_lambda(aws, monkeypatch):
    import functions.dispatcher
    from hookhaven.tunables import ConfigurationError

    for name, value in aws.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOOKHAVEN_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "HookHaven-Dispatcher")
    functions.dispatcher.deployed.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="local stack only"):
            functions.dispatcher.handler({"Records": []}, FakeLambdaContext())  # type: ignore[arg-type]
    finally:
        functions.dispatcher.deployed.cache_clear()


def test_a_redirect_is_not_followed_and_retries_on_schedule(aws, poll):
    to_metadata = Reply(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    with Subscriber(lambda n: to_metadata) as sneaky:
        message = enqueue(aws, add_subscription(aws, url=sneaky.url))
        result = poll()
    assert len(result.failed) == 1
    assert len(sneaky.received) == 1
    (attempt,) = attempts(aws, message.event_id)
    assert (attempt.status_code, attempt.error) == (302, "status_3xx")


def test_receiver_to_dispatcher_end_to_end(
    aws, receiver_function, poll, load_event, lambda_context
):
    from tests.integration.helpers import add_source
    from tests.providers import signed

    add_source(aws, "stripe", "stripe")
    with Subscriber() as inventory, Subscriber() as warehouse:
        subs = [add_subscription(aws, url=s.url, source="stripe") for s in (inventory, warehouse)]
        event = signed(load_event("http/stripe_payment_intent_succeeded"), "stripe", time.time())
        response = receiver_function.handler(event, lambda_context)
        assert response["statusCode"] == 202
        event_id = json.loads(response["body"])["id"]
        assert poll().failed == set()
    for subscriber, subscription in zip((inventory, warehouse), subs, strict=True):
        (received,) = subscriber.received
        assert received.body == event["body"].encode()
        assert received.headers["webhook-id"] == event_id
        assert received.headers["hookhaven-event-type"] == "payment_intent.succeeded"
        Webhook(subscription.secrets[0].value).verify(received.body, received.headers)


def test_logs_carry_ids_but_never_the_body_the_secret_or_the_signature(
    aws, dispatcher_function, poll
):

    # DEBUG: the most the dispatcher ever logs.
    with (
        function_logs(level="DEBUG") as stream,
        Subscriber(lambda n: Reply(500, body=b"BH-1001 failed")) as warehouse,
    ):
        subscription = add_subscription(aws, url=warehouse.url)
        message = enqueue(aws, subscription, b'{"order":"BH-1001","card":"4242"}')
        poll()
    logs = stream.getvalue()
    (received,) = warehouse.received
    for secret in (
        "BH-1001",
        "4242",
        subscription.secrets[0].value,
        subscription.secrets[0].value.removeprefix("whsec_"),
        received.headers["webhook-signature"],
        received.headers["webhook-signature"].split(",", 1)[1],
    ):
        assert secret not in logs
    lines = [json.loads(line) for line in logs.splitlines()]
    (attempt,) = [line for line in lines if line["message"] == "delivery attempt"]
    assert attempt["correlation_id"] == message.event_id
    assert attempt["subscription_id"] == subscription.id
    assert attempt["failure"] == "status_5xx"


def test_a_dispatcher_crash_mid_batch_loses_nothing(aws, dispatcher_function, poll, monkeypatch):
    """The handler raises after delivering part of a batch, as a Lambda crash would: SQS
    keeps the whole batch, and the next receive finishes the job under the same ids."""
    sqs = boto3.client("sqs")
    # Redelivery after a failed invocation waits out the visibility timeout: make it short.
    sqs.set_queue_attributes(
        QueueUrl=aws.deliveries_queue_url, Attributes={"VisibilityTimeout": "1"}
    )
    observe, seen = dispatcher_function.observe, []

    def crash_on_the_fourth(outcome):
        seen.append(outcome)
        if len(seen) == 4:
            raise RuntimeError("injected: the dispatcher dies mid-batch")
        observe(outcome)

    monkeypatch.setattr(dispatcher_function, "observe", crash_on_the_fourth)
    with Subscriber() as inventory:
        subscription = add_subscription(aws, url=inventory.url)
        sent = [enqueue(aws, subscription, f'{{"order":"BH-{i}"}}'.encode()) for i in range(8)]
        crashed = poll()
        assert crashed.received == 8
        assert isinstance(crashed.error, RuntimeError)
        time.sleep(1.2)
        while poll().received:
            time.sleep(1.2)

    by_id: dict[str, set[bytes]] = {}
    for request in inventory.received:
        by_id.setdefault(request.headers["webhook-id"], set()).add(request.body)
    assert set(by_id) == {m.event_id for m in sent}  # every one arrived
    assert all(len(bodies) == 1 for bodies in by_id.values())  # a repeat is the same event
    assert len(inventory.received) > len(sent)  # the crashed batch was delivered again
    assert queue_depth(aws.deliveries_queue_url) == 0
    store = DynamoEventStore(boto3.client("dynamodb"), aws.events_table)
    delivered = {
        m.event_id
        for m in sent
        if any(a.outcome is AttemptOutcome.DELIVERED for a in store.attempts(m.event_id))
    }
    assert delivered == {m.event_id for m in sent}
