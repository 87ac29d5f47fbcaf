"""The receiver handler in process under mock_aws, fed the providers' sample requests."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import boto3
import pytest

from hookhaven.aws.dynamodb import DynamoEventStore, dedupe_pk
from hookhaven.models import (
    DeliveryMessage,
)
from hookhaven.ports import DedupeKey
from hookhaven.signatures import new_standard_secret
from tests.conftest import function_logs
from tests.integration import helpers
from tests.integration.helpers import add_source
from tests.providers import SECRETS, signature_headers, signed

SAMPLES = {
    "standard": ("standard_order_created", "bookhaven", "order.created"),
    "stripe": ("stripe_payment_intent_succeeded", "stripe", "payment_intent.succeeded"),
    "github": ("github_pull_request_opened", "github", "pull_request.opened"),
    "shopify": ("shopify_orders_create", "shopify", "orders/create"),
    "slack": ("slack_app_mention", "slack", "app_mention"),
    "hmac": ("hmac_shipment_dispatched", "courier", "shipment.dispatched"),
}


def add_subscription(aws, *, source: str = "*", types=("*",), enabled: bool = True) -> str:
    return helpers.add_subscription(aws, source=source, types=tuple(types), enabled=enabled).id


def queued(aws) -> list[DeliveryMessage]:
    sqs = boto3.client("sqs")
    messages: list[DeliveryMessage] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=aws.deliveries_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300
        ).get("Messages", [])
        if not batch:
            return messages
        messages += [DeliveryMessage.model_validate_json(m["Body"]) for m in batch]


def call(module, event: dict[str, Any], context) -> tuple[int, Any]:
    response = module.handler(event, context)
    body = response["body"]
    if response.get("headers", {}).get("Content-Type", "").startswith("application/json"):
        body = json.loads(body)
    return response["statusCode"], body


def sample(load_event, kind: str, *, now: float | None = None) -> dict[str, Any]:
    name, _source, _ = SAMPLES[kind]
    return signed(load_event(f"http/{name}"), kind, now or time.time())


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_provider_request_is_accepted_and_fanned_out_once_per_matching_subscription(
    kind, aws, receiver_function, load_event, lambda_context
):
    _, source, event_type = SAMPLES[kind]
    add_source(aws, source, kind)
    matching = {
        add_subscription(aws, source=source, types=(event_type,)),
        add_subscription(aws),  # every source, every type
        add_subscription(aws, source=source, types=(event_type.split(".")[0] + "*",)),
    }
    add_subscription(aws, source=source, types=("never.*",))
    add_subscription(aws, source="elsewhere")
    add_subscription(aws, source=source, enabled=False)

    event = sample(load_event, kind)
    status, body = call(receiver_function, event, lambda_context)

    assert status == 202, body
    assert body["id"].startswith("evt_")
    messages = queued(aws)
    assert sorted(m.subscription_id for m in messages) == sorted(matching)
    original = event["body"].encode()
    for message in messages:
        assert message.event_id == body["id"]
        assert message.event_type == event_type
        assert message.source == source
        assert message.inline_body() == original
        assert message.content_type == event["headers"]["content-type"]
    record = DynamoEventStore(boto3.client("dynamodb"), aws.events_table).get_event(body["id"])
    assert record is not None
    assert record.body == original
    assert set(record.subscriptions) == matching
    assert record.event_type == event_type


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_a_provider_retry_is_a_duplicate_and_enqueues_nothing(
    kind, aws, receiver_function, load_event, lambda_context
):
    _, source, _ = SAMPLES[kind]
    add_source(aws, source, kind)
    add_subscription(aws)
    status, first = call(receiver_function, sample(load_event, kind), lambda_context)
    assert status == 202
    assert len(queued(aws)) == 1
    # Providers re-sign their retries with a fresh timestamp.
    status, again = call(
        receiver_function, sample(load_event, kind, now=time.time() + 5), lambda_context
    )
    assert status == 200
    assert again == {"id": first["id"], "duplicate": True}
    assert queued(aws) == []


def test_unknown_source_is_404(aws, receiver_function, load_event, lambda_context):
    status, body = call(receiver_function, sample(load_event, "standard"), lambda_context)
    assert status == 404
    assert body["error"] == "unknown_source"
    assert body["message"]


def test_forged_signature_is_401_without_saying_why(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "bookhaven", "standard")
    add_subscription(aws)
    event = signed(
        load_event("http/standard_order_created"), "standard", time.time(), new_standard_secret()
    )
    status, body = call(receiver_function, event, lambda_context)
    assert status == 401
    assert body == {
        "error": "invalid_signature",
        "message": "the signature is missing, invalid or expired",
    }
    assert queued(aws) == []


def test_body_over_the_limit_is_413(aws, make_receiver, load_event, lambda_context):
    module = make_receiver(max_body_bytes=2048)
    add_source(aws, "bookhaven", "standard")
    event = load_event("http/standard_order_created")
    event["body"] = json.dumps({"type": "order.created", "pad": "x" * 3000})
    status, body = call(module, signed(event, "standard", time.time()), lambda_context)
    assert status == 413
    assert body["error"] == "payload_too_large"


def test_body_flagged_base64_that_is_not_is_400(aws, receiver_function, load_event, lambda_context):
    add_source(aws, "bookhaven", "standard")
    event = sample(load_event, "standard")
    event["isBase64Encoded"] = True
    event["body"] = "this is not base64!"
    status, body = call(receiver_function, event, lambda_context)
    assert status == 400
    assert body["error"] == "bad_request"


def test_authentic_stripe_request_without_an_event_id_is_400(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "stripe", "stripe")
    event = load_event("http/stripe_payment_intent_succeeded")
    event["body"] = json.dumps({"type": "charge.succeeded"})
    status, body = call(receiver_function, signed(event, "stripe", time.time()), lambda_context)
    assert status == 400
    assert body["error"] == "bad_request"


def test_slack_url_verification_answers_the_challenge_and_records_nothing(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "slack", "slack")
    add_subscription(aws)
    event = signed(load_event("http/slack_url_verification"), "slack", time.time())
    response = receiver_function.handler(event, lambda_context)
    assert response["statusCode"] == 200
    assert response["body"] == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    assert response["headers"]["Content-Type"].startswith("text/plain")
    assert queued(aws) == []


def test_a_slack_slash_command_is_acknowledged_empty_and_delivered(
    aws, receiver_function, load_event, lambda_context
):
    """Slack posts a slash command as a signed form and shows the answer's body to the
    user: it gets an empty 200, and subscribers get the command as an event."""
    import base64

    add_source(aws, "slack", "slack")
    commands = add_subscription(aws, source="slack", types=("slash_command/*",))
    add_subscription(aws, source="slack", types=("app_mention",))
    form = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&command=%2Fbookhaven-stock"
        b"&text=BH-1001&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1%2F1%2Fx"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    event = load_event("http/slack_app_mention")
    event["headers"]["content-type"] = "application/x-www-form-urlencoded"
    event["body"] = base64.b64encode(form).decode()
    event["isBase64Encoded"] = True  # HTTP API base64-encodes form bodies
    event = signed(event, "slack", time.time())
    response = receiver_function.handler(event, lambda_context)
    assert response["statusCode"] == 200
    assert response["body"] == ""
    (message,) = queued(aws)
    assert message.subscription_id == commands
    assert message.event_type == "slash_command/bookhaven-stock"
    assert message.inline_body() == form
    # Slack does not retry a command, but a repeat is a duplicate, answered empty too.
    again = receiver_function.handler(signed(event, "slack", time.time()), lambda_context)
    assert again["statusCode"] == 200
    assert again["body"] == ""
    assert queued(aws) == []


def test_event_matching_no_subscription_is_still_recorded(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "bookhaven", "standard")
    add_subscription(aws, types=("refund.*",))
    status, body = call(receiver_function, sample(load_event, "standard"), lambda_context)
    assert status == 202
    assert queued(aws) == []
    record = DynamoEventStore(boto3.client("dynamodb"), aws.events_table).get_event(body["id"])
    assert record is not None
    assert record.subscriptions == ()


def order_event(load_event, data: dict[str, Any], msg_id: str) -> dict[str, Any]:
    """A Book Haven order, as the shop's Standard Webhooks request, signed now."""
    event = load_event("http/standard_order_created")
    event["body"] = json.dumps({"type": "order.created", "data": data})
    event["headers"]["webhook-id"] = msg_id
    headers = signature_headers("standard", SECRETS["standard"], event["body"].encode(),
                                time.time(), msg_id=msg_id)  # fmt: skip
    event["headers"].update(headers)
    return event


def test_three_filtered_subscriptions_each_get_only_their_events(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "bookhaven", "standard")
    big = helpers.add_subscription(aws, filter="data.total > `100`").id
    signed_books = helpers.add_subscription(aws, filter="contains(data.tags, 'signed')").id
    to_france = helpers.add_subscription(aws, filter="data.address.country == 'FR'").id
    everything = helpers.add_subscription(aws).id
    orders = {
        "big": {"total": 240, "tags": [], "address": {"country": "GB"}},
        "signed": {"total": 20, "tags": ["signed", "gift"], "address": {"country": "GB"}},
        "france": {"total": 30, "tags": ["gift"], "address": {"country": "FR"}},
        "all three": {"total": 150, "tags": ["signed"], "address": {"country": "FR"}},
        "none": {"total": 0, "tags": []},  # no address at all: the country is null
    }
    ids = {}
    for n, (name, data) in enumerate(orders.items()):
        status, body = call(
            receiver_function, order_event(load_event, data, f"msg_{n}"), lambda_context
        )
        assert status == 202, body
        ids[name] = body["id"]

    got: dict[str, set[str]] = {}
    for message in queued(aws):
        got.setdefault(message.subscription_id, set()).add(message.event_id)
    assert got == {
        big: {ids["big"], ids["all three"]},
        signed_books: {ids["signed"], ids["all three"]},
        to_france: {ids["france"], ids["all three"]},
        everything: set(ids.values()),
    }
    events = DynamoEventStore(boto3.client("dynamodb"), aws.events_table)
    for name, event_id in ids.items():
        record = events.get_event(event_id)
        assert record is not None
        expected = {s for s, received in got.items() if event_id in received}
        assert set(record.subscriptions) == expected, name


def test_a_body_that_is_not_json_reaches_only_subscriptions_without_a_filter(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "courier", "hmac")
    unfiltered = helpers.add_subscription(aws).id
    helpers.add_subscription(aws, filter="`true`")  # even an always-true filter needs JSON
    event = load_event("http/hmac_shipment_dispatched")
    event["headers"]["content-type"] = "application/octet-stream"
    event["body"] = base64.b64encode(b"\xff\xfe not JSON").decode()
    event["isBase64Encoded"] = True
    status, body = call(receiver_function, signed(event, "hmac", time.time()), lambda_context)
    assert status == 202, body
    assert [m.subscription_id for m in queued(aws)] == [unfiltered]


def test_a_filter_that_fails_misses_the_event_with_a_warning_naming_the_subscription(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "bookhaven", "standard")
    broken = helpers.add_subscription(aws, filter="length(data.total) > `1`").id
    fine = helpers.add_subscription(aws, filter="data.total > `1`").id
    with function_logs() as logs:
        status, body = call(
            receiver_function, order_event(load_event, {"total": 424242}, "msg_x"), lambda_context
        )
    assert status == 202, body
    assert [m.subscription_id for m in queued(aws)] == [fine]
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    (warning,) = [line for line in lines if line.get("subscription_id") == broken]
    assert warning["level"] == "WARNING"
    assert warning["error"] == "JMESPathTypeError"
    assert warning["correlation_id"] == body["id"]
    assert "424242" not in logs.getvalue()  # the body's values are never logged


def test_binary_body_arrives_base64_and_is_kept_byte_for_byte(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "courier", "hmac")
    add_subscription(aws)
    payload = bytes(range(256)) * 4
    event = load_event("http/hmac_shipment_dispatched")
    event["headers"]["content-type"] = "application/octet-stream"
    event["body"] = base64.b64encode(payload).decode()
    event["isBase64Encoded"] = True
    status, body = call(receiver_function, signed(event, "hmac", time.time()), lambda_context)
    assert status == 202, body
    (message,) = queued(aws)
    assert message.inline_body() == payload
    assert message.content_type == "application/octet-stream"


def test_large_body_goes_to_s3_and_the_message_carries_a_pointer(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "bookhaven", "standard")
    add_subscription(aws)
    add_subscription(aws)
    event = load_event("http/standard_order_created")
    event["body"] = json.dumps({"type": "order.created", "lines": ["x" * 100] * 1000})
    assert len(event["body"]) > 65536
    status, _body = call(receiver_function, signed(event, "standard", time.time()), lambda_context)
    assert status == 202
    messages = queued(aws)
    assert len(messages) == 2
    for message in messages:
        assert message.body_b64 is None
        assert message.body_ref is not None
        assert message.body_ref.key.startswith("bodies/bookhaven/")
        stored = boto3.client("s3").get_object(
            Bucket=message.body_ref.bucket, Key=message.body_ref.key
        )
        assert stored["Body"].read() == event["body"].encode()
        assert message.body_size == len(event["body"])


class FlakyQueueClient:
    """The real SQS client, except that the first ``failures`` batch calls lose entries."""

    def __init__(self, client, failures: int, mode: str) -> None:
        self._client = client
        self.failures = failures
        self.mode = mode
        self.sent_one = False

    def send_message_batch(self, **kwargs):
        if self.failures <= 0:
            return self._client.send_message_batch(**kwargs)
        self.failures -= 1
        if self.mode == "raise":
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "SendMessageBatch")
        # Partial failure: the first call sends its first entry, everything else is throttled.
        entries = kwargs["Entries"]
        lucky = entries[:1] if not self.sent_one else []
        self.sent_one = True
        sent = (
            self._client.send_message_batch(QueueUrl=kwargs["QueueUrl"], Entries=lucky)
            if lucky
            else {"Successful": []}
        )
        return {
            "Successful": sent["Successful"],
            "Failed": [
                {"Id": e["Id"], "SenderFault": False, "Code": "ThrottlingException"}
                for e in entries[len(lucky) :]
            ],
        }


def test_partial_enqueue_failure_is_503_and_the_retry_completes_without_doubles(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "bookhaven", "standard")
    subscriptions = {add_subscription(aws) for _ in range(3)}
    queue = receiver_function.receiver._queue
    # Four calls: the first try and the adapter's three retries all fail.
    queue._client = FlakyQueueClient(queue._client, failures=4, mode="partial")

    status, body = call(receiver_function, sample(load_event, "standard"), lambda_context)
    assert status == 503
    assert body["error"] == "unavailable"
    first = queued(aws)
    assert len(first) == 1  # one entry got out before the failures
    events = DynamoEventStore(boto3.client("dynamodb"), aws.events_table)
    assert events.get_event(first[0].event_id) is None  # not recorded as accepted

    status, body = call(
        receiver_function, sample(load_event, "standard", now=time.time() + 1), lambda_context
    )
    assert status == 202
    second = queued(aws)
    assert body["id"] == first[0].event_id  # the same webhook-id for everyone
    assert sorted(m.subscription_id for m in first + second) == sorted(subscriptions)
    record = events.get_event(body["id"])
    assert record is not None
    assert set(record.subscriptions) == subscriptions


def test_entries_that_fail_are_sent_again_before_answering(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "bookhaven", "standard")
    subscriptions = {add_subscription(aws) for _ in range(3)}
    queue = receiver_function.receiver._queue
    queue._client = FlakyQueueClient(queue._client, failures=2, mode="partial")
    status, _body = call(receiver_function, sample(load_event, "standard"), lambda_context)
    assert status == 202
    messages = queued(aws)
    assert sorted(m.subscription_id for m in messages) == sorted(subscriptions)


def test_whole_batch_failure_then_retry_delivers_each_subscription_once(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "bookhaven", "standard")
    subscriptions = {add_subscription(aws) for _ in range(12)}  # two batches
    queue = receiver_function.receiver._queue
    queue._client = FlakyQueueClient(queue._client, failures=100, mode="raise")
    status, _ = call(receiver_function, sample(load_event, "standard"), lambda_context)
    assert status == 503
    assert queued(aws) == []
    queue._client.failures = 0
    status, body = call(
        receiver_function, sample(load_event, "standard", now=time.time() + 1), lambda_context
    )
    assert status == 202
    messages = queued(aws)
    assert sorted(m.subscription_id for m in messages) == sorted(subscriptions)
    assert {m.event_id for m in messages} == {body["id"]}


def test_failure_to_record_the_event_is_503_and_the_claim_is_released(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "bookhaven", "standard")
    add_subscription(aws)
    events = receiver_function.receiver._events
    real_client = events._client

    class FailingTransactions:
        def __getattr__(self, name):
            return getattr(real_client, name)

        def transact_write_items(self, **kwargs):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "InternalServerError"}}, "TransactWriteItems")

    events._client = FailingTransactions()
    status, _ = call(receiver_function, sample(load_event, "standard"), lambda_context)
    assert status == 503
    dedupe = boto3.client("dynamodb").get_item(
        TableName=aws.events_table,
        Key={
            "pk": {"S": dedupe_pk(DedupeKey("bookhaven", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"))},
            "sk": {"S": "DEDUPE"},
        },
    )["Item"]
    assert dedupe["status"]["S"] == "failed"
    first = queued(aws)
    assert len(first) == 1

    events._client = real_client
    status, body = call(receiver_function, sample(load_event, "standard"), lambda_context)
    assert status == 202
    assert body["id"] == first[0].event_id
    assert queued(aws) == []  # the subscription already has its message


def test_logs_never_carry_the_body_or_the_secret(
    aws, receiver_function, load_event, lambda_context, capsys
):
    add_source(aws, "bookhaven", "standard")
    add_subscription(aws)
    event = sample(load_event, "standard")
    # DEBUG: the most the functions ever log (the accepted line is DEBUG by default).
    with function_logs(level="DEBUG") as stream:
        call(receiver_function, event, lambda_context)
        forged = signed(event, "standard", time.time(), new_standard_secret())
        call(receiver_function, forged, lambda_context)
    logs = stream.getvalue() + capsys.readouterr().out
    assert '"event accepted"' in logs
    assert "BH-1001" not in logs
    assert SECRETS["standard"] not in logs
    assert event["headers"]["webhook-signature"] not in logs
    accepted = [json.loads(line) for line in logs.splitlines() if '"event accepted"' in line]
    assert accepted[0]["correlation_id"].startswith("evt_")


def test_other_methods_on_the_webhook_path_are_405(
    aws, receiver_function, load_event, lambda_context
):
    event = sample(load_event, "standard")
    event["requestContext"]["http"]["method"] = "GET"
    event["routeKey"] = "$default"
    status, body = call(receiver_function, event, lambda_context)
    assert status == 405
    assert body["error"] == "method_not_allowed"


def test_a_bug_is_a_json_500_and_nothing_is_accepted(
    aws, receiver_function, load_event, lambda_context
):
    add_source(aws, "bookhaven", "standard")

    def explode(*args, **kwargs):
        raise KeyError("bug")

    receiver_function.receiver._directory.subscriptions_for = explode
    status, body = call(receiver_function, sample(load_event, "standard"), lambda_context)
    assert status == 500
    assert body["error"] == "internal_error"
    assert queued(aws) == []
    del receiver_function.receiver._directory.subscriptions_for  # the bug is fixed
    status, body = call(receiver_function, sample(load_event, "standard"), lambda_context)
    assert status == 202  # the provider's retry is not blocked by the failed attempt
