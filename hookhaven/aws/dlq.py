"""Reading and redriving the dead-letter queue without losing a message.

SQS has no "peek": reading a message hides it for a visibility timeout. Browsing
therefore receives messages with a short timeout and releases each one again
(visibility 0) when done. Redrive *sends* a copy to the deliveries queue first
and *deletes* the DLQ copy only after SQS confirmed the send, so an
interruption in between can duplicate a delivery (subscribers dedupe on
``webhook-id``) but never lose one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from hookhaven.aws.sqs import aws_call
from hookhaven.ports import DeadLetter, RedriveReport

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

#: How long a browsed message stays hidden if the CLI dies before releasing it.
BROWSE_VISIBILITY = 30
#: How long a message being redriven stays hidden: time to send its copy and delete it.
REDRIVE_VISIBILITY = 300


def _every(letter: DeadLetter) -> bool:
    return True


class SqsDeadLetterQueue:
    """The dead-letter queue, and the deliveries queue its messages go back to."""

    def __init__(
        self, client: SQSClient, *, dead_letter_queue_url: str, deliveries_queue_url: str
    ) -> None:
        self._client = client
        self._url = dead_letter_queue_url
        self._deliveries_url = deliveries_queue_url

    def browse(
        self, *, limit: int | None = None, matches: Callable[[DeadLetter], bool] = _every
    ) -> list[DeadLetter]:
        """Up to ``limit`` matching messages, all released again before returning."""
        taken: list[DeadLetter] = []
        found: list[DeadLetter] = []
        try:
            for letter in self._drain(BROWSE_VISIBILITY, taken):
                if matches(letter):
                    found.append(letter)
                    if limit is not None and len(found) >= limit:
                        break
        finally:
            self._release(taken)
        return found

    def redrive(
        self,
        *,
        matches: Callable[[DeadLetter], bool] = _every,
        maximum: int | None = None,
        dry_run: bool = False,
        on_progress: Callable[[int], None] = lambda moved: None,
    ) -> RedriveReport:
        """Move matching messages back for a fresh retry schedule: send, then delete."""
        report = RedriveReport()
        received: list[DeadLetter] = []
        moved: set[str] = set()
        try:
            for letter in self._drain(REDRIVE_VISIBILITY, received):
                if not matches(letter) or (maximum is not None and report.matched >= maximum):
                    continue
                report.matched += 1
                if dry_run:
                    continue
                with aws_call("sending a dead letter back"):
                    self._client.send_message(
                        QueueUrl=self._deliveries_url, MessageBody=letter.body
                    )
                    self._client.delete_message(
                        QueueUrl=self._url, ReceiptHandle=letter.receipt_handle
                    )
                moved.add(letter.message_id)
                report.moved += 1
                on_progress(report.moved)
        finally:
            # Everything received but not moved becomes visible again at once, also after an
            # interruption (a message sent but not yet deleted then exists twice, never zero).
            self._release([r for r in received if r.message_id not in moved])
        return report

    def _receive(self, visibility: int) -> list[DeadLetter]:
        with aws_call("reading the dead-letter queue"):
            messages = self._client.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=visibility,
                WaitTimeSeconds=1,  # long polling asks every SQS server: "empty" means empty
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

    def _drain(self, visibility: int, received: list[DeadLetter]) -> Iterator[DeadLetter]:
        """Every currently visible message once. Each one received is appended to
        ``received`` as soon as SQS hands it over (hidden until released), even if the
        caller stops early."""
        seen: set[str] = set()
        while True:
            batch = [
                letter for letter in self._receive(visibility) if letter.message_id not in seen
            ]
            if not batch:
                return
            received.extend(batch)
            for letter in batch:
                seen.add(letter.message_id)
                yield letter

    def _release(self, letters: list[DeadLetter]) -> None:
        for start in range(0, len(letters), 10):
            chunk = letters[start : start + 10]
            with aws_call("releasing dead letters"):
                self._client.change_message_visibility_batch(
                    QueueUrl=self._url,
                    Entries=[
                        {
                            "Id": str(i),
                            "ReceiptHandle": letter.receipt_handle,
                            "VisibilityTimeout": 0,
                        }
                        for i, letter in enumerate(chunk)
                    ],
                )
