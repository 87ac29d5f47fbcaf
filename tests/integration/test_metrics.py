"""The metrics both handlers emit, read back from their EMF output and held to the catalog.

The handlers run in process under mock_aws through success, rejection, duplicate,
failure of every class the issue names, 410, exhaustion, drop and a malformed
message; every EMF blob they print is parsed and checked against
``hookhaven.telemetry.METRICS``: name, unit, dimensions and dimension values.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics.provider import cold_start

from hookhaven import telemetry
from hookhaven.local.poller import QueuePoller
from hookhaven.signatures import new_standard_secret
from hookhaven.tunables import Tunables
from tests.integration.helpers import add_source, add_subscription, enqueue
from tests.providers import signed
from tests.subscribers import Reply, Subscriber

SERVICE = "hookhaven"  # POWERTOOLS_SERVICE_NAME in the functions' test environment


@dataclass(frozen=True)
class Emitted:
    name: str
    unit: str
    dimensions: tuple[tuple[str, str], ...]
    value: float


def emitted(text: str) -> list[Emitted]:
    """Every metric value in the EMF blobs among ``text``'s lines."""
    found = []
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        blob: dict[str, Any] = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == telemetry.NAMESPACE
            (dimension_names,) = directive["Dimensions"]
            dimensions = tuple(sorted((d, blob[d]) for d in dimension_names))
            for metric in directive["Metrics"]:
                values = blob[metric["Name"]]
                for value in values if isinstance(values, list) else [values]:
                    found.append(Emitted(metric["Name"], metric["Unit"], dimensions, value))
    return found


def assert_in_catalog(metrics: list[Emitted]) -> None:
    for metric in metrics:
        definition = telemetry.BY_NAME.get(metric.name)
        assert definition is not None, f"{metric.name} is emitted but not in the catalog"
        assert metric.unit == definition.unit.value, metric
        names = dict(metric.dimensions)
        assert names.pop(telemetry.SERVICE_DIMENSION) == SERVICE, metric
        if definition.dimension is None or (definition.total and not names):
            assert names == {}, metric
        else:
            (value,) = names.values()
            assert set(names) == {definition.dimension}, metric
            if definition.values:
                assert value in definition.values, metric


def values_of(metrics: list[Emitted], name: str, **dimensions: str | None) -> list[float]:
    return [
        m.value
        for m in metrics
        if m.name == name and all(dict(m.dimensions).get(k) == v for k, v in dimensions.items())
    ]


def call(module: Any, event: dict[str, Any], context: Any) -> int:
    status: int = module.handler(event, context)["statusCode"]
    return status


def test_receiver_emits_counts_by_outcome_and_rejections_by_reason(
    aws, receiver_function, load_event, lambda_context, capsys
):
    cold_start.is_cold_start = True  # this module was just loaded: a new container
    add_source(aws, "bookhaven", "standard")
    add_subscription(aws)
    add_subscription(aws, types=("order.*",))
    event = signed(load_event("http/standard_order_created"), "standard", time.time())
    forged = signed(
        load_event("http/standard_order_created"), "standard", time.time(), new_standard_secret()
    )
    unknown = json.loads(json.dumps(event))
    unknown["rawPath"] = unknown["requestContext"]["http"]["path"] = "/webhooks/nobody"
    unknown["pathParameters"]["source"] = "nobody"
    not_base64 = {**event, "isBase64Encoded": True, "body": "not base64!"}
    capsys.readouterr()

    assert [call(receiver_function, e, lambda_context) for e in (event, event)] == [202, 200]
    assert call(receiver_function, forged, lambda_context) == 401
    assert call(receiver_function, unknown, lambda_context) == 404
    assert call(receiver_function, not_base64, lambda_context) == 400

    metrics = emitted(capsys.readouterr().out)
    assert_in_catalog(metrics)
    assert sum(values_of(metrics, telemetry.EVENTS_RECEIVED)) == 5
    assert values_of(metrics, telemetry.EVENTS_ACCEPTED) == [1]
    assert values_of(metrics, telemetry.FAN_OUT_SIZE) == [2]
    assert values_of(metrics, telemetry.FILTER_ERRORS) == []  # only when a filter fails
    assert values_of(metrics, telemetry.EVENTS_DUPLICATE) == [1]
    for reason in ("invalid_signature", "unknown_source", "bad_request"):
        assert values_of(metrics, telemetry.EVENTS_REJECTED, reason=reason) == [1], reason
    assert values_of(metrics, telemetry.COLD_START, function_name="hookhaven-test") == [1]
    assert len(values_of(metrics, telemetry.COLD_START)) == 1  # the first invocation only


def test_receiver_counts_oversized_bodies_and_bugs_as_rejections(
    aws, tunables, receiver_function, load_event, lambda_context, capsys
):
    add_source(aws, "bookhaven", "standard")
    big = load_event("http/standard_order_created")
    limit = tunables.max_body_bytes
    big["body"] = json.dumps({"type": "order.created", "pad": "x" * limit})
    capsys.readouterr()
    assert call(receiver_function, signed(big, "standard", time.time()), lambda_context) == 413

    def bug(*args: Any, **kwargs: Any) -> None:
        raise KeyError("bug")

    receiver_function.receiver._directory.subscriptions_for = bug
    event = signed(load_event("http/standard_order_created"), "standard", time.time())
    assert call(receiver_function, event, lambda_context) == 500

    metrics = emitted(capsys.readouterr().out)
    assert_in_catalog(metrics)
    assert values_of(metrics, telemetry.EVENTS_REJECTED, reason="payload_too_large") == [1]
    assert values_of(metrics, telemetry.EVENTS_REJECTED, reason="internal_error") == [1]


def test_receiver_counts_filters_that_fail_to_evaluate(
    aws, receiver_function, load_event, lambda_context, capsys
):
    add_source(aws, "bookhaven", "standard")
    add_subscription(aws, filter="length(data.total) > `1`")  # length() of a number: an error
    add_subscription(aws, filter="abs(type) > `1`")  # abs() of a string: an error
    add_subscription(aws, filter="data.nothing")  # null: no match, no error
    add_subscription(aws)
    event = signed(load_event("http/standard_order_created"), "standard", time.time())
    capsys.readouterr()
    assert call(receiver_function, event, lambda_context) == 202

    metrics = emitted(capsys.readouterr().out)
    assert_in_catalog(metrics)
    assert values_of(metrics, telemetry.FILTER_ERRORS) == [2]
    assert values_of(metrics, telemetry.FAN_OUT_SIZE) == [1]


@pytest.fixture
def tunables() -> Tunables:
    # One attempt: every failure exhausts the schedule at once.
    return Tunables.from_context(
        {"retry_schedule": ["0s"], "retry_jitter": 0, "request_timeout_seconds": 1}
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_dispatcher_emits_success_latency_and_failures_by_outcome_class(
    aws, dispatcher_function, capsys
):
    def hang(n: int) -> Reply:
        time.sleep(1.5)
        return Reply()

    poller = QueuePoller(
        boto3.client("sqs"), aws.deliveries_queue_url, dispatcher_function.handler, wait_seconds=0
    )
    with (
        Subscriber() as ok,
        Subscriber(lambda n: Reply(400)) as refuses,
        Subscriber(lambda n: Reply(503)) as down,
        Subscriber(lambda n: Reply(410)) as gone,
        Subscriber(hang) as slow,
    ):
        enqueue(aws, add_subscription(aws, url=ok.url), received_at=time.time() - 2)
        for url in (refuses.url, down.url, gone.url, slow.url):
            enqueue(aws, add_subscription(aws, url=url))
        enqueue(aws, add_subscription(aws, url=f"http://127.0.0.1:{closed_port()}/hook"))
        enqueue(aws, add_subscription(aws, url="https://10.20.30.40/internal"))
        disabled = add_subscription(aws, url=ok.url, enabled=False)
        enqueue(aws, disabled)
        boto3.client("sqs").send_message(QueueUrl=aws.deliveries_queue_url, MessageBody="{oops")
        capsys.readouterr()
        while poller.poll_once().received:
            pass

    metrics = emitted(capsys.readouterr().out)
    assert_in_catalog(metrics)
    assert values_of(metrics, telemetry.DELIVERIES_SUCCEEDED) == [1]
    assert values_of(metrics, telemetry.ATTEMPTS_PER_DELIVERY) == [1]
    (end_to_end,) = values_of(metrics, telemetry.END_TO_END_LATENCY)
    assert end_to_end >= 2000
    failed = {
        outcome: values_of(metrics, telemetry.DELIVERIES_FAILED, outcome=outcome)
        for outcome in ("status_4xx", "status_5xx", "timeout", "connection", "ssrf_blocked")
    }
    assert sum(values_of(metrics, telemetry.DELIVERIES_FAILED, outcome=None)) == 6
    assert failed == {
        "status_4xx": [1, 1],  # the 400 and the 410
        "status_5xx": [1],
        "timeout": [1],
        "connection": [1],
        "ssrf_blocked": [1],
    }
    assert values_of(metrics, telemetry.SUBSCRIPTIONS_DISABLED) == [1]
    # 400, 503, timeout, refused, blocked: one attempt each, the schedule is used up.
    assert sum(values_of(metrics, telemetry.DELIVERIES_EXHAUSTED)) == 5
    assert values_of(metrics, telemetry.DELIVERIES_DROPPED) == [1]
    assert values_of(metrics, telemetry.DELIVERIES_DEAD_LETTERED) == [1]
    latencies = values_of(metrics, telemetry.DELIVERY_LATENCY)
    assert len(latencies) >= 4  # every attempt that got an answer or timed out
    assert all(value >= 0 for value in latencies)


def test_the_dispatcher_counts_operational_events_published_and_failed(
    aws, dispatcher_function, make_dispatcher, capsys
):
    """Published through the dispatcher as wired (the dispatcher logic that decides when
    to publish is not under test here): one count per event, by detail type, and one
    OperationalEventsFailed for an event EventBridge refused."""
    from hookhaven.operational import circuit_opened, subscription_disabled

    now = time.time()
    capsys.readouterr()
    publisher = dispatcher_function.dispatcher._operational
    publisher.publish(subscription_disabled("sub_1", reason="410 Gone", at=now, url_host=None))
    publisher.publish(
        circuit_opened(
            "sub_1",
            at=now,
            url_host=None,
            consecutive_failures=5,
            last_failure="timeout",
            next_probe_at=now + 60,
        )
    )
    # A bus that does not exist: EventBridge refuses the put; the dispatcher's role would
    # be allowed it (the grant follows the setting), so only EventBridge says no.
    nowhere = make_dispatcher(operational_events_bus="nowhere").dispatcher._operational
    nowhere.publish(subscription_disabled("sub_2", reason="410 Gone", at=now, url_host=None))

    metrics = emitted(capsys.readouterr().out)
    assert_in_catalog(metrics)
    published = telemetry.OPERATIONAL_EVENTS_PUBLISHED
    assert values_of(metrics, published, detail_type="Subscription Disabled") == [1]
    assert values_of(metrics, published, detail_type="Subscription Circuit Opened") == [1]
    assert len(values_of(metrics, published)) == 2
    assert values_of(metrics, telemetry.OPERATIONAL_EVENTS_FAILED) == [1]
