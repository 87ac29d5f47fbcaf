"""Shapes of the AWS resources: one source of truth for the CDK stack and the local stack.

Key schemas, TTL attributes and queue attributes are declared here once. The CDK
constructs build their tables and queues from these shapes, and the local stack
creates the same ones in its emulator, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar, Literal

from hookhaven.tunables import ENV_PREFIX, ConfigurationError, RuntimeTunables, Tunables

AttributeType = Literal["S", "N", "B"]

#: Large bodies live under this key prefix; the functions' S3 grants are scoped to it.
BODY_PREFIX = "bodies/"


@dataclass(frozen=True)
class Resources:
    """Where one hookhaven keeps its state: the names the functions, the CLI and the local
    stack find its tables, queues and bucket by.

    The CDK stack passes them to the functions as ``HOOKHAVEN_*`` variables
    (``to_env``/``from_env``) and publishes them as stack outputs (``OUTPUTS``), which
    the CLI reads; the local stack creates them in its emulator.
    """

    config_table: str
    events_table: str
    deliveries_queue_url: str
    dead_letter_queue_url: str
    bodies_bucket: str

    #: The stack output that carries each name.
    OUTPUTS: ClassVar[Mapping[str, str]] = {
        "config_table": "ConfigTableName",
        "events_table": "EventsTableName",
        "deliveries_queue_url": "DeliveriesQueueUrl",
        "dead_letter_queue_url": "DeadLetterQueueUrl",
        "bodies_bucket": "BodiesBucketName",
    }

    @staticmethod
    def variable(name: str) -> str:
        return ENV_PREFIX + name.upper()

    def to_env(self) -> dict[str, str]:
        """``HOOKHAVEN_CONFIG_TABLE`` and the rest, as a function's environment holds them."""
        return {self.variable(name): value for name, value in asdict(self).items()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Resources:
        names = [f.name for f in fields(cls)]
        missing = [cls.variable(name) for name in names if not environ.get(cls.variable(name))]
        if missing:
            raise ConfigurationError(f"invalid function environment: {', '.join(missing)} unset")
        return cls(**{name: environ[cls.variable(name)] for name in names})

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, str]) -> Resources:
        """From a deployed stack's outputs; KeyError names the first output missing."""
        return cls(**{name: outputs[output] for name, output in cls.OUTPUTS.items()})


@dataclass(frozen=True)
class Key:
    name: str
    type: AttributeType = "S"


@dataclass(frozen=True)
class IndexShape:
    name: str
    partition_key: Key
    sort_key: Key | None = None


@dataclass(frozen=True)
class TableShape:
    """A DynamoDB table: keys, optional TTL attribute, global secondary indexes."""

    role: str
    partition_key: Key
    sort_key: Key | None = None
    ttl_attribute: str | None = None
    indexes: tuple[IndexShape, ...] = field(default_factory=tuple)


#: Sources (``pk=SOURCE``, ``sk=<name>``) and subscriptions (``pk=SUBSCRIPTION``,
#: ``sk=<id>``). Small and read through a cache, so one partition per kind is enough
#: and a single Query lists them. No TTL: configuration lives until removed.
CONFIG_TABLE = TableShape(
    role="config",
    partition_key=Key("pk"),
    sort_key=Key("sk"),
)

#: Events (``pk=EVENT#<id>``, ``sk=EVENT``) with their attempts (``sk=ATTEMPT#...``) in
#: the same partition, so one Query shows an event's whole story; dedupe records
#: (``pk=DEDUPE#<source>#<provider id>``). Everything expires through ``expires_at``.
#: ``by_source`` lists a source's events by time (gsi1pk=``SOURCE#<name>``,
#: gsi1sk=``<received at>#<id>``); ``by_time`` lists events and attempts of every
#: source by day (see ``TIME_SHARDS``), for ``events list``, ``status`` and ``audit``.
EVENTS_TABLE = TableShape(
    role="events",
    partition_key=Key("pk"),
    sort_key=Key("sk"),
    ttl_attribute="expires_at",
    indexes=(
        IndexShape("by_source", Key("gsi1pk"), Key("gsi1sk")),
        IndexShape("by_time", Key("gsi2pk"), Key("gsi2sk")),
    ),
)

#: ``by_time`` partitions: ``<EVENT|ATTEMPT>#<yyyy-mm-dd>#<shard>``. Sharding spreads a
#: surge's writes over several index partitions, so the index never throttles the table.
TIME_SHARDS = 4


@dataclass(frozen=True)
class QueueShape:
    """The attributes a queue is created with (SQS attribute names and units)."""

    role: str
    visibility_timeout_seconds: int
    retention_seconds: int
    max_receive_count: int | None = None  # redrive to the DLQ after this many receives

    def sqs_attributes(self) -> dict[str, str]:
        """Attributes as ``CreateQueue`` takes them (redrive policy aside)."""
        return {
            "VisibilityTimeout": str(self.visibility_timeout_seconds),
            "MessageRetentionPeriod": str(self.retention_seconds),
        }


def deliveries_queue(tunables: Tunables) -> QueueShape:
    return QueueShape(
        role="deliveries",
        visibility_timeout_seconds=tunables.queue_visibility_timeout_seconds,
        retention_seconds=tunables.queue_retention_days * 86400,
        max_receive_count=max_receive_count(tunables),
    )


def dead_letter_queue(tunables: Tunables) -> QueueShape:
    return QueueShape(
        role="dead-letter",
        visibility_timeout_seconds=tunables.queue_visibility_timeout_seconds,
        retention_seconds=tunables.dlq_retention_days * 86400,
    )


def max_receive_count(tunables: RuntimeTunables) -> int:
    """SQS moves a message to the DLQ after exactly as many receives as there are attempts.

    The attempt number is the message's ApproximateReceiveCount, so this ties
    the retry schedule and the redrive policy to one setting.
    """
    return tunables.max_attempts
