"""The one place a receiver and a dispatcher are built: from settings and a set of AWS clients.

Lambda builds each once per execution environment from its ``HOOKHAVEN_*``
environment (``FunctionSettings.from_environ``) and clients made the usual way
(``AwsClients.create``). The tests and the local stack build them the same way
with settings and clients of their own (an emulator's endpoint, moto, clients
that fail on purpose), and hand them to the handler modules' ``ReceiverFunction``
and ``DispatcherFunction``: no module reloads, no environment rewriting.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from pydantic import ConfigDict, ValidationError

from hookhaven import telemetry
from hookhaven.aws.control import DynamoControlStore
from hookhaven.aws.dynamodb import DynamoConfigStore, DynamoEventStore
from hookhaven.aws.eventbridge import EventBridgeOperationalEvents
from hookhaven.aws.s3 import S3BodyStore
from hookhaven.aws.sqs import SqsDeliveryQueue, SqsQueueControl
from hookhaven.dispatch import Dispatcher, Poster, SubscriptionCache
from hookhaven.ingest import Receiver, SourceDirectory
from hookhaven.operational import NoOperationalEvents, OperationalEvents
from hookhaven.resources import Resources
from hookhaven.sender import Sender
from hookhaven.tunables import (
    DISPATCHER_AWS_ATTEMPTS,
    DISPATCHER_AWS_CONNECT_SECONDS,
    DISPATCHER_AWS_READ_SECONDS,
    ENV_PREFIX,
    ConfigurationError,
    RuntimeTunables,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

#: The receiver answers providers with a 5-10 s budget: fail fast and let them retry.
RECEIVER_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=32,
)


def dispatcher_client_config(settings: RuntimeTunables) -> Config:
    """Every delivery thread of a batch may hold a connection at once; each call gives up
    in time for its delivery to finish inside the invocation
    (``RuntimeTunables.delivery_reserve_seconds``)."""
    return Config(
        connect_timeout=DISPATCHER_AWS_CONNECT_SECONDS,
        read_timeout=DISPATCHER_AWS_READ_SECONDS,
        retries={"mode": "standard", "max_attempts": DISPATCHER_AWS_ATTEMPTS},
        max_pool_connections=max(10, settings.delivery_concurrency),
    )


class FunctionSettings(RuntimeTunables):
    """What a function runs with: the runtime tunables and where its resources are.

    Lambda reads them from the ``HOOKHAVEN_*`` environment at cold start
    (``from_environ``); the local stack and the tests build them with ``of``.
    Plain pydantic rather than pydantic-settings: the latter adds ~45 ms to every
    cold start (measured with ``python -X importtime``) for one dictionary read.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    resources: Resources
    #: Local stack and tests only: deliver to loopback addresses and plain http. Not a
    #: Tunables field, so cdk.json cannot set it; refused inside Lambda.
    allow_loopback: bool = False

    @classmethod
    def of(
        cls, tunables: RuntimeTunables, resources: Resources, *, allow_loopback: bool = False
    ) -> FunctionSettings:
        runtime = {name: getattr(tunables, name) for name in RuntimeTunables.model_fields}
        return cls(**runtime, resources=resources, allow_loopback=allow_loopback)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> FunctionSettings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in (*RuntimeTunables.model_fields, "allow_loopback"):
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = raw  # the field validators parse JSON lists and durations
        values["resources"] = Resources.from_env(environ)
        try:
            settings = cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{ENV_PREFIX}{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in error.errors()
            )
            raise ConfigurationError(f"invalid function environment: {problems}") from None
        if settings.allow_loopback and environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            raise ConfigurationError(
                "HOOKHAVEN_ALLOW_LOOPBACK is for the local stack only; a deployed "
                "dispatcher must never reach loopback or plain-http URLs"
            )
        return settings


@dataclass(frozen=True)
class AwsClients:
    """The AWS clients a function uses. S3 and EventBridge are made on first use: most
    events never need the one, most invocations never publish an operational event."""

    dynamodb: DynamoDBClient
    sqs: SQSClient
    s3: Callable[[], S3Client]
    events: Callable[[], EventBridgeClient]

    @classmethod
    def create(
        cls,
        config: Config,
        *,
        session: boto3.Session | None = None,
        endpoint_url: str | None = None,
    ) -> AwsClients:
        """Clients of one session (botocore then loads its endpoint data once)."""
        session = session or boto3.Session()
        kwargs: dict[str, Any] = {"config": config, "endpoint_url": endpoint_url}
        return cls(
            dynamodb=session.client("dynamodb", **kwargs),
            sqs=session.client("sqs", **kwargs),
            s3=functools.cache(lambda: session.client("s3", **kwargs)),
            events=functools.cache(lambda: session.client("events", **kwargs)),
        )

    def wrapped(self, wrap: Callable[[Any], Any]) -> AwsClients:
        """The same clients seen through ``wrap`` (the local stack's fault injection)."""
        s3, events = self.s3, self.events
        return AwsClients(
            dynamodb=wrap(self.dynamodb),
            sqs=wrap(self.sqs),
            s3=functools.cache(lambda: wrap(s3())),
            events=functools.cache(lambda: wrap(events())),
        )


def build_receiver(settings: FunctionSettings, clients: AwsClients) -> Receiver:
    resources = settings.resources
    return Receiver(
        directory=SourceDirectory(
            DynamoConfigStore(clients.dynamodb, resources.config_table),
            ttl=settings.source_cache_seconds,
        ),
        events=DynamoEventStore(clients.dynamodb, resources.events_table),
        bodies=S3BodyStore(clients.s3, resources.bodies_bucket),
        queue=SqsDeliveryQueue(clients.sqs, resources.deliveries_queue_url),
        settings=settings,
    )


def operational_events(settings: FunctionSettings, clients: AwsClients) -> OperationalEvents:
    """Where the dispatcher's operational events go: the configured bus, or nowhere."""
    bus = settings.operational_events_bus_name
    if bus is None:
        return NoOperationalEvents()
    return EventBridgeOperationalEvents(
        clients.events, bus, observe=telemetry.count_operational_event
    )


def build_dispatcher(
    settings: FunctionSettings, clients: AwsClients, *, sender: Poster | None = None
) -> Dispatcher:
    resources = settings.resources
    return Dispatcher(
        subscriptions=SubscriptionCache(
            DynamoConfigStore(clients.dynamodb, resources.config_table),
            ttl=settings.source_cache_seconds,
        ),
        attempts=DynamoEventStore(clients.dynamodb, resources.events_table),
        bodies=S3BodyStore(clients.s3, resources.bodies_bucket),
        queue=SqsQueueControl(
            clients.sqs, resources.deliveries_queue_url, resources.require_dead_letter_queue()
        ),
        sender=sender
        or Sender(
            timeout_seconds=settings.request_timeout_seconds,
            pool_size=settings.delivery_concurrency,
            allow_loopback=settings.allow_loopback,
        ),
        settings=settings,
        control=DynamoControlStore(clients.dynamodb, resources.events_table),
        operational=operational_events(settings, clients),
    )
