"""SQS adapters: fan-out onto the deliveries queue with SendMessageBatch, the dispatcher's
queue control, and queue depths for the operator."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from hookhaven.models import DeliveryMessage
from hookhaven.ports import QueueDepth, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

BATCH_LIMIT = 10
#: Failed entries are sent again after these pauses (seconds); the provider waits meanwhile.
RETRY_PAUSES = (0.02, 0.1, 0.3)
MAX_PARALLEL_BATCHES = 8


class SqsDeliveryQueue:
    def __init__(
        self, client: SQSClient, queue_url: str, *, pauses: Sequence[float] = RETRY_PAUSES
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._pauses = tuple(pauses)

    def send(self, messages: Sequence[DeliveryMessage]) -> set[str]:
        """Send all messages in batches of ten, batches in parallel; return what still failed."""
        batches = [
            list(messages[i : i + BATCH_LIMIT]) for i in range(0, len(messages), BATCH_LIMIT)
        ]
        if len(batches) <= 1:
            return self._send_batch(batches[0]) if batches else set()
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_BATCHES, len(batches))) as pool:
            results = list(pool.map(self._send_batch, batches))
        return set().union(*results)

    def _send_batch(self, batch: list[DeliveryMessage]) -> set[str]:
        pending = {str(index): message for index, message in enumerate(batch)}
        for pause in (0.0, *self._pauses):
            if pause:
                time.sleep(pause)
            try:
                response = self._client.send_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[
                        {"Id": entry_id, "MessageBody": message.model_dump_json(exclude_none=True)}
                        for entry_id, message in pending.items()
                    ],
                )
            except (ClientError, BotoCoreError):
                continue  # the whole call failed: every pending entry is tried again
            for entry in response.get("Successful", []):
                pending.pop(entry["Id"], None)
            if not pending:
                return set()
        return {message.subscription_id for message in pending.values()}


class SqsQueueControl:
    """What the dispatcher asks of SQS: a retry delay, or a poison message parked."""

    def __init__(self, client: SQSClient, queue_url: str, dead_letter_queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url
        self._dead_letter_queue_url = dead_letter_queue_url

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        try:
            self._client.change_message_visibility(
                QueueUrl=self._queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except (ClientError, BotoCoreError) as error:
            raise StorageUnavailable("changing the message visibility failed") from error

    def dead_letter(self, body: str, reason: str) -> None:
        try:
            self._client.send_message(
                QueueUrl=self._dead_letter_queue_url,
                MessageBody=body or "(empty)",
                MessageAttributes={
                    "hookhaven-reason": {"DataType": "String", "StringValue": reason[:1000]}
                },
            )
        except (ClientError, BotoCoreError) as error:
            raise StorageUnavailable("parking the message in the DLQ failed") from error


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """AWS client failures become StorageUnavailable, their cause kept for the operator."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise StorageUnavailable(f"{what} failed") from error


class SqsQueueInspector:
    """How many messages one queue holds (SQS's approximate counts)."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def depth(self) -> QueueDepth:
        with aws_call("reading the queue's attributes"):
            attributes = self._client.get_queue_attributes(
                QueueUrl=self._queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
        return QueueDepth(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        )
