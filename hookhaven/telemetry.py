"""What the functions tell CloudWatch: every metric (namespace ``HookHaven``), in one place.

``METRICS`` is the catalog: name, unit, which function emits it and, for the two
dimensioned metrics, the dimension and every value it takes. The dashboard and
the alarms are drawn from it, and tests hold it to what the handlers really emit.
Dimensions stay low-cardinality: per-event and per-subscription detail lives in
the attempt records, never in metrics.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from hookhaven.control import Hold
from hookhaven.dispatch import NotAttempted
from hookhaven.models import AttemptOutcome
from hookhaven.operational import DetailType, OperationalEvent
from hookhaven.retry import FailureClass

if TYPE_CHECKING:
    from hookhaven.dispatch import Handled

NAMESPACE = "HookHaven"
#: The service name outside Lambda (the deployed functions get ``POWERTOOLS_SERVICE_NAME``).
DEFAULT_SERVICE = "hookhaven"
#: Powertools adds it to every metric, valued by ``POWERTOOLS_SERVICE_NAME``.
SERVICE_DIMENSION = "service"

EVENTS_RECEIVED = "EventsReceived"
EVENTS_ACCEPTED = "EventsAccepted"
EVENTS_REJECTED = "EventsRejected"  # dimension reason: one of REJECTION_REASONS
EVENTS_DUPLICATE = "EventsDuplicate"
FAN_OUT_SIZE = "FanOutSize"
#: Subscription filters that failed to evaluate over an event (which they then missed).
FILTER_ERRORS = "FilterErrors"

DELIVERIES_SUCCEEDED = "DeliveriesSucceeded"
DELIVERIES_FAILED = "DeliveriesFailed"  # dimension outcome: an FailureClass value
DELIVERIES_EXHAUSTED = "DeliveriesExhausted"
DELIVERIES_DROPPED = "DeliveriesDropped"
DELIVERIES_DEAD_LETTERED = "DeliveriesDeadLettered"
SUBSCRIPTIONS_DISABLED = "SubscriptionsDisabled"
DELIVERIES_HELD = "DeliveriesHeld"  # dimension hold: a hookhaven.control.Hold value
CIRCUITS_OPENED = "CircuitsOpened"
CIRCUITS_CLOSED = "CircuitsClosed"
DELIVERY_LATENCY = "DeliveryLatency"
END_TO_END_LATENCY = "EndToEndLatency"
ATTEMPTS_PER_DELIVERY = "AttemptsPerDelivery"
OPERATIONAL_EVENTS_PUBLISHED = "OperationalEventsPublished"  # dimension detail_type
OPERATIONAL_EVENTS_FAILED = "OperationalEventsFailed"
#: Powertools' own, with ``capture_cold_start_metric=True``; dimension function_name.
COLD_START = "ColdStart"

REASON_DIMENSION = "reason"
OUTCOME_DIMENSION = "outcome"
HOLD_DIMENSION = "hold"
FUNCTION_DIMENSION = "function_name"
DETAIL_TYPE_DIMENSION = "detail_type"

#: Why the receiver did not accept a request, the ``reason`` of EventsRejected.
REJECTION_REASONS = (
    "unknown_source",  # 404
    "invalid_signature",  # 401: missing, wrong, stale or replayed
    "payload_too_large",  # 413
    "bad_request",  # 400: malformed body or headers
    "in_progress",  # 409: another request holds the event's claim
    "unavailable",  # 503: DynamoDB, SQS or S3 failed; the provider retries
    "internal_error",  # 500: a bug
)

RECEIVER = "receiver"
DISPATCHER = "dispatcher"


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    unit: MetricUnit
    emitters: tuple[str, ...]
    description: str
    dimension: str | None = None
    values: tuple[str, ...] = ()
    #: Also published without the dimension, for alarms: metric math may add at most
    #: ten metrics, fewer than the dimension's values and the metric they are set against.
    total: bool = False


METRICS: tuple[MetricDefinition, ...] = (
    MetricDefinition(EVENTS_RECEIVED, MetricUnit.Count, (RECEIVER,), "requests on the route"),
    MetricDefinition(EVENTS_ACCEPTED, MetricUnit.Count, (RECEIVER,), "events kept and queued"),
    MetricDefinition(
        EVENTS_REJECTED,
        MetricUnit.Count,
        (RECEIVER,),
        "requests not accepted, by reason",
        REASON_DIMENSION,
        REJECTION_REASONS,
    ),
    MetricDefinition(EVENTS_DUPLICATE, MetricUnit.Count, (RECEIVER,), "repeats answered 200"),
    MetricDefinition(FAN_OUT_SIZE, MetricUnit.Count, (RECEIVER,), "deliveries queued per event"),
    MetricDefinition(
        FILTER_ERRORS,
        MetricUnit.Count,
        (RECEIVER,),
        "subscription filters that failed on an event: it was not queued for them",
    ),
    MetricDefinition(
        DELIVERIES_SUCCEEDED, MetricUnit.Count, (DISPATCHER,), "deliveries answered 2xx"
    ),
    MetricDefinition(
        DELIVERIES_FAILED,
        MetricUnit.Count,
        (DISPATCHER,),
        "failed attempts, by outcome class",
        OUTCOME_DIMENSION,
        tuple(FailureClass),
        total=True,
    ),
    MetricDefinition(
        DELIVERIES_EXHAUSTED, MetricUnit.Count, (DISPATCHER,), "schedules used up: to the DLQ"
    ),
    MetricDefinition(
        DELIVERIES_DROPPED, MetricUnit.Count, (DISPATCHER,), "subscription gone or disabled"
    ),
    MetricDefinition(
        DELIVERIES_DEAD_LETTERED, MetricUnit.Count, (DISPATCHER,), "malformed messages to the DLQ"
    ),
    MetricDefinition(
        SUBSCRIPTIONS_DISABLED,
        MetricUnit.Count,
        (DISPATCHER,),
        "subscriptions disabled: answered 410, or failing for disable_after_failing",
    ),
    MetricDefinition(
        DELIVERIES_HELD,
        MetricUnit.Count,
        (DISPATCHER,),
        "deliveries held back by delivery control (no request, no attempt), by why",
        HOLD_DIMENSION,
        tuple(Hold),
        total=True,
    ),
    MetricDefinition(
        CIRCUITS_OPENED, MetricUnit.Count, (DISPATCHER,), "subscriptions' circuits opened"
    ),
    MetricDefinition(
        CIRCUITS_CLOSED, MetricUnit.Count, (DISPATCHER,), "circuits closed by a probe's success"
    ),
    MetricDefinition(
        DELIVERY_LATENCY, MetricUnit.Milliseconds, (DISPATCHER,), "one attempt's round trip"
    ),
    MetricDefinition(
        END_TO_END_LATENCY,
        MetricUnit.Milliseconds,
        (DISPATCHER,),
        "from receipt to successful delivery",
    ),
    MetricDefinition(
        ATTEMPTS_PER_DELIVERY, MetricUnit.Count, (DISPATCHER,), "attempts a success took"
    ),
    MetricDefinition(
        OPERATIONAL_EVENTS_PUBLISHED,
        MetricUnit.Count,
        (DISPATCHER,),
        "operational events put on the bus, by detail type",
        DETAIL_TYPE_DIMENSION,
        tuple(str(t) for t in DetailType),
    ),
    MetricDefinition(
        OPERATIONAL_EVENTS_FAILED,
        MetricUnit.Count,
        (DISPATCHER,),
        "operational events EventBridge refused or failed (logged with their ids)",
    ),
    MetricDefinition(
        COLD_START,
        MetricUnit.Count,
        (RECEIVER, DISPATCHER),
        "new Lambda containers",
        FUNCTION_DIMENSION,
    ),
)

BY_NAME = {definition.name: definition for definition in METRICS}


def count(metrics: Metrics, name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=BY_NAME[name].unit, value=value)


def milliseconds(metrics: Metrics, name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)


def count_failure(metrics: Metrics, outcome: FailureClass) -> None:
    """One failed attempt: in total, and dimensioned by outcome class."""
    count(metrics, DELIVERIES_FAILED)
    _dimensioned(metrics, DELIVERIES_FAILED, OUTCOME_DIMENSION, str(outcome))


def count_delivery(metrics: Metrics, handled: Handled) -> None:
    """What one queued message came to, as the dispatcher's metrics."""
    outcome = handled.outcome
    if outcome is AttemptOutcome.DELIVERED:
        count(metrics, DELIVERIES_SUCCEEDED)
        count(metrics, ATTEMPTS_PER_DELIVERY, handled.attempt)
        if handled.end_to_end_ms is not None:
            milliseconds(metrics, END_TO_END_LATENCY, handled.end_to_end_ms)
    elif outcome is AttemptOutcome.DROPPED:
        count(metrics, DELIVERIES_DROPPED)
    elif outcome is NotAttempted.MALFORMED:
        count(metrics, DELIVERIES_DEAD_LETTERED)
    elif outcome is AttemptOutcome.GONE:
        count(metrics, SUBSCRIPTIONS_DISABLED)
    elif outcome is AttemptOutcome.EXHAUSTED:
        count(metrics, DELIVERIES_EXHAUSTED)
    elif outcome is AttemptOutcome.HELD and handled.hold is not None:
        count(metrics, DELIVERIES_HELD)
        _dimensioned(metrics, DELIVERIES_HELD, HOLD_DIMENSION, str(handled.hold))
    if handled.circuit == "opened":
        count(metrics, CIRCUITS_OPENED)
    elif handled.circuit == "closed":
        count(metrics, CIRCUITS_CLOSED)
    elif handled.circuit == "disabled":
        count(metrics, SUBSCRIPTIONS_DISABLED)
    if handled.failure is not None:
        count_failure(metrics, handled.failure)
    if handled.latency_ms is not None:
        milliseconds(metrics, DELIVERY_LATENCY, handled.latency_ms)


def count_rejection(metrics: Metrics, reason: str) -> None:
    """One request not accepted, dimensioned by reason (one of ``REJECTION_REASONS``)."""
    if reason not in REJECTION_REASONS:
        raise ValueError(f"not a rejection reason: {reason!r}")
    _dimensioned(metrics, EVENTS_REJECTED, REASON_DIMENSION, reason)


def count_operational_event(event: OperationalEvent, published: bool) -> None:
    """One operational event: put on the bus (by detail type), or not (in total).

    Called from the delivery threads, outside the handler's metric set: each is its own
    EMF blob, written at once, as the dimensioned counts are.
    """
    if published:
        _single(OPERATIONAL_EVENTS_PUBLISHED, (DETAIL_TYPE_DIMENSION, str(event.detail_type)))
    else:
        _single(OPERATIONAL_EVENTS_FAILED, None)


#: Powertools flushes a single metric with print(), which writes the blob and its newline
#: separately: two delivery threads could put two blobs on one line, which CloudWatch's EMF
#: parser would drop (seen in a test's captured output). One at a time.
_EMIT = threading.Lock()


def _single(name: str, dimension: tuple[str, str] | None) -> None:
    with (
        _EMIT,
        single_metric(
            name=name,
            unit=BY_NAME[name].unit,
            value=1,
            namespace=NAMESPACE,
            default_dimensions={SERVICE_DIMENSION: service_name()},
        ) as metric,
    ):
        if dimension is not None:
            metric.add_dimension(name=dimension[0], value=dimension[1])


def _dimensioned(metrics: Metrics, name: str, dimension: str, value: str) -> None:
    # Its own EMF blob, so the function's other metrics keep their plain dimensions.
    with (
        _EMIT,
        single_metric(
            name=name,
            unit=BY_NAME[name].unit,
            value=1,
            namespace=metrics.namespace,
            # The function's service, as the function's own metrics carry it.
            default_dimensions={**metrics.default_dimensions, SERVICE_DIMENSION: service_name()},
        ) as metric,
    ):
        metric.add_dimension(name=dimension, value=value)


def service_name() -> str:
    """Powertools' ``service``: as deployed (``service_name`` in cdk.json), else hookhaven."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE


def route_library_logs(logger: Logger) -> None:
    """Send the ``hookhaven.*`` modules' stdlib logs through the function's JSON logger.

    They would reach it by propagation only while the service is named ``hookhaven``.
    """
    names = {name for name in logging.root.manager.loggerDict if name.startswith("hookhaven.")}
    if names:
        copy_config_to_registered_loggers(source_logger=logger, include=names)
