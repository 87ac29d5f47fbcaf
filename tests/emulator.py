"""The local stack's emulator (``python -m hookhaven.local.emulator``) in a process of its
own, on a free loopback port, for tests that talk to it over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def emulator(environment: dict[str, str] | None = None) -> Iterator[str]:
    """The emulator's URL while it runs (``environment`` is added to this process's)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hookhaven.local.emulator", "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(environment or {})},
    )
    try:
        wait_until_listening(process, port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_until_listening(
    process: subprocess.Popen[bytes],
    port: int,
    exited: Callable[[], str] = lambda: "the emulator exited",
) -> None:
    """Until ``process`` accepts connections on ``port`` (30 s at most); ``exited`` says
    why, should it exit first."""
    deadline = time.time() + 30
    while True:
        assert process.poll() is None, exited()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            assert time.time() < deadline, "the emulator did not start"
            time.sleep(0.1)
