"""Dispatcher Lambda: delivers queued deliveries to subscribers.

MINIMAL HANDLER (issue #2). It validates its settings at cold start and runs
each SQS record through Powertools' ``BatchProcessor``, reporting every record
as a batch item failure: SQS keeps the message and, after the queue's
maxReceiveCount, moves it to the DLQ, so nothing is lost while delivery is
missing. Signed, concurrent, SSRF-guarded delivery with backoff arrives with
the dispatcher issue (#4).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from hookhaven.tunables import FunctionSettings

settings = FunctionSettings.from_environ()  # a missing or bad variable fails the cold start
logger = Logger()
metrics = Metrics()
tracer = Tracer()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class DeliveryNotImplementedError(RuntimeError):
    """Raised for every record until delivery exists, so SQS keeps the message."""


def deliver(record: SQSRecord) -> None:
    raise DeliveryNotImplementedError(f"delivery not implemented; message {record.message_id} kept")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=deliver, processor=processor, context=context
    )
