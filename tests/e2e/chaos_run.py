"""A chaos run on the local stack, shared by tests/e2e/test_chaos.py and bench/chaos.py.

Book Haven order events are POSTed (Standard Webhooks, signed with the source's
secret) to three subscribers that misbehave at random, while the receiver's AWS
calls throttle at random. The client retries what a provider retries (5xx, 409,
429, connection errors) under the same webhook id. Then the queue drains and
``hookhaven audit`` must account for every delivery.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from hookhaven.cli.app import app
from hookhaven.local.stack import LocalStack, local_session, project_tunables
from tests.conftest import function_logs
from tests.subscribers import Reply, Subscriber

SOURCE = "bookhaven"
SUBSCRIBERS = ("inventory", "warehouse", "email")
#: Four attempts within seconds; the dispatcher gives up on a subscriber after 1 s.
SCHEDULE = ["0s", "1s", "2s", "2s"]
REQUEST_TIMEOUT = 1
AWS_FAILURE_RATE = 0.05

runner = CliRunner()


def cli(*args: str) -> Any:
    """A read-only CLI command's JSON output (the functions may print to the same stdout)."""
    result = runner.invoke(app, ["--json", *args])
    assert result.exit_code == 0, f"{args}: {result.stdout}{result.stderr}"
    return last_json_document(result.stdout)


def last_json_document(text: str) -> Any:
    """The stack runs in this process: a function's log or metric line can land in the
    same stdout as a command's output, before it or after it (a dispatcher thread logging
    a failed delivery while the command prints). The command's output is the last JSON
    document that is neither (Powertools' log records carry "level" and "location", its
    EMF metric lines "_aws")."""
    decoder, position, value = json.JSONDecoder(), 0, None
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(text, position)
        if isinstance(document, dict) and (
            "_aws" in document or {"level", "location"} <= document.keys()
        ):
            continue
        value = document
    return value


def cli_text(*args: str) -> str:
    result = runner.invoke(app, list(args))
    return result.stdout + result.stderr


class Misbehaving:
    """30% 5xx, 5% hang past the timeout, 5% reset, 5% 429 with Retry-After, else 200."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.replies: Counter[str] = Counter()

    def __call__(self, n: int) -> Reply:
        with self._lock:
            roll = self._random.random()
        if roll < 0.30:
            kind, reply = "5xx", Reply(503, body=b"busy")
        elif roll < 0.35:
            kind, reply = "hang", Reply(delay=REQUEST_TIMEOUT + 1.0)
        elif roll < 0.40:
            kind, reply = "reset", Reply(reset=True)
        elif roll < 0.45:
            kind, reply = "429", Reply(429, headers={"Retry-After": "1"}, body=b"slow down")
        else:
            kind, reply = "200", Reply()
        with self._lock:
            self.replies[kind] += 1
        return reply


@dataclass
class ChaosResult:
    events: int
    accepted: dict[str, str] = field(default_factory=dict)  # order -> hookhaven event id
    subscription_ids: dict[str, str] = field(default_factory=dict)  # subscriber -> id
    client_retries: Counter[int] = field(default_factory=Counter)  # status -> retries
    post_seconds: float = 0.0
    drain_seconds: float = 0.0
    audit: dict[str, Any] = field(default_factory=dict)
    dead_letter_messages: int = 0
    #: (event id, subscription id) of the DLQ's messages; one delivery enqueued twice (a
    #: claim resumed after an unrecorded partial send) can leave two messages for one pair.
    dead_letters: set[tuple[str, str]] = field(default_factory=set)
    received: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    #: Per subscriber: requests cut before their body was whole (a deadline mid-send).
    incomplete: dict[str, int] = field(default_factory=dict)
    replies: dict[str, Counter[str]] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    signatures: set[str] = field(default_factory=set)
    logs: str = ""
    metrics: str = ""
    records: str = ""
    cli_output: str = ""
    injected_aws_failures: int = 0
    #: Calls the functions' deployed roles would have refused (``hookhaven.local.iam``).
    denied: list[str] = field(default_factory=list)

    def duplicates(self) -> dict[str, int]:
        """Per subscriber: deliveries received more than once (same webhook-id)."""
        return {
            name: sum(n - 1 for n in Counter(i for i, _ in got).values() if n > 1)
            for name, got in self.received.items()
        }


@contextmanager
def chaos_stack(api_port: int, aws_port: int) -> Iterator[LocalStack]:
    tunables = project_tunables().model_copy(
        update={
            "retry_schedule": tuple(int(s.rstrip("s")) for s in SCHEDULE),
            "retry_jitter": 0.0,
            "request_timeout_seconds": REQUEST_TIMEOUT,
        }
    )
    stack = LocalStack(
        api_port=api_port,
        aws_port=aws_port,
        tunables=tunables,
        say=lambda line: None,
        verbose=True,  # logs at INFO and metrics on: both are scanned for secrets afterwards
        aws_failure_rate=AWS_FAILURE_RATE,
        # Lambda would run up to max_concurrency dispatchers; subscribers that hang hold a
        # poller for the whole timeout, so two would make the drain an hour-glass.
        pollers=8,
    )
    saved = {name: os.environ.get(name) for name in ("HOOKHAVEN_ENDPOINT_URL", "AWS_ENDPOINT_URL")}
    stack.start()
    os.environ["HOOKHAVEN_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT_URL"] = stack.aws_url
    try:
        yield stack
    finally:
        stack.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _post(stack: LocalStack, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{stack.api_url}/webhooks/{SOURCE}", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code), None
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return 0, None


def run(stack: LocalStack, events: int, *, seed: int = 20261128, workers: int = 8) -> ChaosResult:
    logs = io.StringIO()
    with function_logs(logs):
        return _run(stack, events, logs, seed=seed, workers=workers)


def _run(
    stack: LocalStack, events: int, logs: io.StringIO, *, seed: int, workers: int
) -> ChaosResult:
    result = ChaosResult(events=events)
    source = cli("sources", "add", SOURCE, "--kind", "standard")
    result.secrets.add(source["secret"])
    behaviours = {name: Misbehaving(seed + i) for i, name in enumerate(SUBSCRIBERS)}
    with ExitStack() as servers:
        subscribers = {
            name: servers.enter_context(Subscriber(behaviours[name])) for name in SUBSCRIBERS
        }
        for name, subscriber in subscribers.items():
            added = cli("subscriptions", "add", "--url", subscriber.url, "--description", name)
            result.secrets.add(added["secret"])
            result.subscription_ids[name] = added["id"]
        time.sleep(1.1)  # locally, the receiver sees new configuration within a second
        signer = Webhook(source["secret"])
        lock = threading.Lock()

        def deliver(index: int) -> None:
            order = f"BH-{index:05d}"
            body = json.dumps(
                {
                    "type": "order.created",
                    "data": {"order": order, "title": "The Bookshop Signing", "qty": 1 + index % 3},
                }
            ).encode()
            msg_id = f"msg_chaos_{seed}_{index}"
            backoff = 0.1
            for _ in range(200):
                now = datetime.now(UTC)
                signature = signer.sign(msg_id, now, body.decode())
                headers = {
                    "content-type": "application/json",
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(int(now.timestamp())),
                    "webhook-signature": signature,
                }
                status, answer = _post(stack, body, headers)
                with lock:
                    result.signatures.add(signature)
                if status in (200, 202):
                    with lock:
                        result.accepted[order] = answer["id"]
                    return
                if status not in (0, 404, 409, 429) and status < 500:
                    raise AssertionError(f"{order}: the receiver answered {status}")
                with lock:
                    result.client_retries[status] += 1
                time.sleep(backoff)  # as a provider would: back off, then the same event again
                backoff = min(backoff * 2, 2.0)
            raise AssertionError(f"{order} was never accepted")

        started = time.time()
        metrics = io.StringIO()
        # The functions print their EMF metrics to stdout: keep them, to scan for secrets.
        with contextlib.redirect_stdout(metrics):
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(deliver, range(events)))
            result.post_seconds = time.time() - started
            _drain(stack)
        result.metrics = metrics.getvalue()
        result.drain_seconds = time.time() - started - result.post_seconds

        result.audit = cli("audit", "--since", "1h")
        sqs = local_session().client("sqs", endpoint_url=stack.aws_url)
        assert stack.resources is not None
        attributes = sqs.get_queue_attributes(
            QueueUrl=stack.resources.require_dead_letter_queue(),
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]
        result.dead_letter_messages = int(attributes["ApproximateNumberOfMessages"])
        result.dead_letters = {
            (letter["event_id"], letter["subscription_id"])
            for letter in cli("dlq", "list", "--limit", "10000")
        }
        for name, subscriber in subscribers.items():
            result.received[name] = [(r.headers["webhook-id"], r.body) for r in subscriber.received]
            result.incomplete[name] = subscriber.incomplete
            result.signatures |= {r.headers["webhook-signature"] for r in subscriber.received}
            result.replies[name] = behaviours[name].replies
    result.logs = logs.getvalue()
    dynamodb = local_session().client("dynamodb", endpoint_url=stack.aws_url)
    result.records = json.dumps(
        [
            item
            for page in dynamodb.get_paginator("scan").paginate(
                TableName=stack.resources.events_table
            )
            for item in page["Items"]
        ],
        default=lambda value: value.decode("utf-8", "replace"),  # binary attributes
    )
    result.cli_output = _read_only_commands(result)
    result.injected_aws_failures = sum(client.injected for client in stack.flaky)
    result.denied = [message for policy in stack.policies for message in policy.denied]
    return result


TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{16,}")


def needles(result: ChaosResult) -> set[str]:
    """Every secret and signature of the run, whole and without its prefix."""
    found: set[str] = set()
    for secret in result.secrets:
        found |= {secret, secret.removeprefix("whsec_")}
    for header in result.signatures:  # "v1,<base64> v1,<base64>"
        found |= {part.split(",", 1)[-1] for part in header.split()}
    return found


def leaks(secrets: set[str], text: str) -> set[str]:
    """The secrets that occur in ``text`` as a token (base64 runs between other characters).

    One pass over the text instead of one search per secret: a chaos run has thousands
    of signatures and megabytes of logs."""
    tokens: set[str] = set()
    for token in TOKEN.findall(text):
        # "=" is base64 padding, and also what joins a name to a value: "secret=...".
        while token:
            tokens |= {token, token.removeprefix("whsec_")}
            _, _, token = token.partition("=")
            if not token.strip("="):
                break
    return secrets & tokens


def _read_only_commands(result: ChaosResult) -> str:
    """Everything an operator reads, without --reveal-secret."""
    subscriptions = cli("subscriptions", "list")
    events = cli("events", "list", "--since", "1h", "--limit", "5")
    commands = [
        ["sources", "list"],
        ["sources", "show", SOURCE],
        ["subscriptions", "list"],
        *(["subscriptions", "show", s["id"]] for s in subscriptions),
        ["events", "list", "--since", "1h", "--limit", "5"],
        *(["events", "show", e["id"]] for e in events),
        ["dlq", "list"],
    ]
    # The audit's JSON is the run's own; its table and everything else, as both.
    outputs = [json.dumps(result.audit), cli_text("audit", "--since", "1h"), cli_text("status")]
    outputs += [cli_text(*c) + cli_text("--json", *c) for c in commands]
    return "\n".join(outputs)


def _drain(stack: LocalStack, timeout: float = 600) -> None:
    """Until the deliveries queue is empty and stays empty (retries wait out of sight)."""
    assert stack.resources is not None
    sqs = local_session().client("sqs", endpoint_url=stack.aws_url)
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    deadline, quiet_since = time.time() + timeout, None
    while time.time() < deadline:
        attributes = sqs.get_queue_attributes(
            QueueUrl=stack.resources.deliveries_queue_url,
            AttributeNames=names,  # type: ignore[arg-type]
        )["Attributes"]
        if sum(int(v) for v in attributes.values()) == 0:
            quiet_since = quiet_since or time.time()
            if time.time() - quiet_since > 2:
                return
        else:
            quiet_since = None
        time.sleep(0.5)
    raise AssertionError("the deliveries queue did not drain")
