"""The local stack's fault injection fails AWS calls the way AWS does, at the asked rate."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from hookhaven.aws.sqs import SqsDeliveryQueue
from hookhaven.local.chaos import FlakyClient
from hookhaven.models import DeliveryMessage
from hookhaven.wiring import RECEIVER_CLIENT_CONFIG, AwsClients


@pytest.fixture
def sqs(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("sqs")
        url = client.create_queue(QueueName="deliveries")["QueueUrl"]
        yield client, url


def test_calls_fail_with_the_services_throttling_error_at_about_the_rate(sqs):
    client, url = sqs
    flaky = FlakyClient(client, 0.2, seed=7)
    errors: list[ClientError] = []
    for _ in range(500):
        try:
            flaky.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        except ClientError as error:
            errors.append(error)
    assert {e.response["Error"]["Code"] for e in errors} == {"RequestThrottled"}
    assert {e.operation_name for e in errors} == {"GetQueueAttributes"}
    failures = len(errors)
    assert failures == flaky.injected
    assert 60 <= failures <= 140


def test_a_batch_send_may_fail_some_entries_and_only_those_are_missing(sqs):
    client, url = sqs
    flaky = FlakyClient(client, 0.3, seed=3)
    entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)]
    while True:
        try:
            response = flaky.send_message_batch(QueueUrl=url, Entries=entries)
            break
        except ClientError:
            continue
    failed = {f["Id"] for f in response["Failed"]}
    sent = {s["Id"] for s in response["Successful"]}
    assert failed
    assert failed | sent == {str(i) for i in range(10)}
    assert not failed & sent
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) == len(sent)


def test_the_adapters_meet_injected_faults_as_aws_errors(sqs):
    client, url = sqs
    message = DeliveryMessage(
        event_id="evt_1",
        subscription_id="sub_1",
        source="bookhaven",
        event_type="order.created",
        received_at=0,
        content_type="application/json",
        body_b64="e30=",
        body_size=2,
    )
    # Every call throttled: the adapter's own retries run out and it reports the failure.
    flaky: Any = FlakyClient(client, 0.999, seed=1)
    queue = SqsDeliveryQueue(flaky, url, pauses=(0.0, 0.0))
    assert queue.send([message]) == {"sub_1"}


def test_wrapped_clients_are_flaky_and_the_originals_are_not():
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
    )
    clients = AwsClients.create(
        RECEIVER_CLIENT_CONFIG, session=session, endpoint_url="http://127.0.0.1:1"
    )
    flaky = clients.wrapped(lambda c: FlakyClient(c, 0.5))
    assert isinstance(flaky.sqs, FlakyClient)
    assert isinstance(flaky.dynamodb, FlakyClient)
    assert isinstance(flaky.s3(), FlakyClient)
    assert not isinstance(clients.sqs, FlakyClient)
    assert not isinstance(clients.s3(), FlakyClient)


def test_the_rate_must_leave_some_calls_standing():
    with pytest.raises(ValueError, match="failure rate"):
        FlakyClient(object(), 1.0)


def test_the_leak_scan_finds_secrets_and_signatures_however_they_are_embedded():
    from tests.e2e.chaos_run import ChaosResult, leaks, needles

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = (
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1,bm9ybWFsLXNpZ25hdHVyZS1iYXNlNjQ="
    )
    result = ChaosResult(events=0, secrets={secret}, signatures={signature})
    secrets = needles(result)
    assert secret in leaks(secrets, f'{{"message": "x", "key": "{secret}"}}')
    assert leaks(secrets, "secret=MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;") == {secret[6:]}
    assert leaks(secrets, f"webhook-signature: {signature}\n") == {
        "K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        "bm9ybWFsLXNpZ25hdHVyZS1iYXNlNjQ=",
    }
    assert leaks(secrets, '{"sig": "K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="}')
    assert leaks(secrets, "nothing to see: evt_01HZX3 sub_01HZX4 status_5xx") == set()
