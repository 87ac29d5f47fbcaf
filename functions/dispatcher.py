"""Dispatcher Lambda: delivers queued deliveries to subscribers.

Thin by design: every record of the batch goes through
``hookhaven.dispatch.Dispatcher`` concurrently (bounded by
``delivery_concurrency``, on pooled connections); Powertools' BatchProcessor then
reports the records SQS must keep (retries, whose visibility the dispatcher has
already set to the next backoff) as batch item failures.

``DispatcherFunction`` is the handler around a given dispatcher: the tests and the
local stack build one per execution environment they emulate (``hookhaven.wiring``).
In Lambda, ``handler`` builds one from the function's environment, once.
"""

from __future__ import annotations

import functools
import gc
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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

from hookhaven import telemetry, wiring
from hookhaven.dispatch import Dispatcher, Handled, NotAttempted, QueuedDelivery

logger = Logger(service=telemetry.service_name())
metrics = Metrics(namespace=telemetry.NAMESPACE, service=telemetry.service_name())
# Only botocore: patching every supported library costs ~80 ms of cold start in Lambda,
# and the relay's other HTTP (deliveries, from worker threads) is measured by attempt records.
tracer = Tracer(patch_modules=("botocore",))
telemetry.route_library_logs(logger)


#: Added to the batching window in estimating when a later receive happened.
RECEIPT_SLACK_SECONDS = 5


class KeepMessage(Exception):
    """Reported as a batch item failure: SQS keeps the message for its next attempt."""


class DispatcherFunction:
    """The Lambda handler (``handler``) around one dispatcher, with its own batch processor
    and delivery threads: one per execution environment, as Lambda runs one batch at a time
    in each."""

    def __init__(self, dispatcher: Dispatcher, settings: wiring.FunctionSettings) -> None:
        self.dispatcher = dispatcher
        #: How long a delivery may take once started (its request, and the storage calls
        #: after it): none starts later than that before the invocation's end.
        self.reserve_seconds = settings.delivery_reserve_seconds
        #: How long the event source mapping may hold a message before invoking.
        self.batching_window_seconds = settings.batching_window_seconds
        self.processor = BatchProcessor(
            event_type=EventType.SQS, raise_on_entire_batch_failure=False
        )
        self.pool = ThreadPoolExecutor(max_workers=settings.delivery_concurrency)

        @logger.inject_lambda_context(clear_state=True)
        @metrics.log_metrics(capture_cold_start_metric=True)
        @tracer.capture_lambda_handler(capture_response=False)
        def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
            return self._handle(event, context)

        self.handler: Callable[[dict[str, Any], LambdaContext], PartialItemFailureResponse]
        self.handler = handler

    def _handle(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        records = event.get("Records", [])
        invoked_at = time.time()
        start_by = (
            time.monotonic() + context.get_remaining_time_in_millis() / 1000 - self.reserve_seconds
        )
        # A record's later receive is not timestamped: it was received at most the batching
        # window (and the time to invoke) before now.
        received_at = invoked_at - self.batching_window_seconds - RECEIPT_SLACK_SECONDS

        def process(record: dict[str, Any]) -> Handled:
            return self._process(record, received_at=received_at, start_by=start_by)

        outcomes = dict(
            zip((r["messageId"] for r in records), self.pool.map(process, records), strict=True)
        )
        for handled in outcomes.values():
            self.observe(handled)

        def settle(record: SQSRecord) -> None:
            handled = outcomes[record.message_id]
            if handled.keeps_message:
                raise KeepMessage(f"{handled.outcome}: attempt {handled.attempt}")

        return process_partial_response(
            event=event, record_handler=settle, processor=self.processor, context=context
        )

    def _process(self, record: dict[str, Any], *, received_at: float, start_by: float) -> Handled:
        attributes = record.get("attributes", {})
        receive_count = int(attributes.get("ApproximateReceiveCount", "1"))
        first = attributes.get("ApproximateFirstReceiveTimestamp")
        queued = QueuedDelivery(
            message_id=record["messageId"],
            body=record.get("body") or "",
            receive_count=receive_count,
            receipt_handle=record["receiptHandle"],
            # On a first receive SQS says when it was: exactly this receive.
            received_at=int(first) / 1000 if receive_count == 1 and first else received_at,
        )
        try:
            return self.dispatcher.process(queued, start_by=start_by)
        except Exception:
            logger.exception("delivery failed unexpectedly; the message stays queued")
            return Handled(NotAttempted.ERROR, 0, keeps_message=True)

    def observe(self, handled: Handled) -> None:
        telemetry.count_delivery(metrics, handled)
        logger.set_correlation_id(handled.event_id)
        logger.info(
            "delivery attempt",
            extra={
                "event_id": handled.event_id,
                "subscription_id": handled.subscription_id,
                "attempt": handled.attempt,
                "result": str(handled.outcome),
                "failure": str(handled.failure) if handled.failure else None,
                "delay_seconds": handled.delay_seconds,
            },
        )


@functools.cache
def deployed() -> DispatcherFunction:
    """The dispatcher of this execution environment, built from its environment."""
    settings = wiring.FunctionSettings.from_environ()  # a bad variable fails the cold start
    clients = wiring.AwsClients.create(wiring.dispatcher_client_config(settings))
    return DispatcherFunction(wiring.build_dispatcher(settings, clients), settings)


def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return deployed().handler(event, context)


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    # Build during Lambda's init phase (which runs with a full CPU), not in the first
    # invocation; keep what it built out of the collector's sweeps.
    deployed()
    gc.freeze()
