"""What each function may do on AWS: one list, rendered into IAM and enforced locally.

The CDK constructs turn these grants into the functions' IAM policies
(``infra.constructs.grants``). The local stack and the tests put the same grants in
front of the functions' boto3 clients (``hookhaven.local.iam``), judged the way IAM
judges them (``dynamodb:LeadingKeys``, ``dynamodb:Attributes``, ``dynamodb:Select``,
transactions item by item: ``hookhaven.quotas.BEHAVIOURS``), so a call the deployed
policy would refuse fails here too. ``tests/infra/test_iam.py`` pins what the
synthesized template grants, statement by statement: a new grant is added there on
purpose, and here.

Pure data: nothing imported at run time beyond the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: Partition keys of the config table (``hookhaven.aws.dynamodb``, ``hookhaven.echo``).
SOURCE_PK = "SOURCE"
SUBSCRIPTION_PK = "SUBSCRIPTION"
#: The echo subscriber's secrets, one item per smoke run (``hookhaven.echo``).
ECHO_SECRET_PK = "ECHO_SECRET"  # noqa: S105 (a partition key, not a secret)
#: Partition key prefixes of the events table.
DEDUPE_PREFIX = "DEDUPE#"
EVENT_PREFIX = "EVENT#"
#: Delivery control state, one partition per subscription (``hookhaven.aws.control``).
CONTROL_PREFIX = "CONTROL#"

#: What the receiver reads of a subscription to route an event: never its URL, secrets
#: or headers. The key attributes are named too: AWS requires it with dynamodb:Attributes.
ROUTE_ATTRIBUTES = ("pk", "sk", "id", "source", "event_types", "enabled", "filter")
#: What the dispatcher writes when a subscriber answers 410 Gone (``disable_subscription``),
#: ``pk`` being tested by its condition.
DISABLE_ATTRIBUTES = ("pk", "sk", "enabled", "status_reason", "updated_at")

#: ReturnValues that return no attribute the request did not name.
NARROW_RETURN_VALUES = ("NONE", "UPDATED_OLD", "UPDATED_NEW")

KMS_READ = ("kms:Decrypt", "kms:DescribeKey")
#: CDK's write grant for a table under a customer-managed key (Encrypt, ReEncrypt*,
#: GenerateDataKey*), spelt out: no wildcard action anywhere in the stack's policies.
KMS_WRITE = (
    "kms:Encrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
)
#: What the event source mapping does with the function's role: poll, delete, hide.
SQS_CONSUME = (
    "sqs:ReceiveMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueUrl",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
)


class Target(StrEnum):
    """A resource of the stack, as a grant names it."""

    CONFIG_TABLE = "config_table"
    EVENTS_TABLE = "events_table"
    DELIVERIES_QUEUE = "deliveries_queue"
    DEAD_LETTER_QUEUE = "dead_letter_queue"
    #: Objects under ``hookhaven.resources.BODY_PREFIX`` in the bodies bucket.
    BODIES = "bodies"
    #: The config table's customer-managed KMS key (``customer_managed_key``).
    CONFIG_KEY = "config_key"
    #: The EventBridge bus operational events go to (``operational_events_bus``), by its
    #: ARN (``quotas.EVENTBRIDGE_BUS_ARN``): that bus only, the default one included.
    OPERATIONAL_EVENTS_BUS = "operational_events_bus"


@dataclass(frozen=True)
class Grant:
    """Some actions on one resource, perhaps only on some items and attributes."""

    actions: tuple[str, ...]
    target: Target
    why: str
    #: Partition key values the items must have; a trailing ``*`` makes a prefix.
    leading_keys: tuple[str, ...] = ()
    #: The only attributes the request may name, read or return.
    attributes: tuple[str, ...] = ()


class Role(StrEnum):
    RECEIVER = "receiver"
    DISPATCHER = "dispatcher"
    ECHO = "echo"


_RECEIVER = (
    Grant(
        ("dynamodb:Query",),
        Target.CONFIG_TABLE,
        "sources, with their secrets, to verify signatures",
        leading_keys=(SOURCE_PK,),
    ),
    Grant(
        ("dynamodb:Query",),
        Target.CONFIG_TABLE,
        "where each subscription wants events, to fan out: no URL, no secret",
        leading_keys=(SUBSCRIPTION_PK,),
        attributes=ROUTE_ATTRIBUTES,
    ),
    Grant(
        ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"),
        Target.EVENTS_TABLE,
        "claim, resume and release dedupe records",
        leading_keys=(DEDUPE_PREFIX + "*",),
    ),
    Grant(
        ("dynamodb:PutItem",),
        Target.EVENTS_TABLE,
        "record the accepted event (with its dedupe record, in one transaction)",
        leading_keys=(EVENT_PREFIX + "*",),
    ),
    Grant(("s3:PutObject",), Target.BODIES, "keep a body too large for the queue"),
    Grant(("sqs:SendMessage",), Target.DELIVERIES_QUEUE, "one message per subscription"),
)

_DISPATCHER = (
    Grant(
        ("dynamodb:Query", "dynamodb:GetItem"),
        Target.CONFIG_TABLE,
        "subscriptions, with their URLs and secrets, to sign and deliver",
        leading_keys=(SUBSCRIPTION_PK,),
    ),
    Grant(
        ("dynamodb:UpdateItem",),
        Target.CONFIG_TABLE,
        "disable a subscription (410 Gone, or failing for too long), and nothing else",
        leading_keys=(SUBSCRIPTION_PK,),
        attributes=DISABLE_ATTRIBUTES,
    ),
    Grant(
        ("dynamodb:PutItem", "dynamodb:Query"),
        Target.EVENTS_TABLE,
        "record attempts; count those of this message",
        leading_keys=(EVENT_PREFIX + "*",),
    ),
    Grant(
        ("dynamodb:GetItem", "dynamodb:UpdateItem"),
        Target.EVENTS_TABLE,
        "delivery control: rate slots, in-flight leases, the circuit breaker",
        leading_keys=(CONTROL_PREFIX + "*",),
    ),
    Grant(("s3:GetObject",), Target.BODIES, "read a body kept in the bucket"),
    Grant(SQS_CONSUME, Target.DELIVERIES_QUEUE, "the event source mapping and retry delays"),
    Grant(("sqs:SendMessage",), Target.DEAD_LETTER_QUEUE, "park a delivery out of attempts"),
)

_ECHO = (
    Grant(
        ("dynamodb:GetItem",),
        Target.CONFIG_TABLE,
        "the running smoke test's secret, not a source's or a subscription's",
        leading_keys=(ECHO_SECRET_PK,),
    ),
)


#: The dispatcher's, while operational events are on.
OPERATIONAL_EVENTS = Grant(
    ("events:PutEvents",),
    Target.OPERATIONAL_EVENTS_BUS,
    "operational events (circuit opened or closed, subscription disabled, delivery exhausted)",
)


def grants(
    role: Role, *, customer_managed_key: bool, operational_events: bool = False
) -> tuple[Grant, ...]:
    """Everything ``role`` may do; with the config table under a customer-managed key,
    the use of that key through DynamoDB too (reads; and writes for the dispatcher); with
    operational events on, the dispatcher's PutEvents on their bus."""
    base = {Role.RECEIVER: _RECEIVER, Role.DISPATCHER: _DISPATCHER, Role.ECHO: _ECHO}[role]
    if operational_events and role is Role.DISPATCHER:
        base = (*base, OPERATIONAL_EVENTS)
    if not customer_managed_key:
        return base
    key_actions = KMS_READ + (KMS_WRITE if role is Role.DISPATCHER else ())
    return (
        *base,
        Grant(key_actions, Target.CONFIG_KEY, "read (and write) the config table's items"),
    )
