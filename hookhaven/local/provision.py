"""Create the stack's tables, queues and bucket in an AWS emulator, from the shared shapes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hookhaven.operational import SOURCE
from hookhaven.resources import (
    CONFIG_TABLE,
    EVENTS_TABLE,
    Resources,
    TableShape,
    dead_letter_queue,
    deliveries_queue,
)
from hookhaven.tunables import Tunables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


@dataclass(frozen=True)
class LocalNames:
    config_table: str = "hookhaven-config"
    events_table: str = "hookhaven-events"
    deliveries_queue: str = "hookhaven-deliveries"
    dead_letter_queue: str = "hookhaven-dlq"
    bodies_bucket: str = "hookhaven-bodies"
    #: Locally, a rule on the operational events bus sends every hookhaven event here.
    operational_events_rule: str = "hookhaven-operational-events"
    operational_events_queue: str = "hookhaven-operational-events"


def create_table(client: DynamoDBClient, name: str, shape: TableShape) -> None:
    keys = [shape.partition_key] + ([shape.sort_key] if shape.sort_key else [])
    attributes = {k.name: k.type for k in keys}
    for index in shape.indexes:
        attributes[index.partition_key.name] = index.partition_key.type
        if index.sort_key:
            attributes[index.sort_key.name] = index.sort_key.type
    kwargs: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": n, "AttributeType": t} for n, t in attributes.items()
        ],
        "KeySchema": [{"AttributeName": shape.partition_key.name, "KeyType": "HASH"}]
        + ([{"AttributeName": shape.sort_key.name, "KeyType": "RANGE"}] if shape.sort_key else []),
    }
    if shape.indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [{"AttributeName": index.partition_key.name, "KeyType": "HASH"}]
                + (
                    [{"AttributeName": index.sort_key.name, "KeyType": "RANGE"}]
                    if index.sort_key
                    else []
                ),
                "Projection": (
                    {"ProjectionType": "ALL"}
                    if index.projected is None
                    else {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(index.projected)}
                ),
            }
            for index in shape.indexes
        ]
    client.create_table(**kwargs)
    if shape.ttl_attribute:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": shape.ttl_attribute},
        )


def provision(
    *,
    dynamodb: DynamoDBClient,
    sqs: SQSClient,
    s3: S3Client,
    tunables: Tunables,
    names: LocalNames | None = None,
) -> Resources:
    names = names or LocalNames()
    create_table(dynamodb, names.config_table, CONFIG_TABLE)
    create_table(dynamodb, names.events_table, EVENTS_TABLE)
    dlq_url = sqs.create_queue(
        QueueName=names.dead_letter_queue,
        Attributes=dead_letter_queue(tunables).sqs_attributes(),  # type: ignore[arg-type]
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    shape = deliveries_queue(tunables)
    attributes = shape.sqs_attributes()
    attributes["RedrivePolicy"] = json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": shape.max_receive_count}
    )
    queue_url = sqs.create_queue(
        QueueName=names.deliveries_queue,
        Attributes=attributes,  # type: ignore[arg-type]
    )["QueueUrl"]
    region = s3.meta.region_name
    if region == "us-east-1":  # the one region S3 refuses a location constraint for
        s3.create_bucket(Bucket=names.bodies_bucket)
    else:
        s3.create_bucket(
            Bucket=names.bodies_bucket,
            CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
        )
    return Resources(
        config_table=names.config_table,
        events_table=names.events_table,
        deliveries_queue_url=queue_url,
        dead_letter_queue_url=dlq_url,
        bodies_bucket=names.bodies_bucket,
    )


def provision_operational_events(
    *, events: EventBridgeClient, sqs: SQSClient, bus: str, names: LocalNames | None = None
) -> str:
    """The bus (unless it is the default one, which always exists) and a rule on it that
    sends every operational event (source ``hookhaven``) to a queue, as an operator's rule
    would send them to e-mail or Slack; the queue's URL."""
    names = names or LocalNames()
    if bus != "default":
        events.create_event_bus(Name=bus)
    url = sqs.create_queue(QueueName=names.operational_events_queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name=names.operational_events_rule,
        EventBusName=bus,
        EventPattern=json.dumps({"source": [SOURCE]}),
    )
    events.put_targets(
        Rule=names.operational_events_rule,
        EventBusName=bus,
        Targets=[{"Id": "local-queue", "Arn": arn}],
    )
    return url
