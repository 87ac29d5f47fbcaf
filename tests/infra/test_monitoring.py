"""The dashboard and the alarms, read from the synthesized template.

The dashboard's hookhaven metrics are compared both ways with the catalog the
code emits from (``hookhaven.telemetry.METRICS``, itself held to the handlers'
real EMF output by tests/integration/test_metrics.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hookhaven import telemetry
from hookhaven.tunables import Tunables
from tests.infra.test_stack import resources

TOKEN = "<token>"

Reference = tuple[str, str | None, str | None]  # metric name, dimension, dimension value


def rendered(value: Any) -> str:
    """A CloudFormation string, with every intrinsic (Ref, GetAtt, ...) replaced by TOKEN."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(rendered(part) for part in parts)
    return TOKEN


def dashboard(template) -> dict[str, Any]:
    (resource,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    body: dict[str, Any] = json.loads(rendered(resource["Properties"]["DashboardBody"]))
    return body


def metric_rows(body: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for widget in body["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            rows.append(row)
    return rows


def references(namespace: str, name: str, dimensions: dict[str, str]) -> Reference:
    extra = {k: v for k, v in dimensions.items() if k != telemetry.SERVICE_DIMENSION}
    assert len(extra) <= 1, (name, dimensions)
    if not extra:
        return (name, None, None)
    ((dimension, value),) = extra.items()
    return (name, dimension, value)


def dashboard_references(body: dict[str, Any]) -> set[Reference]:
    found = set()
    for row in metric_rows(body):
        strings = [part for part in row if isinstance(part, str)]
        if not strings or strings[0] != telemetry.NAMESPACE:
            continue
        _, name, *pairs = strings
        dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
        assert dimensions.get(telemetry.SERVICE_DIMENSION) == "hookhaven", row
        found.add(references(telemetry.NAMESPACE, name, dimensions))
    return found


def catalog_references() -> set[Reference]:
    expected: set[Reference] = set()
    for definition in telemetry.METRICS:
        if definition.dimension is None or definition.total:
            expected.add((definition.name, None, None))
        if definition.dimension is not None:
            values = definition.values or (TOKEN,)  # function_name: the deployed function's
            expected |= {(definition.name, definition.dimension, value) for value in values}
    return expected


def alarms(template) -> dict[str, dict[str, Any]]:
    found = resources(template, "AWS::CloudWatch::Alarm")
    return {
        resource["Properties"]["AlarmName"].removeprefix("HookHaven-"): resource["Properties"]
        for resource in found.values()
    }


def alarm_references(properties: dict[str, Any]) -> set[Reference]:
    found = set()
    stats = [properties] if "MetricName" in properties else []
    stats += [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
    for metric in stats:
        if metric["Namespace"] != telemetry.NAMESPACE:
            continue
        dimensions = {d["Name"]: rendered(d["Value"]) for d in metric.get("Dimensions", [])}
        found.add(references(metric["Namespace"], metric["MetricName"], dimensions))
    return found


def test_dashboard_shows_every_metric_the_code_emits_and_no_other(template):
    assert dashboard_references(dashboard(template)) == catalog_references()


def test_alarms_use_only_metrics_the_code_emits(template):
    used = set().union(*(alarm_references(p) for p in alarms(template).values()))
    assert used  # the success-rate alarm is built on hookhaven's own metrics
    assert used <= catalog_references()


def test_dashboard_reads_top_to_bottom_with_a_header_linking_the_runbook(template, synth):
    body = dashboard(template)
    texts = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert texts[0].startswith("# hookhaven relay")
    assert "Runbook" in texts[0]
    sections = [t.split("\n")[0] for t in texts[1:]]
    assert sections == [
        "## Ingest",
        "## Delivery",
        "## Delivery control",
        "## Backlog",
        "## Functions",
    ]
    assert any(w["type"] == "alarm" for w in body["widgets"])

    linked = dashboard(synth(runbook_url="https://wiki.example.com/hookhaven")[1])
    header = next(w for w in linked["widgets"] if w["type"] == "text")["properties"]["markdown"]
    assert "[Runbook](https://wiki.example.com/hookhaven)" in header


def test_dashboard_covers_latency_percentiles_backlog_and_both_functions(template):
    body = dashboard(template)
    titles = {w["properties"].get("title") for w in body["widgets"] if w["type"] == "metric"}
    for name in ("Receiver", "Dispatcher"):
        for what in ("errors and throttles", "duration (ms)", "concurrent executions"):
            assert f"{name}: {what}" in titles
    stats = {
        (row[1], row[-1].get("stat"))
        for row in metric_rows(body)
        if isinstance(row[-1], dict) and len(row) > 2
    }
    for metric in (telemetry.DELIVERY_LATENCY, telemetry.END_TO_END_LATENCY):
        assert {(metric, p) for p in ("p50", "p90", "p99")} <= stats
    sqs = {row[1] for row in metric_rows(body) if row and row[0] == "AWS/SQS"}
    assert sqs == {
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateAgeOfOldestMessage",
    }
    api = {row[1] for row in metric_rows(body) if row and row[0] == "AWS/ApiGateway"}
    assert api == {"Count", "4xx", "5xx", "Latency"}
    expressions = [row[0]["expression"] for row in metric_rows(body) if "expression" in row[0]]
    assert any("100 * FILL(s, 0) / (FILL(s, 0) + FILL(f, 0))" in e for e in expressions)


EXPECTED_ALARMS = {
    "DeadLetters",
    "OldestDelivery",
    "DeliverySuccessRate",
    "Receiver5xx",
    "ReceiverErrors",
    "ReceiverThrottles",
    "DispatcherErrors",
    "DispatcherThrottles",
}


def test_every_alarm_notifies_the_topic_and_says_what_to_do_first(template):
    found = alarms(template)
    assert set(found) == EXPECTED_ALARMS
    (topic,) = resources(template, "AWS::SNS::Topic")
    for name, properties in found.items():
        assert properties["AlarmActions"] == [{"Ref": topic}], name
        assert properties["OKActions"] == [{"Ref": topic}], name
        assert properties["TreatMissingData"] == "notBreaching", name
        assert (properties["EvaluationPeriods"], properties["DatapointsToAlarm"]) == (1, 1)
        assert "First:" in properties["AlarmDescription"], name


def test_alarm_thresholds_follow_the_defaults(template):
    found = alarms(template)
    defaults = Tunables()
    dlq = found["DeadLetters"]
    assert (dlq["MetricName"], dlq["Statistic"], dlq["Threshold"]) == (
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
        1,
    )
    assert dlq["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    oldest = found["OldestDelivery"]
    assert oldest["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert oldest["Threshold"] == defaults.oldest_message_alarm_seconds == 3600
    five_xx = found["Receiver5xx"]
    assert (five_xx["Namespace"], five_xx["MetricName"], five_xx["Period"]) == (
        "AWS/ApiGateway",
        "5xx",
        300,
    )
    assert five_xx["Threshold"] == 5
    for name in ("Receiver", "Dispatcher"):
        assert found[f"{name}Errors"]["MetricName"] == "Errors"
        assert found[f"{name}Throttles"]["MetricName"] == "Throttles"
        assert found[f"{name}Errors"]["Threshold"] == found[f"{name}Throttles"]["Threshold"] == 1


def test_success_rate_alarm_needs_enough_attempts_over_fifteen_minutes(template):
    rate = alarms(template)["DeliverySuccessRate"]
    assert rate["ComparisonOperator"] == "LessThanThreshold"
    assert rate["Threshold"] == 95
    (expression,) = [m for m in rate["Metrics"] if "Expression" in m]
    assert expression["ReturnData"] is True
    assert expression["Expression"].startswith("IF(FILL(s, 0) + FILL(f, 0) >= 20, ")
    stats = {m["Id"]: m["MetricStat"] for m in rate["Metrics"] if "MetricStat" in m}
    assert {k: (v["Metric"]["MetricName"], v["Period"], v["Stat"]) for k, v in stats.items()} == {
        "s": (telemetry.DELIVERIES_SUCCEEDED, 900, "Sum"),
        "f": (telemetry.DELIVERIES_FAILED, 900, "Sum"),
    }
    # f is the undimensioned total of every failed attempt, not one outcome class.
    assert [d["Name"] for d in stats["f"]["Metric"]["Dimensions"]] == ["service"]


@pytest.mark.parametrize(
    ("setting", "value", "alarm", "threshold"),
    [
        ("oldest_message_alarm_seconds", "2h", "OldestDelivery", 7200),
        ("success_rate_alarm_percent", 99.5, "DeliverySuccessRate", 99.5),
        ("receiver_5xx_alarm_count", 20, "Receiver5xx", 20),
    ],
)
def test_alarm_thresholds_come_from_context(synth, setting, value, alarm, threshold):
    assert alarms(synth(**{setting: value})[1])[alarm]["Threshold"] == threshold


def test_success_rate_minimum_comes_from_context(synth):
    rate = alarms(synth(success_rate_alarm_min_attempts=100)[1])["DeliverySuccessRate"]
    (expression,) = [m["Expression"] for m in rate["Metrics"] if "Expression" in m]
    assert ">= 100," in expression


def test_the_readme_runbook_explains_every_alarm(template):
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    runbook = readme.split("## Operations runbook", 1)[1].split("\n## ", 1)[0]
    for name in alarms(template):
        assert f"| `{name}` |" in runbook, name
    for command in ("hookhaven status", "events show", "dlq redrive", "subscriptions disable"):
        assert command in runbook
