"""The whole relay on one machine: moto server, the ingest API, and the dispatcher poller.

The receiver and dispatcher are the same handler modules Lambda runs, imported
with the local resources in their environment. The emulator holds the stack's
tables, queues (same redrive policy) and bucket, created from the shapes the
CDK constructs use.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from hookhaven.aws import clients
from hookhaven.local.api import LocalApi
from hookhaven.local.chaos import FlakyClient
from hookhaven.local.poller import QueuePoller
from hookhaven.local.provision import Provisioned, provision
from hookhaven.tunables import Tunables

LOCAL_REGION = "us-east-1"
#: --fast-retries: five attempts within about ten seconds, to watch retries and the DLQ.
FAST_RETRY_SCHEDULE = ("0s", "1s", "2s", "3s", "4s")
CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"


class PortInUse(Exception):
    pass


def local_session() -> boto3.Session:
    """A boto3 session for the emulator: any credentials do, so none are needed."""
    return boto3.Session(
        aws_access_key_id="hookhaven-local",
        aws_secret_access_key="hookhaven-local",  # noqa: S106 (the emulator ignores it)
        region_name=LOCAL_REGION,
    )


def project_tunables(*, fast_retries: bool = False) -> Tunables:
    """The settings of ``cdk.json`` (when run from a checkout), as the deployed stack has them."""
    context: dict[str, Any] = {}
    if CDK_JSON.exists():
        context = json.loads(CDK_JSON.read_text()).get("context", {}).get("hookhaven", {})
    if fast_retries:
        context = {**context, "retry_schedule": list(FAST_RETRY_SCHEDULE), "retry_jitter": 0}
    # Locally, a source or subscription added with the CLI takes effect within a second.
    context = {**context, "source_cache_seconds": 1}
    return Tunables.from_context(context)


def ensure_free(port: int, option: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {port} is already in use (another local stack?): "
                    f"pick another with {option}"
                ) from None
            raise


class LocalStack:
    def __init__(
        self,
        *,
        api_port: int = 3000,
        aws_port: int = 4566,
        tunables: Tunables | None = None,
        pollers: int = 2,
        verbose: bool = False,
        aws_failure_rate: float = 0.0,
        say: Callable[[str], None] = print,
    ) -> None:
        self.api_port = api_port
        self.aws_port = aws_port
        self.tunables = tunables or project_tunables()
        self.pollers = pollers
        #: Chaos: this share of the receiver's AWS calls fail with throttling errors.
        self.aws_failure_rate = aws_failure_rate
        self.verbose = verbose
        self.say = say
        self.resources: Provisioned | None = None
        self.api: LocalApi | None = None
        self.receiver: ModuleType | None = None
        self.dispatcher: ModuleType | None = None
        #: One dispatcher module per poller, ``dispatcher`` first.
        self.dispatchers: list[ModuleType] = []
        self._moto: Any = None
        self._stop = threading.Event()
        self._saved_environment: dict[str, str | None] = {}
        self._threads: list[threading.Thread] = []

    @property
    def aws_url(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> LocalStack:
        ensure_free(self.aws_port, "--aws-port")
        ensure_free(self.api_port, "--api-port")
        # The emulator runs in its own process: it gets the second core instead of
        # fighting the handlers for this one's GIL, and its request log stays out of sight.
        self._moto = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [
                sys.executable,
                "-m",
                "hookhaven.local.emulator",
                "-H",
                "127.0.0.1",
                "-p",
                str(self.aws_port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._wait_for_emulator()
        self._set_environment(self._environment())
        session = local_session()
        self.resources = provision(
            dynamodb=session.client("dynamodb", endpoint_url=self.aws_url),
            sqs=session.client("sqs", endpoint_url=self.aws_url),
            s3=session.client("s3", endpoint_url=self.aws_url),
            tunables=self.tunables,
        )
        self._set_environment(self.resources.environment())
        if self.aws_failure_rate:
            rate = self.aws_failure_rate
            with clients.wrapping(lambda client: FlakyClient(client, rate)):
                self.receiver = _fresh("functions.receiver")
        else:
            self.receiver = _fresh("functions.receiver")
        self.dispatcher = _fresh("functions.dispatcher")
        # Lambda runs one invocation at a time in an execution environment, and concurrent
        # batches in separate ones. So does each poller here: its own copy of the dispatcher
        # module (its own batch processor, thread pool and clients). One module shared by
        # concurrent pollers would mix their batches' results and delete retried messages.
        dispatchers = [self.dispatcher]
        dispatchers += [_instance("functions.dispatcher") for _ in range(1, self.pollers)]
        self.dispatchers = dispatchers
        if not self.verbose:
            for module in (self.receiver, *dispatchers):
                _quiet_metrics(module.metrics)
        self.api = LocalApi(
            self.receiver.handler, port=self.api_port, max_body_bytes=self.tunables.max_body_bytes
        ).start()
        sqs = session.client("sqs", endpoint_url=self.aws_url)
        for index, dispatcher in enumerate(dispatchers):
            poller = QueuePoller(
                sqs,
                self.resources.deliveries_queue_url,
                dispatcher.handler,
                batch_size=self.tunables.batch_size,
                wait_seconds=1,
            )
            thread = threading.Thread(
                target=self._poll, args=(poller,), name=f"poller-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "hookhaven-local",
            "AWS_SECRET_ACCESS_KEY": "hookhaven-local",
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_REGION": LOCAL_REGION,
            "HOOKHAVEN_AWS_ENDPOINT_URL": self.aws_url,
            "HOOKHAVEN_ALLOW_LOOPBACK": "true",
            "POWERTOOLS_SERVICE_NAME": self.tunables.service_name,
            "POWERTOOLS_METRICS_NAMESPACE": "HookHaven",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "INFO" if self.verbose else "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "false" if self.verbose else "true",
            **self.tunables.function_environment(),
        }

    def _wait_for_emulator(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self._moto.poll() is not None:
                raise RuntimeError(
                    f"the AWS emulator (moto) exited with status {self._moto.returncode}; "
                    "is moto[server] installed? (make dev installs it)"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.aws_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the AWS emulator did not start on port {self.aws_port}")

    def _set_environment(self, values: dict[str, str]) -> None:
        # The handlers read their settings from the environment, as in Lambda; stop() puts
        # back what was there before, so an in-process stack leaves no trace.
        for name, value in values.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _poll(self, poller: QueuePoller) -> None:
        while not self._stop.is_set():
            try:
                result = poller.poll_once()
            except Exception as error:  # the emulator going away on shutdown, mostly
                if self._stop.is_set():
                    return
                self.say(f"poller: {error}")
                time.sleep(1)
                continue
            if result.error is not None:
                self.say(f"dispatcher raised; the batch stays queued: {result.error!r}")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.api is not None:
            self.api.stop()
        if self._moto is not None:
            self._moto.terminate()
            try:
                self._moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._moto.kill()
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()


def _die_with_parent() -> None:
    """In the emulator's process: get SIGTERM when the stack's process dies, however it dies."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _quiet_metrics(metrics: Any) -> None:
    """Drop the EMF lines CloudWatch would collect; locally they only flood the console."""
    provider = getattr(metrics, "provider", metrics)
    provider.flush_metrics = lambda *args, **kwargs: provider.clear_metrics()


def _fresh(name: str) -> ModuleType:
    module = importlib.import_module(name)
    return importlib.reload(module)


def _instance(name: str) -> ModuleType:
    """One more execution environment of a function: its module run again, as a new object."""
    spec = importlib.util.find_spec(name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
