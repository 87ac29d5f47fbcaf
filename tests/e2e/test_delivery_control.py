"""Delivery control through the local stack, as a user would: a rate-limited subscriber
beside an unlimited one during a surge, and a subscriber that is down while orders pour in."""

from __future__ import annotations

import json
import time

import pytest

from hookhaven.aws.dynamodb import DynamoEventStore
from hookhaven.local.stack import LocalStack, local_session
from hookhaven.models import AttemptOutcome
from tests.e2e.test_local_stack import cli, operational_events, post_orders, settle, wait_for
from tests.subscribers import Reply, Subscriber

# A worker of their own in make test: they wait minutes on rate slots and probes.
pytestmark = pytest.mark.xdist_group("control")


def surge(stack: LocalStack, source: str, secret: str, orders: int) -> None:
    assert set(post_orders(stack, source, secret, orders)) <= {200, 202}


def new_source(name: str) -> str:
    cli("sources", "add", name, "--kind", "standard")
    secret: str = cli("sources", "rotate-secret", name, "--keep-old", "0s")["secret"]
    return secret


def most_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + 1) for start in times)


def test_a_rate_limited_subscriber_gets_its_rate_and_the_unlimited_one_is_not_slowed(stack):
    secret = new_source("signing")
    with Subscriber() as limited, Subscriber() as unlimited:
        sub = cli("subscriptions", "add", "--url", limited.url, "--source", "signing",
                  "--rate", "5/s")  # fmt: skip
        assert sub["rate"] == "5/s"
        cli("subscriptions", "add", "--url", unlimited.url, "--source", "signing")
        settle()
        started = time.time()
        surge(stack, "signing", secret, 300)
        accepted = time.time()
        wait_for(lambda: len(unlimited.received) >= 300, timeout=120)
        unlimited_done = time.time()
        wait_for(lambda: len({r.headers["webhook-id"] for r in limited.received}) == 300, 180)
        limited_done = time.time()
    # Every event arrived, once, on its first attempt: waiting spent none.
    assert len(limited.received) == 300
    assert {r.headers["hookhaven-attempt"] for r in limited.received} == {"1"}
    # When the dispatcher sent each (its attempt record's time, read just before the POST):
    # at most 5 in any second, plus the documented allowance of one.
    assert stack.resources is not None
    store = DynamoEventStore(
        local_session().client("dynamodb", endpoint_url=stack.aws_url), stack.resources.events_table
    )
    sent = [
        a.at
        for a in store.attempts_since(started - 1)
        if a.subscription_id == sub["id"] and a.outcome is AttemptOutcome.DELIVERED
    ]
    assert len(sent) == 300
    densest_sent = most_in_any_second(sent)
    # When they arrived: the network (here, a loaded machine) may delay one request and not
    # the next, so a subscriber can see one more than left in any second.
    densest = most_in_any_second([r.at for r in limited.received])
    print(  # what the run measured (pytest -s shows it)
        f"rate 5/s: densest second {densest_sent} sent, {densest} received; limited done "
        f"{limited_done - started:.1f} s, unlimited done {unlimited_done - accepted:.1f} s "
        "after the last acceptance"
    )
    assert densest_sent <= 5 + 1
    assert densest <= 5 + 2
    # 300 at 5/s take a minute; the unlimited subscriber had everything moments after
    # the last event was accepted, as without a limited neighbour.
    assert limited_done - started >= 59
    assert unlimited_done - accepted < 15
    assert unlimited_done < limited_done - 15
    # The story of a held delivery says so; the audit finds nothing unaccounted.
    last = max(limited.received, key=lambda r: r.at).headers["webhook-id"]
    outcomes = [a["outcome"] for a in _attempts(last, sub["id"])]
    # The last one waited for its slot in the queue (again, if it came back late).
    assert outcomes[-1] == "delivered"
    assert len(outcomes) >= 2
    assert set(outcomes[:-1]) == {"held"}
    audit = cli("audit", "--since", "1h")
    assert audit["totals"]["unaccounted"] == 0


def _attempts(event_id: str, subscription_id: str) -> list[dict[str, object]]:
    story = cli("events", "show", event_id)
    (entry,) = [s for s in story["subscriptions"] if s["subscription_id"] == subscription_id]
    attempts: list[dict[str, object]] = entry["attempts"]
    return attempts


def test_a_subscriber_that_is_down_gets_probes_not_every_delivery_and_all_after(stack):
    secret = new_source("outage")
    healthy = {"now": False}
    with Subscriber(lambda n: Reply() if healthy["now"] else Reply(503)) as warehouse:
        sub = cli("subscriptions", "add", "--url", warehouse.url, "--source", "outage")
        settle()
        surge(stack, "outage", secret, 500)
        # Let the circuit open and its first probe (5 s later, locally) fail.
        wait_for(lambda: cli("subscriptions", "show", sub["id"])["delivery"]["state"] != "closed")
        time.sleep(stack.tunables.circuit_probe_seconds + 2)
        while_down = len(warehouse.received)
        shown = cli("subscriptions", "show", sub["id"])["delivery"]
        assert shown["state"] in ("open", "probing")
        assert shown["consecutive_failures"] >= stack.tunables.circuit_failure_threshold
        status = cli("status")
        assert any(s["subscription_id"] == sub["id"] for s in status["subscriptions_not_flowing"])
        # The threshold, what was already in flight when it opened, and a few probes:
        # not 500 deliveries times their attempts.
        in_flight = stack.pollers * stack.tunables.batch_size
        assert while_down <= stack.tunables.circuit_failure_threshold + in_flight + 5

        healthy["now"] = True
        recovered = time.time()
        wait_for(lambda: len({r.headers["webhook-id"] for r in warehouse.received}) == 500, 120)
        took = time.time() - recovered
    print(f"outage: {while_down} requests while down, all 500 delivered {took:.1f} s after")
    # Within the longest probe interval (and its spread) plus the time to drain 500.
    assert took < stack.tunables.circuit_probe_max_seconds * 1.1 + 60
    assert cli("subscriptions", "show", sub["id"])["delivery"]["state"] == "closed"
    audit = cli("audit", "--since", "1h")
    assert audit["totals"]["unaccounted"] == 0
    # The operator's systems heard of it: opened once, closed once, on the default bus.
    published = operational_events(stack, subscription_id=sub["id"])
    assert [e["detail-type"] for e in published] == [
        "Subscription Circuit Opened",
        "Subscription Circuit Closed",
    ]
    assert {e["source"] for e in published} == {"hookhaven"}
    opened, closed = (e["detail"] for e in published)
    assert opened["consecutive_failures"] >= stack.tunables.circuit_failure_threshold  # type: ignore[index]
    assert opened["last_failure"] == "status_5xx"  # type: ignore[index]
    assert closed["open_seconds"] >= stack.tunables.circuit_probe_seconds  # type: ignore[index]


def test_exhausted_and_gone_deliveries_are_published_once_each(stack):
    new_source("ending")
    with Subscriber(lambda n: Reply(503)) as failing, Subscriber(lambda n: Reply(410)) as gone:
        failing_id = cli("subscriptions", "add", "--url", failing.url, "--source", "ending")["id"]
        gone_id = cli("subscriptions", "add", "--url", gone.url, "--source", "ending")["id"]
        settle()
        sent = cli("send", "ending", "--type", "order.created", "--data", "{}",
                   "--url", stack.api_url)  # fmt: skip
        attempts = len(stack.tunables.retry_schedule)
        wait_for(lambda: len(failing.received) == attempts, timeout=60)
        wait_for(lambda: operational_events(stack, subscription_id=failing_id) != [], 30)
    (exhausted,) = operational_events(stack, subscription_id=failing_id)
    assert exhausted["detail-type"] == "Delivery Exhausted"
    assert exhausted["detail"]["event_id"] == sent["id"]  # type: ignore[index]
    assert exhausted["detail"]["attempts"] == attempts  # type: ignore[index]
    assert exhausted["detail"]["commands"]["replay"] == (  # type: ignore[index]
        f"hookhaven replay {sent['id']} --subscription {failing_id}"
    )
    (disabled,) = operational_events(stack, subscription_id=gone_id)
    assert disabled["detail-type"] == "Subscription Disabled"
    assert disabled["detail"]["reason"].startswith("410 Gone")  # type: ignore[index]


def test_a_subscriber_with_max_in_flight_never_has_more_requests_at_once(stack):
    new_source("narrow")
    with Subscriber(lambda n: Reply(delay=0.5)) as slow:
        sub = cli("subscriptions", "add", "--url", slow.url, "--source", "narrow",
                  "--max-in-flight", "2")  # fmt: skip
        assert sub["max_in_flight"] == 2
        settle()
        for n in range(16):
            cli("send", "narrow", "--type", "order.created", "--data", json.dumps({"n": n}),
                "--url", stack.api_url)  # fmt: skip
        wait_for(lambda: len({r.headers["webhook-id"] for r in slow.received}) == 16, 120)
    arrivals = sorted(r.at for r in slow.received)
    # Each request takes half a second; with two at most in flight, no half-second holds
    # the start of three (a small margin for the time between a reply and the next send).
    assert max(sum(1 for t in arrivals if s <= t < s + 0.45) for s in arrivals) <= 2
    assert {r.headers["hookhaven-attempt"] for r in slow.received} == {"1"}
