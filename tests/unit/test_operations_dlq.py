"""dlq: browse, show and redrive through the SQS adapter, under moto in process."""

from __future__ import annotations

import boto3
import pytest

from hookhaven.aws.dlq import SqsDeadLetterQueue
from hookhaven.aws.sqs import SqsQueueInspector
from hookhaven.models import delivery_messages
from hookhaven.operations import OperationError, dlq
from hookhaven.ports import QueueDepth, StorageUnavailable
from hookhaven.resources import Resources
from tests.unit.test_audit import event


@pytest.fixture
def letters(aws: Resources) -> SqsDeadLetterQueue:
    return SqsDeadLetterQueue(
        boto3.client("sqs"),
        dead_letter_queue_url=aws.require_dead_letter_queue(),
        deliveries_queue_url=aws.deliveries_queue_url,
    )


def depth(url: str) -> QueueDepth:
    return SqsQueueInspector(boto3.client("sqs"), url).depth()


def park(url: str, subscription: str, count: int) -> list[str]:
    """``count`` deliveries for ``subscription`` parked in the DLQ, as SQS moves them."""
    sqs, ids = boto3.client("sqs"), []
    for index in range(count):
        (message,) = delivery_messages(event(f"evt_{subscription}_{index}"), [subscription])
        ids.append(
            sqs.send_message(QueueUrl=url, MessageBody=message.model_dump_json())["MessageId"]
        )
    return ids


def test_browsing_leaves_every_message_where_it_was(aws, letters):
    mine = park(aws.dead_letter_queue_url, "sub_a", 3)
    park(aws.dead_letter_queue_url, "sub_b", 2)
    boto3.client("sqs").send_message(QueueUrl=aws.dead_letter_queue_url, MessageBody="not json")
    listed = dlq.list_dead_letters(letters, subscription="sub_a")
    assert sorted(letter.message_id for letter in listed) == sorted(mine)
    assert len(dlq.list_dead_letters(letters, limit=4)) == 4
    everything = dlq.list_dead_letters(letters)
    assert len(everything) == 6
    assert {dlq.reason(letter) for letter in everything} == {"retries exhausted", "malformed"}
    shown = dlq.get_dead_letter(letters, mine[0])
    assert shown.event_id == "evt_sub_a_0"
    assert "body_b64" not in dlq.delivery(shown)
    with pytest.raises(OperationError, match="no message nope in the dead-letter queue"):
        dlq.get_dead_letter(letters, "nope")
    waiting = depth(aws.dead_letter_queue_url)
    assert (waiting.visible, waiting.in_flight) == (6, 0)


def test_redrive_moves_matching_messages_and_reports_progress_against_the_depth(aws, letters):
    park(aws.dead_letter_queue_url, "sub_a", 4)
    park(aws.dead_letter_queue_url, "sub_b", 1)

    class Depth:
        reads = 0

        def depth(self) -> QueueDepth:
            Depth.reads += 1
            return depth(aws.dead_letter_queue_url)

    dry = dlq.redrive(letters, Depth(), subscription="sub_a", dry_run=True)
    assert (dry.matched, dry.moved) == (4, 0)
    assert Depth.reads == 0  # nobody watching: no need to know how many wait
    progress: list[tuple[int, int]] = []
    moved = dlq.redrive(
        letters,
        Depth(),
        subscription="sub_a",
        maximum=3,
        stages=lambda name: lambda *p: progress.append(p),
    )
    assert (moved.matched, moved.moved) == (3, 3)
    # Counted against min(5 waiting, --max 3), a batch of sends at a time.
    assert progress[-1] == (3, 3)
    assert all(total == 3 for _, total in progress)
    assert depth(aws.deliveries_queue_url).visible == 3
    assert depth(aws.dead_letter_queue_url).visible == 2


def test_an_sqs_failure_is_storage_unavailable_with_its_cause(aws):
    with pytest.raises(StorageUnavailable) as failure:
        depth("https://sqs.eu-west-1.amazonaws.com/123456789012/nope")
    assert failure.value.__cause__ is not None
