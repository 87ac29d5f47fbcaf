"""The issue-2 handlers answer minimally and honestly: nothing is accepted or dropped."""

import importlib
import json

import pytest


@pytest.fixture
def receiver(function_environment):
    import functions.receiver

    return importlib.reload(functions.receiver)


@pytest.fixture
def dispatcher(function_environment):
    import functions.dispatcher

    return importlib.reload(functions.dispatcher)


def test_receiver_refuses_webhooks_with_a_json_error_until_it_exists(
    receiver, load_event, lambda_context
):
    response = receiver.handler(load_event("http/webhook_post"), lambda_context)
    assert response["statusCode"] == 501
    body = json.loads(response["body"])
    assert body["error"] == "not_implemented"
    assert body["message"]


def test_receiver_answers_unknown_routes_with_the_error_shape(receiver, load_event, lambda_context):
    event = load_event("http/webhook_post")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/elsewhere"
    event["routeKey"] = event["requestContext"]["routeKey"] = "$default"
    response = receiver.handler(event, lambda_context)
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["error"] == "not_found"


def test_dispatcher_keeps_every_message_queued_until_delivery_exists(
    dispatcher, load_event, lambda_context
):
    event = load_event("sqs/deliveries_batch")
    response = dispatcher.handler(event, lambda_context)
    failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    assert failed == [record["messageId"] for record in event["Records"]]
