"""Metric names the functions emit (namespace ``HookHaven``), in one place."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

EVENTS_RECEIVED = "EventsReceived"
EVENTS_ACCEPTED = "EventsAccepted"
EVENTS_REJECTED = "EventsRejected"
EVENTS_DUPLICATE = "EventsDuplicate"
FAN_OUT_SIZE = "FanOutSize"

#: Reasons a request is not accepted; the dimension of EVENTS_REJECTED.
REJECTION_REASONS = (
    "unknown_source",
    "invalid_signature",
    "payload_too_large",
    "bad_request",
    "in_progress",
    "unavailable",
)


def count(metrics: Metrics, name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_rejection(metrics: Metrics, reason: str) -> None:
    """One rejected request, dimensioned by reason (a separate EMF blob, like Powertools asks)."""
    with single_metric(
        name=EVENTS_REJECTED,
        unit=MetricUnit.Count,
        value=1,
        namespace=metrics.namespace,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name="Reason", value=reason)
