"""Feed SQS messages to a handler as Lambda's SQS event source mapping does.

Receive a batch (long polling), hand it over as an SQS event, delete what succeeded,
leave reported failures with whatever visibility the handler set, and leave the whole
batch when the handler raises. Where Lambda's behaviour matters to the dispatcher:

- **Timeout.** The handler gets a Lambda context whose ``get_remaining_time_in_millis()``
  counts down from the function's timeout (``timeout_seconds``), and runs in a thread of
  its own. If it has not returned by the deadline the invocation has timed out: the
  poller deletes nothing and reports the batch as timed out; its messages come back after
  the queue's visibility timeout, as after a Lambda timeout. A Python thread cannot be
  killed, so the abandoned handler runs on unobserved and its result is ignored (unlike
  Lambda, which stops it: whatever it does after the deadline, such as recording an
  attempt or changing a message's visibility, Lambda would not have done). The poller
  invokes the handler again only once the abandoned run has returned, since one handler
  object is one execution environment and runs one batch at a time (Lambda would start
  a fresh environment instead).
- **Throttling.** ``throttle`` decides, per received batch, whether the invocation is
  throttled: the batch is then not handed to the handler, nothing is deleted, and its
  messages stay in flight until their visibility times out. The receive still counts
  in each message's ApproximateReceiveCount, as it does with Lambda.
- **Visibility, shortened for tests.** The queue's visibility timeout is six times the
  function's timeout (minutes). ``visibility_timeout`` receives with a shorter one
  instead (SQS's ReceiveMessage ``VisibilityTimeout``), so that a test sees a timed-out
  or throttled batch come back after seconds: a shortcut standing for "once the queue's
  visibility timeout has passed". Visibility the handler sets still overrides it.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hookhaven.local.context import LambdaContext

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

Handler = Callable[[dict[str, Any], Any], Any]
#: Given the messages of a received batch: whether Lambda throttles its invocation.
Throttle = Callable[[Sequence["MessageTypeDef"]], bool]


class TaskTimedOut(Exception):
    """The handler did not return within the function's timeout (Lambda's "Task timed out
    after N seconds")."""


@dataclass
class PollResult:
    received: int = 0
    deleted: int = 0
    failed: set[str] = field(default_factory=set)
    error: BaseException | None = None
    #: The handler ran past the function's timeout: the batch was abandoned (``error`` is
    #: a ``TaskTimedOut``).
    timed_out: bool = False
    #: The invocation was throttled: the batch never reached the handler.
    throttled: bool = False


def throttle_first(count: int) -> Throttle:
    """Throttle the first ``count`` invocations, then none."""
    left = [count]
    lock = threading.Lock()

    def decide(batch: Sequence[MessageTypeDef]) -> bool:
        with lock:
            if left[0] <= 0:
                return False
            left[0] -= 1
            return True

    return decide


def throttle_rate(rate: float, rng: random.Random | None = None) -> Throttle:
    """Throttle this share of invocations, at random."""
    if not 0 <= rate <= 1:
        raise ValueError("the throttle rate is a share between 0 and 1")
    chance = rng or random.Random()  # noqa: S311 (a simulation, not a secret)
    return lambda batch: chance.random() < rate


def sqs_event_record(message: MessageTypeDef, queue_arn: str, region: str) -> dict[str, Any]:
    body = message.get("Body", "")
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


@dataclass
class _Invocation:
    """One run of the handler in its own thread, and what it came to."""

    thread: threading.Thread
    response: Any = None
    error: BaseException | None = None


class QueuePoller:
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        handler: Handler,
        *,
        batch_size: int = 10,
        wait_seconds: int = 1,
        timeout_seconds: int = 60,
        throttle: Throttle | None = None,
        visibility_timeout: int | None = None,
        function_name: str = "hookhaven-local-dispatcher",
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._batch_size = min(batch_size, 10)
        self._wait_seconds = wait_seconds
        self.timeout_seconds = timeout_seconds
        self._throttle = throttle
        self._visibility_timeout = visibility_timeout
        self._function_name = function_name
        self._queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self._region = sqs.meta.region_name
        #: A handler run abandoned at its timeout and still running, if any.
        self._abandoned: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        """Whether a handler run abandoned at its timeout is still running."""
        return self._abandoned is not None and self._abandoned.is_alive()

    def wait_abandoned(self, timeout: float | None = None) -> bool:
        """Wait for a handler run abandoned at its timeout to return; False if it still
        runs after ``timeout`` seconds."""
        if self._abandoned is not None:
            self._abandoned.join(timeout)
        return not self.busy

    def poll_once(self) -> PollResult:
        if self.busy:
            # The execution environment is still busy with an abandoned batch: wait for it
            # (as long as a receive would) rather than run a second batch alongside it.
            self.wait_abandoned(self._wait_seconds)
            if self.busy:
                return PollResult()
        self._abandoned = None
        receive: dict[str, Any] = {
            "QueueUrl": self._queue_url,
            "MaxNumberOfMessages": self._batch_size,
            "WaitTimeSeconds": self._wait_seconds,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if self._visibility_timeout is not None:
            receive["VisibilityTimeout"] = self._visibility_timeout
        messages = self._sqs.receive_message(**receive).get("Messages", [])
        result = PollResult(received=len(messages))
        if not messages:
            return result
        everything = {m["MessageId"] for m in messages}
        if self._throttle is not None and self._throttle(messages):
            result.throttled = True
            result.failed = everything
            return result
        event = {"Records": [sqs_event_record(m, self._queue_arn, self._region) for m in messages]}
        invocation = self._invoke(event)
        if invocation.thread.is_alive():  # the batch comes back after its visibility timeout
            self._abandoned = invocation.thread
            result.timed_out = True
            result.error = TaskTimedOut(f"Task timed out after {self.timeout_seconds:.2f} seconds")
            result.failed = everything
            return result
        if invocation.error is not None:  # the whole batch stays, as with a failed invocation
            result.error = invocation.error
            result.failed = everything
            return result
        response = invocation.response
        result.failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in result.failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                ],
            )
        result.deleted = len(done)
        return result

    def _invoke(self, event: dict[str, Any]) -> _Invocation:
        """Run the handler in a thread of its own until it returns or its time is up."""
        context = LambdaContext(self._function_name, self.timeout_seconds)
        deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000

        def run() -> None:
            try:
                invocation.response = self._handler(event, context)
            except BaseException as error:  # whatever it is, the batch is not done
                invocation.error = error

        invocation = _Invocation(
            threading.Thread(target=run, name=f"{self._function_name}-invocation", daemon=True)
        )
        invocation.thread.start()
        invocation.thread.join(max(0.0, deadline - time.monotonic()))
        return invocation
