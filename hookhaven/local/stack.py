"""The whole relay on one machine: moto server, the ingest API, and the dispatcher poller.

The receiver and dispatcher are the same handlers Lambda runs, built through
``hookhaven.wiring`` with the local resources and clients pointed at the emulator.
The emulator holds the stack's tables, queues (same redrive policy) and bucket,
created from the shapes the CDK constructs use; and, while operational events are on,
their bus with a rule sending them to a queue, which ``hookhaven dev`` prints from.
"""

from __future__ import annotations

import errno
import functools
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from hookhaven import wiring
from hookhaven.aws.sessions import new_session
from hookhaven.local.api import LocalApi
from hookhaven.local.chaos import FlakyClient
from hookhaven.local.emulator import compat
from hookhaven.local.iam import Policy
from hookhaven.local.poller import QueuePoller
from hookhaven.local.provision import provision, provision_operational_events
from hookhaven.permissions import Role
from hookhaven.resources import Resources
from hookhaven.tunables import Tunables

if TYPE_CHECKING:
    from functions.dispatcher import DispatcherFunction
    from functions.receiver import ReceiverFunction

LOCAL_REGION = "us-east-1"
#: --fast-retries: five attempts within about ten seconds, to watch retries and the DLQ.
FAST_RETRY_SCHEDULE = ("0s", "1s", "2s", "3s", "4s")
CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"


class PortInUse(Exception):
    pass


def local_session() -> boto3.Session:
    """A boto3 session for the emulator: any credentials do, so none are needed."""
    return new_session(
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
        context = {
            **context,
            "retry_schedule": list(FAST_RETRY_SCHEDULE),
            "retry_jitter": 0,
            # A circuit that opens probes within seconds, not half a minute.
            "circuit_probe_seconds": "5s",
            "circuit_probe_max_seconds": "20s",
        }
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
        watch_operational_events: bool = False,
        say: Callable[[str], None] = print,
    ) -> None:
        self.api_port = api_port
        self.aws_port = aws_port
        self.tunables = tunables or project_tunables()
        self.pollers = pollers
        #: Chaos: this share of the receiver's AWS calls fail with throttling errors.
        self.aws_failure_rate = aws_failure_rate
        self.verbose = verbose
        #: Say each operational event as it reaches the local rule's queue (``hookhaven dev``).
        self.watch_operational_events = watch_operational_events
        self.say = say
        self.resources: Resources | None = None
        #: The queue the local rule sends operational events to; None while they are off.
        self.operational_events_queue_url: str | None = None
        self.api: LocalApi | None = None
        self.receiver: ReceiverFunction | None = None
        #: One dispatcher per poller: each its own execution environment.
        self.dispatchers: list[DispatcherFunction] = []
        #: The clients that fail on purpose (chaos), to count what they injected.
        self.flaky: list[FlakyClient] = []
        #: Each function's IAM, as deployed: what it refused is a call AWS would refuse.
        self.policies: list[Policy] = []
        self._moto: Any = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._restore: list[Callable[[], None]] = []

    @property
    def aws_url(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> LocalStack:
        from functions import dispatcher, receiver

        compat.require_moto()  # one line saying what to install, before anything starts
        compatibility = compat.check(targets=False)
        if not compatibility.ok:
            # The emulator says so too, but on a stderr nobody sees.
            self.say(compatibility.message)
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
        session = local_session()
        self.resources = provision(
            dynamodb=session.client("dynamodb", endpoint_url=self.aws_url),
            sqs=session.client("sqs", endpoint_url=self.aws_url),
            s3=session.client("s3", endpoint_url=self.aws_url),
            tunables=self.tunables,
        )
        bus = self.tunables.operational_events_bus_name
        if bus is not None:
            self.operational_events_queue_url = provision_operational_events(
                events=session.client("events", endpoint_url=self.aws_url),
                sqs=session.client("sqs", endpoint_url=self.aws_url),
                bus=bus,
            )
        settings = wiring.FunctionSettings.of(self.tunables, self.resources, allow_loopback=True)
        for function_logger in (receiver.logger, dispatcher.logger):
            self._quiet_logs(function_logger)
        if not self.verbose:
            for function_metrics in (receiver.metrics, dispatcher.metrics):
                self._quiet_metrics(function_metrics)

        # Each function's calls are judged by the grants its deployed role has.
        receiver_policy = self._policy(Role.RECEIVER)
        dispatcher_policy = self._policy(Role.DISPATCHER)
        receiving = self._clients(wiring.RECEIVER_CLIENT_CONFIG).wrapped(receiver_policy.attach)
        if self.aws_failure_rate:
            rate = self.aws_failure_rate

            def flaky(client: Any) -> FlakyClient:
                self.flaky.append(FlakyClient(client, rate))
                return self.flaky[-1]

            receiving = receiving.wrapped(flaky)
        receiver_settings = settings.model_copy(
            update={"resources": replace(self.resources, dead_letter_queue_url=None)}
        )
        self.receiver = receiver.ReceiverFunction(
            wiring.build_receiver(receiver_settings, receiving)
        )
        # Lambda runs one invocation at a time in an execution environment, and concurrent
        # batches in separate ones. So does each poller here: its own dispatcher (batch
        # processor, thread pool and clients). One shared by concurrent pollers would mix
        # their batches' results and delete retried messages.
        self.dispatchers = [
            dispatcher.DispatcherFunction(
                wiring.build_dispatcher(
                    settings,
                    self._clients(wiring.dispatcher_client_config(settings)).wrapped(
                        dispatcher_policy.attach
                    ),
                ),
                settings,
            )
            for _ in range(self.pollers)
        ]
        self.api = LocalApi(self.receiver.handler, port=self.api_port).start()
        # The event source mapping polls with the dispatcher's role.
        sqs = dispatcher_policy.attach(session.client("sqs", endpoint_url=self.aws_url))
        for index, function in enumerate(self.dispatchers):
            poller = QueuePoller(
                sqs,
                self.resources.deliveries_queue_url,
                function.handler,
                batch_size=self.tunables.batch_size,
                wait_seconds=1,
                timeout_seconds=self.tunables.dispatcher_timeout_seconds,
            )
            thread = threading.Thread(
                target=self._poll, args=(poller,), name=f"poller-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self.watch_operational_events and self.operational_events_queue_url:
            watcher = threading.Thread(
                target=self._watch,
                args=(session.client("sqs", endpoint_url=self.aws_url),),
                name="operational-events",
                daemon=True,
            )
            watcher.start()
            self._threads.append(watcher)
        return self

    def _policy(self, role: Role) -> Policy:
        assert self.resources is not None
        policy = Policy(
            role,
            self.resources,
            customer_managed_key=self.tunables.customer_managed_key,
            operational_events_bus=self.tunables.operational_events_bus_name,
        )
        self.policies.append(policy)
        return policy

    def _clients(self, config: Any) -> wiring.AwsClients:
        return wiring.AwsClients.create(config, session=local_session(), endpoint_url=self.aws_url)

    def _quiet_logs(self, logger: Any) -> None:
        """The functions log at WARNING locally (INFO with --verbose); put back at stop."""
        level = logger.log_level
        logger.setLevel("INFO" if self.verbose else "WARNING")
        self._restore.append(lambda: logger.setLevel(level))

    def _quiet_metrics(self, metrics: Any) -> None:
        """Drop the EMF lines CloudWatch would collect; locally they only flood the console."""
        provider = metrics.provider
        provider.flush_metrics = lambda *args, **kwargs: provider.clear_metrics()
        # The cold-start metric is printed on its own, not flushed with the others.
        provider.add_cold_start_metric = lambda *args, **kwargs: None
        for name in ("flush_metrics", "add_cold_start_metric"):
            self._restore.append(functools.partial(provider.__dict__.pop, name, None))

    def _wait_for_emulator(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self._moto.poll() is not None:
                raise RuntimeError(
                    f"the AWS emulator (moto) exited with status {self._moto.returncode}; "
                    "run it alone to see why: python -m hookhaven.local.emulator"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.aws_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the AWS emulator did not start on port {self.aws_port}")

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

    def _watch(self, sqs: Any) -> None:
        """Say each operational event the local rule queued, once, in one line."""
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=self.operational_events_queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                ).get("Messages", [])
                for message in messages:
                    self.say(operational_event_line(json.loads(message["Body"])))
                    sqs.delete_message(
                        QueueUrl=self.operational_events_queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                    )
            except Exception as error:  # the emulator going away on shutdown, mostly
                if self._stop.is_set():
                    return
                self.say(f"operational events: {error}")
                time.sleep(1)

    def stop(self) -> None:
        """Pollers first (each finishes its batch), then the API, then the emulator: nothing
        is left talking to an emulator that is gone."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        if self.api is not None:
            self.api.stop()
        if self._moto is not None:
            self._moto.terminate()
            try:
                self._moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._moto.kill()
        while self._restore:
            self._restore.pop()()


def operational_event_line(event: Mapping[str, Any]) -> str:
    """One line for an operational event as EventBridge delivered it: what happened, to
    which subscription or event, why, and the first command that acts on it."""
    detail = event.get("detail") or {}
    ids = " ".join(str(detail[k]) for k in ("subscription_id", "event_id") if detail.get(k))
    why = detail.get("reason") or detail.get("last_failure")
    commands = detail.get("commands") or {}
    act = commands.get("show") or next(iter(commands.values()), None)
    parts = [
        f"operational event: {event.get('detail-type')}",
        ids,
        f"({why})" if why else "",
        f"-> {act}" if act else "",
    ]
    return " ".join(part for part in parts if part)


def _die_with_parent() -> None:
    """In the emulator's process: get SIGTERM when the stack's process dies, however it dies."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
