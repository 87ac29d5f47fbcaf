"""Least privilege, read from the synthesized template.

Each function's policies are exploded into (action, resource, condition) and compared
with the tables below, written out by hand: a grant added to ``hookhaven.permissions``
fails here until it is added here too, on purpose. Resources are named by what they are
(the table with indexes is the events table, the queue another redrives into is the
DLQ), never by logical id.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

RECEIVER = "functions.receiver.handler"
DISPATCHER = "functions.dispatcher.handler"
ECHO = "functions.echo.handler"

Grant = tuple[str, str, str]  # action, resource, condition as sorted JSON ("" for none)

ROUTE_ATTRIBUTES = ["pk", "sk", "id", "source", "event_types", "enabled", "filter"]
DISABLE_ATTRIBUTES = ["pk", "sk", "enabled", "status_reason", "updated_at"]
ONLY_NAMED = {
    "StringEqualsIfExists": {
        "dynamodb:Select": "SPECIFIC_ATTRIBUTES",
        "dynamodb:ReturnValues": ["NONE", "UPDATED_OLD", "UPDATED_NEW"],
    }
}


def _condition(value: dict[str, Any] | None) -> str:
    return json.dumps(value, sort_keys=True) if value else ""


def equals(**keys: Any) -> dict[str, Any]:
    return {"ForAllValues:StringEquals": {f"dynamodb:{k}": v for k, v in keys.items()}}


def like(**keys: Any) -> dict[str, Any]:
    return {"ForAllValues:StringLike": {f"dynamodb:{k}": v for k, v in keys.items()}}


def grants(
    actions: list[str], resource: str, condition: dict[str, Any] | None = None
) -> set[Grant]:
    return {(action, resource, _condition(condition)) for action in actions}


XRAY = grants(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*")


def event_bus(name: str) -> str:
    """A bus of the stack's own account and region, as IAM names it."""
    return f"arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:event-bus/{name}"


OPERATIONAL_EVENTS = grants(["events:PutEvents"], event_bus("default"))
KEY_READ = grants(["kms:Decrypt", "kms:DescribeKey"], "ConfigKey")
KEY_WRITE = grants(
    [
        "kms:Encrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
    ],
    "ConfigKey",
)

RECEIVER_GRANTS = (
    grants(["dynamodb:Query"], "ConfigTable", equals(LeadingKeys=["SOURCE"]))
    | grants(
        ["dynamodb:Query"],
        "ConfigTable",
        {**equals(LeadingKeys=["SUBSCRIPTION"], Attributes=ROUTE_ATTRIBUTES), **ONLY_NAMED},
    )
    | grants(
        ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"],
        "EventsTable",
        like(LeadingKeys=["DEDUPE#*"]),
    )
    | grants(["dynamodb:PutItem"], "EventsTable", like(LeadingKeys=["EVENT#*"]))
    | grants(["s3:PutObject"], "BodiesBucket/bodies/*")
    | grants(["sqs:SendMessage"], "DeliveriesQueue")
    | XRAY
)

DISPATCHER_GRANTS = (
    grants(
        ["dynamodb:Query", "dynamodb:GetItem"],
        "ConfigTable",
        equals(LeadingKeys=["SUBSCRIPTION"]),
    )
    | grants(
        ["dynamodb:UpdateItem"],
        "ConfigTable",
        {**equals(LeadingKeys=["SUBSCRIPTION"], Attributes=DISABLE_ATTRIBUTES), **ONLY_NAMED},
    )
    | grants(["dynamodb:PutItem", "dynamodb:Query"], "EventsTable", like(LeadingKeys=["EVENT#*"]))
    # Delivery control: rate slots, in-flight leases, the circuit (hookhaven.aws.control).
    | grants(
        ["dynamodb:GetItem", "dynamodb:UpdateItem"], "EventsTable", like(LeadingKeys=["CONTROL#*"])
    )
    | grants(["s3:GetObject"], "BodiesBucket/bodies/*")
    | grants(
        [
            "sqs:ReceiveMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueUrl",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ],
        "DeliveriesQueue",
    )
    | grants(["sqs:SendMessage"], "DeadLetterQueue")
    | OPERATIONAL_EVENTS
    | XRAY
)

ECHO_GRANTS = (
    grants(["dynamodb:GetItem"], "ConfigTable", equals(LeadingKeys=["ECHO_SECRET"])) | XRAY
)


# --- reading the template ------------------------------------------------------------


def _names(template: Template) -> dict[str, str]:
    """Logical id -> what the resource is, judged by its properties."""
    found = template.to_json()["Resources"]
    names: dict[str, str] = {}
    dead_letters = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in found.values()
        if q["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in q["Properties"]
    }
    for ref, resource in found.items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::DynamoDB::Table":
            names[ref] = "EventsTable" if props.get("GlobalSecondaryIndexes") else "ConfigTable"
        elif kind == "AWS::SQS::Queue":
            names[ref] = "DeadLetterQueue" if ref in dead_letters else "DeliveriesQueue"
        elif kind == "AWS::S3::Bucket":
            names[ref] = "BodiesBucket"
        elif kind == "AWS::KMS::Key":
            names[ref] = "ConfigKey"
    return names


def _resource(value: Any, names: dict[str, str]) -> str:
    if value == "*":
        return "*"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return names[value["Fn::GetAtt"][0]]
    if isinstance(value, dict) and str(value.get("Ref", "")).startswith("AWS::"):
        return "${" + value["Ref"] + "}"  # a pseudo parameter: the stack's partition, region...
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join(_resource(part, names) for part in value["Fn::Join"][1])
    if isinstance(value, str):
        return value
    raise AssertionError(f"a resource this test cannot name: {value}")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted(template: Template, handler: str) -> set[Grant]:
    """Every (action, resource, condition) the function's role is allowed."""
    found = template.to_json()["Resources"]
    names = _names(template)
    (role,) = [
        r["Properties"]["Role"]["Fn::GetAtt"][0]
        for r in found.values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == handler
    ]
    result: set[Grant] = set()
    for policy in found.values():
        if (
            policy["Type"] != "AWS::IAM::Policy"
            or {"Ref": role} not in policy["Properties"]["Roles"]
        ):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in _listed(statement["Action"]):
                for resource in _listed(statement["Resource"]):
                    result.add(
                        (action, _resource(resource, names), _condition(statement.get("Condition")))
                    )
    return result


# --- the tables ----------------------------------------------------------------------


def test_the_receiver_is_granted_exactly_its_table(template):
    assert granted(template, RECEIVER) == RECEIVER_GRANTS | KEY_READ


def test_the_dispatcher_is_granted_exactly_its_table(template):
    assert granted(template, DISPATCHER) == DISPATCHER_GRANTS | KEY_READ | KEY_WRITE


def test_the_echo_subscriber_is_granted_exactly_its_table(synth):
    assert granted(synth(echo_subscriber=True)[1], ECHO) == ECHO_GRANTS | KEY_READ


def test_the_echo_subscriber_changes_no_other_grant(template, synth):
    with_echo = synth(echo_subscriber=True)[1]
    for handler in (RECEIVER, DISPATCHER):
        assert granted(with_echo, handler) == granted(template, handler)


def test_without_the_customer_managed_key_no_function_is_granted_a_key(synth):
    template = synth(customer_managed_key=False, echo_subscriber=True)[1]
    assert granted(template, RECEIVER) == RECEIVER_GRANTS
    assert granted(template, DISPATCHER) == DISPATCHER_GRANTS
    assert granted(template, ECHO) == ECHO_GRANTS


def test_with_operational_events_off_no_function_may_put_events(synth):
    for off in ("off", ""):
        template = synth(operational_events_bus=off, customer_managed_key=False)[1]
        assert granted(template, DISPATCHER) == DISPATCHER_GRANTS - OPERATIONAL_EVENTS
        assert granted(template, RECEIVER) == RECEIVER_GRANTS


def test_operational_events_may_go_to_the_named_bus_only(synth):
    template = synth(operational_events_bus="ops-alerts", customer_managed_key=False)[1]
    puts = {g for g in granted(template, DISPATCHER) if g[0].startswith("events:")}
    assert puts == grants(["events:PutEvents"], event_bus("ops-alerts"))
    assert not [g for g in granted(template, RECEIVER) if g[0].startswith("events:")]


@pytest.mark.parametrize("handler", [RECEIVER, DISPATCHER])
def test_no_function_may_scan_delete_or_batch_write(template, handler):
    actions = {action for action, _, _ in granted(template, handler)}
    assert not actions & {
        "dynamodb:Scan",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:BatchGetItem",
    }


def test_the_receiver_reads_no_subscription_secret_and_the_dispatcher_no_source(template):
    receiver = granted(template, RECEIVER)
    subscription_reads = [g for g in receiver if "SUBSCRIPTION" in g[2]]
    assert subscription_reads
    assert all('"url"' not in g[2] for g in subscription_reads)
    assert all("dynamodb:Attributes" in g[2] for g in subscription_reads)
    assert not [g for g in granted(template, DISPATCHER) if '"SOURCE"' in g[2]]


def test_the_dispatcher_may_only_disable_a_subscription(template):
    writes = [
        g
        for g in granted(template, DISPATCHER)
        if g[1] == "ConfigTable" and g[0] != "dynamodb:Query" and g[0] != "dynamodb:GetItem"
    ]
    assert [g[0] for g in writes] == ["dynamodb:UpdateItem"]
    assert json.loads(writes[0][2])["ForAllValues:StringEquals"]["dynamodb:Attributes"] == (
        DISABLE_ATTRIBUTES
    )


def test_no_policy_grants_a_wildcard_action(template):
    for handler in (RECEIVER, DISPATCHER):
        for action, _, _ in granted(template, handler):
            assert "*" not in action, f"wildcard action {action}"


def test_roles_use_no_managed_policy_beyond_basic_execution(template):
    for role in template.find_resources("AWS::IAM::Role").values():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            joined = "".join(p if isinstance(p, str) else "" for p in arn["Fn::Join"][1])
            assert joined.endswith("service-role/AWSLambdaBasicExecutionRole")


def test_the_receiver_is_not_told_where_the_dlq_is(template):
    (receiver,) = [
        r["Properties"]
        for r in template.find_resources("AWS::Lambda::Function").values()
        if r["Properties"]["Handler"] == RECEIVER
    ]
    variables = receiver["Environment"]["Variables"]
    assert "HOOKHAVEN_DEAD_LETTER_QUEUE_URL" not in variables
    assert "HOOKHAVEN_DELIVERIES_QUEUE_URL" in variables


# --- the secrets' key -----------------------------------------------------------------


def test_the_config_table_is_under_a_rotated_key_of_the_stack(template):
    (key_ref, key) = next(iter(template.find_resources("AWS::KMS::Key").items()))
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    names = _names(template)
    (config,) = [
        t["Properties"]
        for r, t in template.find_resources("AWS::DynamoDB::Table").items()
        if names[r] == "ConfigTable"
    ]
    sse = config["SSESpecification"]
    assert sse["SSEEnabled"] is True
    assert sse["SSEType"] == "KMS"
    assert sse["KMSMasterKeyId"] == {"Fn::GetAtt": [key_ref, "Arn"]}
    outputs = template.to_json()["Outputs"]
    assert outputs["ConfigKeyArn"]["Value"] == {"Fn::GetAtt": [key_ref, "Arn"]}


def test_the_key_policy_trusts_only_the_account_so_iam_decides_who_decrypts(template):
    """Unlike aws/dynamodb, whose policy lets every principal of the account decrypt
    through DynamoDB: here only principals granted the key (the functions, operators the
    account grants) can read a secret, whatever their DynamoDB permissions."""
    (key,) = template.find_resources("AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert len(statements) == 1
    (statement,) = statements
    principal = statement["Principal"]["AWS"]
    joined = "".join(p if isinstance(p, str) else json.dumps(p) for p in principal["Fn::Join"][1])
    assert joined.endswith(":root")
    assert "Condition" not in statement


def test_only_the_relays_functions_are_granted_the_key(synth):
    template = synth(echo_subscriber=True)[1]
    names = _names(template)
    roles_with_key: set[str] = set()
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if any(_resource(r, names) == "ConfigKey" for r in _listed(statement["Resource"])):
                roles_with_key.update(r["Ref"] for r in policy["Properties"]["Roles"])
    function_roles = {
        r["Properties"]["Role"]["Fn::GetAtt"][0]
        for r in template.find_resources("AWS::Lambda::Function").values()
        if r["Properties"].get("Handler") in (RECEIVER, DISPATCHER, ECHO)
    }
    assert roles_with_key == function_roles


def test_with_the_aws_managed_key_there_is_no_key_to_pay_for(synth):
    template = synth(customer_managed_key=False)[1]
    assert template.find_resources("AWS::KMS::Key") == {}
    assert "ConfigKeyArn" not in template.to_json()["Outputs"]
    for table in template.find_resources("AWS::DynamoDB::Table").values():
        # SSEEnabled alone is KMS under the AWS-managed aws/dynamodb key (CloudFormation's
        # AWS::DynamoDB::Table SSESpecification).
        assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}
