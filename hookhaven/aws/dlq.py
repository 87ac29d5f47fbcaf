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

from hookhaven.aws.sqs import aws_call, pack
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
            for batch in self._batches(REDRIVE_VISIBILITY, received):
                chosen = []
                for letter in batch:
                    if matches(letter) and (maximum is None or report.matched < maximum):
                        report.matched += 1
                        chosen.append(letter)
                if dry_run or not chosen:
                    continue
                # Ten at a time: sent in one call, then the ones SQS took deleted in one.
                sent = self._send_back(chosen)
                with aws_call("deleting redriven dead letters"):
                    self._client.delete_message_batch(
                        QueueUrl=self._url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": letter.receipt_handle}
                            for i, letter in enumerate(sent)
                        ],
                    )
                moved.update(letter.message_id for letter in sent)
                report.moved += len(sent)
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
        """Every currently visible message once (see ``_batches``)."""
        for batch in self._batches(visibility, received):
            yield from batch

    def _batches(self, visibility: int, received: list[DeadLetter]) -> Iterator[list[DeadLetter]]:
        """Every currently visible message once, as SQS hands them over (up to ten at a
        time). Each one received is appended to ``received`` at once (hidden until
        released), even if the caller stops early."""
        seen: set[str] = set()
        while True:
            batch = [
                letter for letter in self._receive(visibility) if letter.message_id not in seen
            ]
            if not batch:
                return
            received.extend(batch)
            seen.update(letter.message_id for letter in batch)
            yield batch

    def _send_back(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        """Send ``letters`` to the deliveries queue, as few calls as their sizes allow
        (``hookhaven.aws.sqs.pack``); the ones SQS took."""
        taken: list[DeadLetter] = []
        for batch in pack([letter.body for letter in letters]):
            with aws_call("sending dead letters back"):
                response = self._client.send_message_batch(
                    QueueUrl=self._deliveries_url,
                    Entries=[{"Id": str(i), "MessageBody": letters[i].body} for i in batch],
                )
            taken += [letters[int(entry["Id"])] for entry in response.get("Successful", [])]
        return taken

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
