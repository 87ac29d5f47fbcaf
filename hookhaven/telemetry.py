"""Metric names the functions emit (namespace ``HookHaven``), in one place."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

EVENTS_RECEIVED = "EventsReceived"
EVENTS_ACCEPTED = "EventsAccepted"
EVENTS_REJECTED = "EventsRejected"
EVENTS_DUPLICATE = "EventsDuplicate"
FAN_OUT_SIZE = "FanOutSize"

DELIVERIES_SUCCEEDED = "DeliveriesSucceeded"
DELIVERIES_FAILED = "DeliveriesFailed"  # dimension Outcome: an OutcomeClass value
DELIVERIES_EXHAUSTED = "DeliveriesExhausted"
DELIVERIES_DROPPED = "DeliveriesDropped"
DELIVERIES_DEAD_LETTERED = "DeliveriesDeadLettered"
SUBSCRIPTIONS_DISABLED = "SubscriptionsDisabled"
DELIVERY_LATENCY = "DeliveryLatency"
END_TO_END_LATENCY = "EndToEndLatency"
ATTEMPTS_PER_DELIVERY = "AttemptsPerDelivery"


def count(metrics: Metrics, name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def milliseconds(metrics: Metrics, name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)


def count_failure(metrics: Metrics, outcome: str) -> None:
    """One failed attempt, dimensioned by outcome class."""
    _dimensioned(metrics, DELIVERIES_FAILED, "Outcome", outcome)


def count_rejection(metrics: Metrics, reason: str) -> None:
    """One rejected request, dimensioned by reason."""
    _dimensioned(metrics, EVENTS_REJECTED, "Reason", reason)


def _dimensioned(metrics: Metrics, name: str, dimension: str, value: str) -> None:
    # Its own EMF blob, so the function's other metrics keep their plain dimensions.
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=1,
        namespace=metrics.namespace,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name=dimension, value=value)
