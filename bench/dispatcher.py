"""One dispatcher invocation delivering 100 messages to loopback endpoints (``make bench``).

Each endpoint answers after 50 ms. The dispatcher handler runs for real (Powertools
batch processing, signing, SSRF checks, pooled connections) with in-memory
stand-ins for DynamoDB and SQS. It is compared with:

- the floor: the same 100 POSTs from a bare pooled urllib3 client at the same
  concurrency, no hookhaven code;
- a naive sequential loop.

Targets (issue #4): within 1.25x of the floor; at least 20x faster than sequential
at concurrency 50; with one endpoint that never answers, the healthy deliveries'
latency within 1.2x of the all-healthy run.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import statistics
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import urllib3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import ENVIRONMENT as COMMON_ENVIRONMENT  # noqa: E402

DELIVERIES = 100
ENDPOINT_DELAY = 0.05
RUNS = 5
ENVIRONMENT = {
    **COMMON_ENVIRONMENT,
    "HOOKHAVEN_ALLOW_LOOPBACK": "true",
    "HOOKHAVEN_REQUEST_TIMEOUT_SECONDS": "2",
}


class Server(ThreadingHTTPServer):
    request_queue_size = 512
    daemon_threads = True


def endpoint(delay: float | None) -> Server:
    """A loopback endpoint answering 200 after ``delay`` seconds, or never (None)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            time.sleep(3600 if delay is None else delay)
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def url_of(server: Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/hooks"


def load_dispatcher(concurrency: int, urls: list[str]) -> Any:
    os.environ.update(ENVIRONMENT)
    import functions.dispatcher as module
    from hookhaven.dispatch import Dispatcher, SubscriptionCache
    from hookhaven.memory import MemoryConfig
    from hookhaven.models import AttemptRecord, Secret, Subscription
    from hookhaven.sender import Sender
    from hookhaven.wiring import FunctionSettings

    class Store(MemoryConfig):
        def disable_subscription(self, subscription_id: str, reason: str, now: float) -> bool:
            return False

    class Attempts:
        def record_attempt(self, attempt: object, *, expires_at: int) -> None:
            return

        def message_history(
            self, event_id: str, subscription_id: str, message_id: str
        ) -> list[AttemptRecord]:
            return []

    class Queue:
        def change_visibility(self, receipt_handle: str, seconds: int) -> None:
            return

        def dead_letter(self, body: str, reason: str) -> None:
            return

    store = Store()
    now = time.time()
    for index, url in enumerate(urls):
        store.subscriptions[f"sub_{index}"] = Subscription(
            id=f"sub_{index}",
            url=url,
            secrets=(Secret(value="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", created_at=now),),
            created_at=now,
            updated_at=now,
        )
    settings = FunctionSettings.from_environ().model_copy(
        update={"delivery_concurrency": concurrency}
    )
    dispatcher = Dispatcher(
        subscriptions=SubscriptionCache(store, ttl=3600),
        attempts=Attempts(),
        bodies=None,  # type: ignore[arg-type]  # every body is inline
        queue=Queue(),
        sender=Sender(
            timeout_seconds=settings.request_timeout_seconds,
            pool_size=concurrency,
            allow_loopback=True,
        ),
        settings=settings,
    )
    handler = module.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(io.StringIO())
    return module.DispatcherFunction(dispatcher, settings)


def sqs_event(count: int) -> dict[str, Any]:
    body = b'{"type":"order.created","data":{"order":"BH-1001","total":24.99}}'
    records = []
    for index in range(count):
        message = {
            "v": 1,
            "event_id": f"evt_bench{index:05d}",
            "subscription_id": f"sub_{index}",
            "source": "bookhaven",
            "event_type": "order.created",
            "received_at": time.time(),
            "content_type": "application/json",
            "body_b64": base64.b64encode(body).decode(),
            "body_size": len(body),
        }
        records.append(
            {
                "messageId": f"m-{index}",
                "receiptHandle": f"rh-{index}",
                "body": json.dumps(message),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:deliveries",
                "awsRegion": "eu-west-1",
            }
        )
    return {"Records": records}


class Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def time_dispatcher(module: Any, event: dict[str, Any]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    original = module.observe

    def observe(outcome: Any) -> None:
        if outcome.latency_ms is not None and outcome.failure is None:
            latencies.append(outcome.latency_ms)
        original(outcome)

    module.observe = observe
    with contextlib.redirect_stdout(io.StringIO()):
        started = time.perf_counter()
        response = module.handler(event, Context())
        elapsed = time.perf_counter() - started
    module.observe = original
    return elapsed, latencies, response  # type: ignore[return-value]


def floor(urls: list[str], concurrency: int) -> float:
    manager = urllib3.PoolManager(maxsize=concurrency, block=False)
    body = b'{"type":"order.created"}'

    def post(url: str) -> int:
        return manager.request("POST", url, body=body, retries=False).status

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(post, urls))  # warm the connections, as the dispatcher's run is warm
        started = time.perf_counter()
        statuses = list(pool.map(post, urls))
        elapsed = time.perf_counter() - started
    assert statuses == [200] * len(urls)
    return elapsed


def sequential(urls: list[str]) -> float:
    manager = urllib3.PoolManager()
    started = time.perf_counter()
    for url in urls:
        manager.request("POST", url, body=b"{}", retries=False)
    return time.perf_counter() - started


def median_dispatch(module: Any, runs: int = RUNS) -> float:
    event = sqs_event(DELIVERIES)
    time_dispatcher(module, event)  # warm-up: connections and caches
    return statistics.median(time_dispatcher(module, event)[0] for _ in range(runs))


def main() -> None:
    warnings.filterwarnings("ignore", message="No application metrics")
    servers = [endpoint(ENDPOINT_DELAY) for _ in range(4)]
    urls = [url_of(servers[i % len(servers)]) for i in range(DELIVERIES)]
    print(f"{DELIVERIES} deliveries, endpoints answer after {ENDPOINT_DELAY * 1000:.0f} ms")
    seq = sequential(urls)
    print(f"  naive sequential loop: {seq * 1000:.0f} ms")
    for concurrency in (10, 50, 100):
        module = load_dispatcher(concurrency, urls)
        dispatched = median_dispatch(module)
        bare = statistics.median(floor(urls, concurrency) for _ in range(RUNS))
        ratio = dispatched / bare
        speedup = seq / dispatched
        verdict = "met" if ratio <= 1.25 else "MISSED"
        extra = ""
        if concurrency == 50:
            extra = f"; {speedup:.1f}x faster than sequential (target >= 20x: "
            extra += "met)" if speedup >= 20 else "MISSED)"
        print(
            f"  concurrency {concurrency:>3}: dispatcher {dispatched * 1000:.0f} ms, "
            f"floor {bare * 1000:.0f} ms, ratio {ratio:.2f} (target <= 1.25: {verdict}){extra}"
        )

    # One endpoint never answers: do the other deliveries notice?
    hanging = endpoint(None)
    module = load_dispatcher(50, [*urls[:-1], url_of(hanging)])
    event = sqs_event(DELIVERIES)
    time_dispatcher(module, event)
    healthy_runs = [time_dispatcher(module, event)[1] for _ in range(3)]
    module = load_dispatcher(50, urls)
    time_dispatcher(module, event)
    baseline_runs = [time_dispatcher(module, event)[1] for _ in range(3)]
    with_hang = statistics.median(statistics.median(r) for r in healthy_runs)
    baseline = statistics.median(statistics.median(r) for r in baseline_runs)
    ratio = with_hang / baseline
    print(
        f"  one endpoint hangs (timeout 2 s), concurrency 50: healthy delivery latency p50 "
        f"{with_hang:.1f} ms vs {baseline:.1f} ms all-healthy, ratio {ratio:.2f} "
        f"(target <= 1.2: {'met' if ratio <= 1.2 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
