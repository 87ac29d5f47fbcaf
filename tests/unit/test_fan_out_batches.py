"""Fan-out batches fit SQS: at most ten entries and a bounded total size, and a refusal
that no retry can fix is not retried as if it were transient."""

from __future__ import annotations

import base64
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hookhaven import quotas
from hookhaven.aws.sqs import MessageRefused, SqsDeliveryQueue, pack
from hookhaven.models import DeliveryMessage
from hookhaven.resources import QueueShape
from hookhaven.tunables import MAX_INLINE_BODY_BYTES
from hookhaven.verification import MAX_TYPE_LENGTH


def message(subscription_id: str, body: bytes, **fields: Any) -> DeliveryMessage:
    return DeliveryMessage(
        event_id="evt_01JDQ4Z6Y8M0000000000000AB",
        subscription_id=subscription_id,
        source="bookhaven",
        event_type=fields.get("event_type", "order.created"),
        received_at=0,
        content_type=fields.get("content_type", "application/json"),
        body_b64=base64.b64encode(body).decode(),
        body_size=len(body),
    )


def test_batches_hold_at_most_ten_entries():
    assert pack(["x"] * 25) == [list(range(10)), list(range(10, 20)), list(range(20, 25))]


def test_batches_are_packed_by_bytes_not_only_by_count():
    kib = "a" * 1024
    bodies = [kib * 100, kib * 100, kib * 100, "small"]
    assert pack(bodies, max_bytes=256 * 1024) == [[0, 1], [2, 3]]


def test_sizes_are_counted_in_bytes_as_sqs_counts_them():
    euro = "\u20ac" * 100  # 100 characters, 300 bytes in UTF-8
    assert pack([euro, euro], max_bytes=500) == [[0], [1]]


def test_one_message_over_the_limit_is_refused_before_any_call():
    with pytest.raises(MessageRefused, match="limit"):
        pack(["x" * 2000], max_bytes=1000)


def test_the_largest_legal_message_fits_its_queue_with_room_to_spare():
    """The inline limit leaves room for the longest event type and content type there are."""
    largest = message(
        "sub_01JDQ4Z6Y8M0000000000000AB",
        b"\xff" * MAX_INLINE_BODY_BYTES,
        event_type="\x01" * MAX_TYPE_LENGTH,  # escaped as \\u0001: six bytes each
        content_type="x" * quotas.HTTP_API_REQUEST_LINE_AND_HEADERS.value,
    )
    size = len(largest.model_dump_json(exclude_none=True).encode())
    assert size <= quotas.DELIVERY_MESSAGE_SIZE_MAX


@mock_aws
def test_a_wide_fan_out_of_large_inline_bodies_is_enqueued_whole():
    # Ten subscriptions, each message near the inline limit: 10 x ~235 KB in one batch would
    # be refused as BatchRequestTooLong, and retried forever as if it were transient.
    sqs = boto3.client("sqs", region_name="eu-west-1")
    url = sqs.create_queue(
        QueueName="deliveries",
        Attributes=QueueShape("deliveries", 360, 86400).sqs_attributes(),  # type: ignore[arg-type]
    )["QueueUrl"]
    body = b"\xfe" * MAX_INLINE_BODY_BYTES
    messages = [message(f"sub_{n}", body) for n in range(10)]
    assert SqsDeliveryQueue(sqs, url).send(messages) == set()
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "10"


class RefusingSqs:
    """SQS answering that an entry is malformed (a sender fault), however often asked."""

    def __init__(self) -> None:
        self.calls = 0

    def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return {
            "Successful": [],
            "Failed": [
                {"Id": entry["Id"], "SenderFault": True, "Code": "InvalidParameterValue"}
                for entry in kwargs["Entries"]
            ],
        }


def test_a_refused_message_is_not_retried_as_if_transient():
    sqs = RefusingSqs()
    queue = SqsDeliveryQueue(sqs, "http://q", pauses=(0, 0, 0))  # type: ignore[arg-type]
    with pytest.raises(MessageRefused):
        queue.send([message("sub_1", b"{}")])
    assert sqs.calls == 1
