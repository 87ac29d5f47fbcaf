"""The emulator refuses what AWS refuses, as AWS refuses it (hookhaven.quotas).

Its SQS patches are applied in process, under moto's ``mock_aws``, and undone after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from hookhaven import quotas
from hookhaven.local.emulator import compat
from hookhaven.local.emulator import sqs as sqs_patches

HOURS = 3600


@pytest.fixture
def patched_sqs() -> Iterator[Any]:
    patches = compat.Patches()
    with mock_aws():
        sqs_patches.install(patches, lambda wait: wait())
        try:
            yield boto3.client("sqs", region_name="us-east-1")
        finally:
            patches.undo()


def _sent_long_ago(client: Any, url: str, hours: float) -> str:
    """A message sent ``hours`` ago and received just now; its receipt handle."""
    from moto.sqs.models import sqs_backends

    client.send_message(QueueUrl=url, MessageBody="{}")
    queue = sqs_backends["123456789012"]["us-east-1"].queues[url.rsplit("/", 1)[-1]]
    (message,) = queue._messages
    sent: Any = message
    sent.sent_timestamp -= hours * HOURS * 1000
    (received,) = client.receive_message(QueueUrl=url)["Messages"]
    return str(received["ReceiptHandle"])


def test_the_twelve_hours_count_from_the_receive_not_the_send(patched_sqs):
    """A retry hours after the send may still wait (almost) 12 hours from its receive."""
    url = patched_sqs.create_queue(QueueName="deliveries")["QueueUrl"]
    receipt = _sent_long_ago(patched_sqs, url, hours=11)
    patched_sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=quotas.SQS_VISIBILITY_MAX.value - 60
    )


def test_more_than_is_left_of_the_twelve_hours_is_refused_not_shortened(patched_sqs):
    from moto.sqs.models import sqs_backends

    url = patched_sqs.create_queue(QueueName="deliveries")["QueueUrl"]
    receipt = _sent_long_ago(patched_sqs, url, hours=0)
    queue = sqs_backends["123456789012"]["us-east-1"].queues["deliveries"]
    (message,) = queue._messages
    received: Any = message
    received.hookhaven_received_ms -= 1 * HOURS * 1000  # received an hour ago: 11 h are left
    with pytest.raises(ClientError) as refused:
        patched_sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=11 * HOURS + 60
        )
    assert refused.value.response["Error"]["Code"].endswith("InvalidParameterValue")
    patched_sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=11 * HOURS - 60
    )


@pytest.fixture
def patched_events() -> Iterator[Any]:
    from hookhaven.local.emulator import events as events_patches

    patches = compat.Patches()
    with mock_aws():
        events_patches.install(patches)
        try:
            yield boto3.client("events", region_name="us-east-1")
        finally:
            patches.undo()


def _entry(detail_bytes: int) -> dict[str, Any]:
    # Source (9) + DetailType (1) + Time (14) + Detail: {"p":"..."} is 8 bytes of JSON.
    return {
        "Source": "hookhaven",
        "DetailType": "x",
        "Time": 0,
        "Detail": '{"p":"' + "a" * (detail_bytes - 8) + '"}',
    }


def test_put_events_over_eventbridges_size_limit_is_refused_whole(patched_events):
    limit = quotas.EVENTBRIDGE_PUT_EVENTS_SIZE_MAX.value
    at_limit = _entry(limit - 24)
    assert patched_events.put_events(Entries=[at_limit])["FailedEntryCount"] == 0
    with pytest.raises(ClientError) as refused:
        patched_events.put_events(Entries=[_entry(limit - 23)])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    half = _entry(limit // 2)
    with pytest.raises(ClientError, match="over the limit"):
        patched_events.put_events(Entries=[half, half])  # the request's total counts
