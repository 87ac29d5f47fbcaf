"""Reading and redriving the dead-letter queue without losing a message.

SQS has no "peek": reading a message hides it for a visibility timeout. Browsing
therefore receives messages with a short timeout and releases each one again
(visibility 0) when done. Redrive *sends* a copy to the deliveries queue first
and *deletes* the DLQ copy only after SQS confirmed the send, so an
interruption in between can duplicate a delivery (subscribers dedupe on
``webhook-id``) but never lose one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

#: How long a browsed message stays hidden if the CLI dies before releasing it.
BROWSE_VISIBILITY = 30


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_at: float | None
    reason: str | None

    @property
    def delivery(self) -> dict[str, Any] | None:
        try:
            parsed = json.loads(self.body)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    @property
    def subscription_id(self) -> str | None:
        delivery = self.delivery
        value = delivery.get("subscription_id") if delivery else None
        return value if isinstance(value, str) else None

    @property
    def event_id(self) -> str | None:
        delivery = self.delivery
        value = delivery.get("event_id") if delivery else None
        return value if isinstance(value, str) else None


def _receive(sqs: SQSClient, url: str, visibility: int) -> list[DeadLetter]:
    messages = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=visibility,
        WaitTimeSeconds=1,  # long polling asks every SQS server, so "empty" means empty
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    letters = []
    for message in messages:
        attributes = message.get("Attributes", {})
        reason: dict[str, Any] = dict(
            message.get("MessageAttributes", {}).get("hookhaven-reason", {})
        )
        sent = attributes.get("SentTimestamp")
        letters.append(
            DeadLetter(
                message_id=message["MessageId"],
                receipt_handle=message["ReceiptHandle"],
                body=message.get("Body", ""),
                receive_count=int(attributes.get("ApproximateReceiveCount", "0")),
                sent_at=int(sent) / 1000 if sent else None,
                reason=reason.get("StringValue"),
            )
        )
    return letters


def _drain(
    sqs: SQSClient, url: str, visibility: int, received: list[DeadLetter]
) -> Iterator[DeadLetter]:
    """Every currently visible message once. Each one received is appended to ``received``
    as soon as SQS hands it over (hidden until released), even if the caller stops early."""
    seen: set[str] = set()
    while True:
        batch = [
            letter for letter in _receive(sqs, url, visibility) if letter.message_id not in seen
        ]
        if not batch:
            return
        received.extend(batch)
        for letter in batch:
            seen.add(letter.message_id)
            yield letter


def release(sqs: SQSClient, url: str, letters: list[DeadLetter]) -> None:
    for start in range(0, len(letters), 10):
        chunk = letters[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                for i, letter in enumerate(chunk)
            ],
        )


def browse(
    sqs: SQSClient,
    url: str,
    *,
    limit: int | None = None,
    matches: Callable[[DeadLetter], bool] = lambda letter: True,
) -> list[DeadLetter]:
    """Up to ``limit`` matching messages, all released again before returning."""
    taken: list[DeadLetter] = []
    found: list[DeadLetter] = []
    try:
        for letter in _drain(sqs, url, BROWSE_VISIBILITY, taken):
            if matches(letter):
                found.append(letter)
                if limit is not None and len(found) >= limit:
                    break
    finally:
        release(sqs, url, taken)
    return found


@dataclass
class RedriveReport:
    matched: int = 0
    moved: int = 0
    skipped: int = 0


def redrive(
    sqs: SQSClient,
    *,
    dead_letter_queue_url: str,
    deliveries_queue_url: str,
    matches: Callable[[DeadLetter], bool] = lambda letter: True,
    maximum: int | None = None,
    dry_run: bool = False,
    on_progress: Callable[[int], None] = lambda moved: None,
) -> RedriveReport:
    """Move matching messages back for a fresh retry schedule: send, then delete."""
    report = RedriveReport()
    received: list[DeadLetter] = []
    moved: set[str] = set()
    try:
        for letter in _drain(sqs, dead_letter_queue_url, 300, received):
            if not matches(letter) or (maximum is not None and report.matched >= maximum):
                report.skipped += 1
                continue
            report.matched += 1
            if dry_run:
                continue
            sqs.send_message(QueueUrl=deliveries_queue_url, MessageBody=letter.body)
            sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=letter.receipt_handle)
            moved.add(letter.message_id)
            report.moved += 1
            on_progress(report.moved)
    finally:
        # Everything received but not moved becomes visible again at once, also after an
        # interruption (a message sent but not yet deleted then exists twice, never zero).
        release(sqs, dead_letter_queue_url, [r for r in received if r.message_id not in moved])
    return report
