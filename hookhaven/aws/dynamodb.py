"""DynamoDB adapters: the config table (sources, subscriptions) and the events table."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from hookhaven.aws.items import from_item, to_item, to_value
from hookhaven.models import (
    AttemptRecord,
    EventRecord,
    EventSummary,
    Source,
    Subscription,
    SubscriptionRoute,
)
from hookhaven.permissions import (
    DEDUPE_PREFIX,
    EVENT_PREFIX,
    ROUTE_ATTRIBUTES,
    SOURCE_PK,
    SUBSCRIPTION_PK,
)
from hookhaven.ports import Claim, DedupeKey, Progress, StorageUnavailable
from hookhaven.resources import SOURCE_SHARDS, TIME_SHARDS, shard_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

AWS_ERRORS = (ClientError, BotoCoreError)


def _error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def query_all(
    client: DynamoDBClient, what: str, limit: int | None = None, **request: Any
) -> list[dict[str, Any]]:
    """Every item of a Query, page after page (pages of ``limit``, stopping once ``limit``
    are in), as plain values."""
    items: list[dict[str, Any]] = []
    pages = client.get_paginator("query").paginate(
        **request, PaginationConfig={"PageSize": limit} if limit else {}
    )
    try:
        for page in pages:
            items += [from_item(i) for i in page.get("Items", [])]
            if limit and len(items) >= limit:
                break
    except AWS_ERRORS as error:
        raise StorageUnavailable(f"{what} query failed: {_error_code(error)}") from error
    return items


def get_item(client: DynamoDBClient, table: str, pk: str, sk: str) -> dict[str, Any] | None:
    """One item by key, strongly consistent, as plain values."""
    try:
        response = client.get_item(
            TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
    except AWS_ERRORS as error:
        raise StorageUnavailable(f"{table} read failed: {_error_code(error)}") from error
    item = response.get("Item")
    return from_item(dict(item)) if item else None


class DynamoConfigStore:
    """Sources (``pk=SOURCE``) and subscriptions (``pk=SUBSCRIPTION``) in the config table."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _query(self, pk: str, attributes: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """One partition, strongly consistent; only ``attributes`` when named (as the
        receiver's grant requires: ``hookhaven.permissions``)."""
        projection: dict[str, Any] = {}
        if attributes:
            names = {f"#a{i}": name for i, name in enumerate(attributes)}
            projection = {
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
            }
        return query_all(
            self._client,
            "config table",
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
            **projection,
        )

    def list_sources(self) -> list[Source]:
        return [Source.model_validate(_strip_keys(item)) for item in self._query(SOURCE_PK)]

    def list_subscriptions(self) -> list[Subscription]:
        return [
            Subscription.model_validate(_strip_keys(item)) for item in self._query(SUBSCRIPTION_PK)
        ]

    def list_routes(self) -> list[SubscriptionRoute]:
        return [
            SubscriptionRoute.model_validate(_strip_keys(item))
            for item in self._query(SUBSCRIPTION_PK, ROUTE_ATTRIBUTES)
        ]

    def put_source(self, source: Source) -> None:
        self._put({"pk": SOURCE_PK, "sk": source.name, **source.model_dump(mode="json")})

    def put_subscription(self, subscription: Subscription) -> None:
        self._put(
            {"pk": SUBSCRIPTION_PK, "sk": subscription.id, **subscription.model_dump(mode="json")}
        )

    def get_source(self, name: str) -> Source | None:
        item = self._get(SOURCE_PK, name)
        return Source.model_validate(_strip_keys(item)) if item else None

    def get_subscription(self, subscription_id: str) -> Subscription | None:
        item = self._get(SUBSCRIPTION_PK, subscription_id)
        return Subscription.model_validate(_strip_keys(item)) if item else None

    def delete_source(self, name: str) -> bool:
        return self._delete(SOURCE_PK, name)

    def delete_subscription(self, subscription_id: str) -> bool:
        return self._delete(SUBSCRIPTION_PK, subscription_id)

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return get_item(self._client, self._table, pk, sk)

    def _delete(self, pk: str, sk: str) -> bool:
        try:
            response = self._client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                ReturnValues="ALL_OLD",
            )
        except AWS_ERRORS as error:
            raise StorageUnavailable(f"config table write failed: {_error_code(error)}") from error
        return "Attributes" in response

    def disable_subscription(self, subscription_id: str, reason: str, now: float) -> bool:
        """True if this call disabled it: False if it was gone or disabled already (so that
        one dispatcher alone reports it)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": SUBSCRIPTION_PK}, "sk": {"S": subscription_id}},
                UpdateExpression="SET enabled = :false, status_reason = :reason, updated_at = :now",
                ConditionExpression="attribute_exists(pk) AND enabled = :true",
                ExpressionAttributeValues={
                    ":false": {"BOOL": False},
                    ":true": {"BOOL": True},
                    ":reason": {"S": reason},
                    ":now": to_value(now),
                },
            )
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                return False  # removed or disabled meanwhile: nothing left to disable
            raise StorageUnavailable(f"config table write failed: {_error_code(error)}") from error
        except BotoCoreError as error:
            raise StorageUnavailable("config table write failed") from error
        return True

    def _put(self, values: dict[str, Any]) -> None:
        try:
            self._client.put_item(TableName=self._table, Item=to_item(values))
        except AWS_ERRORS as error:
            raise StorageUnavailable(f"config table write failed: {_error_code(error)}") from error


#: What the dispatcher reads of a message's earlier records.
_HISTORY_ATTRIBUTES = (
    "event_id",
    "subscription_id",
    "attempt",
    "at",
    "outcome",
    "next_attempt_at",
    "message_id",
    "hold",
)


def _strip_keys(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("pk", "sk")}


def dedupe_pk(key: DedupeKey) -> str:
    # Provider ids are untrusted and up to 256 characters: hash them into a bounded key.
    digest = hashlib.sha256(key.provider_event_id.encode()).hexdigest()[:40]
    return f"{DEDUPE_PREFIX}{key.source}#{digest}"


def event_pk(event_id: str) -> str:
    return f"{EVENT_PREFIX}{event_id}"


class DynamoEventStore:
    """Events, their attempts and dedupe records in the events table."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def claim(self, key: DedupeKey, event_id: str, *, now: float, window: int, lease: int) -> Claim:
        item = {
            "pk": dedupe_pk(key),
            "sk": "DEDUPE",
            "event_id": event_id,
            "source": key.source,
            "provider_event_id": key.provider_event_id,
            "status": "in_progress",
            "lease_until": int(now) + lease,
            "created_at": now,
            "expires_at": int(now) + window,
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(item),
                # TTL deletes lazily: an expired record still present counts as absent.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return Claim("new", event_id)
        except ClientError as error:
            if _error_code(error) != "ConditionalCheckFailedException":
                raise StorageUnavailable(f"dedupe claim failed: {_error_code(error)}") from error
            raw = cast("dict[str, Any] | None", error.response.get("Item"))
            existing = from_item(raw) if raw else None
            if existing is None:
                existing = self._get(dedupe_pk(key), "DEDUPE")
        except BotoCoreError as error:
            raise StorageUnavailable("dedupe claim failed") from error
        if existing is None:  # removed between our write and our read: try once more
            return self.claim(key, event_id, now=now, window=window, lease=lease)
        return self._resume(key, existing, now=now, lease=lease)

    def _resume(self, key: DedupeKey, old: dict[str, Any], *, now: float, lease: int) -> Claim:
        first_id = str(old["event_id"])
        status = old.get("status")
        if status == "complete":
            return Claim("duplicate", first_id)
        lease_until = int(old.get("lease_until", 0))
        if status == "in_progress" and lease_until > now:
            return Claim("in_progress", first_id)
        # failed, or in progress with a lapsed lease: take it over, optimistically.
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": dedupe_pk(key)}, "sk": {"S": "DEDUPE"}},
                UpdateExpression="SET #status = :in_progress, lease_until = :lease",
                ConditionExpression="#status = :old_status AND lease_until = :old_lease",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":in_progress": {"S": "in_progress"},
                    ":lease": {"N": str(int(now) + lease)},
                    ":old_status": {"S": str(status)},
                    ":old_lease": {"N": str(lease_until)},
                },
            )
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                return Claim("in_progress", first_id)
            raise StorageUnavailable(f"dedupe resume failed: {_error_code(error)}") from error
        except BotoCoreError as error:
            raise StorageUnavailable("dedupe resume failed") from error
        return Claim("resumed", first_id, frozenset(old.get("enqueued") or ()))

    def release(self, key: DedupeKey, event_id: str, enqueued: frozenset[str]) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": dedupe_pk(key)}, "sk": {"S": "DEDUPE"}},
                UpdateExpression="SET #status = :failed, lease_until = :zero, enqueued = :enqueued",
                ConditionExpression="event_id = :event_id",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":failed": {"S": "failed"},
                    ":zero": {"N": "0"},
                    ":enqueued": to_value(sorted(enqueued)),
                    ":event_id": {"S": event_id},
                },
            )
        except AWS_ERRORS as error:
            raise StorageUnavailable(f"dedupe release failed: {_error_code(error)}") from error

    def accept(self, event: EventRecord, key: DedupeKey | None, *, expires_at: int) -> None:
        put = {"TableName": self._table, "Item": to_item(event_item(event, expires_at))}
        try:
            if key is None:
                self._client.put_item(**put)  # type: ignore[arg-type]
                return
            self._client.transact_write_items(
                TransactItems=[
                    {"Put": put},  # type: ignore[typeddict-item]
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": {"pk": {"S": dedupe_pk(key)}, "sk": {"S": "DEDUPE"}},
                            "UpdateExpression": "SET #status = :complete REMOVE lease_until",
                            "ConditionExpression": "event_id = :event_id",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {
                                ":complete": {"S": "complete"},
                                ":event_id": {"S": event.id},
                            },
                        }
                    },
                ]
            )
        except AWS_ERRORS as error:
            raise StorageUnavailable(f"recording the event failed: {_error_code(error)}") from error

    def record_attempt(self, attempt: AttemptRecord, *, expires_at: int) -> None:
        at = datetime.fromtimestamp(attempt.at, UTC).isoformat(timespec="milliseconds")
        values = attempt.model_dump(mode="json", exclude_none=True)
        item = {
            "pk": event_pk(attempt.event_id),
            # Sorted by subscription, then time; unique even when SQS redelivers.
            "sk": f"ATTEMPT#{attempt.subscription_id}#{at}#{attempt.attempt:04d}",
            "expires_at": expires_at,
            **time_keys("ATTEMPT", attempt.at, f"{attempt.event_id}#{attempt.subscription_id}"),
            **values,
        }
        try:
            self._client.put_item(TableName=self._table, Item=to_item(item))
        except AWS_ERRORS as error:
            raise StorageUnavailable(
                f"recording the attempt failed: {_error_code(error)}"
            ) from error

    def message_history(
        self, event_id: str, subscription_id: str, message_id: str
    ) -> list[AttemptRecord]:
        """The records of one SQS message (attempts and holds): its records in the event's
        partition, read strongly consistent (one query of a few small items)."""
        names = {f"#{n}": n for n in _HISTORY_ATTRIBUTES}
        items = query_all(
            self._client,
            "events table",
            TableName=self._table,
            ConsistentRead=True,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":pk": {"S": event_pk(event_id)},
                ":prefix": {"S": f"ATTEMPT#{subscription_id}#"},
            },
        )
        return [_attempt(item) for item in items if item.get("message_id") == message_id]

    def attempts(self, event_id: str, *, consistent: bool = False) -> list[AttemptRecord]:
        """Every attempt of an event, all subscriptions, in one query."""
        items = query_all(
            self._client,
            "events table",
            TableName=self._table,
            ConsistentRead=consistent,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": event_pk(event_id)},
                ":prefix": {"S": "ATTEMPT#"},
            },
        )
        return [_attempt(values) for values in items]

    def get_event(self, event_id: str) -> EventRecord | None:
        item = self._get(event_pk(event_id), "EVENT")
        if item is None:
            return None
        return _event(item)

    def events_since(
        self,
        since: float,
        *,
        source: str | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> list[EventSummary]:
        """Events received since ``since``, newest first; one source or all. With a
        ``limit``, reading stops once the newest ``limit`` are certain."""
        start = datetime.fromtimestamp(since, UTC).isoformat(timespec="milliseconds")
        if source is not None:
            items = [
                item
                for shard in range(SOURCE_SHARDS)
                for item in self._query_index(
                    "by_source", "gsi1pk", source_partition(source, shard), "gsi1sk", start, limit
                )
            ]
        else:
            items = self._by_time("EVENT", since, limit, progress)
        events = sorted((_summary(i) for i in items), key=lambda e: e.received_at, reverse=True)
        return events[:limit] if limit else events

    def attempts_since(self, since: float, progress: Progress | None = None) -> list[AttemptRecord]:
        return [_attempt(i) for i in self._by_time("ATTEMPT", since, None, progress)]

    def _by_time(
        self, kind: str, since: float, limit: int | None, progress: Progress | None
    ) -> list[dict[str, Any]]:
        """Day partitions newest first: once a day brings the count to ``limit``, older days
        can only hold older items."""
        start = datetime.fromtimestamp(since, UTC)
        today = datetime.now(UTC).date()
        days = (today - start.date()).days + 1
        items: list[dict[str, Any]] = []
        for back in range(days):
            day = today - timedelta(days=back)
            for shard in range(TIME_SHARDS):
                items += self._query_index(
                    "by_time",
                    "gsi2pk",
                    f"{kind}#{day:%Y-%m-%d}#{shard}",
                    "gsi2sk",
                    start.isoformat(timespec="milliseconds"),
                    limit,
                )
            if progress is not None:
                progress(back + 1, days)
            if limit and len(items) >= limit:
                break
        return items

    def _query_index(
        self, index: str, pk_name: str, pk: str, sk_name: str, start: str, limit: int | None
    ) -> list[dict[str, Any]]:
        return query_all(
            self._client,
            "events index",
            limit,
            TableName=self._table,
            IndexName=index,
            KeyConditionExpression=f"{pk_name} = :pk AND {sk_name} >= :start",
            ExpressionAttributeValues={":pk": {"S": pk}, ":start": {"S": start}},
            ScanIndexForward=False,
        )

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return get_item(self._client, self._table, pk, sk)


EVENT_KEY_ATTRIBUTES = (
    "pk",
    "sk",
    "gsi1pk",
    "gsi1sk",
    "gsi2pk",
    "gsi2sk",
    "expires_at",
    "received_at_iso",
)


def _attempt(values: dict[str, Any]) -> AttemptRecord:
    return AttemptRecord.model_validate(
        {k: v for k, v in values.items() if k not in EVENT_KEY_ATTRIBUTES}
    )


def _event(values: dict[str, Any]) -> EventRecord:
    return EventRecord.model_validate(
        {k: v for k, v in values.items() if k not in EVENT_KEY_ATTRIBUTES}
    )


def _summary(values: dict[str, Any]) -> EventSummary:
    """An event as the listing indexes carry it (``LISTED_ATTRIBUTES``)."""
    return EventSummary.model_validate(
        {k: v for k, v in values.items() if k in EventSummary.model_fields}
    )


def source_partition(source: str, shard: int) -> str:
    """``by_source`` partition key. Shard 0 keeps the unsharded key events were first
    written under, so they stay listed."""
    return f"SOURCE#{source}" if shard == 0 else f"SOURCE#{source}#{shard}"


def time_keys(kind: str, at: float, item_id: str) -> dict[str, str]:
    """``by_time`` index keys: a day partition, sharded by the item's id."""
    moment = datetime.fromtimestamp(at, UTC)
    shard = shard_of(item_id, TIME_SHARDS)
    return {
        "gsi2pk": f"{kind}#{moment:%Y-%m-%d}#{shard}",
        "gsi2sk": f"{moment.isoformat(timespec='milliseconds')}#{item_id}",
    }


def event_item(event: EventRecord, expires_at: int) -> dict[str, Any]:
    received = datetime.fromtimestamp(event.received_at, UTC).isoformat(timespec="milliseconds")
    values = event.model_dump(mode="python", exclude_none=True)
    return {
        "pk": event_pk(event.id),
        "sk": "EVENT",
        "gsi1pk": source_partition(event.source, shard_of(event.id, SOURCE_SHARDS)),
        "gsi1sk": f"{received}#{event.id}",
        "received_at_iso": received,
        "expires_at": expires_at,
        **time_keys("EVENT", event.received_at, event.id),
        **values,
    }
