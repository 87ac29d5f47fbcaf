"""Every promise of the stack, asserted on resource properties (never on logical ids)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from hookhaven.resources import CONFIG_TABLE, EVENTS_TABLE
from hookhaven.tunables import Tunables
from infra.stack import ECHO_URL_OUTPUT, OUTPUTS


def resources(template: Template, kind: str, props: dict[str, Any] | None = None) -> Any:
    return template.find_resources(kind, {"Properties": props} if props else None)


def only(template: Template, kind: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
    found = resources(template, kind, props)
    assert len(found) == 1, f"expected one {kind} matching {props}, found {len(found)}"
    resource: dict[str, Any] = next(iter(found.values()))
    return resource


def function(template: Template, handler: str) -> dict[str, Any]:
    return only(template, "AWS::Lambda::Function", {"Handler": handler})["Properties"]


def queue_by_redrive(template: Template, has_redrive: bool) -> dict[str, Any]:
    queues = resources(template, "AWS::SQS::Queue")
    matching = [q for q in queues.values() if ("RedrivePolicy" in q["Properties"]) == has_redrive]
    assert len(matching) == 1
    props: dict[str, Any] = matching[0]["Properties"]
    return props


# --- ingest -----------------------------------------------------------------


def test_route_posts_webhooks_to_the_receiver(template):
    route = only(template, "AWS::ApiGatewayV2::Route", {"RouteKey": "POST /webhooks/{source}"})
    integration_ref = route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
    integration = template.to_json()["Resources"][integration_ref]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    receiver_ref = integration["IntegrationUri"]["Fn::GetAtt"][0]
    receiver = template.to_json()["Resources"][receiver_ref]["Properties"]
    assert receiver["Handler"] == "functions.receiver.handler"
    assert len(resources(template, "AWS::ApiGatewayV2::Route")) == 2


def test_head_on_the_webhook_path_reaches_the_same_integration(template):
    """Trello checks its callback URL with a HEAD when a webhook is created and keeps the
    webhook only on a 200: the receiver answers it, through the POST route's integration."""
    post = only(template, "AWS::ApiGatewayV2::Route", {"RouteKey": "POST /webhooks/{source}"})
    head = only(template, "AWS::ApiGatewayV2::Route", {"RouteKey": "HEAD /webhooks/{source}"})
    assert head["Properties"]["Target"] == post["Properties"]["Target"]
    assert head["Properties"].get("AuthorizationType", "NONE") == "NONE"
    routes = resources(template, "AWS::ApiGatewayV2::Route").values()
    assert {r["Properties"]["RouteKey"] for r in routes} == {
        "POST /webhooks/{source}",
        "HEAD /webhooks/{source}",
    }


def test_the_stage_throttle_is_the_only_rate_limit_and_no_waf_is_claimed(template):
    """HTTP APIs take no AWS WAF web ACL (quotas.HTTP_API_NO_WAF): the one stage's default
    route throttle is shared by every caller (quotas.HTTP_API_STAGE_THROTTLE)."""
    (stage,) = resources(template, "AWS::ApiGatewayV2::Stage").values()
    assert "RouteSettings" not in stage["Properties"]
    assert stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    kinds = {r["Type"] for r in template.to_json()["Resources"].values()}
    assert not {k for k in kinds if k.startswith(("AWS::WAF", "AWS::CloudFront::"))}


def test_stage_throttles_and_logs_access_to_a_retained_group(template):
    stage = only(template, "AWS::ApiGatewayV2::Stage")["Properties"]
    defaults = Tunables()
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == defaults.api_throttle_rate
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == defaults.api_throttle_burst
    log_group_ref = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert "$context.requestId" in stage["AccessLogSettings"]["Format"]
    log_group = template.to_json()["Resources"][log_group_ref]["Properties"]
    assert log_group["RetentionInDays"] == defaults.log_retention_days


def test_throttling_comes_from_context(synth):
    _, template = synth(api_throttle_rate=50, api_throttle_burst=75)
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {"DefaultRouteSettings": {"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 75}},
    )


# --- functions --------------------------------------------------------------


@pytest.mark.parametrize("handler", ["functions.receiver.handler", "functions.dispatcher.handler"])
def test_functions_run_newest_python_on_arm64_with_powertools_and_tracing(template, handler):
    props = function(template, handler)
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    env = props["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "hookhaven"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "HookHaven"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    for name in Tunables().function_environment():
        assert name in env
    for name in ("CONFIG_TABLE", "EVENTS_TABLE", "BODIES_BUCKET", "DELIVERIES_QUEUE_URL"):
        assert f"HOOKHAVEN_{name}" in env


@pytest.mark.parametrize("handler", ["functions.receiver.handler", "functions.dispatcher.handler"])
def test_the_deployed_functions_can_never_reach_loopback(template, handler):
    assert "HOOKHAVEN_ALLOW_LOOPBACK" not in function(template, handler)["Environment"]["Variables"]
    assert "allow_loopback" not in Tunables.model_fields


def test_max_receive_count_and_the_dispatchers_schedule_agree(synth):
    _, template = synth(retry_schedule=["0s", "1m", "10m", "1h", "6h"])
    deliveries = queue_by_redrive(template, has_redrive=True)
    env = function(template, "functions.dispatcher.handler")["Environment"]["Variables"]
    schedule = json.loads(env["HOOKHAVEN_RETRY_SCHEDULE"])
    # The dispatcher makes five attempts and moves the delivery to the DLQ itself; SQS's
    # redrive is a backstop above them, for receives that attempt nothing.
    assert len(schedule) == 5
    assert deliveries["RedrivePolicy"]["maxReceiveCount"] == 1000


@pytest.mark.parametrize("handler", ["functions.receiver.handler", "functions.dispatcher.handler"])
def test_function_logs_have_retention(template, handler):
    props = function(template, handler)
    log_group_ref = props["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = template.to_json()["Resources"][log_group_ref]["Properties"]
    assert log_group["RetentionInDays"] == Tunables().log_retention_days


def test_newest_python_runtime_cdk_offers_is_used():
    from aws_cdk import aws_lambda

    from infra.constructs.python_function import RUNTIME

    offered = [
        tuple(int(p) for p in name.removeprefix("PYTHON_").split("_"))
        for name in dir(aws_lambda.Runtime)
        if name.startswith("PYTHON_3_")
    ]
    newest = "python" + ".".join(str(p) for p in max(offered))
    assert RUNTIME.name == newest


def test_function_settings_flow_from_context(synth):
    _, template = synth(log_level="DEBUG", retry_schedule=["0s", "1m"], request_timeout_seconds=5)
    props = function(template, "functions.dispatcher.handler")
    env = props["Environment"]["Variables"]
    assert env["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert env["HOOKHAVEN_RETRY_SCHEDULE"] == "[0, 60]"
    assert env["HOOKHAVEN_REQUEST_TIMEOUT_SECONDS"] == "5"


# --- delivery ---------------------------------------------------------------


def test_redrive_is_a_backstop_behind_the_dispatchers_own_move_to_the_dlq(template):
    deliveries = queue_by_redrive(template, has_redrive=True)
    assert deliveries["RedrivePolicy"]["maxReceiveCount"] == 1000
    dlq_ref = deliveries["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    dlq = template.to_json()["Resources"][dlq_ref]["Properties"]
    assert "RedrivePolicy" not in dlq


def test_max_receive_count_follows_the_schedule_length(synth):
    _, template = synth(retry_schedule=["0s", "10s", "1m", "1h"])
    redrive = queue_by_redrive(template, has_redrive=True)["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 1000


def test_visibility_timeout_is_at_least_six_times_the_dispatcher_timeout(template):
    deliveries = queue_by_redrive(template, has_redrive=True)
    dispatcher = function(template, "functions.dispatcher.handler")
    assert deliveries["VisibilityTimeout"] >= 6 * dispatcher["Timeout"]


def test_queues_are_encrypted_and_dlq_keeps_messages_14_days(template):
    deliveries = queue_by_redrive(template, has_redrive=True)
    dlq = queue_by_redrive(template, has_redrive=False)
    assert deliveries["SqsManagedSseEnabled"] is True
    assert dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 86400


def test_deliveries_outlive_the_whole_retry_schedule(template):
    deliveries = queue_by_redrive(template, has_redrive=True)
    assert deliveries["MessageRetentionPeriod"] > Tunables().worst_case_schedule_seconds


def test_both_queues_refuse_plain_http(template):
    policies = resources(template, "AWS::SQS::QueuePolicy")
    secured = 0
    for policy in policies.values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if (
                statement["Effect"] == "Deny"
                and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                and statement["Action"] == "sqs:*"
            ):
                secured += len(policy["Properties"]["Queues"])
    assert secured == 2


def test_dispatcher_reads_the_queue_with_partial_batch_failures(template):
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 10,
            "ScalingConfig": {"MaximumConcurrency": 10},
            "MaximumBatchingWindowInSeconds": Match.absent(),
        },
    )


def test_event_source_settings_come_from_context(synth):
    _, template = synth(
        batch_size=50, batching_window_seconds=2, max_concurrency=25, dispatcher_timeout_seconds=120
    )
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 50,
            "MaximumBatchingWindowInSeconds": 2,
            "ScalingConfig": {"MaximumConcurrency": 25},
        },
    )


# --- storage ----------------------------------------------------------------


def _table_with_keys(template, shape):
    tables = resources(template, "AWS::DynamoDB::Table")
    key_schema = [{"AttributeName": shape.partition_key.name, "KeyType": "HASH"}]
    if shape.sort_key:
        key_schema.append({"AttributeName": shape.sort_key.name, "KeyType": "RANGE"})
    matching = [
        t["Properties"]
        for t in tables.values()
        if t["Properties"]["KeySchema"] == key_schema
        and ("TimeToLiveSpecification" in t["Properties"]) == bool(shape.ttl_attribute)
    ]
    assert len(matching) == 1
    return matching[0]


@pytest.mark.parametrize("shape", [CONFIG_TABLE, EVENTS_TABLE], ids=lambda s: s.role)
def test_tables_are_on_demand_with_pitr_and_kms(template, shape):
    props = _table_with_keys(template, shape)
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_events_table_expires_events_attempts_and_dedupe_records(template):
    props = _table_with_keys(template, EVENTS_TABLE)
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert [i["IndexName"] for i in props["GlobalSecondaryIndexes"]] == ["by_source", "by_time"]
    for index in props["GlobalSecondaryIndexes"]:
        # Never the body: an index entry costs one write unit, not one per KB of body.
        assert index["Projection"]["ProjectionType"] == "INCLUDE", index["IndexName"]
        assert "body" not in index["Projection"]["NonKeyAttributes"], index["IndexName"]


def test_config_table_never_expires(template):
    assert "TimeToLiveSpecification" not in _table_with_keys(template, CONFIG_TABLE)


def test_stateful_resources_survive_stack_deletion(template):
    for kind in ("AWS::DynamoDB::Table", "AWS::S3::Bucket"):
        for resource in resources(template, kind).values():
            assert resource["DeletionPolicy"] == "Retain"


def test_bodies_bucket_is_private_encrypted_and_expires_with_retention(template):
    bucket = only(template, "AWS::S3::Bucket")["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert [r["ExpirationInDays"] for r in rules] == [Tunables().retention_days]


def test_bucket_lifecycle_follows_retention(synth):
    _, template = synth(retention_days=90)
    bucket = only(template, "AWS::S3::Bucket")["Properties"]
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 90


def test_bucket_refuses_plain_http(template):
    policy = only(template, "AWS::S3::BucketPolicy")["Properties"]["PolicyDocument"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Statement"]
    )


# --- monitoring -------------------------------------------------------------


def test_alarm_topic_has_no_subscription_unless_an_email_is_given(template, synth):
    assert resources(template, "AWS::SNS::Subscription") == {}
    _, with_email = synth(alarm_email="ops@bookhaven.example")
    with_email.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@bookhaven.example"}
    )


def test_alarm_topic_refuses_plain_http(template):
    policy = only(template, "AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Statement"]
    )


def test_only_this_stacks_alarms_may_publish_to_the_alarm_topic(template):
    """enforce_ssl's topic policy replaces SNS's default one; without an Allow for
    CloudWatch, alarms fire and nobody is told (re:Post cloudwatch-receive-sns-for-alarm-trigger).
    """
    (topic,) = resources(template, "AWS::SNS::Topic")
    policy = only(template, "AWS::SNS::TopicPolicy")["Properties"]
    assert policy["Topics"] == [{"Ref": topic}]
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    (allow,) = allows
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": topic}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arn = json.dumps(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":cloudwatch:" in source_arn
    assert ":alarm:HookHaven-*" in source_arn
    # Every alarm's ARN falls under that pattern: its name starts with the stack's.
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmName"].startswith("HookHaven-")


def test_receiver_reserved_concurrency_is_off_unless_set(template, synth):
    """New accounts have too little concurrency to reserve any: off by default."""
    assert "ReservedConcurrentExecutions" not in function(template, "functions.receiver.handler")
    _, reserved = synth(receiver_reserved_concurrency=50)
    receiver = function(reserved, "functions.receiver.handler")
    assert receiver["ReservedConcurrentExecutions"] == 50
    assert "ReservedConcurrentExecutions" not in function(reserved, "functions.dispatcher.handler")


def test_dashboard_exists(template):
    only(template, "AWS::CloudWatch::Dashboard", {"DashboardName": "HookHaven-relay"})


# --- least privilege ----------------------------------------------------------


# --- outputs ----------------------------------------------------------------


def test_outputs_name_everything_the_cli_needs(template):
    outputs = template.to_json()["Outputs"]
    assert set(OUTPUTS) <= set(outputs)
    assert set(OUTPUTS) >= {
        "ApiUrl",
        "DeliveriesQueueUrl",
        "DeadLetterQueueUrl",
        "ConfigTableName",
        "EventsTableName",
        "BodiesBucketName",
        "DashboardName",
    }


# --- the echo subscriber (echo_subscriber, for hookhaven smoke) --------------


ECHO_HANDLER = "functions.echo.handler"


@pytest.fixture(scope="module")
def with_echo(synth) -> Template:
    return synth(echo_subscriber=True)[1]


def test_the_echo_subscriber_is_absent_by_default(template):
    assert resources(template, "AWS::Lambda::Function", {"Handler": ECHO_HANDLER}) == {}
    assert resources(template, "AWS::Lambda::Url") == {}
    assert ECHO_URL_OUTPUT not in template.to_json()["Outputs"]
    assert Tunables().echo_subscriber is False


def _ref(template: Template, kind: str, matches: Any) -> str:
    """The logical id of the one resource of ``kind`` that ``matches(properties)``."""
    (ref,) = [r for r, res in resources(template, kind).items() if matches(res["Properties"])]
    return str(ref)


def test_the_echo_subscriber_is_a_public_function_url_named_by_an_output(with_echo):
    props = function(with_echo, ECHO_HANDLER)
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Timeout"] < Tunables().request_timeout_seconds
    assert "HOOKHAVEN_CONFIG_TABLE" in props["Environment"]["Variables"]
    echo_ref = _ref(with_echo, "AWS::Lambda::Function", lambda p: p["Handler"] == ECHO_HANDLER)
    url_ref = _ref(with_echo, "AWS::Lambda::Url", lambda p: True)
    url = with_echo.to_json()["Resources"][url_ref]["Properties"]
    # Subscribers are called without AWS credentials: the signature authenticates.
    assert url["AuthType"] == "NONE"
    assert url["TargetFunctionArn"] == {"Fn::GetAtt": [echo_ref, "Arn"]}
    outputs = with_echo.to_json()["Outputs"]
    assert outputs[ECHO_URL_OUTPUT]["Value"] == {"Fn::GetAtt": [url_ref, "FunctionUrl"]}
    assert set(OUTPUTS) <= set(outputs)
