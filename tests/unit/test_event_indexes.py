"""The listing indexes cannot throttle ingest: sharded partitions, index entries without bodies.

One index partition takes 1,000 write units a second and an index that throttles throttles
its table (AWS, DynamoDB Developer Guide, "Partitions and data distribution" and "GSI write
throttling"). Every event of a source used to share one ``by_source`` partition and copy
its body into it: about 50 events a second of 20 KB.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import boto3
import pytest
from moto import mock_aws

from hookhaven.aws.dynamodb import DynamoEventStore, event_item
from hookhaven.aws.items import to_item
from hookhaven.ids import new_event_id
from hookhaven.local.provision import provision
from hookhaven.models import EventRecord
from hookhaven.resources import EVENTS_TABLE, LISTED_ATTRIBUTES, SOURCE_SHARDS, TIME_SHARDS
from hookhaven.tunables import Tunables

KEYS = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")


def event(source: str = "bookhaven", body: bytes = b"{}", at: float | None = None) -> EventRecord:
    now = time.time() if at is None else at
    return EventRecord(
        id=new_event_id(now),
        source=source,
        event_type="order.created",
        provider_event_id=None,
        received_at=now,
        content_type="application/json",
        headers={"content-type": "application/json"},
        body_size=len(body),
        body_sha256="0" * 64,
        body=body,
        subscriptions=("sub_01JDQ4Z6Y8M0000000000000AA", "sub_01JDQ4Z6Y8M0000000000000AB"),
    )


def test_one_sources_events_spread_over_every_shard_evenly():
    partitions = Counter(event_item(event(), 0)["gsi1pk"] for _ in range(4000))
    assert len(partitions) == SOURCE_SHARDS
    assert max(partitions.values()) < 2 * 4000 / SOURCE_SHARDS


def test_an_index_entry_costs_one_write_unit_whatever_the_body():
    item = event_item(event(body=b"x" * 60_000), 0)
    listed = {k: v for k, v in item.items() if k in LISTED_ATTRIBUTES or k in KEYS}
    assert "body" not in listed
    # DynamoDB sizes an item by its attribute names and values; 1 KB is one write unit.
    assert len(json.dumps(to_item(listed))) < 1024


def test_both_listing_indexes_carry_only_the_listed_attributes():
    for index in EVENTS_TABLE.indexes:
        assert index.projected == LISTED_ATTRIBUTES, index.name
        assert "body" not in index.projected
        assert "headers" not in index.projected


@pytest.fixture
def store(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        client = boto3.client("dynamodb")
        resources = provision(
            dynamodb=client, sqs=boto3.client("sqs"), s3=boto3.client("s3"), tunables=Tunables()
        )
        yield DynamoEventStore(client, resources.events_table)


def test_a_sources_events_are_listed_from_every_shard_newest_first(store):
    now = time.time()
    kept = [event(at=now - n) for n in range(40)]
    for record in [*kept, event(source="other", at=now)]:
        store.accept(record, None, expires_at=int(now) + 3600)
    listed = store.events_since(now - 3600, source="bookhaven")
    assert [e.id for e in listed] == [e.id for e in kept]
    newest = store.events_since(now - 3600, source="bookhaven", limit=5)
    assert [e.id for e in newest] == [e.id for e in kept[:5]]
    assert len(store.events_since(now - 3600)) == 41
    assert {e.source for e in store.events_since(now - 3600, limit=100)} == {"bookhaven", "other"}
    assert TIME_SHARDS > 1


def test_events_written_before_sharding_are_still_listed(store):
    """Shard 0's key is the one every event was written under before."""
    now = time.time()
    old = event(at=now - 60)
    item = event_item(old, int(now) + 3600)
    item["gsi1pk"] = "SOURCE#bookhaven"
    store._client.put_item(TableName=store._table, Item=to_item(item))
    assert [e.id for e in store.events_since(now - 3600, source="bookhaven")] == [old.id]


def test_an_event_without_a_provider_id_reads_back_whole(store):
    """Items leave out what is None; reading one back must not require it."""
    kept = event()
    assert kept.provider_event_id is None
    store.accept(kept, None, expires_at=int(time.time()) + 3600)
    assert store.get_event(kept.id) == kept
