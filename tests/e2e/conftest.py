"""The local stack, started in process on free ports, driven over HTTP and the CLI."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from hookhaven.local.stack import LocalStack, project_tunables
from tests.conftest import function_logs


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    mp = pytest.MonkeyPatch()
    local = LocalStack(
        api_port=free_port(),
        aws_port=free_port(),
        tunables=project_tunables(fast_retries=True),
        say=lambda line: None,
    )
    local.start()
    # The functions log to stdout; here that is the CLI's stdout under test, so keep them apart.
    mp.setenv("HOOKHAVEN_ENDPOINT_URL", local.aws_url)
    mp.setenv("AWS_ENDPOINT_URL", local.aws_url)
    with function_logs():
        yield local
    local.stop()
    mp.undo()
    # Every call the functions made is one their deployed roles allow.
    denied = [message for policy in local.policies for message in policy.denied]
    assert not denied, f"calls the deployed roles would refuse: {denied}"
