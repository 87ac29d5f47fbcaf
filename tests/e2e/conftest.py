"""The local stack, started in process on free ports, driven over HTTP and the CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hookhaven.local.stack import LocalStack, project_tunables
from tests.conftest import function_logs
from tests.emulator import free_port


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
