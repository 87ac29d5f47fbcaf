"""Handlers in process under moto's ``mock_aws``, with the stack's resources provisioned."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType

import boto3
import pytest
from moto import mock_aws

from hookhaven.local.provision import Provisioned, provision
from hookhaven.tunables import Tunables
from tests.conftest import FUNCTION_ENVIRONMENT


@pytest.fixture
def tunables() -> Tunables:
    """The stack's settings; a test module overrides this fixture to change them."""
    return Tunables()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tunables: Tunables) -> Iterator[Provisioned]:
    for name, value in FUNCTION_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for name, value in tunables.function_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HOOKHAVEN_AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        resources = provision(
            dynamodb=boto3.client("dynamodb"),
            sqs=boto3.client("sqs"),
            s3=boto3.client("s3"),
            tunables=tunables,
        )
        for name, value in resources.environment().items():
            monkeypatch.setenv(name, value)
        yield resources


@pytest.fixture
def receiver_module(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``functions.receiver`` freshly imported against the mocked resources."""
    monkeypatch.setenv("HOOKHAVEN_SOURCE_CACHE_SECONDS", "0")
    import functions.receiver

    return importlib.reload(functions.receiver)


@pytest.fixture
def dispatcher_module(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``functions.dispatcher`` against the mocked resources, allowed to reach loopback."""
    monkeypatch.setenv("HOOKHAVEN_SOURCE_CACHE_SECONDS", "0")
    monkeypatch.setenv("HOOKHAVEN_ALLOW_LOOPBACK", "true")
    import functions.dispatcher

    return importlib.reload(functions.dispatcher)
