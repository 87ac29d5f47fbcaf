"""Delivery control's metrics, read back from the dispatcher handler's EMF output under
moto and held to the catalog: held deliveries by why, circuits opened and closed."""

from __future__ import annotations

import logging
import time

import boto3
import pytest

from hookhaven import telemetry
from hookhaven.aws.control import DynamoControlStore
from hookhaven.local.poller import QueuePoller
from hookhaven.models import RateLimit
from hookhaven.tunables import Tunables
from tests.integration.helpers import add_subscription, enqueue
from tests.integration.test_metrics import assert_in_catalog, emitted, values_of
from tests.subscribers import Reply, Subscriber


def held_logged(records: list[logging.LogRecord], subscription_id: str) -> int:
    """How many "delivery attempt" log records say a delivery to ``subscription_id`` was
    held (the dispatcher's own log, read through caplog: its logger's stream is bound
    before capsys replaces stdout)."""
    return sum(
        1
        for record in records
        if record.getMessage() == "delivery attempt"
        and getattr(record, "subscription_id", None) == subscription_id
        and getattr(record, "result", None) == "held"
    )


@pytest.fixture
def tunables() -> Tunables:
    # A failed delivery's retry is 10 minutes away: on a loaded machine a 1 s retry came back
    # while the test still drained, and was held by the open circuit a second time.
    return Tunables.from_context(
        {"retry_schedule": ["0s", "10m", "10m"], "retry_jitter": 0, "circuit_failure_threshold": 1}
    )


def test_held_deliveries_and_circuit_changes_are_counted(aws, make_dispatcher, capsys, caplog):
    function = make_dispatcher()
    poller = QueuePoller(
        boto3.client("sqs"), aws.deliveries_queue_url, function.handler, wait_seconds=0
    )
    control = DynamoControlStore(boto3.client("dynamodb"), aws.events_table)
    healthy = {"now": False}

    def drain() -> None:
        while poller.poll_once().received:
            pass

    with (
        Subscriber() as limited_url,
        Subscriber() as busy_url,
        Subscriber(lambda n: Reply() if healthy["now"] else Reply(503)) as down_url,
    ):
        limited = add_subscription(aws, url=limited_url.url, rate=RateLimit.parse("1/m"))
        busy = add_subscription(aws, url=busy_url.url, max_in_flight=1)
        down = add_subscription(aws, url=down_url.url)
        control.acquire_lease(
            busy.id, "elsewhere", now=time.time(), expires_at=time.time() + 60, maximum=1
        )
        for _ in range(3):
            enqueue(aws, limited)
        enqueue(aws, busy)
        enqueue(aws, down)
        capsys.readouterr()
        caplog.clear()
        drain()
        enqueue(aws, down)  # the circuit is open now: this one is held
        drain()
        # The probe is due, the subscriber is back: the probe closes the circuit.
        boto3.client("dynamodb").update_item(
            TableName=aws.events_table,
            Key={"pk": {"S": f"CONTROL#{down.id}"}, "sk": {"S": "CIRCUIT"}},
            UpdateExpression="SET probe_at = :past",
            ExpressionAttributeValues={":past": {"N": "0"}},
        )
        healthy["now"] = True
        enqueue(aws, down)
        drain()

    metrics = emitted(capsys.readouterr().out)
    assert_in_catalog(metrics)
    held = {
        hold: sum(values_of(metrics, telemetry.DELIVERIES_HELD, hold=hold))
        for hold in ("rate_limit", "max_in_flight", "circuit_open")
    }
    # Every hold the metric counts is one the dispatcher logged for that subscriber. A
    # max_in_flight hold waits seconds, not minutes, so on a slow machine the busy one can
    # come back while the test still drains and be held again: that is counted, not assumed.
    assert held == {
        "rate_limit": held_logged(caplog.records, limited.id),
        "max_in_flight": held_logged(caplog.records, busy.id),
        "circuit_open": held_logged(caplog.records, down.id),
    }
    # 1/m: the first of three goes, two wait their minute; the busy one waits its lease (at
    # least once); the down subscriber's second delivery waits for the probe.
    assert held["rate_limit"] == 2
    assert held["max_in_flight"] >= 1
    assert held["circuit_open"] == 1
    assert sum(values_of(metrics, telemetry.DELIVERIES_HELD, hold=None)) == sum(held.values())
    assert values_of(metrics, telemetry.CIRCUITS_OPENED) == [1]
    assert values_of(metrics, telemetry.CIRCUITS_CLOSED) == [1]
    assert len(limited_url.received) == 1
    assert busy_url.received == []
    assert len(down_url.received) == 2  # the failure that opened it, then the probe
