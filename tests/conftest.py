"""Fixtures shared by every test folder."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hookhaven import telemetry
from hookhaven.resources import Resources
from hookhaven.tunables import Tunables

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

#: Stand-in names of a deployment's resources (the local stack's).
RESOURCES = Resources(
    config_table="hookhaven-config",
    events_table="hookhaven-events",
    deliveries_queue_url="http://127.0.0.1:4566/000000000000/hookhaven-deliveries",
    dead_letter_queue_url="http://127.0.0.1:4566/000000000000/hookhaven-dlq",
    bodies_bucket="hookhaven-bodies",
)
#: AWS's settings, as a deployed function and the CLI find them: a region, credentials.
AWS_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
#: What a deployed function finds in its environment (names are the local stack's).
FUNCTION_ENVIRONMENT = {
    **AWS_ENVIRONMENT,
    "POWERTOOLS_SERVICE_NAME": "hookhaven",
    "POWERTOOLS_METRICS_NAMESPACE": telemetry.NAMESPACE,
    "POWERTOOLS_TRACE_DISABLED": "true",
    **RESOURCES.to_env(),
}


@contextlib.contextmanager
def function_logs(
    stream: io.StringIO | None = None, *, level: str | None = None
) -> Iterator[io.StringIO]:
    """The functions' JSON log lines go to ``stream`` (a new StringIO unless given), at
    ``level`` if given, until the block ends."""
    from functions.dispatcher import logger as dispatcher_logger
    from functions.receiver import logger as receiver_logger

    stream = stream if stream is not None else io.StringIO()
    undo: list[Callable[[], Any]] = []
    for logger in (receiver_logger, dispatcher_logger):
        handler = logger.registered_handler
        assert isinstance(handler, logging.StreamHandler)
        undo.append(functools.partial(handler.setStream, handler.setStream(stream)))
        if level is not None:
            undo.append(functools.partial(logger.setLevel, logger.log_level))
            logger.setLevel(level)
    try:
        yield stream
    finally:
        for step in reversed(undo):
            step()


@pytest.fixture
def tunables() -> Tunables:
    """The stack's settings; a test module overrides this fixture to change them."""
    return Tunables()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tunables: Tunables) -> Iterator[Resources]:
    """The stack's tables, queues and bucket under moto's ``mock_aws``, in process: no
    network, so unit tests may use it too."""
    import boto3
    from moto import mock_aws

    from hookhaven.local.provision import provision

    for name, value in AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield provision(
            dynamodb=boto3.client("dynamodb"),
            sqs=boto3.client("sqs"),
            s3=boto3.client("s3"),
            tunables=tunables,
        )


@pytest.fixture(scope="session")
def load_event() -> Callable[[str], dict[str, Any]]:
    """Load a sample event from ``events/`` by its relative path, e.g. ``http/webhook_post``."""

    def load(name: str) -> dict[str, Any]:
        path = EVENTS / (name if name.endswith(".json") else f"{name}.json")
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    return load


class FakeLambdaContext:
    function_name = "hookhaven-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:hookhaven-test"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/hookhaven-test"
    log_stream_name = "2026/11/28/[$LATEST]0000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


class ForbiddenNetworkAccess(RuntimeError):
    pass


def _loopback_only(original: Any) -> Any:
    """Wrap socket.connect: tests may reach 127.0.0.0/8 and ::1, never a real AWS endpoint."""
    import ipaddress

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                allowed = ipaddress.ip_address(host).is_loopback
            except ValueError:
                allowed = host == "localhost"
            if not allowed:
                raise ForbiddenNetworkAccess(f"tests may only connect to loopback, not {host}")
        return original(self, address)

    return connect


def _no_public_dns(original: Any) -> Any:
    """Wrap getaddrinfo: numeric addresses and localhost only, so no name leaks to a resolver."""
    import ipaddress

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host not in (None, "localhost"):
            try:
                ipaddress.ip_address(str(host).split("%", 1)[0])
            except ValueError:
                # inet_aton forms (2130706433, 0x7f.1) are numeric too, and resolve offline.
                try:
                    socket.inet_aton(str(host))
                except OSError:
                    raise ForbiddenNetworkAccess(f"tests may not resolve {host}") from None
        return original(host, *args, **kwargs)

    return getaddrinfo


def pytest_configure(config: pytest.Config) -> None:
    socket.socket.connect = _loopback_only(socket.socket.connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = _loopback_only(socket.socket.connect_ex)  # type: ignore[method-assign]
    socket.getaddrinfo = _no_public_dns(socket.getaddrinfo)
