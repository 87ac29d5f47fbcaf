"""Delivery control's DynamoDB state under moto, through the dispatcher's own IAM grants:
every expression the store sends must be one DynamoDB accepts, and one the policy allows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, cast

import boto3
import pytest

from hookhaven.aws.control import DynamoControlStore
from hookhaven.local.iam import Policy
from hookhaven.permissions import Role
from tests.integration.helpers import Atomic

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NOW = 1_795_881_600.0


@pytest.fixture
def store(aws):
    policy = Policy(Role.DISPATCHER, aws, customer_managed_key=False)
    client = policy.attach(boto3.client("dynamodb"))
    yield DynamoControlStore(cast("DynamoDBClient", Atomic(client)), aws.events_table)
    assert policy.denied == []


def test_rate_slots_are_spaced_and_start_afresh_when_idle(store):
    slots = [store.reserve_slot("sub_1", NOW, 0.25) for _ in range(5)]
    assert slots == pytest.approx([NOW, NOW + 0.25, NOW + 0.5, NOW + 0.75, NOW + 1.0])
    # Idle for a minute: the next slot is now, not one in the past.
    assert store.reserve_slot("sub_1", NOW + 60, 0.25) == pytest.approx(NOW + 60)
    assert store.reserve_slot("sub_2", NOW, 1) == pytest.approx(NOW)  # its own bucket


def test_concurrent_dispatchers_never_share_a_slot(store):
    with ThreadPoolExecutor(8) as pool:
        slots = list(pool.map(lambda _: store.reserve_slot("sub_1", NOW, 0.1), range(40)))
    assert sorted(round(s - NOW, 3) for s in slots) == [round(0.1 * k, 3) for k in range(40)]


def test_leases_cap_what_is_in_flight_and_expired_ones_are_reclaimed(store):
    assert store.acquire_lease("sub_1", "a", now=NOW, expires_at=NOW + 30, maximum=2)
    assert store.acquire_lease("sub_1", "b", now=NOW, expires_at=NOW + 20, maximum=2)
    assert not store.acquire_lease("sub_1", "c", now=NOW, expires_at=NOW + 30, maximum=2)
    store.release_lease("sub_1", "a")
    assert store.acquire_lease("sub_1", "c", now=NOW, expires_at=NOW + 30, maximum=2)
    # b's invocation died: once its lease has expired, its place is free again.
    assert not store.acquire_lease("sub_1", "d", now=NOW + 10, expires_at=NOW + 40, maximum=2)
    assert store.acquire_lease("sub_1", "d", now=NOW + 21, expires_at=NOW + 51, maximum=2)


def test_the_circuit_opens_once_probes_once_and_closes(store):
    for n in range(1, 4):
        circuit = store.record_failure("sub_1", now=NOW + n, failure="status_5xx")
    assert circuit.failures == 3
    assert circuit.failing_since == NOW + 1
    assert not circuit.is_open
    with ThreadPoolExecutor(4) as pool:
        opened = list(
            pool.map(
                lambda _: store.open_circuit("sub_1", now=NOW + 3, probe_at=NOW + 33, interval=30),
                range(4),
            )
        )
    assert opened.count(True) == 1
    circuit = store.circuit("sub_1")
    assert circuit.is_open
    assert circuit.probe_at == NOW + 33
    assert not store.take_probe("sub_1", now=NOW + 10, lease_until=NOW + 35)  # not due
    with ThreadPoolExecutor(4) as pool:
        taken = list(
            pool.map(
                lambda _: store.take_probe("sub_1", now=NOW + 34, lease_until=NOW + 59), range(4)
            )
        )
    assert taken.count(True) == 1
    assert store.circuit("sub_1").probing(NOW + 40)
    store.next_probe("sub_1", probe_at=NOW + 100, interval=60, lease_until=NOW + 59)
    circuit = store.circuit("sub_1")
    assert circuit.probe_at == NOW + 100
    assert not circuit.probing(NOW + 40)
    before = store.record_success("sub_1")
    assert before is not None
    assert before.is_open
    assert store.record_success("sub_1") is None  # nothing left to reset
    assert store.circuit("sub_1").failures == 0
    assert not store.circuit("sub_1").is_open


def test_reset_forgets_everything(store, aws):
    store.record_failure("sub_1", now=NOW, failure="timeout")
    store.reserve_slot("sub_1", NOW, 1)
    store.acquire_lease("sub_1", "a", now=NOW, expires_at=NOW + 30, maximum=1)
    # The operator's CLI resets it (its own credentials, not the dispatcher's grants).
    DynamoControlStore(boto3.client("dynamodb"), aws.events_table).reset("sub_1")
    assert store.circuit("sub_1").failures == 0
    assert store.acquire_lease("sub_1", "b", now=NOW, expires_at=NOW + 30, maximum=1)
