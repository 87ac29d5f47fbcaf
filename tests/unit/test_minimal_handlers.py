"""The dispatcher is still minimal (issue #4): it keeps every message queued."""

import importlib

import pytest


@pytest.fixture
def dispatcher(function_environment):
    import functions.dispatcher

    return importlib.reload(functions.dispatcher)


def test_dispatcher_keeps_every_message_queued_until_delivery_exists(
    dispatcher, load_event, lambda_context
):
    event = load_event("sqs/deliveries_batch")
    response = dispatcher.handler(event, lambda_context)
    failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    assert failed == [record["messageId"] for record in event["Records"]]
