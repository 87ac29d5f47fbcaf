"""What an event costs on AWS: every AWS request it causes, counted, priced at list prices.

Run with ``.venv/bin/python bench/cost.py [--events N]`` (``make bench`` runs it). It
drives N signed Book Haven orders through the local stack to 1 and to 3 subscribers,
with the emulator counting every AWS request by operation (``HOOKHAVEN_EMULATOR_PROFILE``),
less a run with no events (provisioning and configuration). What is counted per event is
then priced with the us-east-1 list prices below.

Not counted, and why:
- ReceiveMessage: the local poller long-polls every second; Lambda's event source mapping
  receives in batches (``batch_size``), so it is modelled as one receive per batch, plus
  the mapping's idle polling, a fixed cost (below).
- Query: the functions' configuration cache refreshes on a clock (every
  ``source_cache_seconds`` per warm execution environment), not per event; a delivery's
  first attempt makes none.
- Lambda durations cannot be measured here (moto is not DynamoDB): they are parameters,
  ``--receiver-ms`` and ``--dispatcher-ms``, with defaults from what such functions take on
  Lambda (tens of milliseconds of AWS calls; a delivery batch waits on its subscribers).

DynamoDB units come from the real size of the items (``hookhaven.aws.dynamodb``): an
event item with its inline body, its two index entries (which carry no body), the dedupe
claim, and one attempt record (with its index entry) per delivery.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.local_stack import (  # noqa: E402
    ORDER,
    SOURCE,
    CountingSubscriber,
    configure,
    post_order,
)
from hookhaven.aws.dynamodb import event_item  # noqa: E402
from hookhaven.aws.items import to_item  # noqa: E402
from hookhaven.ids import new_event_id, new_subscription_id  # noqa: E402
from hookhaven.local.emulator import PROFILE_ENVIRONMENT  # noqa: E402
from hookhaven.local.stack import LocalStack, project_tunables  # noqa: E402
from hookhaven.models import AttemptOutcome, AttemptRecord, EventRecord  # noqa: E402
from hookhaven.resources import LISTED_ATTRIBUTES  # noqa: E402
from hookhaven.tunables import Tunables  # noqa: E402
from tests.emulator import free_port  # noqa: E402

#: us-east-1 list prices, read 2026-11-30 from AWS's pricing pages (and, for Svix and
#: Hookdeck, from their published pricing pages as transcribed on 2026-09-20).
PRICES = {
    # https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs, first 300 million/month,
    # metered in 512 KB increments)
    "api_gateway_http_request": 1.00 / 1e6,
    # https://aws.amazon.com/lambda/pricing/ (Arm, first 7.5 billion GB-s/month)
    "lambda_request": 0.20 / 1e6,
    "lambda_arm_gb_second": 0.0000133334,
    # https://aws.amazon.com/sqs/pricing/ (standard queue; each 64 KB chunk of a request
    # is billed as one request)
    "sqs_request": 0.40 / 1e6,
    # https://aws.amazon.com/dynamodb/pricing/on-demand/ (on-demand, since Nov 2024)
    "dynamodb_write_unit": 0.625 / 1e6,
    "dynamodb_read_unit": 0.125 / 1e6,
    # https://aws.amazon.com/s3/pricing/ (Standard)
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    # https://aws.amazon.com/cloudwatch/pricing/ (logs ingested, standard class)
    "logs_per_gb": 0.50,
    # https://aws.amazon.com/xray/pricing/ (traces recorded)
    "xray_trace": 5.00 / 1e6,
}
#: What the others charge per event, for comparison (their own pricing pages).
OTHERS = {
    "Svix Professional": "$490/month with 50,000 messages, then $0.0001/message "
    "($100 per million) (svix.com/pricing)",
    "Hookdeck Team": "from $39/month with 10,000 events, then metered by volume "
    "(hookdeck.com/pricing; its per-event rate is set on a slider we could not read)",
}
#: Lambda samples the first request each second and 5% of the rest for X-Ray.
XRAY_SAMPLED = 0.05
#: Log bytes per invocation (START, END, REPORT lines and the EMF metrics blob), and per
#: delivery (the dispatcher's "delivery attempt" line at INFO).
LOG_BYTES_PER_INVOCATION = 1100
LOG_BYTES_PER_DELIVERY = 450

#: Operations whose count depends on time, not on events (see the docstring).
TIME_DRIVEN = {
    "AmazonSQS.ReceiveMessage",
    "DynamoDB_20120810.Query",
    "AmazonSQS.GetQueueAttributes",
}


def count_requests(events: int, subscribers: int) -> dict[str, int]:
    """Every AWS request of a local stack run, by operation (the emulator's own count)."""
    profile = Path(tempfile.mkdtemp(prefix="hookhaven-cost-")) / "profile.json"
    os.environ[PROFILE_ENVIRONMENT] = str(profile)
    targets = [CountingSubscriber(f"subscriber-{n}") for n in range(subscribers)]
    stack = LocalStack(
        api_port=free_port(),
        aws_port=free_port(),
        tunables=project_tunables(fast_retries=True),
        say=lambda line: None,
    )
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            stack.start()
            secret = configure(stack, targets)
            time.sleep(1.1)  # the receiver sees new configuration within a second
            deadline = time.time() + 300
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(
                    pool.map(
                        lambda n: post_order(stack.api_port, secret, n, deadline)[0],
                        range(events),
                    )
                )
            assert all(s == 202 for s in statuses), collections.Counter(statuses)
            while any(t.count() < events for t in targets) and time.time() < deadline:
                time.sleep(0.05)
            assert all(t.count() == events for t in targets), "not every event was delivered"
            time.sleep(1.5)  # the last batches' deletes
    finally:
        stack.stop()  # the emulator writes its profile as it exits
        for target in targets:
            target.stop()
        del os.environ[PROFILE_ENVIRONMENT]
    rows = json.loads(profile.read_text())
    return {name: int(row["calls"]) for name, row in rows.items()}


def per_event(events: int, subscribers: int) -> dict[str, float]:
    """Requests per event by operation: a run with events less a run without."""
    with_events = count_requests(events, subscribers)
    without = count_requests(0, subscribers)
    return {
        name: (calls - without.get(name, 0)) / events
        for name, calls in sorted(with_events.items())
        if name not in TIME_DRIVEN and calls - without.get(name, 0) > 0
    }


def item_units(item: dict[str, Any]) -> int:
    """Write units of an item (1 KB each), sized as DynamoDB JSON: an upper estimate."""
    # A binary value counts its bytes, as DynamoDB sizes it.
    sized = json.dumps(to_item(item), default=lambda value: "x" * len(value))
    return max(1, math.ceil(len(sized.encode()) / 1024))


def dynamodb_write_units(subscribers: int) -> float:
    """Per event: the dedupe claim, the event and the claim's completion in one transaction
    (transactional writes cost twice), the event's two index entries, and an attempt record
    with its index entry per delivery."""
    body = json.dumps({"type": "order.created", "data": ORDER}).encode()
    now = time.time()
    event = EventRecord(
        id=new_event_id(now),
        source=SOURCE,
        event_type="order.created",
        provider_event_id="msg_bench_000001",
        received_at=now,
        content_type="application/json",
        headers={"content-type": "application/json", "webhook-id": "msg_bench_000001"},
        body_size=len(body),
        body_sha256="0" * 64,
        body=body,
        subscriptions=tuple(new_subscription_id() for _ in range(subscribers)),
    )
    item = event_item(event, int(now))
    listed = {k: v for k, v in item.items() if k in LISTED_ATTRIBUTES or k.startswith("gsi")}
    attempt = AttemptRecord(
        event_id=event.id,
        subscription_id=event.subscriptions[0],
        attempt=1,
        at=now,
        outcome=AttemptOutcome.DELIVERED,
        url_host="inventory.bookhaven.example",
        status_code=200,
        latency_ms=85.2,
        message_id="059f36b4-87a3-44ab-83d2-661975830a7d",
    )
    claim = 1
    transaction = 2 * item_units(item) + 2 * 1
    indexes = 2 * item_units(listed)
    attempts = subscribers * (item_units(attempt.model_dump(mode="json")) + 1)
    return claim + transaction + indexes + attempts


def cost_per_million(
    requests: dict[str, float],
    subscribers: int,
    tunables: Tunables,
    *,
    receiver_ms: float,
    dispatcher_ms: float,
) -> dict[str, float]:
    batches = subscribers / tunables.batch_size  # receives and invocations per event, under load
    sqs = (
        sum(v for k, v in requests.items() if k.startswith("AmazonSQS."))
        + batches  # the mapping's ReceiveMessage per batch
    )
    lambda_invocations = 1 + batches
    gb_seconds = (
        receiver_ms / 1000 * tunables.receiver_memory_mb / 1024
        + batches * dispatcher_ms / 1000 * tunables.dispatcher_memory_mb / 1024
    )
    s3_puts = sum(v for k, v in requests.items() if k.startswith("PUT "))
    log_gb = (
        lambda_invocations * LOG_BYTES_PER_INVOCATION + subscribers * LOG_BYTES_PER_DELIVERY
    ) / 1024**3
    million = 1e6
    return {
        "API Gateway (HTTP API)": million * PRICES["api_gateway_http_request"],
        "Lambda requests": million * lambda_invocations * PRICES["lambda_request"],
        "Lambda duration (arm64)": million * gb_seconds * PRICES["lambda_arm_gb_second"],
        "SQS": million * sqs * PRICES["sqs_request"],
        "DynamoDB writes": million
        * dynamodb_write_units(subscribers)
        * PRICES["dynamodb_write_unit"],
        "S3": million * s3_puts * PRICES["s3_put"],
        "CloudWatch Logs": million * log_gb * PRICES["logs_per_gb"],
        "X-Ray": million * lambda_invocations * XRAY_SAMPLED * PRICES["xray_trace"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100, help="events per run (100)")
    parser.add_argument("--receiver-ms", type=float, default=40, help="billed receiver ms (40)")
    parser.add_argument(
        "--dispatcher-ms", type=float, default=250, help="billed ms per delivery batch (250)"
    )
    args = parser.parse_args()
    tunables = Tunables()
    print(f"AWS requests per event ({args.events} Book Haven orders per run, local stack)")
    for subscribers in (1, 3):
        requests = per_event(args.events, subscribers)
        print(f"\n{subscribers} subscriber(s):")
        for name, calls in requests.items():
            print(f"  {name:44} {calls:6.2f}")
        print(
            f"  {'(modelled) AmazonSQS.ReceiveMessage':44} {subscribers / tunables.batch_size:6.2f}"
        )
        costs = cost_per_million(
            requests,
            subscribers,
            tunables,
            receiver_ms=args.receiver_ms,
            dispatcher_ms=args.dispatcher_ms,
        )
        print("  cost per million events, us-east-1 list prices:")
        for name, dollars in costs.items():
            print(f"    {name:28} ${dollars:8.2f}")
        print(f"    {'total':28} ${sum(costs.values()):8.2f}")
    print("\nFixed monthly costs, whatever the traffic: the dashboard ($3; the first 3 are free),")
    print("8 alarms ($0.10 each; the first 10 are free), custom metrics only in months they are")
    print("published ($0.30 each), the event source mapping's idle long polls (~650,000 SQS")
    print("requests a month with 5 pollers: about $0.26).")
    print("\nFor comparison:")
    for name, text in OTHERS.items():
        print(f"  {name}: {text}")


if __name__ == "__main__":
    main()
