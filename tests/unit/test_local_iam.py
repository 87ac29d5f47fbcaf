"""The local stack's IAM refuses what the deployed roles' policies refuse on AWS.

Every call here is one the functions' grants (``hookhaven.permissions``) do or do not
allow, judged as AWS documents dynamodb:LeadingKeys, dynamodb:Attributes, Select,
ReturnValues and transactions. The adapters are then run against moto through the
enforced clients: what the receiver and dispatcher really call is allowed, and the
reads a compromised function would try are refused with AWS's error.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from hookhaven.aws.dynamodb import DynamoConfigStore
from hookhaven.local.iam import Policy, expression_names
from hookhaven.local.provision import provision
from hookhaven.models import Secret, Subscription, SubscriptionRoute
from hookhaven.permissions import ROUTE_ATTRIBUTES, Role
from hookhaven.ports import StorageUnavailable
from hookhaven.tunables import Tunables
from tests.conftest import AWS_ENVIRONMENT, RESOURCES

CONFIG = RESOURCES.config_table
EVENTS = RESOURCES.events_table


def policy(role: Role, *, key: bool = True) -> Policy:
    return Policy(role, RESOURCES, customer_managed_key=key)


def allowed(role: Role, service: str, operation: str, **params: Any) -> bool:
    judge = policy(role)
    try:
        judge._judge(params, _Model(service, operation))
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("AccessDeniedException", "AccessDenied"):
            raise
        return False
    return True


class _Model:
    """What botocore hands the hook: the operation's name and its service's."""

    def __init__(self, service: str, name: str) -> None:
        self.name = name
        self.service_model = type("S", (), {"service_name": service})()


def query(pk: str, **more: Any) -> dict[str, Any]:
    return {
        "TableName": CONFIG,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        **more,
    }


ROUTE_PROJECTION = {
    "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(ROUTE_ATTRIBUTES))),
    "ExpressionAttributeNames": {f"#a{i}": n for i, n in enumerate(ROUTE_ATTRIBUTES)},
}
DISABLE = {
    "TableName": CONFIG,
    "Key": {"pk": {"S": "SUBSCRIPTION"}, "sk": {"S": "sub_1"}},
    "UpdateExpression": "SET enabled = :false, status_reason = :reason, updated_at = :now",
    "ConditionExpression": "attribute_exists(pk)",
    "ExpressionAttributeValues": {
        ":false": {"BOOL": False},
        ":reason": {"S": "410"},
        ":now": {"N": "1"},
    },
}


# --- the receiver -----------------------------------------------------------------------


def test_the_receiver_reads_sources_whole_but_only_the_routing_of_subscriptions():
    assert allowed(Role.RECEIVER, "dynamodb", "Query", **query("SOURCE"))
    assert allowed(Role.RECEIVER, "dynamodb", "Query", **query("SUBSCRIPTION", **ROUTE_PROJECTION))
    # Everything (no projection), or the URL and secrets by name: refused.
    assert not allowed(Role.RECEIVER, "dynamodb", "Query", **query("SUBSCRIPTION"))
    assert not allowed(
        Role.RECEIVER, "dynamodb", "Query", **query("SUBSCRIPTION", ProjectionExpression="id, url")
    )
    assert not allowed(
        Role.RECEIVER,
        "dynamodb",
        "Query",
        **query("SUBSCRIPTION", ProjectionExpression="secrets"),
    )
    assert not allowed(
        Role.RECEIVER,
        "dynamodb",
        "Query",
        **query("SUBSCRIPTION", Select="ALL_ATTRIBUTES", **ROUTE_PROJECTION),
    )


def test_the_receiver_may_not_get_scan_or_write_the_config_table():
    key = {"pk": {"S": "SOURCE"}, "sk": {"S": "shop"}}
    assert not allowed(Role.RECEIVER, "dynamodb", "GetItem", TableName=CONFIG, Key=key)
    assert not allowed(Role.RECEIVER, "dynamodb", "Scan", TableName=CONFIG)
    assert not allowed(Role.RECEIVER, "dynamodb", "PutItem", TableName=CONFIG, Item=key)
    assert not allowed(Role.RECEIVER, "dynamodb", "DeleteItem", TableName=CONFIG, Key=key)


def test_the_receiver_writes_only_dedupe_records_and_events():
    dedupe = {"pk": {"S": "DEDUPE#shop#ab12"}, "sk": {"S": "DEDUPE"}}
    event = {"pk": {"S": "EVENT#evt_1"}, "sk": {"S": "EVENT"}}
    assert allowed(Role.RECEIVER, "dynamodb", "PutItem", TableName=EVENTS, Item=dedupe)
    assert allowed(Role.RECEIVER, "dynamodb", "GetItem", TableName=EVENTS, Key=dedupe)
    assert allowed(Role.RECEIVER, "dynamodb", "TransactWriteItems", TransactItems=[
        {"Put": {"TableName": EVENTS, "Item": event}},
        {"Update": {"TableName": EVENTS, "Key": dedupe, "UpdateExpression": "SET #s = :c",
                    "ExpressionAttributeNames": {"#s": "status"}}},
    ])  # fmt: skip
    # An event's attempts are the dispatcher's; deletes and scans nobody's.
    assert not allowed(Role.RECEIVER, "dynamodb", "UpdateItem", TableName=EVENTS, Key=event)
    assert not allowed(Role.RECEIVER, "dynamodb", "DeleteItem", TableName=EVENTS, Key=dedupe)
    assert not allowed(Role.RECEIVER, "dynamodb", "Scan", TableName=EVENTS)
    # A transaction is judged item by item: one item in the config table refuses it.
    assert not allowed(Role.RECEIVER, "dynamodb", "TransactWriteItems", TransactItems=[
        {"Put": {"TableName": EVENTS, "Item": event}},
        {"Put": {"TableName": CONFIG, "Item": {"pk": {"S": "SOURCE"}, "sk": {"S": "x"}}}},
    ])  # fmt: skip


def test_the_receiver_sends_deliveries_but_touches_no_dlq_and_reads_no_body():
    deliveries, dlq = RESOURCES.deliveries_queue_url, RESOURCES.dead_letter_queue_url
    assert allowed(Role.RECEIVER, "sqs", "SendMessageBatch", QueueUrl=deliveries, Entries=[])
    assert not allowed(Role.RECEIVER, "sqs", "ReceiveMessage", QueueUrl=deliveries)
    assert not allowed(Role.RECEIVER, "sqs", "SendMessage", QueueUrl=dlq, MessageBody="x")
    bucket = RESOURCES.bodies_bucket
    assert allowed(Role.RECEIVER, "s3", "PutObject", Bucket=bucket, Key="bodies/shop/evt_1")
    assert not allowed(Role.RECEIVER, "s3", "PutObject", Bucket=bucket, Key="elsewhere/x")
    assert not allowed(Role.RECEIVER, "s3", "GetObject", Bucket=bucket, Key="bodies/shop/evt_1")


# --- the dispatcher ---------------------------------------------------------------------


def test_the_dispatcher_reads_subscriptions_but_no_source():
    assert allowed(Role.DISPATCHER, "dynamodb", "Query", **query("SUBSCRIPTION"))
    key = {"pk": {"S": "SUBSCRIPTION"}, "sk": {"S": "sub_1"}}
    assert allowed(Role.DISPATCHER, "dynamodb", "GetItem", TableName=CONFIG, Key=key)
    assert not allowed(Role.DISPATCHER, "dynamodb", "Query", **query("SOURCE"))


def test_the_dispatcher_may_disable_a_subscription_and_change_nothing_else():
    assert allowed(Role.DISPATCHER, "dynamodb", "UpdateItem", **DISABLE)
    pointed_elsewhere = {**DISABLE, "UpdateExpression": "SET #u = :url"}
    pointed_elsewhere["ExpressionAttributeNames"] = {"#u": "url"}
    assert not allowed(Role.DISPATCHER, "dynamodb", "UpdateItem", **pointed_elsewhere)
    assert not allowed(Role.DISPATCHER, "dynamodb", "UpdateItem", **DISABLE, ReturnValues="ALL_NEW")
    source = {**DISABLE, "Key": {"pk": {"S": "SOURCE"}, "sk": {"S": "shop"}}}
    assert not allowed(Role.DISPATCHER, "dynamodb", "UpdateItem", **source)
    assert not allowed(
        Role.DISPATCHER, "dynamodb", "PutItem", TableName=CONFIG, Item=DISABLE["Key"]
    )


def test_the_dispatcher_records_attempts_and_parks_in_the_dlq_only():
    attempt = {"pk": {"S": "EVENT#evt_1"}, "sk": {"S": "ATTEMPT#sub_1#t#0001"}}
    assert allowed(Role.DISPATCHER, "dynamodb", "PutItem", TableName=EVENTS, Item=attempt)
    dedupe = {"pk": {"S": "DEDUPE#shop#ab12"}, "sk": {"S": "DEDUPE"}}
    assert not allowed(Role.DISPATCHER, "dynamodb", "PutItem", TableName=EVENTS, Item=dedupe)
    dlq = RESOURCES.dead_letter_queue_url
    assert allowed(Role.DISPATCHER, "sqs", "SendMessage", QueueUrl=dlq, MessageBody="x")
    deliveries = RESOURCES.deliveries_queue_url
    assert not allowed(Role.DISPATCHER, "sqs", "SendMessage", QueueUrl=deliveries)
    assert allowed(Role.DISPATCHER, "sqs", "DeleteMessageBatch", QueueUrl=deliveries)
    assert not allowed(Role.DISPATCHER, "sqs", "ReceiveMessage", QueueUrl=dlq)


# --- the echo subscriber and the key ----------------------------------------------------


def test_the_echo_subscriber_reads_only_its_partition():
    echo = {"pk": {"S": "ECHO_SECRET"}, "sk": {"S": "smoke-1"}}
    assert allowed(Role.ECHO, "dynamodb", "GetItem", TableName=CONFIG, Key=echo)
    source = {"pk": {"S": "SOURCE"}, "sk": {"S": "smoke-1"}}
    assert not allowed(Role.ECHO, "dynamodb", "GetItem", TableName=CONFIG, Key=source)


def test_a_role_without_the_key_cannot_read_the_config_table_whatever_its_dynamodb_grants():
    judge = policy(Role.RECEIVER)
    judge.grants = tuple(g for g in judge.grants if g.target != "config_key")
    with pytest.raises(ClientError, match="kms:Decrypt"):
        judge._judge(query("SOURCE"), _Model("dynamodb", "Query"))
    # With the AWS-managed key, DynamoDB's own grant suffices (the key trusts everyone).
    policy(Role.RECEIVER, key=False)._judge(query("SOURCE"), _Model("dynamodb", "Query"))


def test_expression_names_are_the_top_level_attributes():
    names = {"#s": "status", "#a": "address"}
    assert expression_names("SET #s = :x, lease_until = :l REMOVE enqueued", names) == {
        "status",
        "lease_until",
        "enqueued",
    }
    assert expression_names("attribute_not_exists(pk) OR expires_at < :now", {}) == {
        "pk",
        "expires_at",
    }
    assert expression_names("#a.city, items[0].sku", names) == {"address", "items"}


def test_route_attributes_are_what_the_receiver_parses_plus_the_keys():
    assert set(ROUTE_ATTRIBUTES) == {"pk", "sk"} | set(SubscriptionRoute.model_fields)


# --- the adapters, through enforced clients ---------------------------------------------


@pytest.fixture
def tables(monkeypatch):
    for name, value in AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        resources = provision(
            dynamodb=boto3.client("dynamodb"),
            sqs=boto3.client("sqs"),
            s3=boto3.client("s3"),
            tunables=Tunables(),
        )
        DynamoConfigStore(boto3.client("dynamodb"), resources.config_table).put_subscription(
            Subscription(
                id="sub_1",
                url="https://hooks.example.com/T000/B000/XXXX",
                secrets=(Secret(value="whsec_c2VjcmV0", created_at=0),),
                created_at=0,
                updated_at=0,
            )
        )
        yield resources


def enforced(role: Role, resources: Any) -> tuple[Policy, DynamoConfigStore]:
    judge = Policy(role, resources, customer_managed_key=True)
    client = judge.attach(boto3.client("dynamodb"))
    return judge, DynamoConfigStore(client, resources.config_table)


def test_the_receivers_adapter_reads_routes_and_is_refused_subscriptions(tables):
    judge, store = enforced(Role.RECEIVER, tables)
    (route,) = store.list_routes()
    assert route == SubscriptionRoute(id="sub_1")
    assert judge.denied == []
    with pytest.raises(StorageUnavailable, match="AccessDeniedException"):
        store.list_subscriptions()
    assert judge.denied


def test_the_dispatchers_adapter_reads_and_disables_subscriptions(tables):
    judge, store = enforced(Role.DISPATCHER, tables)
    (subscription,) = store.list_subscriptions()
    assert subscription.url.endswith("XXXX")
    store.disable_subscription("sub_1", "410 Gone", 1.0)
    disabled = store.get_subscription("sub_1")
    assert disabled is not None
    assert disabled.enabled is False
    assert judge.denied == []
    with pytest.raises(StorageUnavailable):
        store.list_sources()


# --- operational events -----------------------------------------------------------------


def put_events(*buses: str | None) -> dict[str, Any]:
    entries = [{"Source": "hookhaven", "DetailType": "x", "Detail": "{}"} for _ in buses]
    for entry, bus in zip(entries, buses, strict=True):
        if bus is not None:
            entry["EventBusName"] = bus
    return {"Entries": entries}


def puts(role: Role, bus: str | None, **params: Any) -> bool:
    judge = Policy(role, RESOURCES, customer_managed_key=True, operational_events_bus=bus)
    try:
        judge._judge(params, _Model("events", "PutEvents"))
    except ClientError as error:
        code = error.response["Error"]["Code"]
        return not (code == "AccessDeniedException" and judge.denied)
    return True


def test_the_dispatcher_puts_events_on_its_bus_only():
    arn = "arn:aws:events:eu-west-1:123456789012:event-bus/ops-alerts"
    assert puts(Role.DISPATCHER, "ops-alerts", **put_events("ops-alerts"))
    assert puts(Role.DISPATCHER, "ops-alerts", **put_events(arn))
    # Another bus, or the default one (no bus named), in the same request or alone: refused.
    assert not puts(Role.DISPATCHER, "ops-alerts", **put_events("billing"))
    assert not puts(Role.DISPATCHER, "ops-alerts", **put_events(None))
    assert not puts(Role.DISPATCHER, "ops-alerts", **put_events("ops-alerts", "default"))
    assert puts(Role.DISPATCHER, "default", **put_events(None, "default"))


def test_with_operational_events_off_nobody_puts_events():
    assert not puts(Role.DISPATCHER, None, **put_events("default"))
    assert not puts(Role.RECEIVER, "default", **put_events("default"))


def test_a_put_events_to_another_bus_is_refused_through_the_client(tables):
    judge = Policy(
        Role.DISPATCHER, tables, customer_managed_key=True, operational_events_bus="default"
    )
    events = judge.attach(boto3.client("events"))
    events.put_events(**put_events("default"))
    assert judge.denied == []
    boto3.client("events").create_event_bus(Name="billing")
    with pytest.raises(ClientError, match="AccessDeniedException"):
        events.put_events(**put_events("billing"))
    assert "events:PutEvents on a resource of no grant" in judge.denied[0]
