"""Handlers in process under moto's ``mock_aws``, with the stack's resources provisioned.

The functions are built as the local stack builds them (``hookhaven.wiring``), around
the mocked resources (the ``aws`` fixture, in tests/conftest.py): a test changes a setting
by overriding the ``tunables`` fixture or by building its own function with
``make_receiver``/``make_dispatcher``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from functions.dispatcher import DispatcherFunction
from functions.receiver import ReceiverFunction
from hookhaven import wiring
from hookhaven.dispatch import Poster
from hookhaven.local.iam import Policy
from hookhaven.permissions import Role
from hookhaven.resources import Resources
from hookhaven.tunables import Tunables
from tests.integration.helpers import Atomic


def function_settings(
    tunables: Tunables, aws: Resources, *, allow_loopback: bool = False, **changes: Any
) -> wiring.FunctionSettings:
    """The function's settings; sources and subscriptions are read afresh on every request."""
    changed = tunables.model_copy(update={"source_cache_seconds": 0, **changes})
    return wiring.FunctionSettings.of(changed, aws, allow_loopback=allow_loopback)


@pytest.fixture
def iam_policies() -> Iterator[list[Policy]]:
    """The functions' IAM (``hookhaven.local.iam``): after the test, none may have refused
    a call, for AWS would have refused it too."""
    policies: list[Policy] = []
    yield policies
    denied = [message for policy in policies for message in policy.denied]
    assert not denied, f"calls the deployed roles would refuse: {denied}"


@pytest.fixture
def make_receiver(
    aws: Resources, tunables: Tunables, iam_policies: list[Policy]
) -> Callable[..., ReceiverFunction]:
    """``make_receiver(max_body_bytes=2048)``: a receiver with changed settings, told of
    and allowed what the deployed receiver is."""

    def make(**changes: Any) -> ReceiverFunction:
        # As deployed: the receiver is not told where the DLQ is.
        settings = function_settings(tunables, replace(aws, dead_letter_queue_url=None), **changes)
        policy = Policy(Role.RECEIVER, aws, customer_managed_key=tunables.customer_managed_key)
        iam_policies.append(policy)
        clients = wiring.AwsClients.create(wiring.RECEIVER_CLIENT_CONFIG).wrapped(policy.attach)
        return ReceiverFunction(wiring.build_receiver(settings, clients))

    return make


@pytest.fixture
def receiver_function(make_receiver: Callable[..., ReceiverFunction]) -> ReceiverFunction:
    """The receiver handler against the mocked resources."""
    return make_receiver()


@pytest.fixture
def make_dispatcher(
    aws: Resources, tunables: Tunables, iam_policies: list[Policy]
) -> Callable[..., DispatcherFunction]:
    """``make_dispatcher(allow_loopback=False, sender=...)``: a dispatcher of its own,
    allowed what the deployed dispatcher is."""

    def make(
        *, allow_loopback: bool = True, sender: Poster | None = None, **changes: Any
    ) -> DispatcherFunction:
        settings = function_settings(tunables, aws, allow_loopback=allow_loopback, **changes)
        policy = Policy(
            Role.DISPATCHER,
            aws,
            customer_managed_key=tunables.customer_managed_key,
            operational_events_bus=settings.operational_events_bus_name,
        )
        iam_policies.append(policy)
        # DynamoDB calls made whole, as DynamoDB makes them: the dispatcher's threads race
        # for rate slots, leases and probes, and moto in process would let two win.
        clients = wiring.AwsClients.create(wiring.dispatcher_client_config(settings)).wrapped(
            lambda client: _whole_if_dynamodb(policy.attach(client))
        )
        dispatcher = wiring.build_dispatcher(settings, clients, sender=sender)
        return DispatcherFunction(dispatcher, settings)

    return make


def _whole_if_dynamodb(client: Any) -> Any:
    return Atomic(client) if client.meta.service_model.service_name == "dynamodb" else client


@pytest.fixture
def dispatcher_function(make_dispatcher: Callable[..., DispatcherFunction]) -> DispatcherFunction:
    """The dispatcher handler against the mocked resources, allowed to reach loopback."""
    return make_dispatcher()
