"""Patches of moto's DynamoDB: transactions, queries and responses that cost what they touch.

Replaces:

- ``moto.dynamodb.models.copy`` (the module moto's models call ``copy.deepcopy``
  through): a table is "copied" as itself, so ``TransactWriteItems`` no longer backs up
  every table it writes;
- ``moto.dynamodb.models.DynamoDBBackend.transact_write_items``: wrapped to keep copies
  of the items it touches instead, and put exactly those back if it fails;
- ``moto.dynamodb.models.table.Table.query``: wrapped so that it reads the partition (or,
  on an index, the items whose index key matches) instead of sorting the whole table;
  while it runs, the table's ``all_items`` answers those items only;
- ``moto.dynamodb.models.dynamo_type.Item.project``: a projection of top-level
  attributes (every ``INCLUDE`` index query, and a ``ProjectionExpression`` of plain
  names) picks those attributes out, instead of turning the whole item into Python
  values and back, where that round trip cannot change them (``_stable``);
- ``moto.dynamodb.responses.DynamoHandler.serialized``: item results are written as the
  JSON they already are (``_plain``), not through moto's shape-walking serializer.
"""

from __future__ import annotations

import base64
import copy as _copy
import inspect
import json
import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT

from hookhaven.local.emulator.compat import Incompatible, Patches

#: Set (to anything): every DynamoDB response written the quick way is also written moto's
#: way, and a difference fails the request (tests/e2e/test_emulator.py).
VERIFY_ENVIRONMENT = "HOOKHAVEN_EMULATOR_VERIFY"
#: The DynamoDB operations whose results are plain DynamoDB JSON, written as JSON directly.
PLAIN_JSON_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
#: What this module replaces or relies on (checked before anything is patched).
REPLACES = (
    "moto.dynamodb.models:copy",
    "moto.dynamodb.models:DynamoDBBackend.transact_write_items",
    "moto.dynamodb.models:DynamoDBBackend.get_keys_value",
    "moto.dynamodb.models.table:Table.query",
    "moto.dynamodb.models.table:Table.all_items",
    "moto.dynamodb.models.table:Table.get_item",
    "moto.dynamodb.models.dynamo_type:Item.project",
    "moto.dynamodb.responses:DynamoHandler.serialized",
    "moto.dynamodb.responses:DynamoHandler._get_action",
    "moto.dynamodb.responses:DynamoResult",
    "moto.core.responses:ActionResult",
    "moto.core.utils:get_service_model",
)
#: ``Table.query``'s leading parameters: the patch reads ``hash_key`` and ``index_name``
#: from its positional arguments.
QUERY_PARAMETERS = (
    "self",
    "hash_key",
    "range_comparison",
    "range_objs",
    "limit",
    "exclusive_start_key",
    "scan_index_forward",
    "projection_expressions",
    "index_name",
)


def install(patches: Patches) -> None:
    _install_models(patches)
    _install_responses(patches)


def _install_models(patches: Patches) -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    parameters = tuple(inspect.signature(Table.query).parameters)
    if (
        parameters[: len(QUERY_PARAMETERS)] != QUERY_PARAMETERS
        or "hash_key_conditions" not in parameters
    ):
        raise Incompatible(f"moto.dynamodb.models.table:Table.query{parameters}")

    # TransactWriteItems backs up each table it writes (copy.deepcopy) and puts the
    # backups back if any part fails. Here the backup is the table itself, untouched,
    # and the transaction keeps copies of the items it is about to write instead.
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            return value
        return _copy.deepcopy(value, memo)

    patches.set(models, "copy", SimpleNamespace(deepcopy=deepcopy, copy=_copy.copy))

    backend_class = models.DynamoDBBackend
    transact = backend_class.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        before = []
        for entry in transact_items:
            try:
                (op_type, op), *_ = entry.items()
                table = self.tables[op["TableName"]]
                if op_type == "Put":
                    attrs = op["Item"]
                    key = {
                        name: attrs[name]
                        for name in (table.hash_key_attr, table.range_key_attr)
                        if name is not None
                    }
                else:
                    key = op["Key"]
                hash_key, range_key = self.get_keys_value(table, key)
                item = table.get_item(hash_key, range_key)
            except Exception:  # noqa: S112 (moto itself refuses what is malformed)
                continue
            before.append((table, hash_key, range_key, _copy.deepcopy(item)))
        try:
            transact(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in reversed(before):
                _restore(table, hash_key, range_key, item)
            raise

    patches.set(backend_class, "transact_write_items", transact_write_items)

    # Every Query page listed and sorted every item of the table (DynamoType comparisons
    # in Python) before picking out its partition. A query on the table's own key gets
    # its partition; one on an index, the items whose index key matches, unsorted: moto
    # sorts those by index and table key, a total order, so what it returns is the same.
    query = Table.query

    def query_partition(self: Any, *args: Any, **kwargs: Any) -> Any:
        hash_key = args[0] if args else kwargs.get("hash_key")
        index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
        if index_name is None:
            if hash_key is None:
                return query(self, *args, **kwargs)
            bucket = self.items.get(hash_key)
            if bucket is None:
                candidates = []
            elif self.range_key_attr:
                candidates = list(bucket.values())
            else:
                candidates = [bucket]
        else:
            conditions = kwargs.get("hash_key_conditions") or []
            candidates = [
                item
                for item in _every_item(self)
                if all(_equal(item.attrs.get(name), value) for name, value in conditions)
            ]
        self.all_items = lambda: list(candidates)  # only while this request holds the lock
        try:
            return query(self, *args, **kwargs)
        finally:
            del self.all_items

    patches.set(Table, "query", query_partition)

    # A projection turned the whole item into Python values (boto3's deserializer, after
    # a deep copy of every attribute) and the attributes it kept back into DynamoDB JSON:
    # an INCLUDE index query paid that for every item it returned, most of the time of an
    # audit over a few thousand deliveries. Plain names whose values the round trip
    # cannot change are picked out as they are (copied); anything else goes moto's way.
    from moto.dynamodb.models.dynamo_type import Item

    project = Item.project

    def project_names(self: Any, projection_expressions: list[list[str]]) -> Any:
        names = []
        for expression in projection_expressions:
            if len(expression) != 1 or "[" in expression[0]:
                return project(self, projection_expressions)
            names.append(expression[0])
        kept = {}
        for name in names:
            value = self.attrs.get(name)
            if value is None:
                continue
            if not _stable(value):
                return project(self, projection_expressions)
            kept[name] = _copy.deepcopy(value)
        return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=kept)

    patches.set(Item, "project", project_names)


def _install_responses(patches: Patches) -> None:
    """Write item results as the JSON they already are.

    moto walks the botocore output shape member by member, looking each one up under
    six kinds of alias, to write what is, for item operations, a dict of DynamoDB JSON:
    a fifth of the emulator's time went there. Here the same walk is a plain one over
    the dict: members the shape does not have and ``None`` values are left out, as
    moto leaves them out, and binary values are base64, as moto writes them. A result
    holding anything else (a datetime, an object) and every other operation and error
    still go moto's way.
    """
    from moto.core.responses import ActionResult
    from moto.core.utils import get_service_model
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    slow = DynamoHandler.serialized
    envelopes: dict[str, tuple[int, dict[str, str]]] = {}
    verify = bool(os.environ.get(VERIFY_ENVIRONMENT))

    def serialized(self: Any, action_result: Any) -> Any:
        action = self._get_action()
        if action not in PLAIN_JSON_OPERATIONS or type(action_result) not in (
            ActionResult,
            DynamoResult,
        ):
            return slow(self, action_result)
        shape = get_service_model(self.boto3_service_name).operation_model(action).output_shape
        try:
            body = json.dumps(_plain(action_result.result, shape))
        except _NotPlain:
            return slow(self, action_result)
        if action not in envelopes:  # status and content type, as moto writes them
            status, headers, _ = slow(self, ActionResult({}))
            envelopes[action] = (
                status,
                {k: v for k, v in headers.items() if k not in self.response_headers},
            )
        status, headers = envelopes[action]
        headers = {**headers, **self.response_headers}
        if verify:
            expected = slow(self, action_result)
            mine = (status, headers, json.loads(body))
            theirs = (expected[0], expected[1], json.loads(expected[2]))
            if mine != theirs:
                raise AssertionError(f"{action}: wrote {mine!r}, moto writes {theirs!r}")
        return status, headers, body

    patches.set(DynamoHandler, "serialized", serialized)


class _NotPlain(Exception):
    """A value the plain walk does not write: moto's serializer will."""


def _plain(value: Any, shape: Any) -> Any:
    """``value`` as JSON for ``shape``, as moto's JSON serializer writes a plain dict."""
    kind = shape.type_name
    if kind == "structure":
        if type(value) is not dict:
            raise _NotPlain
        members = shape.members
        written = {}
        for name, member in value.items():
            if member is None or name not in members:
                continue  # moto writes only the shape's members, and no nulls
            member_shape = members[name]
            if "name" in member_shape.serialization:
                raise _NotPlain  # serialized under another name
            written[name] = _plain(member, member_shape)
        return written
    if kind == "map":
        if type(value) is not dict:
            raise _NotPlain
        return {k: _plain(v, shape.value) for k, v in value.items()}
    if kind == "list":
        if type(value) is not list:
            raise _NotPlain
        return [_plain(v, shape.member) for v in value]
    if kind == "string" and type(value) is str:
        return value
    if kind == "boolean" and type(value) is bool:
        return value
    if kind in ("integer", "long") and type(value) is int:
        return value
    if kind in ("double", "float") and type(value) in (int, float):
        return value
    if kind == "blob" and type(value) is bytes:  # a binary attribute's value
        return base64.b64encode(value).decode()
    raise _NotPlain  # None in a map or list, timestamps, anything unexpected


def _stable(value: Any) -> bool:
    """Whether boto3's deserializer and serializer give ``value`` (a moto ``DynamoType``)
    back unchanged: strings, booleans, nulls, numbers already in the form the serializer
    writes, and lists and maps of those. Sets come back in another order and binary
    values as another type: those, and anything else, are not."""
    kind, inner = value.type, value.value
    if kind in ("S", "BOOL"):
        return True
    if kind == "NULL":
        return inner is True
    if kind == "N":
        return type(inner) is str and _canonical_number(inner)
    if kind == "L":
        return type(inner) is list and all(_stable(item) for item in inner)
    if kind == "M":
        return type(inner) is dict and all(_stable(item) for item in inner.values())
    return False


def _canonical_number(text: str) -> bool:
    try:
        return str(DYNAMODB_CONTEXT.create_decimal(text)) == text
    except ArithmeticError:  # moto's own path refuses it as it pleases
        return False


def _equal(attribute: Any, value: Any) -> bool:
    return attribute is not None and bool(attribute == value)


def _every_item(table: Any) -> Iterator[Any]:
    for bucket in table.items.values():
        if table.range_key_attr:
            yield from bucket.values()
        else:
            yield bucket


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    if item is None:
        table.items[hash_key].pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item
