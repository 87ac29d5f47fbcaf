"""The Book Haven demo: a shop's webhook source and four subscribers on loopback.

Inventory, warehouse and e-mail verify every delivery's Standard Webhooks
signature and print one line per event; ``flaky`` fails about half its
requests so retries (and, with bad luck, the DLQ) are visible.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hookhaven.models import Secret, Source, SourceKind
from hookhaven.signatures import new_standard_secret
from hookhaven.verification import InboundRequest, InvalidSignature, verify

DEMO_SOURCE = "bookhaven"


@dataclass
class DemoSubscriber:
    """A subscriber service: verifies signatures with its secret, prints, answers."""

    name: str
    secret: str = field(default_factory=new_standard_secret)
    failure_rate: float = 0.0
    say: Callable[[str], None] = print
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        subscriber = self
        now = time.time()
        verifier = Source(
            name="demo",
            kind=SourceKind.STANDARD,
            secrets=(Secret(value=self.secret, created_at=now),),
            created_at=now,
            updated_at=now,
        )
        rng = random.Random()  # noqa: S311 (simulated flakiness, not a secret)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                event_id = headers.get("webhook-id", "?")
                attempt = headers.get("hookhaven-attempt", "?")
                try:
                    verify(verifier, InboundRequest(headers, body), time.time())
                except InvalidSignature:
                    subscriber.say(f"[{subscriber.name}] REJECTED {event_id}: bad signature")
                    self._answer(401)
                    return
                if rng.random() < subscriber.failure_rate:
                    subscriber.say(
                        f"[{subscriber.name}] failing {event_id} on purpose (attempt {attempt})"
                    )
                    self._answer(503)
                    return
                subscriber.seen.append(event_id)
                subscriber.say(
                    f"[{subscriber.name}] {event_id} {headers.get('hookhaven-event-type', '?')}"
                    f"{_order(body)} (signature ok, attempt {attempt})"
                )
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _order(body: bytes) -> str:
    try:
        data = json.loads(body).get("data", {})
    except (ValueError, AttributeError):
        return ""
    order = data.get("order") if isinstance(data, dict) else None
    return f" order {order}" if order else ""


def demo_subscribers(say: Callable[[str], None] = print) -> list[DemoSubscriber]:
    return [
        DemoSubscriber("inventory", say=say),
        DemoSubscriber("warehouse", say=say),
        DemoSubscriber("email", say=say),
        DemoSubscriber("flaky", failure_rate=0.5, say=say),
    ]
