"""The local stack's emulator holds the same tables and queues as the synthesized stack."""

from __future__ import annotations

import json

import boto3
from moto import mock_aws

from hookhaven.local.provision import provision
from hookhaven.tunables import Tunables


def _projection(projection: dict[str, object]) -> tuple[object, ...]:
    """What an index carries: its type, and which attributes when it names them."""
    names: list[str] = list(projection.get("NonKeyAttributes", ()))  # type: ignore[call-overload]
    return (projection["ProjectionType"], tuple(sorted(names)))


def _template_tables(template) -> list[dict[str, object]]:
    tables = template.find_resources("AWS::DynamoDB::Table")
    return [
        {
            "keys": sorted(
                (k["AttributeName"], k["KeyType"]) for k in t["Properties"]["KeySchema"]
            ),
            "attributes": sorted(
                (a["AttributeName"], a["AttributeType"])
                for a in t["Properties"]["AttributeDefinitions"]
            ),
            "indexes": sorted(
                (
                    i["IndexName"],
                    tuple(sorted((k["AttributeName"], k["KeyType"]) for k in i["KeySchema"])),
                    _projection(i["Projection"]),
                )
                for i in t["Properties"].get("GlobalSecondaryIndexes", [])
            ),
            "ttl": t["Properties"].get("TimeToLiveSpecification", {}).get("AttributeName"),
        }
        for t in tables.values()
    ]


def test_local_tables_and_queues_match_the_synthesized_template(template, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
        local = provision(dynamodb=dynamodb, sqs=sqs, s3=boto3.client("s3"), tunables=Tunables())
        described = []
        for name in (local.config_table, local.events_table):
            table = dynamodb.describe_table(TableName=name)["Table"]
            ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            described.append(
                {
                    "keys": sorted((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]),
                    "attributes": sorted(
                        (a["AttributeName"], a["AttributeType"])
                        for a in table["AttributeDefinitions"]
                    ),
                    "indexes": sorted(
                        (
                            i["IndexName"],
                            tuple(
                                sorted((k["AttributeName"], k["KeyType"]) for k in i["KeySchema"])
                            ),
                            _projection(dict(i["Projection"])),
                        )
                        for i in table.get("GlobalSecondaryIndexes", [])
                    ),
                    "ttl": ttl.get("AttributeName")
                    if ttl.get("TimeToLiveStatus") == "ENABLED"
                    else None,
                }
            )
        queues = {
            url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            for url in (local.deliveries_queue_url, local.require_dead_letter_queue())
        }
    key = lambda t: json.dumps(t, sort_keys=True)  # noqa: E731
    assert sorted(described, key=key) == sorted(_template_tables(template), key=key)

    template_queues = template.find_resources("AWS::SQS::Queue")
    deliveries = next(
        q["Properties"] for q in template_queues.values() if "RedrivePolicy" in q["Properties"]
    )
    dlq = next(
        q["Properties"] for q in template_queues.values() if "RedrivePolicy" not in q["Properties"]
    )
    local_deliveries = queues[local.deliveries_queue_url]
    local_dlq = queues[local.require_dead_letter_queue()]
    assert int(local_deliveries["VisibilityTimeout"]) == deliveries["VisibilityTimeout"]
    assert int(local_deliveries["MessageRetentionPeriod"]) == deliveries["MessageRetentionPeriod"]
    assert (
        json.loads(local_deliveries["RedrivePolicy"])["maxReceiveCount"]
        == deliveries["RedrivePolicy"]["maxReceiveCount"]
    )
    assert (
        json.loads(local_deliveries["RedrivePolicy"])["deadLetterTargetArn"]
        == local_dlq["QueueArn"]
    )
    assert int(local_dlq["MessageRetentionPeriod"]) == dlq["MessageRetentionPeriod"]
    for local_queue, template_queue in ((local_deliveries, deliveries), (local_dlq, dlq)):
        # Set on both, not left to the account's default.
        assert int(local_queue["MaximumMessageSize"]) == template_queue["MaximumMessageSize"]
