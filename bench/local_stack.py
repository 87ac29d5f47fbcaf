"""Throughput of the local stack: Book Haven orders in over HTTP, out to three subscribers.

Run with ``.venv/bin/python bench/local_stack.py [--orders N]`` (``make bench`` runs it
with the defaults). It starts the local stack in process on free ports, as the e2e tests
do, adds a Standard Webhooks source and three subscribers on loopback, then POSTs N
signed Book Haven orders from ``--clients`` threads (a fresh connection per request, as
a provider and the e2e tests send them; non-2xx answers are retried). It reports:

- accepted: orders answered 200/202 per second, from the first POST to the last answer;
- delivered: seconds from the first POST until every subscriber has every event (by
  ``webhook-id``), and deliveries per second over that time.

``--profile`` also prints where the emulator spent its time, per AWS operation (wall time
inside moto's WSGI application, so concurrent requests each count their own wait).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import io
import json
import logging
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hookhaven.aws.dynamodb import DynamoConfigStore  # noqa: E402
from hookhaven.ids import new_subscription_id  # noqa: E402
from hookhaven.local.emulator import PROFILE_ENVIRONMENT  # noqa: E402
from hookhaven.local.stack import LocalStack, local_session, project_tunables  # noqa: E402
from hookhaven.models import Secret, Source, SourceKind, Subscription  # noqa: E402
from hookhaven.signatures import new_standard_secret, standard_signature_header  # noqa: E402
from tests.emulator import free_port  # noqa: E402

ORDER = json.loads((ROOT / "events" / "bookhaven" / "order_created.json").read_text())
SOURCE = "bookhaven"


class CountingSubscriber:
    """A subscriber on loopback that answers 200 and records the webhook-ids it was sent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ids: set[str] = set()
        self.requests = 0
        self.lock = threading.Lock()
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with subscriber.lock:
                    subscriber.requests += 1
                    subscriber.ids.add(self.headers.get("webhook-id", "?"))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def count(self) -> int:
        with self.lock:
            return len(self.ids)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def configure(stack: LocalStack, subscribers: list[CountingSubscriber]) -> str:
    """The Book Haven source and one subscription per subscriber; returns the source secret."""
    session = local_session()
    assert stack.resources is not None
    config = DynamoConfigStore(
        session.client("dynamodb", endpoint_url=stack.aws_url), stack.resources.config_table
    )
    now = time.time()
    secret = new_standard_secret()
    config.put_source(
        Source(
            name=SOURCE,
            kind=SourceKind.STANDARD,
            secrets=(Secret(value=secret, created_at=now),),
            created_at=now,
            updated_at=now,
        )
    )
    for subscriber in subscribers:
        config.put_subscription(
            Subscription(
                id=new_subscription_id(),
                source=SOURCE,
                event_types=("order.*",),
                url=subscriber.url,
                secrets=(Secret(value=new_standard_secret(), created_at=now),),
                description=subscriber.name,
                created_at=now,
                updated_at=now,
            )
        )
    return secret


def post_order(port: int, secret: str, number: int, deadline: float) -> tuple[int, int]:
    """POST order ``number`` until it is accepted; returns (final status, attempts)."""
    order = {**ORDER, "order": f"BH-{100000 + number}"}
    attempts = 0
    while True:
        attempts += 1
        now = time.time()
        message_id = f"msg_bench_{number:06d}"
        body = json.dumps({"type": "order.created", "timestamp": int(now), "data": order}).encode()
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": standard_signature_header([secret], message_id, int(now), body),
        }
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("POST", f"/webhooks/{SOURCE}", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except OSError:
            status = 0
        finally:
            connection.close()
        if status in (200, 202) or time.time() > deadline:
            return status, attempts
        time.sleep(0.2)


def run(orders: int, clients: int, pollers: int | None) -> dict[str, Any]:
    subscribers = [CountingSubscriber(name) for name in ("inventory", "warehouse", "email")]
    options: dict[str, Any] = {} if pollers is None else {"pollers": pollers}
    stack = LocalStack(
        api_port=free_port(),
        aws_port=free_port(),
        tunables=project_tunables(fast_retries=True),
        say=lambda line: None,
        **options,
    )
    started = time.perf_counter()
    stack.start()
    startup = time.perf_counter() - started
    try:
        from functions.receiver import logger

        # Both functions log through the one "hookhaven" logger's handler.
        handler = logger.registered_handler
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(io.StringIO())
        secret = configure(stack, subscribers)
        time.sleep(1.1)  # the receiver caches sources for a second
        began = time.perf_counter()
        deadline = time.time() + 600
        with ThreadPoolExecutor(max_workers=clients) as pool:
            results = list(
                pool.map(lambda n: post_order(stack.api_port, secret, n, deadline), range(orders))
            )
        accepted_at = time.perf_counter() - began
        statuses = collections.Counter(status for status, _ in results)
        retries = sum(attempts - 1 for _, attempts in results)
        while any(s.count() < orders for s in subscribers) and time.time() < deadline:
            time.sleep(0.05)
        delivered_at = time.perf_counter() - began
        counts = {s.name: s.count() for s in subscribers}
        requests = sum(s.requests for s in subscribers)
    finally:
        stack.stop()
        for subscriber in subscribers:
            subscriber.stop()
    return {
        "orders": orders,
        "startup_s": round(startup, 2),
        "statuses": dict(statuses),
        "client_retries": retries,
        "accept_s": round(accepted_at, 2),
        "accepted_per_s": round(statuses.get(202, 0) / accepted_at, 1),
        "delivered_s": round(delivered_at, 2),
        "deliveries_per_s": round(sum(counts.values()) / delivered_at, 1),
        "delivered": counts,
        "subscriber_requests": requests,
    }


def print_profile(path: Path) -> None:
    if not path.exists():
        print("(the emulator wrote no profile)")
        return
    rows = json.loads(path.read_text())
    total = sum(row["seconds"] for row in rows.values()) or 1.0
    print(f"{'operation':44} {'calls':>7} {'total s':>9} {'share':>6} {'mean ms':>8}")
    for name, row in sorted(rows.items(), key=lambda item: -item[1]["seconds"]):
        print(
            f"{name:44} {row['calls']:7d} {row['seconds']:9.2f} "
            f"{row['seconds'] / total:6.1%} {1000 * row['seconds'] / row['calls']:8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500, help="orders to send (500)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent senders (20)")
    parser.add_argument("--pollers", type=int, default=None, help="dispatcher pollers")
    parser.add_argument("--profile", action="store_true", help="time the emulator's operations")
    args = parser.parse_args()
    profile: Path | None = None
    if args.profile:
        profile = Path(tempfile.mkdtemp(prefix="hookhaven-bench-")) / "emulator-profile.json"
        os.environ[PROFILE_ENVIRONMENT] = str(profile)
    # The functions' one-off metric lines (cold start) go to stdout: keep them out.
    with contextlib.redirect_stdout(io.StringIO()):
        result = run(args.orders, args.clients, args.pollers)
    print(json.dumps(result, indent=2))
    if profile is not None:
        print_profile(profile)


if __name__ == "__main__":
    main()
