"""Delivery: the deliveries queue, its DLQ, and the dispatcher fed by the queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from hookhaven.resources import QueueShape, dead_letter_queue, deliveries_queue
from hookhaven.tunables import Tunables
from infra.constructs.python_function import python_function
from infra.constructs.storage import Storage


def _queue(
    scope: Construct,
    construct_id: str,
    shape: QueueShape,
    *,
    dead_letter: sqs.IQueue | None = None,
) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        visibility_timeout=Duration.seconds(shape.visibility_timeout_seconds),
        retention_period=Duration.seconds(shape.retention_seconds),
        max_message_size_bytes=shape.max_message_size_bytes,
        dead_letter_queue=(
            sqs.DeadLetterQueue(queue=dead_letter, max_receive_count=shape.max_receive_count)
            if dead_letter is not None and shape.max_receive_count is not None
            else None
        ),
    )


class Delivery(Construct):
    """Queued deliveries, retried through visibility timeouts, parked in a DLQ when exhausted."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tunables: Tunables,
        code: lambda_.Code,
        storage: Storage,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = _queue(self, "DeadLetterQueue", dead_letter_queue(tunables))
        self.deliveries_queue = _queue(
            self,
            "DeliveriesQueue",
            deliveries_queue(tunables),
            dead_letter=self.dead_letter_queue,
        )
        self.dispatcher = python_function(
            self,
            "Dispatcher",
            code=code,
            handler="functions.dispatcher.handler",
            tunables=tunables,
            timeout_seconds=tunables.dispatcher_timeout_seconds,
            memory_mb=tunables.dispatcher_memory_mb,
            description="hookhaven dispatcher: signs and delivers queued events to subscribers",
            environment=storage.resources(
                deliveries_queue=self.deliveries_queue, dead_letter_queue=self.dead_letter_queue
            ).to_env(),
        )
        # The ESM's maximum concurrency, not reserved concurrency, caps how hard the
        # dispatcher can hit subscribers: excess batches wait in the queue instead of
        # being throttled back into it (which would burn receive counts).
        self.dispatcher.add_event_source(
            event_sources.SqsEventSource(
                self.deliveries_queue,
                batch_size=tunables.batch_size,
                max_batching_window=(
                    Duration.seconds(tunables.batching_window_seconds)
                    if tunables.batching_window_seconds
                    else None
                ),
                max_concurrency=tunables.max_concurrency,
                report_batch_item_failures=True,
            )
        )
