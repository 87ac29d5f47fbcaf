"""Shapes of the AWS resources: one source of truth for the CDK stack and the local stack.

Key schemas, TTL attributes and queue attributes are declared here once. The CDK
constructs build their tables and queues from these shapes, and the local stack
creates the same ones in its emulator, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import ClassVar, Literal

from hookhaven import quotas
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
    bodies_bucket: str
    #: The receiver never uses the DLQ, so its environment does not name it.
    dead_letter_queue_url: str | None = None

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
        return {
            self.variable(name): value for name, value in asdict(self).items() if value is not None
        }

    def require_dead_letter_queue(self) -> str:
        """The DLQ's URL, for whoever parks or redrives deliveries."""
        if self.dead_letter_queue_url is None:
            raise ConfigurationError(
                f"invalid function environment: {self.variable('dead_letter_queue_url')} unset"
            )
        return self.dead_letter_queue_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Resources:
        required = [f.name for f in fields(cls) if f.default is MISSING]
        missing = [cls.variable(name) for name in required if not environ.get(cls.variable(name))]
        if missing:
            raise ConfigurationError(f"invalid function environment: {', '.join(missing)} unset")
        return cls(
            **{
                f.name: environ[cls.variable(f.name)]
                for f in fields(cls)
                if environ.get(cls.variable(f.name))
            }
        )

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
    #: The non-key attributes the index carries (INCLUDE); None carries every one (ALL).
    projected: tuple[str, ...] | None = None


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
#: and a single Query lists them. No TTL: configuration lives until removed. Running
#: smoke tests keep their echo subscriber's secret in a partition of its own
#: (``pk=ECHO_SECRET``, ``sk=<run key>``; ``hookhaven.echo``).
CONFIG_TABLE = TableShape(
    role="config",
    partition_key=Key("pk"),
    sort_key=Key("sk"),
)

#: Events (``pk=EVENT#<id>``, ``sk=EVENT``) with their attempts (``sk=ATTEMPT#...``) in
#: the same partition, so one Query shows an event's whole story; dedupe records
#: (``pk=DEDUPE#<source>#<provider id>``). Everything expires through ``expires_at``.
#: ``by_source`` lists a source's events by time (gsi1pk=``SOURCE#<name>[#<shard>]``,
#: gsi1sk=``<received at>#<id>``); ``by_time`` lists events and attempts of every
#: source by day (gsi2pk=``<EVENT|ATTEMPT>#<yyyy-mm-dd>#<shard>``), for ``events list``,
#: ``status`` and ``audit``.
#:
#: Both are sharded and carry only what those listings read (``LISTED_ATTRIBUTES``),
#: never a body. One index partition takes 1,000 write units a second, and an index
#: that throttles throttles its table: unsharded, with bodies, one busy source would have
#: made the receiver answer 503 at about 50 events a second of 20 KB.
LISTED_ATTRIBUTES = (
    # an event, as hookhaven.models.EventSummary
    "id",
    "source",
    "event_type",
    "provider_event_id",
    "received_at",
    "body_size",
    "subscriptions",
    # an attempt, as status and audit read it (hookhaven.models.AttemptRecord)
    "event_id",
    "subscription_id",
    "attempt",
    "at",
    "outcome",
    "status_code",
    "error",
    "next_attempt_at",
    "reason",
)
EVENTS_TABLE = TableShape(
    role="events",
    partition_key=Key("pk"),
    sort_key=Key("sk"),
    ttl_attribute="expires_at",
    indexes=(
        IndexShape("by_source", Key("gsi1pk"), Key("gsi1sk"), LISTED_ATTRIBUTES),
        IndexShape("by_time", Key("gsi2pk"), Key("gsi2sk"), LISTED_ATTRIBUTES),
    ),
)

#: Partitions per source (``by_source``) and per day and kind (``by_time``): each takes
#: 1,000 index writes a second (one write unit each: index items stay under 1 KB).
SOURCE_SHARDS = 8
TIME_SHARDS = 8


def shard_of(item_id: str, shards: int) -> int:
    """The shard an item's index entry lives in: stable, and even over many ids."""
    return int(hashlib.sha256(item_id.encode()).hexdigest(), 16) % shards


@dataclass(frozen=True)
class QueueShape:
    """The attributes a queue is created with (SQS attribute names and units)."""

    role: str
    visibility_timeout_seconds: int
    retention_seconds: int
    max_receive_count: int | None = None  # redrive to the DLQ after this many receives
    #: Set, not left to the account's default (which AWS raised in 2026 and may raise
    #: again): every message hookhaven sends is bounded below it.
    max_message_size_bytes: int = quotas.DELIVERY_MESSAGE_SIZE_MAX

    def sqs_attributes(self) -> dict[str, str]:
        """Attributes as ``CreateQueue`` takes them (redrive policy aside)."""
        return {
            "VisibilityTimeout": str(self.visibility_timeout_seconds),
            "MessageRetentionPeriod": str(self.retention_seconds),
            "MaximumMessageSize": str(self.max_message_size_bytes),
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
    """The redrive policy's maxReceiveCount: a backstop only, at SQS's maximum.

    The dispatcher counts attempts itself and moves a delivery to the DLQ after its last
    real one. Receives that attempt nothing are many and legitimate: throttled or
    timed-out invocations, deliveries deferred for lack of time, and above all deliveries
    held back by delivery control (``hookhaven.control``), which an open circuit holds
    about once per probe interval for up to ``disable_after_failing`` (~130 receives over
    5 days at the default hour-long probes). SQS's redrive only catches a message that
    keeps coming back without ever being handled (a poison message that crashes every
    invocation): after 1,000 receives, one per queue visibility timeout.
    """
    del tunables  # the same for every schedule: holds, not attempts, dominate receives
    return quotas.SQS_MAX_RECEIVE_COUNT_MAX.value
