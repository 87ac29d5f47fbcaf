"""send: the test request is signed so that hookhaven's own verifier accepts it."""

from __future__ import annotations

import json

import pytest

from hookhaven.memory import MemoryConfig
from hookhaven.models import FieldRef, SourceKind
from hookhaven.operations import OperationError
from hookhaven.operations.config import add_source, rotate_source_secret
from hookhaven.operations.send import SendResult, send_test_event, signed_request
from hookhaven.verification import InboundRequest, verify

NOW = 1_800_000_000.0


def test_a_standard_request_verifies_with_the_newest_secret():
    store = MemoryConfig()
    add_source(store, name="shop", kind=SourceKind.STANDARD, secret=None, now=NOW)
    rotate_source_secret(store, "shop", secret=None, keep_old=0, now=NOW)
    source = store.sources["shop"]
    body, headers = signed_request(source, "order.created", {"order": "BH-1"}, NOW)
    verified = verify(source, InboundRequest(headers, body), NOW)
    assert verified.event_type == "order.created"
    assert json.loads(body)["data"] == {"order": "BH-1"}


@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_an_hmac_request_carries_id_and_type_where_the_source_reads_them(encoding):
    store = MemoryConfig()
    settings = {
        "header": "x-courier-signature",
        "encoding": encoding,
        "prefix": "sha256=",
        "id_from": FieldRef.parse("field:id"),
        "type_from": FieldRef.parse("header:x-courier-event"),
    }
    add_source(store, name="courier", kind=SourceKind.HMAC, secret="s3cret", hmac=settings, now=NOW)
    source = store.sources["courier"]
    body, headers = signed_request(source, "shipment.dispatched", {"parcel": "P1"}, NOW)
    verified = verify(source, InboundRequest(headers, body), NOW)
    assert verified.event_type == "shipment.dispatched"
    assert verified.provider_event_id == json.loads(body)["id"]
    assert headers["x-courier-signature"].startswith("sha256=")


def test_send_posts_to_the_source_endpoint_and_returns_the_answer_whatever_it_is():
    store = MemoryConfig()
    add_source(store, name="shop", kind=SourceKind.STANDARD, secret=None, now=NOW)
    posted: list[str] = []

    def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        posted.append(url)
        return (202, b'{"id": "evt_1"}') if len(posted) == 1 else (502, b"bad gateway")

    def send() -> SendResult:
        return send_test_event(
            store, source_name="shop", event_type="order.created", data={},
            base_url="http://127.0.0.1:3000/", now=NOW, post=post,
        )  # fmt: skip

    accepted = send()
    assert posted == ["http://127.0.0.1:3000/webhooks/shop"]
    assert (accepted.accepted, accepted.event_id) == (True, "evt_1")
    refused = send()
    assert refused.accepted is False
    assert refused.response == {"body": "bad gateway"}


def test_send_refuses_what_it_cannot_sign_or_reach():
    store = MemoryConfig()
    add_source(store, name="shop", kind=SourceKind.STANDARD, secret=None, now=NOW)
    add_source(store, name="gh", kind=SourceKind.GITHUB, secret="s", now=NOW)

    def unreachable(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        raise ConnectionRefusedError(111, "Connection refused")

    def send(source: str, event_type: str, base_url: str | None = "http://127.0.0.1:9") -> None:
        send_test_event(
            store, source_name=source, event_type=event_type, data={}, base_url=base_url,
            now=NOW, post=unreachable,
        )  # fmt: skip

    with pytest.raises(OperationError, match=r"bad --type 'order\.\*'"):
        send("shop", "order.*")  # a pattern, not a type
    with pytest.raises(OperationError, match="standard and hmac"):
        send("gh", "push")
    with pytest.raises(OperationError, match="no source named ghost"):
        send("ghost", "x")
    with pytest.raises(OperationError, match="no API URL"):
        send("shop", "x", base_url=None)
    with pytest.raises(OperationError, match=r"cannot reach http://127\.0\.0\.1:9"):
        send("shop", "x")
