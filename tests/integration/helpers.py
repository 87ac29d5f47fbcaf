"""Configuration and queue helpers shared by the integration tests."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3

from hookhaven.aws.dynamodb import DynamoConfigStore
from hookhaven.aws.sqs import SqsDeliveryQueue
from hookhaven.ids import new_event_id, new_subscription_id
from hookhaven.models import (
    DeliveryMessage,
    FieldRef,
    HmacOptions,
    Secret,
    Source,
    SourceKind,
    Subscription,
)
from hookhaven.resources import Resources
from hookhaven.signatures import new_standard_secret
from tests.providers import SECRETS

COURIER = HmacOptions(
    header="x-courier-signature",
    prefix="sha256=",
    id_from=FieldRef.parse("field:id"),
    type_from=FieldRef.parse("header:x-courier-event"),
)


def config(aws: Resources) -> DynamoConfigStore:
    return DynamoConfigStore(boto3.client("dynamodb"), aws.config_table)


def add_source(aws: Resources, name: str, kind: str, *secrets: str) -> Source:
    now = time.time()
    source = Source(
        name=name,
        kind=SourceKind(kind),
        secrets=tuple(Secret(value=s, created_at=now) for s in (secrets or (SECRETS[kind],))),
        hmac=COURIER if kind == "hmac" else None,
        created_at=now,
        updated_at=now,
    )
    config(aws).put_source(source)
    return source


def add_subscription(
    aws: Resources,
    *,
    source: str = "*",
    types: tuple[str, ...] = ("*",),
    enabled: bool = True,
    url: str = "https://inventory.bookhaven.example/hooks",
    secrets: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
    filter: str | None = None,
    **control: Any,
) -> Subscription:
    """``control``: ``rate`` (a RateLimit) and ``max_in_flight``."""
    now = time.time()
    subscription = Subscription(
        id=new_subscription_id(),
        source=source,
        event_types=types,
        url=url,
        secrets=tuple(
            Secret(value=s, created_at=now) for s in (secrets or (new_standard_secret(),))
        ),
        enabled=enabled,
        headers=headers or {},
        filter=filter,
        **control,
        created_at=now,
        updated_at=now,
    )
    config(aws).put_subscription(subscription)
    return subscription


def enqueue(
    aws: Resources,
    subscription: Subscription,
    body: bytes = b'{"type":"order.created","data":{"order":"BH-1001"}}',
    **fields: Any,
) -> DeliveryMessage:
    import base64

    message = DeliveryMessage(
        event_id=fields.pop("event_id", new_event_id()),
        subscription_id=subscription.id,
        source=fields.pop("source", "bookhaven"),
        event_type=fields.pop("event_type", "order.created"),
        received_at=fields.pop("received_at", time.time()),
        content_type=fields.pop("content_type", "application/json"),
        body_b64=None if "body_ref" in fields else base64.b64encode(body).decode(),
        body_size=len(body),
        **fields,
    )
    failed = SqsDeliveryQueue(boto3.client("sqs"), aws.deliveries_queue_url).send([message])
    assert not failed
    return message


def queue_depth(url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


#: One for the process: DynamoDB makes each request whole for its item whoever sends it.
_MOTO_CALL = threading.Lock()


class Atomic:
    """moto in process has no lock: a conditional update's check and write can interleave
    with another thread's, which DynamoDB never allows for one item (the local stack's
    emulator holds one lock per request for the same reason). Each call is made whole here,
    so threads interleave between calls, as concurrent dispatchers do."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute  # meta, exceptions

        def whole(*args: Any, **kwargs: Any) -> Any:
            with _MOTO_CALL:
                return attribute(*args, **kwargs)

        return whole
