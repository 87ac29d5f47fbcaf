"""Handlers in process under moto's ``mock_aws``, with the stack's resources provisioned.

The functions are built as the local stack builds them (``hookhaven.wiring``), around
the mocked resources (the ``aws`` fixture, in tests/conftest.py): a test changes a setting
by overriding the ``tunables`` fixture or by building its own function with
``make_receiver``/``make_dispatcher``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from functions.dispatcher import DispatcherFunction
from functions.receiver import ReceiverFunction
from hookhaven import wiring
from hookhaven.dispatch import Poster
from hookhaven.resources import Resources
from hookhaven.tunables import Tunables


def function_settings(
    tunables: Tunables, aws: Resources, *, allow_loopback: bool = False, **changes: Any
) -> wiring.FunctionSettings:
    """The function's settings; sources and subscriptions are read afresh on every request."""
    changed = tunables.model_copy(update={"source_cache_seconds": 0, **changes})
    return wiring.FunctionSettings.of(changed, aws, allow_loopback=allow_loopback)


@pytest.fixture
def make_receiver(aws: Resources, tunables: Tunables) -> Callable[..., ReceiverFunction]:
    """``make_receiver(max_body_bytes=2048)``: a receiver with changed settings."""

    def make(**changes: Any) -> ReceiverFunction:
        settings = function_settings(tunables, aws, **changes)
        clients = wiring.AwsClients.create(wiring.RECEIVER_CLIENT_CONFIG)
        return ReceiverFunction(wiring.build_receiver(settings, clients))

    return make


@pytest.fixture
def receiver_function(make_receiver: Callable[..., ReceiverFunction]) -> ReceiverFunction:
    """The receiver handler against the mocked resources."""
    return make_receiver()


@pytest.fixture
def make_dispatcher(aws: Resources, tunables: Tunables) -> Callable[..., DispatcherFunction]:
    """``make_dispatcher(allow_loopback=False, sender=...)``: a dispatcher of its own."""

    def make(
        *, allow_loopback: bool = True, sender: Poster | None = None, **changes: Any
    ) -> DispatcherFunction:
        settings = function_settings(tunables, aws, allow_loopback=allow_loopback, **changes)
        clients = wiring.AwsClients.create(wiring.dispatcher_client_config(settings))
        dispatcher = wiring.build_dispatcher(settings, clients, sender=sender)
        return DispatcherFunction(dispatcher, settings)

    return make


@pytest.fixture
def dispatcher_function(make_dispatcher: Callable[..., DispatcherFunction]) -> DispatcherFunction:
    """The dispatcher handler against the mocked resources, allowed to reach loopback."""
    return make_dispatcher()
