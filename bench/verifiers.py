"""Verification time per source kind: ``verify()`` alone, p50 and p99 over many requests.

Run with ``make bench`` (or ``python bench/verifiers.py``). ``python bench/verifiers.py
KIND N`` verifies N requests of one built-in kind and prints nothing, for instruction
counts (``valgrind --tool=callgrind``). The built-in kinds are signed here by hand, as
their providers document; the named providers (issue 16) with their test cases' signers
(tests/provider_cases). Compare two commits by running this same file against each: it
needs nothing newer than ``verify``, ``Source`` and ``InboundRequest``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hookhaven.models import Secret, Source, SourceKind  # noqa: E402
from hookhaven.verification import InboundRequest, verify  # noqa: E402

REQUESTS = 5_000
NOW = int(time.time())
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET = "bench-shared-secret-0123456789abcdef"


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _body(index: int) -> bytes:
    return json.dumps(
        {
            "id": f"evt_bench_{index:08d}",
            "type": "order.created",
            "event_id": f"Ev{index:08d}",
            "data": {"object": {"amount": 2499, "note": "x" * 1900}},
        }
    ).encode()


def _built_in(kind: str, body: bytes) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if kind == "standard":
        key = base64.b64decode(STANDARD_SECRET.removeprefix("whsec_"))
        signature = base64.b64encode(_mac(key, f"msg_1.{NOW}.".encode() + body)).decode()
        headers |= {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(NOW),
            "webhook-signature": f"v1,{signature}",
        }
    elif kind == "stripe":
        signature = _mac(SECRET.encode(), f"{NOW}.".encode() + body).hex()
        headers["stripe-signature"] = f"t={NOW},v1={signature}"
    elif kind == "github":
        headers |= {
            "x-hub-signature-256": "sha256=" + _mac(SECRET.encode(), body).hex(),
            "x-github-event": "push",
            "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        }
    elif kind == "shopify":
        headers |= {
            "x-shopify-hmac-sha256": base64.b64encode(_mac(SECRET.encode(), body)).decode(),
            "x-shopify-topic": "orders/create",
            "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        }
    elif kind == "slack":
        signature = _mac(SECRET.encode(), f"v0:{NOW}:".encode() + body).hex()
        headers |= {"x-slack-request-timestamp": str(NOW), "x-slack-signature": f"v0={signature}"}
    elif kind == "hmac":
        headers["x-signature"] = _mac(SECRET.encode(), body).hex()
    return headers


def _source(kind: str, secret: str) -> Source:
    return Source(
        name=kind,
        kind=SourceKind(kind),
        secrets=(Secret(value=secret, created_at=NOW - 100),),
        created_at=NOW - 100,
        updated_at=NOW - 100,
    )


def _measure(source: Source, requests: list[InboundRequest], now: float) -> tuple[float, float]:
    for request in requests[:200]:
        verify(source, request, now)  # warm: the first call loads the kind's verifier
    samples = []
    for request in requests:
        start = time.perf_counter()
        verify(source, request, now)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[len(samples) // 2] * 1e6, samples[int(len(samples) * 0.99)] * 1e6


def _cases() -> list[tuple[str, Source, list[InboundRequest], float]]:
    """The named providers' test cases, where this commit has them."""
    try:
        from tests.provider_cases import CASES
        from tests.provider_cases import NOW as CASE_NOW
    except ImportError:
        return []
    found = []
    for case in CASES:
        headers = {k.lower(): v for k, v in case.headers.items()}
        signed = case.sign(case.body, CASE_NOW, case.signing_key, case.url)
        headers |= {k.lower(): v for k, v in signed.items()}
        request = InboundRequest(headers=headers, body=case.body, url=case.url)
        found.append(
            (case.id, _source(case.kind, case.source_secret), [request] * REQUESTS, CASE_NOW)
        )
    return found


BUILT_IN = ("standard", "stripe", "github", "shopify", "slack", "hmac")


def _requests(kind: str, count: int) -> list[InboundRequest]:
    requests = []
    for index in range(count):
        body = _body(index)
        requests.append(InboundRequest(headers=_built_in(kind, body), body=body))
    return requests


def count_only(kind: str, count: int) -> None:
    """``count`` verifications of one built-in kind and nothing else: run under
    ``valgrind --tool=callgrind`` at two counts, the difference in instructions over the
    difference in count is one verification's cost, whatever the machine is doing."""
    source = _source(kind, STANDARD_SECRET if kind == "standard" else SECRET)
    requests = _requests(kind, count)
    for request in requests:
        verify(source, request, NOW)


def main() -> None:
    if len(sys.argv) == 3:
        count_only(sys.argv[1], int(sys.argv[2]))
        return
    rows: list[tuple[str, float, float]] = []
    secrets: dict[str, str] = {"standard": STANDARD_SECRET}
    for kind in BUILT_IN:
        source = _source(kind, secrets.get(kind, SECRET))
        requests = _requests(kind, REQUESTS)
        rows.append((kind, *_measure(source, requests, NOW)))
    for name, source, requests, now in _cases():
        rows.append((name, *_measure(source, requests, now)))
    print(f"verify(), {REQUESTS} requests per kind (~2 KB bodies for the built-in kinds)")
    for name, p50, p99 in rows:
        print(f"  {name:<22} p50 {p50:7.1f} us   p99 {p99:7.1f} us")


if __name__ == "__main__":
    main()
