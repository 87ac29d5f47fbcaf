"""Each kind's signature check at its edges, deterministically: empty and truncated
signatures, the genuine one first, last and alone among several, a body that is not UTF-8
signed over its raw bytes, a missing or wrong prefix.

The signatures here are computed by hand over the raw bytes (the providers' libraries
sign text, so they cannot sign a body that is not UTF-8). Verification may still refuse an
authentic request as malformed (400): only ``InvalidSignature`` (401) means the signature
was not accepted, so that is what these tests tell apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from hookhaven.verification import InboundRequest, InvalidSignature, MalformedPayload, verify
from tests.providers import SECRETS
from tests.unit.test_verification import NOW, source_for

TS = int(NOW)
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
#: Valid JSON for every kind's parser, and a body that is not UTF-8 at all.
JSON_BODY = b'{"id":"evt_1","type":"order.created","data":{"title":"Caf\\u00e9"}}'
RAW_BODY = b"\xff\xfe order \x80\x81 \xc3\x28"


def _mac(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).digest()


@dataclass(frozen=True)
class Scheme:
    """How a kind carries its signature(s): which header, each signature's prefix, and how
    several are put together (None: the kind sends one only)."""

    kind: str
    header: str
    prefix: str
    sign: Callable[[bytes], str]  # the genuine signature of a body, without prefix
    join: Callable[[list[str]], str] | None
    other: dict[str, str]

    def headers(self, signatures: list[str]) -> dict[str, str]:
        value = self.join(signatures) if self.join else signatures[0]
        return {**self.other, self.header: value}

    def single(self, signature: str, body: bytes) -> InboundRequest:
        return InboundRequest(self.headers([signature]), body)

    def genuine(self, body: bytes) -> str:
        return self.prefix + self.sign(body)


def _standard(body: bytes) -> str:
    key = base64.b64decode(SECRETS["standard"].removeprefix("whsec_"))
    return base64.b64encode(_mac(key, f"{MSG_ID}.{TS}.".encode() + body)).decode()


SCHEMES = [
    Scheme(
        "standard",
        "webhook-signature",
        "v1,",
        _standard,
        " ".join,
        {"webhook-id": MSG_ID, "webhook-timestamp": str(TS)},
    ),
    Scheme(
        "stripe",
        "stripe-signature",
        "v1=",
        lambda body: _mac(SECRETS["stripe"].encode(), f"{TS}.".encode() + body).hex(),
        lambda sigs: ",".join([f"t={TS}", *sigs]),
        {},
    ),
    Scheme(
        "github",
        "x-hub-signature-256",
        "sha256=",
        lambda body: _mac(SECRETS["github"].encode(), body).hex(),
        None,
        {"x-github-event": "ping", "x-github-delivery": "d-1"},
    ),
    Scheme(
        "shopify",
        "x-shopify-hmac-sha256",
        "",
        lambda body: base64.b64encode(_mac(SECRETS["shopify"].encode(), body)).decode(),
        None,
        {"x-shopify-topic": "orders/create", "x-shopify-webhook-id": "w-1"},
    ),
    Scheme(
        "slack",
        "x-slack-signature",
        "v0=",
        lambda body: _mac(SECRETS["slack"].encode(), f"v0:{TS}:".encode() + body).hex(),
        None,
        {"x-slack-request-timestamp": str(TS)},
    ),
    Scheme(
        "hmac",
        "x-courier-signature",
        "sha256=",
        lambda body: _mac(SECRETS["hmac"].encode(), body).hex(),
        None,
        {"x-courier-event": "shipment.dispatched"},
    ),
]
BY_KIND = {scheme.kind: scheme for scheme in SCHEMES}
KINDS = [scheme.kind for scheme in SCHEMES]
SEVERAL = [scheme.kind for scheme in SCHEMES if scheme.join is not None]


def accepted(scheme: Scheme, request: InboundRequest) -> bool:
    """Whether the signature was accepted (what follows may still find it malformed)."""
    try:
        verify(source_for(scheme.kind), request, NOW)
    except InvalidSignature:
        return False
    except MalformedPayload:
        return True
    return True


def _wrong(scheme: Scheme, n: int) -> str:
    """A signature of the genuine one's shape that is not it: another body's."""
    return scheme.sign(b"not the body %d" % n)


@pytest.mark.parametrize("kind", KINDS)
def test_the_genuine_signature_is_accepted(kind):
    scheme = BY_KIND[kind]
    assert accepted(scheme, scheme.single(scheme.genuine(JSON_BODY), JSON_BODY))


@pytest.mark.parametrize("kind", KINDS)
def test_a_body_that_is_not_utf8_is_signed_over_its_raw_bytes(kind):
    scheme = BY_KIND[kind]
    assert accepted(scheme, scheme.single(scheme.genuine(RAW_BODY), RAW_BODY))
    # Signed over the text a lenient decoder makes of it: not the same bytes, refused.
    decoded = RAW_BODY.decode("utf-8", errors="replace").encode()
    assert not accepted(scheme, scheme.single(scheme.genuine(decoded), RAW_BODY))


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_signature_is_refused(kind):
    scheme = BY_KIND[kind]
    assert not accepted(scheme, scheme.single(scheme.prefix, JSON_BODY))
    assert not accepted(scheme, scheme.single(scheme.prefix + " ", JSON_BODY))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keep", [0.5, -1, -2, 1])
def test_a_truncated_signature_is_refused(kind, keep):
    scheme = BY_KIND[kind]
    signature = scheme.sign(JSON_BODY)
    cut = signature[: int(len(signature) * keep)] if isinstance(keep, float) else None
    shortened = cut if cut is not None else signature[:keep]
    assert not accepted(scheme, scheme.single(scheme.prefix + shortened, JSON_BODY))


@pytest.mark.parametrize("kind", [k for k in KINDS if BY_KIND[k].prefix])
def test_a_missing_or_wrong_prefix_is_refused(kind):
    scheme = BY_KIND[kind]
    signature = scheme.sign(JSON_BODY)
    assert not accepted(scheme, scheme.single(signature, JSON_BODY))  # no prefix
    wrong = {"v1,": "v2,", "v1=": "v0=", "sha256=": "sha1=", "v0=": "v1="}[scheme.prefix]
    assert not accepted(scheme, scheme.single(wrong + signature, JSON_BODY))


@pytest.mark.parametrize("kind", SEVERAL)
@pytest.mark.parametrize("position", ["first", "last", "alone"])
def test_the_genuine_signature_counts_wherever_it_stands_among_several(kind, position):
    scheme = BY_KIND[kind]
    genuine = scheme.genuine(JSON_BODY)
    others = [scheme.prefix + _wrong(scheme, n) for n in range(3)]
    signatures = {
        "first": [genuine, *others],
        "last": [*others, genuine],
        "alone": [genuine],
    }[position]
    assert accepted(scheme, InboundRequest(scheme.headers(signatures), JSON_BODY))


@pytest.mark.parametrize("kind", SEVERAL)
def test_several_signatures_none_genuine_are_refused(kind):
    scheme = BY_KIND[kind]
    others = [scheme.prefix + _wrong(scheme, n) for n in range(3)]
    assert not accepted(scheme, InboundRequest(scheme.headers(others), JSON_BODY))
    # Nor with an empty one among them.
    assert not accepted(scheme, InboundRequest(scheme.headers([*others, scheme.prefix]), JSON_BODY))
