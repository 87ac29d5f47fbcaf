"""What the benchmarks share: the environment a function runs with, pointed nowhere real."""

from __future__ import annotations

from hookhaven import telemetry

ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": telemetry.NAMESPACE,
    "POWERTOOLS_SERVICE_NAME": "hookhaven",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "HOOKHAVEN_CONFIG_TABLE": "config",
    "HOOKHAVEN_EVENTS_TABLE": "events",
    "HOOKHAVEN_BODIES_BUCKET": "bodies",
    "HOOKHAVEN_DELIVERIES_QUEUE_URL": "http://127.0.0.1:1/queue/deliveries",
    "HOOKHAVEN_DEAD_LETTER_QUEUE_URL": "http://127.0.0.1:1/queue/dlq",
    # Any AWS call that slipped past the fakes would fail fast on loopback, never go out.
    "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
}
