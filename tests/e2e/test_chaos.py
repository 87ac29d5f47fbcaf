"""Chaos on the local stack: 2,000 Book Haven orders, misbehaving subscribers, throttled AWS.

Nothing accepted may be lost: every delivery ends delivered or dead-lettered, and
``hookhaven audit`` accounts for all of them. Repeats at a subscriber carry the
webhook-id of the first. Afterwards no log line, metric, attempt record or CLI
output holds a secret or a signature. ``bench/chaos.py`` runs the same with 10,000.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.chaos_run import SUBSCRIBERS, ChaosResult, chaos_stack, leaks, needles, run
from tests.emulator import free_port

EVENTS = 2000

# Alone on its worker: make test runs three (delivery control on another, the rest shared).
pytestmark = pytest.mark.xdist_group("chaos")


@pytest.fixture(scope="module")
def chaos() -> Iterator[ChaosResult]:
    with chaos_stack(free_port(), free_port()) as stack:
        yield run(stack, EVENTS)


def test_chaos_run_loses_nothing_and_leaks_nothing(chaos: ChaosResult) -> None:
    assert len(chaos.accepted) == EVENTS
    # The chaos was real: AWS throttled the receiver, providers retried, subscribers failed.
    assert chaos.injected_aws_failures > 0
    assert chaos.denied == []  # every call was one the deployed roles allow
    assert sum(chaos.client_retries.values()) > 0
    for name in SUBSCRIBERS:
        assert {"5xx", "hang", "reset", "429", "200"} <= set(chaos.replies[name]), name

    audit = chaos.audit
    totals = audit["totals"]
    assert audit["events"] == EVENTS
    assert audit["deliveries"] == EVENTS * len(SUBSCRIBERS)
    assert totals["unaccounted"] == 0
    assert totals["pending"] == 0
    assert totals["dropped"] == 0
    assert totals["delivered"] + totals["dead_lettered"] == audit["deliveries"]
    dead = {(d["event_id"], d["subscription_id"]) for d in audit["dead_lettered"]}
    # Each is in the DLQ for an operator to redrive (a delivery queued twice after a
    # resumed claim may also leave a spare copy there of one that was delivered).
    assert dead <= chaos.dead_letters
    assert chaos.dead_letter_messages >= len(chaos.dead_letters)

    # Subscribers got only accepted events; each order under one webhook-id however often
    # it came; and at least as many distinct events as the audit says were delivered.
    accepted = set(chaos.accepted.values())
    for name, got in chaos.received.items():
        bodies_by_id: dict[str, set[bytes]] = {}
        for webhook_id, body in got:
            bodies_by_id.setdefault(webhook_id, set()).add(body)
        assert set(bodies_by_id) <= accepted, name
        assert all(len(bodies) == 1 for bodies in bodies_by_id.values()), name
        orders = [next(iter(bodies)) for bodies in bodies_by_id.values()]
        assert len(orders) == len(set(orders)), f"{name}: one order under two webhook-ids"
        counts = audit["subscriptions"][chaos.subscription_ids[name]]
        assert len(bodies_by_id) >= counts["delivered"], name
        dead_here = {e for e, s in dead if s == chaos.subscription_ids[name]}
        assert counts["delivered"] + len(dead_here) == EVENTS, name
    print(
        f"\nchaos: {EVENTS} events posted in {chaos.post_seconds:.0f} s, drained "
        f"{chaos.drain_seconds:.0f} s later; {totals}; duplicates at subscribers "
        f"{chaos.duplicates()}; cut mid-request {chaos.incomplete}; "
        f"client retries by status {dict(chaos.client_retries)}; "
        f"{chaos.injected_aws_failures} AWS calls failed on purpose"
    )

    # Nothing an operator or a log reader sees holds a secret or a signature.
    sinks = {
        "logs": chaos.logs,
        "metrics": chaos.metrics,
        "attempt records": chaos.records,
        "CLI output": chaos.cli_output,
    }
    assert chaos.logs
    assert chaos.metrics
    assert "ATTEMPT#" in chaos.records
    secrets = needles(chaos)
    assert len(secrets) > EVENTS
    for where, text in sinks.items():
        leaked = leaks(secrets, text)
        assert not leaked, f"{where} holds {len(leaked)} secret(s) or signature(s)"
