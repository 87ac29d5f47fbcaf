"""The poller as Lambda's SQS event source mapping, where the dispatcher depends on it: the
function's timeout (a batch still running at its end is abandoned, its messages back after
the visibility timeout) and throttled invocations (received, never handed over). Under
mock_aws in process, delivering to real HTTP servers on 127.0.0.1.

The queue's visibility timeout is minutes; these pollers receive with a visibility of a
few seconds instead (``visibility_timeout``), standing for "once it has passed".
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import boto3
import pytest

from hookhaven.aws.dynamodb import DynamoEventStore
from hookhaven.local.poller import QueuePoller, TaskTimedOut, throttle_first, throttle_rate
from hookhaven.models import AttemptOutcome, AttemptRecord
from hookhaven.resources import Resources
from hookhaven.tunables import Tunables
from tests.conftest import function_logs
from tests.integration.helpers import add_subscription, enqueue, queue_depth
from tests.subscribers import Reply, Subscriber


@pytest.fixture
def tunables() -> Tunables:
    # Three attempts a second apart, no jitter; a request may take 5 s.
    return Tunables.from_context(
        {"retry_schedule": ["0s", "1s", "1s"], "retry_jitter": 0, "request_timeout_seconds": 5}
    )


def attempts(aws: Resources, event_id: str) -> list[AttemptRecord]:
    store = DynamoEventStore(boto3.client("dynamodb"), aws.events_table)
    return store.attempts(event_id, consistent=True)


def send_raw(aws: Resources, count: int) -> set[str]:
    sqs = boto3.client("sqs")
    return {
        sqs.send_message(QueueUrl=aws.deliveries_queue_url, MessageBody=json.dumps({"n": n}))[
            "MessageId"
        ]
        for n in range(count)
    }


def visible(aws: Resources) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws.deliveries_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


class Recording:
    """A handler's wrapper: every batch's messages with their receive counts."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.batches: list[dict[str, int]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.batches.append(
            {
                r["messageId"]: int(r["attributes"]["ApproximateReceiveCount"])
                for r in event["Records"]
            }
        )
        with function_logs():
            return self.handler(event, context)


# --- The function's timeout --------------------------------------------------------------


def test_a_batch_running_past_the_timeout_is_abandoned_and_comes_back_whole(aws):
    release = threading.Event()
    remaining: list[int] = []

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        remaining.append(context.get_remaining_time_in_millis())
        release.wait(10)
        remaining.append(context.get_remaining_time_in_millis())
        return {"batchItemFailures": []}  # "all done": too late to count

    sent = send_raw(aws, 3)
    poller = QueuePoller(
        boto3.client("sqs"),
        aws.deliveries_queue_url,
        slow,
        wait_seconds=0,
        timeout_seconds=1,
        visibility_timeout=3,
    )
    try:
        started = time.monotonic()
        result = poller.poll_once()
        took = time.monotonic() - started
        assert 0.9 <= took < 1.5
        assert result.timed_out
        assert isinstance(result.error, TaskTimedOut)
        assert str(result.error) == "Task timed out after 1.00 seconds"
        assert (result.received, result.deleted, result.failed) == (3, 0, sent)
        # The context counted down from the function's timeout, as Lambda's does.
        assert 900 <= remaining[0] <= 1000

        # The environment is busy until the abandoned run returns: no second batch.
        later = send_raw(aws, 1)
        assert poller.busy
        assert poller.poll_once().received == 0
        assert visible(aws) == 1
    finally:
        release.set()
        assert poller.wait_abandoned(5)
    assert remaining[1] == 0  # it ran on past its end, unobserved; what it returned is ignored

    assert queue_depth(aws.deliveries_queue_url) == 4  # none deleted
    quick = Recording(lambda event, context: {"batchItemFailures": []})
    poller = QueuePoller(
        boto3.client("sqs"), aws.deliveries_queue_url, quick, wait_seconds=0, visibility_timeout=3
    )
    assert poller.poll_once().received == 1  # only the newcomer is visible yet
    assert set(quick.batches[0]) == later
    time.sleep(max(0, started + 3.2 - time.monotonic()))
    result = poller.poll_once()  # back after the visibility timeout, each received again
    assert (result.received, result.deleted, result.timed_out) == (3, 3, False)
    assert quick.batches[1] == dict.fromkeys(sent, 2)


def test_a_short_timeout_leaves_the_dispatcher_no_time_to_start_a_delivery(aws, make_dispatcher):
    # Under the dispatcher's delivery reserve (a request, then its storage calls), it starts
    # nothing: each message comes back at once, without spending an attempt.
    function = make_dispatcher()
    assert function.reserve_seconds > 3
    with Subscriber() as inventory:
        message = enqueue(aws, add_subscription(aws, url=inventory.url))
        short = QueuePoller(
            boto3.client("sqs"),
            aws.deliveries_queue_url,
            Recording(function.handler),
            wait_seconds=0,
            timeout_seconds=3,
        )
        result = short.poll_once()
        assert (result.received, result.deleted, result.timed_out) == (1, 0, False)
        assert inventory.received == []
        assert attempts(aws, message.event_id) == []

        recording = Recording(function.handler)
        full = QueuePoller(boto3.client("sqs"), aws.deliveries_queue_url, recording, wait_seconds=0)
        assert full.poll_once().deleted == 1  # visible again at once
    assert list(recording.batches[0].values()) == [2]
    (received,) = inventory.received
    assert received.headers["hookhaven-attempt"] == "1"
    (attempt,) = attempts(aws, message.event_id)
    assert (attempt.attempt, attempt.outcome) == (1, AttemptOutcome.DELIVERED)


def test_a_batch_abandoned_at_the_timeout_spends_no_attempt_on_deliveries_not_started(
    aws, make_dispatcher
):
    # The dispatcher's reserve makes a timeout unlikely; here it underestimates a slow
    # subscriber (1 s reserved, 2.5 s taken), so the batch runs past a 2 s timeout. One
    # delivery at a time: the first starts, the two after it would start past the point
    # the dispatcher allows (the end less the reserve) and are deferred.
    function = make_dispatcher(delivery_concurrency=1)
    function.reserve_seconds = 1
    with Subscriber(lambda n: Reply(delay=2.5) if n == 0 else Reply()) as slow:
        subscription = add_subscription(aws, url=slow.url)
        first, *rest = [enqueue(aws, subscription) for _ in range(3)]
        poller = QueuePoller(
            boto3.client("sqs"),
            aws.deliveries_queue_url,
            Recording(function.handler),
            wait_seconds=0,
            timeout_seconds=2,
            visibility_timeout=4,
        )
        started = time.monotonic()
        result = poller.poll_once()
        assert result.timed_out
        assert (result.received, result.deleted) == (3, 0)
        assert poller.wait_abandoned(10)
        (started_delivery,) = slow.received
        assert started_delivery.headers["webhook-id"] == first.event_id
        assert started_delivery.headers["hookhaven-attempt"] == "1"
        for message in rest:  # never started: no attempt spent
            assert attempts(aws, message.event_id) == []

        # The deferred ones are visible again at once, and get their first attempt.
        again = Recording(function.handler)
        poller = QueuePoller(
            boto3.client("sqs"), aws.deliveries_queue_url, again, wait_seconds=0, batch_size=10
        )
        assert poller.poll_once().deleted == 2
        assert sorted(again.batches[0].values()) == [2, 2]
        for message in rest:
            (attempt,) = attempts(aws, message.event_id)
            assert (attempt.attempt, attempt.outcome) == (1, AttemptOutcome.DELIVERED)
        deferred = slow.received[1:]
        assert {r.headers["webhook-id"] for r in deferred} == {m.event_id for m in rest}
        assert {r.headers["hookhaven-attempt"] for r in deferred} == {"1"}

        # The one in flight at the timeout comes back after the visibility timeout and is
        # delivered again, with the same webhook-id (at least once, as after a Lambda
        # timeout). Its attempt number is not asserted: here the abandoned run went on to
        # record its attempt, which Lambda, stopping it, would not have done.
        time.sleep(max(0, started + 4.2 - time.monotonic()))
        assert poller.poll_once().deleted == 1
    assert slow.received[-1].headers["webhook-id"] == first.event_id
    assert queue_depth(aws.deliveries_queue_url) == 0


# --- Throttled invocations ---------------------------------------------------------------


def test_throttled_receives_never_reach_the_handler_and_each_counts(aws, dispatcher_function):
    recording = Recording(dispatcher_function.handler)
    poller = QueuePoller(
        boto3.client("sqs"),
        aws.deliveries_queue_url,
        recording,
        wait_seconds=0,
        throttle=throttle_first(3),
        visibility_timeout=1,
    )
    with Subscriber() as inventory:
        message = enqueue(aws, add_subscription(aws, url=inventory.url))
        for _ in range(3):
            result = poller.poll_once()
            assert (result.received, result.deleted, result.throttled) == (1, 0, True)
            assert len(result.failed) == 1
            assert recording.batches == []
            assert poller.poll_once().received == 0  # in flight until its visibility ends
            time.sleep(1.1)
        result = poller.poll_once()
        assert (result.received, result.deleted, result.throttled) == (1, 1, False)
    # Received four times, attempted once: the dispatcher counts attempts from what it
    # attempted (its attempt records), not from receives, so this is still attempt 1.
    assert list(recording.batches[0].values()) == [4]
    (received,) = inventory.received
    assert received.headers["webhook-id"] == message.event_id
    assert received.headers["hookhaven-attempt"] == "1"
    (attempt,) = attempts(aws, message.event_id)
    assert (attempt.attempt, attempt.outcome) == (1, AttemptOutcome.DELIVERED)


def test_throttle_rate_throttles_that_share_of_invocations():
    never, always = throttle_rate(0), throttle_rate(1)
    assert not any(never([]) for _ in range(100))
    assert all(always([]) for _ in range(100))
    some = throttle_rate(0.3, random.Random(7))
    assert 200 <= sum(some([]) for _ in range(1000)) <= 400
    with pytest.raises(ValueError, match="between 0 and 1"):
        throttle_rate(1.5)
