"""Operational events: the setting, the EventBridge adapter under moto, and the wiring.

Under ``mock_aws`` a rule on the bus (source ``hookhaven``) targets an SQS queue, as an
operator's rule would target SNS or an API destination: what arrives there is what
EventBridge made of each PutEvents entry.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from hookhaven import quotas, wiring
from hookhaven.aws.eventbridge import EventBridgeOperationalEvents
from hookhaven.operational import (
    SOURCE,
    DetailType,
    NoOperationalEvents,
    OperationalEvent,
    circuit_closed,
    circuit_opened,
    delivery_exhausted,
    subscription_disabled,
)
from hookhaven.resources import Resources
from hookhaven.tunables import ConfigurationError, Tunables
from tests.conftest import RESOURCES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
AT = 1_790_000_000.0

#: The keys of each detail type's ``detail``, as the README documents them.
DOCUMENTED_KEYS: dict[DetailType, set[str]] = {
    DetailType.SUBSCRIPTION_DISABLED: {"subscription_id", "url_host", "reason"},
    DetailType.CIRCUIT_OPENED: {
        "subscription_id",
        "url_host",
        "consecutive_failures",
        "last_failure",
        "next_probe_at",
    },
    DetailType.CIRCUIT_CLOSED: {"subscription_id", "url_host", "opened_at", "open_seconds"},
    DetailType.DELIVERY_EXHAUSTED: {
        "event_id",
        "subscription_id",
        "source",
        "event_type",
        "url_host",
        "attempts",
        "last_failure",
    },
}
COMMON_KEYS = {"version", "at", "commands"}


def every_shape() -> list[OperationalEvent]:
    return [
        subscription_disabled("sub_1", reason="410 Gone", at=AT, url_host="hooks.example.com"),
        circuit_opened(
            "sub_2",
            at=AT,
            url_host="hooks.example.com",
            consecutive_failures=5,
            last_failure="status_5xx",
            next_probe_at=AT + 60,
        ),
        circuit_closed("sub_2", at=AT + 120, url_host="hooks.example.com", opened_at=AT),
        delivery_exhausted(
            event_id="evt_1",
            subscription_id="sub_3",
            source="bookhaven",
            event_type="order.created",
            attempts=12,
            last_failure="timeout",
            at=AT,
            url_host=None,
        ),
    ]


# --- the setting -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "bus"),
    [
        ("default", "default"),
        ("ops-alerts", "ops-alerts"),
        ("a.b_c-1", "a.b_c-1"),
        ("off", None),
        ("OFF", None),
        ("", None),
        ("  ", None),
    ],
)
def test_the_bus_setting_names_a_bus_or_turns_events_off(given, bus):
    assert Tunables.from_context({"operational_events_bus": given}).operational_events_bus_name == (
        bus
    )


def test_operational_events_go_to_the_default_bus_by_default():
    assert Tunables().operational_events_bus_name == "default"


@pytest.mark.parametrize(
    "name",
    [
        "aws.partner/example.com/123/bus",  # a partner bus: not the relay's to publish on
        "arn:aws:events:us-east-1:123456789012:event-bus/ops",
        "ops alerts",
        "ops:alerts",
        "x" * 257,
    ],
)
def test_a_bus_name_eventbridge_would_refuse_stops_the_synth(name):
    with pytest.raises(ConfigurationError, match="operational_events_bus"):
        Tunables.from_context({"operational_events_bus": name})
    assert Tunables.from_context({"operational_events_bus": "x" * 256})


@pytest.mark.parametrize(("given", "bus"), [("off", None), ("ops-alerts", "ops-alerts")])
def test_the_bus_reaches_the_dispatcher_through_its_environment(given, bus):
    tunables = Tunables.from_context({"operational_events_bus": given})
    environ = {**tunables.function_environment(), **RESOURCES.to_env()}
    assert environ["HOOKHAVEN_OPERATIONAL_EVENTS_BUS"]  # never empty: Lambda keeps it
    assert wiring.FunctionSettings.from_environ(environ).operational_events_bus_name == bus


# --- the adapter under moto --------------------------------------------------------------


def rule_to_queue(bus: str = "default", name: str = "ops") -> str:
    """A rule on ``bus`` for every operational event, targeting a new queue; its URL."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName=f"{name}-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name=f"{name}-rule", EventBusName=bus, EventPattern=json.dumps({"source": [SOURCE]})
    )
    events.put_targets(Rule=f"{name}-rule", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return url


def arrived(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


class Observed:
    def __init__(self) -> None:
        self.seen: list[tuple[DetailType, bool]] = []

    def __call__(self, event: OperationalEvent, published: bool) -> None:
        self.seen.append((event.detail_type, published))


def test_each_shape_reaches_a_rule_on_the_bus_once_as_documented(aws):
    queue = rule_to_queue()
    observed = Observed()
    publisher = EventBridgeOperationalEvents(
        lambda: boto3.client("events"), "default", observe=observed
    )
    for event in every_shape():
        publisher.publish(event)

    received = arrived(queue)
    assert sorted(e["detail-type"] for e in received) == sorted(str(t) for t in DetailType)
    for put in received:
        assert put["source"] == "hookhaven"
        assert put["resources"] == []
        detail_type = DetailType(put["detail-type"])
        assert set(put["detail"]) == DOCUMENTED_KEYS[detail_type] | COMMON_KEYS
        assert put["detail"]["version"] == 1
    exhausted = next(e for e in received if e["detail-type"] == "Delivery Exhausted")
    assert exhausted["time"] == "2026-09-21T14:13:20Z"  # the event's own time, not the put's
    assert exhausted["detail"]["commands"]["show"] == "hookhaven events show evt_1"
    assert observed.seen == [(t, True) for t in DetailType]


def test_events_go_to_the_configured_bus_and_no_other(aws):
    boto3.client("events").create_event_bus(Name="ops-alerts")
    on_default, on_ops = rule_to_queue("default", "d"), rule_to_queue("ops-alerts", "o")
    EventBridgeOperationalEvents(lambda: boto3.client("events"), "ops-alerts").publish(
        every_shape()[0]
    )
    assert [e["detail-type"] for e in arrived(on_ops)] == ["Subscription Disabled"]
    assert arrived(on_default) == []


def test_the_client_is_made_only_when_an_event_is_published(aws):
    made: list[Any] = []

    def client() -> Any:
        made.append(boto3.client("events"))
        return made[-1]

    publisher = EventBridgeOperationalEvents(client, "default")
    assert made == []
    publisher.publish(every_shape()[0])
    assert len(made) == 1


def test_a_refused_call_is_logged_and_counted_never_raised(aws, caplog):
    observed = Observed()
    # The bus does not exist: EventBridge refuses the call.
    publisher = EventBridgeOperationalEvents(
        lambda: boto3.client("events"), "nowhere", observe=observed
    )
    with caplog.at_level(logging.WARNING, logger="hookhaven.aws.eventbridge"):
        publisher.publish(every_shape()[3])
    assert observed.seen == [(DetailType.DELIVERY_EXHAUSTED, False)]
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.__dict__["detail_type"] == "Delivery Exhausted"
    assert record.__dict__["event_id"] == "evt_1"
    assert record.__dict__["subscription_id"] == "sub_3"


class FakeEvents:
    """An EventBridge client that answers (or raises) what it is given."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def put_events(self, **params: Any) -> Any:
        self.calls.append(params)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def fake(client: FakeEvents) -> Any:
    return lambda: client


@pytest.mark.parametrize(
    "answer",
    [
        # HTTP 200, and yet the entry failed (quotas.EVENTBRIDGE_PARTIAL_FAILURE).
        {
            "FailedEntryCount": 1,
            "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
        },
        ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "PutEvents"),
        EndpointConnectionError(endpoint_url="https://events.eu-west-1.amazonaws.com"),
        RuntimeError("a bug"),
    ],
    ids=["partial-failure", "client-error", "botocore-error", "anything-else"],
)
def test_a_failed_entry_is_counted_never_raised(answer, caplog):
    observed = Observed()
    client = FakeEvents(answer)
    publisher = EventBridgeOperationalEvents(fake(client), "default", observe=observed)
    with caplog.at_level(logging.WARNING, logger="hookhaven.aws.eventbridge"):
        publisher.publish(every_shape()[1])
    assert observed.seen == [(DetailType.CIRCUIT_OPENED, False)]
    assert len(client.calls) == 1
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert caplog.records[0].__dict__["subscription_id"] == "sub_2"


def test_a_published_entry_is_counted_as_published():
    observed = Observed()
    client = FakeEvents({"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]})
    EventBridgeOperationalEvents(fake(client), "ops", observe=observed).publish(every_shape()[2])
    assert observed.seen == [(DetailType.CIRCUIT_CLOSED, True)]
    (call,) = client.calls
    (entry,) = call["Entries"]
    assert entry["EventBusName"] == "ops"
    assert entry["Source"] == "hookhaven"
    assert entry["DetailType"] == "Subscription Circuit Closed"
    assert json.loads(entry["Detail"])["open_seconds"] == 120


def test_an_event_over_its_size_budget_is_not_sent():
    observed = Observed()
    client = FakeEvents({"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]})
    huge = subscription_disabled(
        "sub_1", reason="x" * quotas.OPERATIONAL_EVENT_SIZE_MAX, at=AT, url_host=None
    )
    EventBridgeOperationalEvents(fake(client), "default", observe=observed).publish(huge)
    assert client.calls == []
    assert observed.seen == [(DetailType.SUBSCRIPTION_DISABLED, False)]


def test_an_observer_that_fails_does_not_fail_the_delivery():
    def broken(event: OperationalEvent, published: bool) -> None:
        raise ValueError("metrics are down")

    client = FakeEvents({"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]})
    EventBridgeOperationalEvents(fake(client), "default", observe=broken).publish(every_shape()[0])


def test_entry_size_is_counted_as_eventbridge_counts_it():
    # eb-putevent-size: Time is 14 bytes; Source, DetailType and Detail their UTF-8 bytes.
    size = quotas.put_events_entry_size(source="hookhaven", detail_type="Té", detail='{"a":1}')
    assert size == 14 + 9 + 3 + 7


# --- the wiring ----------------------------------------------------------------------------


def settings(bus: str, resources: Resources = RESOURCES) -> wiring.FunctionSettings:
    tunables = Tunables.from_context({"operational_events_bus": bus})
    return wiring.FunctionSettings.of(tunables, resources)


def test_the_dispatcher_publishes_nowhere_when_events_are_off(aws):
    clients = wiring.AwsClients.create(wiring.dispatcher_client_config(settings("off")))
    dispatcher = wiring.build_dispatcher(settings("off", aws), clients)
    assert isinstance(dispatcher._operational, NoOperationalEvents)


def test_the_dispatcher_publishes_to_the_configured_bus(aws):
    boto3.client("events").create_event_bus(Name="ops-alerts")
    queue = rule_to_queue("ops-alerts")
    clients = wiring.AwsClients.create(wiring.dispatcher_client_config(settings("ops-alerts")))
    dispatcher = wiring.build_dispatcher(settings("ops-alerts", aws), clients)
    publisher = dispatcher._operational
    assert isinstance(publisher, EventBridgeOperationalEvents)
    assert publisher.bus == "ops-alerts"
    publisher.publish(every_shape()[0])
    assert len(arrived(queue)) == 1


def test_wrapped_clients_wrap_the_events_client_too(aws):
    wrapped: list[str] = []

    def wrap(client: Any) -> Any:
        wrapped.append(client.meta.service_model.service_name)
        return client

    clients = wiring.AwsClients.create(wiring.RECEIVER_CLIENT_CONFIG).wrapped(wrap)
    assert "events" not in wrapped  # made on first use
    assert clients.events() is clients.events()
    assert wrapped.count("events") == 1


# --- the README ---------------------------------------------------------------------------


def test_the_readme_documents_each_detail_type_and_its_keys():
    section = README.split("## Operational events", 1)[1].split("\n## ", 1)[0]
    rows = {
        m.group(1): set(re.findall(r"`(\w+)`", m.group(2)))
        for m in re.finditer(r"^\| `([A-Z][\w ]+)` \|[^|]+\| ([^|]+) \|$", section, re.M)
    }
    assert rows == {str(t): keys for t, keys in DOCUMENTED_KEYS.items()}


def test_hookhaven_dev_says_each_event_in_one_line_with_the_command_that_shows_it():
    from hookhaven.local.stack import operational_event_line

    exhausted = every_shape()[3]
    delivered = {"detail-type": str(exhausted.detail_type), "detail": exhausted.detail}
    assert operational_event_line(delivered) == (
        "operational event: Delivery Exhausted sub_3 evt_1 (timeout) -> hookhaven events show evt_1"
    )
