"""SQS adapters: fan-out onto the deliveries queue with SendMessageBatch, the dispatcher's
queue control, and queue depths for the operator."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from hookhaven import quotas
from hookhaven.models import DeliveryMessage
from hookhaven.ports import QueueDepth, StorageUnavailable, VisibilityRefused

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

#: Failed entries are sent again after these pauses (seconds); the provider waits meanwhile.
RETRY_PAUSES = (0.02, 0.1, 0.3)
MAX_PARALLEL_BATCHES = 8


class MessageRefused(Exception):
    """SQS refused a message or a batch as malformed or too large: sending it again cannot
    help, so it is not retried as a transient failure would be.

    hookhaven bounds every message below its queue's limit (``inline_body_limit_bytes``,
    event types, header sizes), so this is a bug, never something a provider can cause.
    """


#: Whole-request refusals that no retry can fix (the JSON protocol's codes carry the prefix
#: ``AWS.SimpleQueueService.`` or not, depending on the endpoint).
_REFUSED = ("BatchRequestTooLong", "InvalidParameterValue", "InvalidMessageContents")


def _refused(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code.rsplit(".", 1)[-1] in _REFUSED


def pack(
    bodies: Sequence[str],
    *,
    max_entries: int = quotas.SQS_BATCH_ENTRIES.value,
    max_bytes: int = quotas.SQS_BATCH_PAYLOAD_MAX,
) -> list[list[int]]:
    """Indexes of ``bodies`` in SendMessageBatch batches: at most ``max_entries`` each, and
    the bodies of one batch at most ``max_bytes`` together (SQS counts UTF-8 bytes)."""
    batches: list[list[int]] = []
    size = 0
    for index, body in enumerate(bodies):
        length = len(body.encode())
        if length > max_bytes:
            raise MessageRefused(f"a delivery message of {length} bytes; the limit is {max_bytes}")
        if not batches or len(batches[-1]) == max_entries or size + length > max_bytes:
            batches.append([])
            size = 0
        batches[-1].append(index)
        size += length
    return batches


class SqsDeliveryQueue:
    def __init__(
        self, client: SQSClient, queue_url: str, *, pauses: Sequence[float] = RETRY_PAUSES
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._pauses = tuple(pauses)

    def send(self, messages: Sequence[DeliveryMessage]) -> set[str]:
        """Send all messages in batches packed by count and size, batches in parallel; return
        the subscriptions whose message still failed. ``MessageRefused`` if SQS refuses one
        for its size (permanent: retrying cannot help)."""
        bodies = [message.model_dump_json(exclude_none=True) for message in messages]
        batches = [
            {str(i): (messages[i].subscription_id, bodies[i]) for i in batch}
            for batch in pack(bodies)
        ]
        if len(batches) <= 1:
            return self._send_batch(batches[0]) if batches else set()
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_BATCHES, len(batches))) as pool:
            results = list(pool.map(self._send_batch, batches))
        return set().union(*results)

    def _send_batch(self, batch: dict[str, tuple[str, str]]) -> set[str]:
        pending = dict(batch)
        for pause in (0.0, *self._pauses):
            if pause:
                time.sleep(pause)
            try:
                response = self._client.send_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[
                        {"Id": entry_id, "MessageBody": body}
                        for entry_id, (_, body) in pending.items()
                    ],
                )
            except ClientError as error:
                if _refused(error):
                    raise MessageRefused(f"SQS refused the batch: {error}") from error
                continue  # the whole call failed: every pending entry is tried again
            except BotoCoreError:
                continue
            for entry in response.get("Successful", []):
                pending.pop(entry["Id"], None)
            for failure in response.get("Failed", []):
                if failure.get("SenderFault"):  # the entry itself is wrong: not transient
                    raise MessageRefused(f"SQS refused a message: {failure.get('Code')}")
            if not pending:
                return set()
        return {subscription_id for subscription_id, _ in pending.values()}


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
        except ClientError as error:
            if _refused(error):  # more than is left of the message's 12 hours
                raise VisibilityRefused(f"SQS refused {seconds} s: {error}") from error
            raise StorageUnavailable("changing the message visibility failed") from error
        except BotoCoreError as error:
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
