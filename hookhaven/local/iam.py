"""IAM for the local stack and the tests: each function's calls judged by its grants.

The emulator, like moto, lets any caller do anything. On AWS each function runs with the
role ``infra.constructs.grants`` writes from ``hookhaven.permissions``; here ``Policy``
puts the same grants in front of a function's boto3 clients (a botocore hook, before
the request is built) and refuses what IAM would refuse, with the error AWS returns:
a Query of subscriptions that asks for their secrets, an update of a subscription's URL,
a write to another partition, a Scan, a DeleteItem. Judged as AWS documents it
(``hookhaven.quotas.BEHAVIOURS``):

- ``dynamodb:LeadingKeys``: the partition key value of every item the request touches.
- ``dynamodb:Attributes``: every attribute the request names, reads or tests, key
  attributes included; a read that names none asks for all of them. ``dynamodb:Select``
  (Query, Scan) and ``dynamodb:ReturnValues`` are checked when the request has them.
- TransactWriteItems item by item (PutItem, UpdateItem, DeleteItem, ConditionCheckItem);
  SQS batch calls as their single action.
- With the config table under the customer-managed key, each use of the table needs
  ``kms:Decrypt`` on the key too.
- ``events:PutEvents`` entry by entry, on the bus each names (by name or ARN; none: the
  default bus), allowed only on the bus of ``operational_events_bus``
  (``quotas.EVENTBRIDGE_BUS_ARN``).

What IAM would refuse and the code does is a bug: every refusal is also kept in
``denied``, which the tests check is empty.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from botocore.exceptions import ClientError

from hookhaven import permissions
from hookhaven.permissions import NARROW_RETURN_VALUES, Grant, Role, Target
from hookhaven.resources import BODY_PREFIX, Resources

#: Words of DynamoDB's expression grammar that are not attribute names.
_GRAMMAR = frozenset(
    {
        "and",
        "or",
        "not",
        "between",
        "in",
        "set",
        "remove",
        "add",
        "delete",
        "attribute_exists",
        "attribute_not_exists",
        "attribute_type",
        "begins_with",
        "contains",
        "size",
        "if_not_exists",
        "list_append",
    }
)
#: A name in an expression: ``#placeholder``, ``:value`` (skipped) or a bare name; a path
#: (``a.b[0]``) counts as its top-level attribute, as dynamodb:Attributes does.
_TOKEN = re.compile(r"[#:]?[A-Za-z_][A-Za-z0-9_]*|\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\]")

_ERRORS = {
    "dynamodb": ("AccessDeniedException", 400),
    "sqs": ("AccessDenied", 403),
    "s3": ("AccessDenied", 403),
    "events": ("AccessDeniedException", 400),
}
_SQS_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
_S3_ACTIONS = {"HeadObject": "GetObject"}
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@dataclass(frozen=True)
class Request:
    """One authorization IAM makes for a call (a transaction makes one per item)."""

    action: str
    target: Target | None
    #: Partition key values of the items touched.
    leading_keys: frozenset[str] = frozenset()
    #: Attributes named, read or tested; None: every attribute (a read that names none).
    attributes: frozenset[str] | None = frozenset()
    select: str | None = None
    return_values: str | None = None

    def describe(self) -> str:
        where = self.target.value if self.target else "a resource of no grant"
        keys = f" items {sorted(self.leading_keys)}" if self.leading_keys else ""
        names = (
            " every attribute"
            if self.attributes is None
            else (f" attributes {sorted(self.attributes)}" if self.attributes else "")
        )
        return f"{self.action} on {where}{keys}{names}"


def allows(grant: Grant, request: Request) -> bool:
    """Whether one grant's statement allows the request, as IAM evaluates it."""
    if request.target is not grant.target:
        return False
    if not any(fnmatchcase(request.action, action) for action in grant.actions):
        return False
    if grant.leading_keys and not all(
        any(fnmatchcase(value, pattern) for pattern in grant.leading_keys)
        for value in request.leading_keys
    ):
        return False
    if grant.attributes:
        if request.attributes is None or not request.attributes <= set(grant.attributes):
            return False
        if request.select is not None and request.select != "SPECIFIC_ATTRIBUTES":
            return False
        if request.return_values is not None and request.return_values not in (
            NARROW_RETURN_VALUES
        ):
            return False
    return True


def expression_names(expression: str | None, names: Mapping[str, str]) -> set[str]:
    """Top-level attribute names an expression refers to."""
    found: set[str] = set()
    for token in _TOKEN.findall(expression or ""):
        if token.startswith((":", ".", "[")):
            continue
        if token.startswith("#"):
            found.add(names.get(token, token))
        elif token.lower() not in _GRAMMAR:
            found.add(token)
    return found


def _partition(item: Mapping[str, Any], key: str = "pk") -> str:
    value = item.get(key) or {}
    return str(value.get("S", value.get("N", ""))) if isinstance(value, Mapping) else ""


_EQUALITY = re.compile(r"([#A-Za-z_][A-Za-z0-9_]*)\s*=\s*(:[A-Za-z0-9_]+)")
#: Partition keys of the tables and their indexes (``hookhaven.resources``).
_PARTITION_KEYS = ("pk", "gsi1pk", "gsi2pk")


def _query_partitions(
    condition: str, names: Mapping[str, str], values: Mapping[str, Any]
) -> set[str]:
    """The partition a Query reads: the value its key condition sets the partition key to."""
    for name, placeholder in _EQUALITY.findall(condition):
        if names.get(name, name) in _PARTITION_KEYS:
            return {_partition({"v": values.get(placeholder) or {}}, "v")}
    return set()


@dataclass
class Policy:
    """One function's grants, judging its calls against the stack's resources."""

    role: Role
    resources: Resources
    customer_managed_key: bool
    #: The bus operational events go to (``Tunables.operational_events_bus_name``); None: off.
    operational_events_bus: str | None = None
    grants: tuple[Grant, ...] = ()
    denied: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not self.grants:
            self.grants = permissions.grants(
                self.role,
                customer_managed_key=self.customer_managed_key,
                operational_events=self.operational_events_bus is not None,
            )

    # --- hooking clients -------------------------------------------------------------

    def attach(self, client: Any) -> Any:
        """Judge every call ``client`` makes from now on; returns the client."""
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-parameter-build.{service}", self._judge)
        return client

    def _judge(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        for request in self.requests(service, model.name, params):
            if not any(allows(grant, request) for grant in self.grants):
                message = (
                    f"local IAM: the {self.role} role is not authorized to perform "
                    f"{request.describe()} (hookhaven.permissions lists no such grant)"
                )
                with self._lock:
                    self.denied.append(message)
                code, status = _ERRORS.get(service, ("AccessDenied", 403))
                response: Any = {
                    "Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                }
                raise ClientError(response, model.name)

    # --- what a call asks of IAM -----------------------------------------------------

    def requests(self, service: str, operation: str, params: Mapping[str, Any]) -> list[Request]:
        if service == "dynamodb":
            found = self._dynamodb(operation, params)
        elif service == "sqs":
            found = [self._sqs(operation, params)]
        elif service == "s3":
            found = [self._s3(operation, params)]
        elif service == "events" and operation == "PutEvents":
            found = [
                Request("events:PutEvents", self._bus(entry.get("EventBusName")))
                for entry in params.get("Entries", [])
            ]
        else:
            found = [Request(f"{service}:{operation}", None)]
        if self.customer_managed_key:
            # DynamoDB uses the table's key on the caller's behalf (kms:ViaService).
            uses_key = any(r.target is Target.CONFIG_TABLE for r in found)
            if uses_key:
                found.append(Request("kms:Decrypt", Target.CONFIG_KEY))
        return found

    def _table(self, name: str | None) -> Target | None:
        if name == self.resources.config_table:
            return Target.CONFIG_TABLE
        if name == self.resources.events_table:
            return Target.EVENTS_TABLE
        return None

    def _dynamodb(self, operation: str, params: Mapping[str, Any]) -> list[Request]:
        if operation == "TransactWriteItems":
            return [
                self._item_request(_TRANSACT_ACTIONS[kind], body)
                for entry in params.get("TransactItems", [])
                for kind, body in entry.items()
            ]
        if operation in ("BatchWriteItem", "BatchGetItem"):
            # Never called by the functions (nor granted): judged by table alone.
            return [
                Request(f"dynamodb:{operation}", self._table(table), attributes=None)
                for table in params.get("RequestItems", {})
            ]
        return [self._item_request(operation, params)]

    def _item_request(self, operation: str, params: Mapping[str, Any]) -> Request:
        names = params.get("ExpressionAttributeNames") or {}
        target = self._table(params.get("TableName"))
        action = f"dynamodb:{operation}"
        if operation == "Query":
            condition = params.get("KeyConditionExpression") or ""
            values = params.get("ExpressionAttributeValues") or {}
            leading = frozenset(_query_partitions(condition, names, values))
            return self._read(action, target, leading, params, names, condition)
        if operation == "Scan":
            return self._read(action, target, frozenset(), params, names, "")
        key = params.get("Key") or params.get("Item") or {}
        leading = frozenset({_partition(key)})
        if operation == "GetItem":
            return self._read(action, target, leading, params, names, "")
        attributes = set(key) | expression_names(params.get("UpdateExpression"), names)
        attributes |= expression_names(params.get("ConditionExpression"), names)
        return Request(
            action,
            target,
            leading,
            frozenset(attributes),
            return_values=params.get("ReturnValues"),
        )

    def _read(
        self,
        action: str,
        target: Target | None,
        leading: frozenset[str],
        params: Mapping[str, Any],
        names: Mapping[str, str],
        key_condition: str,
    ) -> Request:
        projection = params.get("ProjectionExpression")
        select = params.get("Select")
        if select is None and action in ("dynamodb:Query", "dynamodb:Scan"):
            select = "SPECIFIC_ATTRIBUTES" if projection else "ALL_ATTRIBUTES"
        if not projection:
            return Request(action, target, leading, None, select=select)
        attributes = {"pk", "sk"} | expression_names(projection, names)
        attributes |= expression_names(key_condition, names)
        attributes |= expression_names(params.get("FilterExpression"), names)
        return Request(action, target, leading, frozenset(attributes), select=select)

    def _sqs(self, operation: str, params: Mapping[str, Any]) -> Request:
        url = params.get("QueueUrl") or ""
        if operation == "GetQueueUrl":
            url = next(
                (u for u in self._queues() if u.rsplit("/", 1)[-1] == params.get("QueueName")),
                "",
            )
        target = {
            self.resources.deliveries_queue_url: Target.DELIVERIES_QUEUE,
            self.resources.dead_letter_queue_url: Target.DEAD_LETTER_QUEUE,
        }.get(url)
        return Request(f"sqs:{_SQS_ACTIONS.get(operation, operation)}", target)

    def _queues(self) -> Iterable[str]:
        urls = (self.resources.deliveries_queue_url, self.resources.dead_letter_queue_url)
        return [url for url in urls if url]

    def _bus(self, name_or_arn: str | None) -> Target | None:
        """The grant's target when the entry names the operational events bus (an entry
        without a bus goes to the default one)."""
        bus = self.operational_events_bus
        named = name_or_arn or "default"
        if bus is not None and (named == bus or named.endswith(f":event-bus/{bus}")):
            return Target.OPERATIONAL_EVENTS_BUS
        return None

    def _s3(self, operation: str, params: Mapping[str, Any]) -> Request:
        inside = params.get("Bucket") == self.resources.bodies_bucket and str(
            params.get("Key", "")
        ).startswith(BODY_PREFIX)
        action = f"s3:{_S3_ACTIONS.get(operation, operation)}"
        return Request(action, Target.BODIES if inside else None)
