"""Dispatcher Lambda: delivers queued deliveries to subscribers.

Thin by design: every record of the batch goes through
``hookhaven.dispatch.Dispatcher`` concurrently (bounded by
``delivery_concurrency``, on pooled connections); Powertools' BatchProcessor then
reports the records SQS must keep (retries, whose visibility the dispatcher has
already set to the next backoff) as batch item failures.
"""

from __future__ import annotations

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
from botocore.config import Config

from hookhaven import telemetry
from hookhaven.aws import clients
from hookhaven.aws.dynamodb import DynamoConfigStore, DynamoEventStore
from hookhaven.aws.s3 import S3BodyStore
from hookhaven.aws.sqs import SqsQueueControl
from hookhaven.dispatch import Dispatcher, Outcome, QueuedDelivery, Result, SubscriptionCache
from hookhaven.sender import Sender
from hookhaven.tunables import FunctionSettings

settings = FunctionSettings.from_environ()  # a missing or bad variable fails the cold start
logger = Logger()
metrics = Metrics()
# Only botocore: patching every supported library costs ~80 ms of cold start in Lambda,
# and the relay's other HTTP (deliveries, from worker threads) is measured by attempt records.
tracer = Tracer(patch_modules=("botocore",))
telemetry.route_library_logs(logger)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

_config = Config(
    connect_timeout=2,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 4},
    max_pool_connections=max(10, settings.delivery_concurrency),
)
_dynamodb = clients.dynamodb(_config)
_sqs = clients.sqs(_config)
dispatcher = Dispatcher(
    subscriptions=SubscriptionCache(
        DynamoConfigStore(_dynamodb, settings.config_table), ttl=settings.source_cache_seconds
    ),
    attempts=DynamoEventStore(_dynamodb, settings.events_table),
    bodies=S3BodyStore(lambda: clients.s3(_config), settings.bodies_bucket),
    queue=SqsQueueControl(_sqs, settings.deliveries_queue_url, settings.dead_letter_queue_url),
    sender=Sender(
        timeout_seconds=settings.request_timeout_seconds,
        pool_size=settings.delivery_concurrency,
        allow_loopback=settings.allow_loopback,
    ),
    settings=settings,
)
pool = ThreadPoolExecutor(max_workers=settings.delivery_concurrency)


class KeepMessage(Exception):
    """Reported as a batch item failure: SQS keeps the message for its next attempt."""


def _process(record: dict[str, Any]) -> Outcome:
    delivery = QueuedDelivery(
        message_id=record["messageId"],
        body=record.get("body") or "",
        receive_count=int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")),
        receipt_handle=record["receiptHandle"],
    )
    try:
        return dispatcher.process(delivery)
    except Exception:
        logger.exception("delivery failed unexpectedly; the message stays queued")
        return Outcome(Result.ERROR, delivery.receive_count)


def _observe(outcome: Outcome) -> None:
    if outcome.result is Result.DELIVERED:
        telemetry.count(metrics, telemetry.DELIVERIES_SUCCEEDED)
        telemetry.count(metrics, telemetry.ATTEMPTS_PER_DELIVERY, outcome.attempt)
        if outcome.end_to_end_ms is not None:
            telemetry.milliseconds(metrics, telemetry.END_TO_END_LATENCY, outcome.end_to_end_ms)
    elif outcome.result is Result.DROPPED:
        telemetry.count(metrics, telemetry.DELIVERIES_DROPPED)
    elif outcome.result is Result.DEAD_LETTERED:
        telemetry.count(metrics, telemetry.DELIVERIES_DEAD_LETTERED)
    if outcome.result is Result.GONE:
        telemetry.count(metrics, telemetry.SUBSCRIPTIONS_DISABLED)
    if outcome.result is Result.EXHAUSTED:
        telemetry.count(metrics, telemetry.DELIVERIES_EXHAUSTED)
    if outcome.failure is not None:
        telemetry.count_failure(metrics, outcome.failure)
    if outcome.latency_ms is not None:
        telemetry.milliseconds(metrics, telemetry.DELIVERY_LATENCY, outcome.latency_ms)
    logger.set_correlation_id(outcome.event_id)
    logger.info(
        "delivery attempt",
        extra={
            "event_id": outcome.event_id,
            "subscription_id": outcome.subscription_id,
            "attempt": outcome.attempt,
            "result": str(outcome.result),
            "failure": str(outcome.failure) if outcome.failure else None,
            "delay_seconds": outcome.delay_seconds,
        },
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = event.get("Records", [])
    outcomes = dict(
        zip((r["messageId"] for r in records), pool.map(_process, records), strict=True)
    )
    for outcome in outcomes.values():
        _observe(outcome)

    def settle(record: SQSRecord) -> None:
        outcome = outcomes[record.message_id]
        if outcome.result.keeps_message:
            raise KeepMessage(f"{outcome.result}: attempt {outcome.attempt}")

    return process_partial_response(
        event=event, record_handler=settle, processor=processor, context=context
    )
