"""Hostile input: hypothesis drives the receiver handler (under mock_aws) with requests that
are random, malformed or almost right.

Whatever arrives, the answer is a 2xx for a genuinely valid request and otherwise a 4xx
with the JSON error body, never a 5xx; a rejected request leaves nothing on the queue
and nothing in the events table.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from functions.receiver import ReceiverFunction
from hookhaven.resources import Resources
from hookhaven.signatures import new_standard_secret
from tests.integration.helpers import add_source, add_subscription
from tests.providers import SECRETS, signature_headers

EVENTS = Path(__file__).resolve().parents[2] / "events" / "http"
MAX_BODY = 8192
SAMPLES = {  # kind: (sample request, source name)
    "standard": ("standard_order_created", "bookhaven"),
    "stripe": ("stripe_payment_intent_succeeded", "stripe"),
    "github": ("github_pull_request_opened", "github"),
    "shopify": ("shopify_orders_create", "shopify"),
    "slack": ("slack_app_mention", "slack"),
    "hmac": ("hmac_shipment_dispatched", "courier"),
}
TEMPLATES = {
    kind: json.loads((EVENTS / f"{name}.json").read_text()) for kind, (name, _) in SAMPLES.items()
}
SIGNATURE_HEADERS = {
    "webhook-signature",
    "stripe-signature",
    "x-hub-signature-256",
    "x-shopify-hmac-sha256",
    "x-slack-signature",
    "x-courier-signature",
}
TIMESTAMP_HEADERS = {"webhook-timestamp", "x-slack-request-timestamp"}


@dataclass
class Case:
    event: dict[str, Any]
    valid: bool  # everything about it is genuine: it must be accepted (or a duplicate)
    #: Not signed with the source's secret over this body and these headers: whatever
    #: else it gets right, it must be refused.
    forged: bool = False


def _almost(text: str, draw: st.DrawFn) -> tuple[str, str]:
    """One character changed, dropped or added: a signature that is almost right; and how."""
    if not text:
        return "x", "flip"
    i = draw(st.integers(0, len(text) - 1))
    how = draw(st.sampled_from(["flip", "drop", "add", "case"]))
    if how == "flip":
        # Another character whatever the case: hex digits are read in either case, so
        # "a" to "A" would leave a hex signature as it was.
        c = "A" if text[i].lower() != "a" else "B"
        return text[:i] + c + text[i + 1 :], how
    if how == "drop":
        return text[:i] + text[i + 1 :], how
    if how == "add":
        return text[:i] + draw(st.sampled_from(["=", ",", " ", "0", "é"])) + text[i:], how
    return text.swapcase(), how


BODIES = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.just(b"x" * (MAX_BODY + 1)),
    st.integers(1, 50_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 20_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.binary(min_size=1, max_size=50).map(lambda b: b"\xff\xfe" + b + b"\xc3"),
    st.sampled_from([b"", b"null", b"[]", b"42", b'"order"', b'{"id": null}', b"{}"]),
    st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=4).map(
        lambda d: json.dumps(d).encode()
    ),
)


@st.composite
def requests(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(sorted(SAMPLES)))
    source = SAMPLES[kind][1]
    event = copy.deepcopy(TEMPLATES[kind])
    sample_body = event["body"].encode() if not event.get("isBase64Encoded") else b""
    valid = True
    body = sample_body
    if draw(st.booleans()):
        body, valid = draw(BODIES), False
    if body != sample_body:
        valid = False
    # Just inside and just outside the tolerance. A past timestamp only grows staler by
    # the time the receiver reads its clock, but a future one grows younger: the header's
    # whole seconds drop up to 1 s, and the receiver looks a moment after signing. A
    # future skew of 301 was refused or accepted by that moment (a fresh clone on a busy
    # machine saw a forged-looking Stripe request, rightly within 300 s, accepted), so the
    # future side keeps a margin.
    skew = draw(st.sampled_from([0, 0, 0, -30, 299, -301, 330, -86400, 10**9]))
    valid &= abs(skew) < 300 or kind not in ("standard", "stripe", "slack")
    # Signed outside the 5-minute tolerance: as good as forged, for the kinds that sign a
    # timestamp (GitHub, Shopify and hmac sign none: a replay is stopped by dedupe).
    forged = abs(skew) > 300 and kind in ("standard", "stripe", "slack")
    secret = SECRETS[kind]
    if draw(st.integers(0, 9)) == 0:
        secret = new_standard_secret() if kind == "standard" else secret + "x"
        valid, forged = False, True
    try:
        signature = signature_headers(kind, secret, body, time.time() + skew)
    except UnicodeError:
        # The providers' libraries sign text only: a well-formed signature of another body.
        signature = signature_headers(kind, secret, sample_body, time.time() + skew)
        forged = True
    headers = {
        **{k: v for k, v in event["headers"].items() if k.lower() not in SIGNATURE_HEADERS},
        **signature,
    }
    for _ in range(draw(st.integers(0, 2))):
        mutation = draw(st.sampled_from(["almost", "drop", "empty", "junk", "timestamp"]))
        name = draw(st.sampled_from(sorted(headers)))
        signed_header = name.lower() in SIGNATURE_HEADERS | TIMESTAMP_HEADERS
        if mutation == "almost" and signed_header:
            headers[name], how = _almost(headers[name], draw)
            # A changed or dropped character breaks it; an added separator or space, or
            # a timestamp's digits in another case, may leave the genuine value readable.
            forged |= how in ("flip", "drop") or (
                how == "case" and name.lower() in SIGNATURE_HEADERS
            )
        elif mutation == "drop":
            del headers[name]
            forged |= signed_header
        elif mutation == "empty":
            headers[name] = draw(st.sampled_from(["", " ", ",", "=", "v1=", "t="]))
            forged |= signed_header
        elif mutation == "junk":
            headers[draw(st.text(min_size=1, max_size=12))] = draw(st.text(max_size=40))
            continue  # an extra header harms nothing
        elif mutation == "timestamp" and name.lower() in TIMESTAMP_HEADERS:
            headers[name] = draw(st.sampled_from(["-1", "1e9", "¹⁷⁰⁰", "0x10", "99999999999999"]))
        else:
            continue
        valid = False
    event["headers"] = headers

    as_base64 = draw(st.booleans())
    event["isBase64Encoded"] = as_base64
    if as_base64:
        encoded = base64.b64encode(body).decode()
        if draw(st.integers(0, 9)) == 0:
            encoded, valid = encoded + "!", False
        event["body"] = encoded
    else:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            # API Gateway base64-encodes what is not text; sending it raw is impossible.
            event["isBase64Encoded"], event["body"] = True, base64.b64encode(body).decode()

    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]))
    target = draw(
        st.one_of(
            st.just(source),
            st.just(source),
            st.sampled_from([s for _, s in SAMPLES.values()]),
            st.text(min_size=1, max_size=20).filter(lambda t: "/" not in t),
        )
    )
    path = draw(
        st.one_of(
            st.just(f"/webhooks/{target}"),
            st.just(f"/webhooks/{target}"),
            st.sampled_from(["/", "/webhooks", "/webhooks/", f"/webhooks/{target}/x", "/admin"]),
        )
    )
    valid &= method == "POST" and target == source and path == f"/webhooks/{source}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["pathParameters"] = {"source": target}
    return Case(event, valid, forged)


@pytest.fixture
def receiver(aws: Resources, make_receiver: Callable[..., ReceiverFunction]) -> ReceiverFunction:
    for kind, (_, source) in SAMPLES.items():
        add_source(aws, source, kind)
    add_subscription(aws)
    return make_receiver(max_body_bytes=MAX_BODY)


def footprint(aws: Resources) -> tuple[int, int]:
    """Messages on the deliveries queue, items in the events table."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws.deliveries_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    items = boto3.client("dynamodb").scan(TableName=aws.events_table, Select="COUNT")["Count"]
    return int(attributes["ApproximateNumberOfMessages"]), items


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=requests())
def test_no_request_breaks_the_receiver_or_leaves_a_trace_when_refused(
    case: Case, aws, receiver, lambda_context
):
    before = footprint(aws)
    response = receiver.handler(case.event, lambda_context)
    status = response["statusCode"]
    event(f"{'valid' if case.valid else 'hostile'} -> {status}")
    assert status < 500, (status, response["body"])
    if case.valid:
        assert status in (200, 202), response["body"]
    if case.forged:
        # Refused, and never past the signature check (no 409, no 503, no 2xx).
        assert status in (400, 401, 404, 405, 413), (status, response["body"])
    if status >= 400:
        body = json.loads(response["body"])
        assert set(body) == {"error", "message"}
        assert isinstance(body["error"], str)
        assert isinstance(body["message"], str)
        assert footprint(aws) == before, f"a {status} left a trace"
