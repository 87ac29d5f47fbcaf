"""End to end, as a user would: the local stack, provider-signed HTTP requests, the CLI,
and real subscribers on 127.0.0.1."""

from __future__ import annotations

import collections
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from hookhaven.cli.app import app
from hookhaven.local.stack import LocalStack, local_session
from tests.conftest import EVENTS
from tests.e2e.chaos_run import last_json_document
from tests.providers import SECRETS, raw_body, signature_headers, signed
from tests.subscribers import Reply, Subscriber

pytestmark = pytest.mark.xdist_group("e2e")
runner = CliRunner()


def cli(*args: str, input: str | None = None) -> Any:
    result = runner.invoke(app, ["--json", *args], input=input)
    assert result.exit_code == 0, f"{args}: {result.stdout}{result.stderr}"
    return last_json_document(result.stdout)


def post(stack: LocalStack, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Send a sample HTTP API event's request over real HTTP to the local API."""
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{stack.api_url}{event['rawPath']}",
        data=raw_body(event),
        headers={k: v for k, v in event["headers"].items() if k not in ("host", "content-length")},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except (urllib.error.URLError, TimeoutError) as error:
        return 0, {"error": "client", "message": str(error)}  # a provider retries these too


def post_when_known(stack: LocalStack, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A source just added is known to the receiver within a second; until then, 404."""
    deadline = time.time() + 5
    while True:
        status, body = post(stack, event)
        if status != 404 or time.time() > deadline:
            return status, body
        time.sleep(0.2)


def settle() -> None:
    """Locally, configuration changes reach the functions within a second."""
    time.sleep(1.1)


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / "http" / f"{name}.json").read_text())


PROVIDERS = [
    ("standard", "standard_order_created", "bookhaven-std", []),
    ("stripe", "stripe_payment_intent_succeeded", "stripe", ["--secret", SECRETS["stripe"]]),
    ("github", "github_pull_request_opened", "github", ["--secret", SECRETS["github"]]),
    ("shopify", "shopify_orders_create", "shopify", ["--secret", SECRETS["shopify"]]),
    ("slack", "slack_app_mention", "slack", ["--secret", SECRETS["slack"]]),
    (
        "hmac",
        "hmac_shipment_dispatched",
        "courier",
        [
            "--secret", SECRETS["hmac"], "--header", "x-courier-signature", "--prefix", "sha256=",
            "--id-from", "field:id", "--type-from", "header:x-courier-event",
        ],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "sample_name", "source", "options"), PROVIDERS)
def test_each_provider_kind_reaches_its_subscriber_byte_for_byte(
    stack, kind, sample_name, source, options
):
    added = cli("sources", "add", source, "--kind", kind, *options)
    secret = added.get("secret") or SECRETS[kind]
    with Subscriber() as subscriber:
        subscription = cli("subscriptions", "add", "--url", subscriber.url, "--source", source)
        settle()
        event = sample(sample_name)
        event["rawPath"] = f"/webhooks/{source}"
        status, body = post_when_known(stack, signed(event, kind, time.time(), secret))
        assert status == 202, body
        wait_for(lambda: len(subscriber.received) == 1)
    (received,) = subscriber.received
    assert received.body == raw_body(event)
    assert received.headers["webhook-id"] == body["id"]
    Webhook(subscription["secret"]).verify(received.body, received.headers)


def test_a_subscriber_failing_three_times_gets_the_event_on_the_fourth_attempt(stack):
    cli("sources", "add", "shop4", "--kind", "standard")
    with Subscriber(lambda n: Reply(500) if n < 3 else Reply()) as recovering:
        subscription = cli("subscriptions", "add", "--url", recovering.url, "--source", "shop4")
        settle()
        sent = cli("send", "shop4", "--type", "order.created", "--data", '{"order": "BH-4"}',
                   "--url", stack.api_url)  # fmt: skip
        wait_for(lambda: len(recovering.received) == 4)
    attempts = [r.headers["hookhaven-attempt"] for r in recovering.received]
    assert attempts == ["1", "2", "3", "4"]
    assert {r.headers["webhook-id"] for r in recovering.received} == {sent["id"]}
    story = cli("events", "show", sent["id"])
    (entry,) = story["subscriptions"]
    assert entry["subscription_id"] == subscription["id"]
    assert entry["state"] == "delivered"
    assert [a["outcome"] for a in entry["attempts"]] == ["retrying"] * 3 + ["delivered"]


def test_an_always_failing_subscriber_ends_in_the_dlq_and_redrive_delivers(stack):
    cli("sources", "add", "shop5", "--kind", "standard")
    healthy = {"now": False}
    with Subscriber(lambda n: Reply() if healthy["now"] else Reply(503)) as down:
        subscription = cli("subscriptions", "add", "--url", down.url, "--source", "shop5")
        settle()
        sent = cli(
            "send", "shop5", "--type", "order.created", "--data", "{}", "--url", stack.api_url
        )

        def dead_lettered() -> bool:
            listed = cli("dlq", "list", "--subscription", subscription["id"])
            return any(item["event_id"] == sent["id"] for item in listed)

        wait_for(dead_lettered, timeout=60)
        assert len(down.received) == len(stack.tunables.retry_schedule)
        story = cli("events", "show", sent["id"])
        assert story["subscriptions"][0]["state"].startswith("dead-lettered")

        healthy["now"] = True
        moved = cli("dlq", "redrive", "--subscription", subscription["id"])
        assert moved["moved"] == 1
        wait_for(lambda: len(down.received) == len(stack.tunables.retry_schedule) + 1)
    last = down.received[-1]
    assert last.headers["webhook-id"] == sent["id"]
    assert last.headers["hookhaven-attempt"] == "1"  # a fresh retry schedule
    story = cli("events", "show", sent["id"])
    assert story["subscriptions"][0]["state"] == "delivered"


_OPERATIONAL: list[dict[str, object]] = []


def operational_events(stack: LocalStack, **detail: str) -> list[dict[str, object]]:
    """Every operational event the local rule has queued so far (kept across calls), those
    whose detail has ``detail``'s values."""
    assert stack.operational_events_queue_url is not None
    sqs = local_session().client("sqs", endpoint_url=stack.aws_url)
    while messages := sqs.receive_message(
        QueueUrl=stack.operational_events_queue_url, MaxNumberOfMessages=10
    ).get("Messages", []):
        for message in messages:
            _OPERATIONAL.append(json.loads(message["Body"]))
            sqs.delete_message(
                QueueUrl=stack.operational_events_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
    return [
        e
        for e in _OPERATIONAL
        if all(e["detail"].get(k) == v for k, v in detail.items())  # type: ignore[attr-defined]
    ]


def post_orders(stack: LocalStack, source: str, secret: str, orders: int) -> list[int]:
    """``orders`` signed order events to ``source``, 20 at a time, each retried for up to
    3 minutes until accepted, as a provider retries its non-2xx answers; their statuses."""
    template = sample("standard_order_created")
    template["rawPath"] = f"/webhooks/{source}"

    def order(number: int) -> int:
        event = json.loads(json.dumps(template))
        event["body"] = json.dumps({"type": "order.created", "data": {"order": f"BH-{number}"}})
        event["headers"].update(
            signature_headers(
                "standard", secret, raw_body(event), time.time(), msg_id=f"msg_{source}_{number}"
            )
        )
        deadline = time.time() + 180
        while True:
            status, _ = post_when_known(stack, event)
            if status in (200, 202) or time.time() > deadline:
                return status
            time.sleep(1)

    with ThreadPoolExecutor(max_workers=20) as pool:
        return list(pool.map(order, range(orders)))


def test_surge_of_500_orders_reaches_every_subscriber(stack):
    cli("sources", "add", "surge", "--kind", "standard")
    secret = cli("sources", "rotate-secret", "surge", "--keep-old", "0s")["secret"]
    with Subscriber() as inventory, Subscriber() as warehouse, Subscriber() as email:
        for subscriber in (inventory, warehouse, email):
            cli("subscriptions", "add", "--url", subscriber.url, "--source", "surge")
        settle()
        statuses = post_orders(stack, "surge", secret, 500)
        failed = collections.Counter(s for s in statuses if s not in (200, 202))
        assert not failed, f"not accepted after 3 minutes of retries: {dict(failed)}"

        def everyone_has_all() -> bool:
            return all(
                len({r.headers["webhook-id"] for r in s.received}) == 500
                for s in (inventory, warehouse, email)
            )

        wait_for(everyone_has_all, timeout=240)
    for subscriber in (inventory, warehouse, email):
        ids = {r.headers["webhook-id"] for r in subscriber.received}
        assert len(ids) == 500
        assert all(i.startswith("evt_") for i in ids)


def test_each_poller_dispatches_in_an_execution_environment_of_its_own(stack):
    # As in Lambda, where concurrent batches never share a dispatcher instance: a batch
    # processor shared by concurrent pollers would mix up which messages to keep.
    assert len(stack.dispatchers) == stack.pollers
    assert len({id(function.dispatcher) for function in stack.dispatchers}) == stack.pollers
    assert len({id(function.processor) for function in stack.dispatchers}) == stack.pollers
    assert len({id(function.pool) for function in stack.dispatchers}) == stack.pollers


def test_filtered_subscriptions_each_receive_only_their_orders(stack):
    cli("sources", "add", "filtered", "--kind", "standard")
    with Subscriber() as big_orders, Subscriber() as signed_books, Subscriber() as france:
        subscriptions = {
            name: cli(
                "subscriptions", "add", "--url", subscriber.url, "--source", "filtered",
                "--filter", expression,
            )["id"]
            for name, subscriber, expression in (
                ("big", big_orders, "data.total > `100`"),
                ("signed", signed_books, "contains(data.tags, 'signed')"),
                ("france", france, "data.address.country == 'FR'"),
            )
        }  # fmt: skip
        settle()
        orders = {
            "big": {"total": 240, "tags": [], "address": {"country": "GB"}},
            "signed": {"total": 20, "tags": ["signed"], "address": {"country": "GB"}},
            "france": {"total": 30, "tags": [], "address": {"country": "FR"}},
            "nobody": {"total": 0, "tags": ["gift"]},
        }
        sent = {
            name: cli(
                "send",
                "filtered",
                "--type",
                "order.created",
                "--data",
                json.dumps(data),
                "--url",
                stack.api_url,
            )["id"]
            for name, data in orders.items()
        }
        expected = {big_orders: "big", signed_books: "signed", france: "france"}
        wait_for(lambda: all(len(s.received) >= 1 for s in expected))
    for subscriber, name in expected.items():
        assert [r.headers["webhook-id"] for r in subscriber.received] == [sent[name]], name
    # What was queued is exactly that, so nothing else can arrive later.
    for name, event_id in sent.items():
        matched = cli("events", "show", event_id)["matched"]
        assert matched == ([subscriptions[name]] if name in subscriptions else []), name


def test_an_operational_event_from_a_local_dispatcher_reaches_the_local_rule_once(
    stack: LocalStack,
):
    """Published by a dispatcher the local stack built (through its wired publisher, with
    its role's grants enforced), put on the emulator's bus and sent by the local rule to
    its queue: once. moto runs a bus's rules inside PutEvents, so the message is queued
    by the time the publish returns."""
    from hookhaven.local.stack import operational_event_line
    from hookhaven.operational import circuit_opened

    subscription_id = f"sub_local_{time.time_ns()}"
    now = time.time()
    publisher = stack.dispatchers[0].dispatcher._operational
    publisher.publish(
        circuit_opened(
            subscription_id,
            at=now,
            url_host="127.0.0.1",
            consecutive_failures=5,
            last_failure="connection",
            next_probe_at=now + 60,
        )
    )

    ours = operational_events(stack, subscription_id=subscription_id)
    assert len(ours) == 1
    (event,) = ours
    assert event["source"] == "hookhaven"
    assert event["detail-type"] == "Subscription Circuit Opened"
    assert operational_event_line(event) == (
        f"operational event: Subscription Circuit Opened {subscription_id} (connection) "
        f"-> hookhaven subscriptions show {subscription_id}"
    )
