"""The local ingest API in front of the receiver handler (under mock_aws, in process): it
encodes bodies and refuses requests as API Gateway's HTTP API does, and takes a burst.

What is refused is refused before the receiver is invoked, with API Gateway's own answer
(``{"message": ...}``), never the receiver's (``{"error": ..., "message": ...}``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from functions.receiver import ReceiverFunction
from hookhaven import quotas
from hookhaven.local.api import (
    LISTEN_BACKLOG,
    LocalApi,
    event_headers,
    http_api_event,
    invocation_payload_bytes,
)
from hookhaven.models import FieldRef, HmacOptions, Secret, Source, SourceKind
from hookhaven.resources import Resources
from tests.conftest import function_logs
from tests.integration.helpers import add_source, config
from tests.providers import SECRETS, github_signature, signature_headers

API_GATEWAY_TOO_LARGE = {"message": "Request Entity Too Large"}
API_GATEWAY_HEADERS_TOO_LARGE = {"message": "Request Header Fields Too Large"}
#: An hmac source whose id and type come from headers, so its body may be anything.
RAW = HmacOptions(
    header="x-raw-signature",
    prefix="sha256=",
    id_from=FieldRef.parse("header:x-raw-id"),
    type_from=FieldRef.parse("header:x-raw-event"),
)
RAW_SECRET = "raw-shared-secret-0123456789abcdef"


class Recording:
    """The receiver handler, remembering every event it was invoked with."""

    def __init__(self, function: ReceiverFunction) -> None:
        self.function = function
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.events.append(event)
        with function_logs():
            return self.function.handler(event, context)


@pytest.fixture
def serve(
    aws: Resources, make_receiver: Callable[..., ReceiverFunction]
) -> Iterator[Callable[..., tuple[LocalApi, Recording]]]:
    """``serve(max_body_bytes=...)``: the local API around a receiver with those settings."""
    started: list[LocalApi] = []

    def start(**changes: Any) -> tuple[LocalApi, Recording]:
        recording = Recording(make_receiver(**changes))
        api = LocalApi(recording, port=0).start()
        started.append(api)
        return api, recording

    yield start
    for api in started:
        api.stop()


def post(
    api: LocalApi, path: str, body: bytes, headers: dict[str, str], timeout: float = 60
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(
        "127.0.0.1", api.server.server_address[1], timeout=timeout
    )
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def raw_request(api: LocalApi, request: bytes) -> tuple[int, Any]:
    """Send these exact bytes; the status and JSON body of the answer."""
    with socket.create_connection(("127.0.0.1", api.server.server_address[1]), timeout=30) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read() or b"{}")


def add_raw_source(aws: Resources, name: str = "raw") -> None:
    now = time.time()
    config(aws).put_source(
        Source(
            name=name,
            kind=SourceKind.HMAC,
            secrets=(Secret(value=RAW_SECRET, created_at=now),),
            hmac=RAW,
            created_at=now,
            updated_at=now,
        )
    )


def raw_headers(body: bytes, content_type: str) -> dict[str, str]:
    digest = hmac.new(RAW_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "content-type": content_type,
        "x-raw-signature": "sha256=" + digest,
        "x-raw-id": uuid.uuid4().hex,
        "x-raw-event": "blob.uploaded",
    }


# --- Bodies, encoded as payload format 2.0 encodes them ---------------------------------


@pytest.mark.parametrize(
    ("content_type", "as_text"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("text/plain", True),
        ("text/csv; charset=utf-8", True),
        ("application/xml", True),
        ("application/javascript", True),
        ("application/vnd.api+json", True),
        ("application/atom+xml", True),
        ("application/x-www-form-urlencoded", False),
        ("application/x-www-form-urlencoded; charset=utf-8", False),
        ("multipart/form-data; boundary=x", False),
        ("application/octet-stream", False),
        ("application/cloudevents-batch", False),
        ("", False),
    ],
)
def test_bodies_are_text_only_for_the_media_types_http_api_passes_as_text(content_type, as_text):
    body = b"payload=%7B%22a%22%3A1%7D"
    event = http_api_event(
        "POST", "/webhooks/shop", {"Content-Type": content_type}, body, "127.0.0.1"
    )
    assert event["isBase64Encoded"] is not as_text
    assert event["body"] == (body.decode() if as_text else base64.b64encode(body).decode())


def test_repeated_headers_are_joined_with_commas():
    pairs = [("X-Tag", "a"), ("x-tag", "b"), ("Content-Type", "application/json")]
    assert event_headers(pairs) == {"x-tag": "a,b", "content-type": "application/json"}


def test_a_github_form_delivery_arrives_base64_encoded_and_is_accepted(aws, serve):
    # GitHub's "application/x-www-form-urlencoded" content type: payload=<JSON>, signed as
    # sent. On AWS it reaches the receiver base64-encoded; the receiver decodes it.
    add_source(aws, "github", "github")
    api, recording = serve()
    payload = json.dumps({"action": "opened", "number": 7, "pull_request": {"title": "a & b"}})
    body = f"payload={quote(payload)}".encode()
    status, answer = post(
        api,
        "/webhooks/github",
        body,
        {
            "content-type": "application/x-www-form-urlencoded",
            "x-github-event": "pull_request",
            "x-github-delivery": str(uuid.uuid4()),
            "x-hub-signature-256": github_signature(SECRETS["github"], body),
        },
    )
    assert status == 202, answer
    (event,) = recording.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


# --- Refused as API Gateway refuses ------------------------------------------------------


def test_a_text_body_of_control_characters_at_the_largest_limit_still_reaches_the_receiver(
    aws, serve
):
    # The worst case for size: text whose every character is JSON-escaped to 6 bytes.
    # max_body_bytes at its ceiling still keeps such a body's event under Lambda's 6 MB,
    # so API Gateway passes it on and the receiver (not its own 413) accepts it.
    largest = quotas.largest_body_that_always_fits()
    add_raw_source(aws)
    api, recording = serve(max_body_bytes=largest)
    body = b"\x01" * (largest - 64)
    status, answer = post(api, "/webhooks/raw", body, raw_headers(body, "text/plain"))
    assert status == 202, answer
    (event,) = recording.events
    assert event["isBase64Encoded"] is False
    size = invocation_payload_bytes(event)
    assert 6 * len(body) < size <= quotas.LAMBDA_SYNC_PAYLOAD.value


def test_a_binary_body_whose_event_exceeds_lambdas_6mb_gets_api_gateways_413(aws, serve):
    # ~4.8 MB of binary is ~6.4 MB once base64-encoded: Lambda refuses the invocation and
    # API Gateway answers 413 itself; the receiver is never invoked.
    add_raw_source(aws)
    api, recording = serve()
    body = os.urandom(4_800_000)
    status, answer = post(api, "/webhooks/raw", body, raw_headers(body, "application/octet-stream"))
    assert (status, answer) == (413, API_GATEWAY_TOO_LARGE)
    assert recording.events == []


def test_a_binary_body_whose_event_fits_gets_the_receivers_own_413(aws, serve):
    # Just under the invocation limit, the request reaches the receiver, which refuses a
    # body over max_body_bytes with its own 413: the two 413s differ in body, as on AWS.
    add_raw_source(aws)
    api, recording = serve()
    body = os.urandom((quotas.LAMBDA_SYNC_PAYLOAD.value - 4096) * 3 // 4)
    status, answer = post(api, "/webhooks/raw", body, raw_headers(body, "application/octet-stream"))
    assert status == 413
    assert answer["error"] == "payload_too_large"
    (event,) = recording.events
    assert invocation_payload_bytes(event) <= quotas.LAMBDA_SYNC_PAYLOAD.value


def test_a_body_over_10mb_gets_api_gateways_413(aws, serve):
    api, recording = serve()
    body = b"{}" + b" " * quotas.HTTP_API_PAYLOAD.value
    status, answer = post(api, "/webhooks/raw", body, {"content-type": "application/json"})
    assert (status, answer) == (413, API_GATEWAY_TOO_LARGE)
    assert recording.events == []


def _request_of(size: int) -> bytes:
    """A request whose request line and header values add up to ``size`` bytes."""
    line = "POST /webhooks/nowhere HTTP/1.1"
    fixed = {"Host": "127.0.0.1", "Content-Type": "application/json", "Content-Length": "2"}
    pad = size - len(line) - sum(len(v) for v in fixed.values())
    headers = {**fixed, "X-Pad": "p" * pad}
    head = line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + b"{}"


def test_request_line_and_headers_over_10240_bytes_get_431(aws, serve):
    api, recording = serve()
    limit = quotas.HTTP_API_REQUEST_LINE_AND_HEADERS.value
    status, answer = raw_request(api, _request_of(limit))
    assert (status, answer["error"]) == (404, "unknown_source")  # at the limit: passed on
    assert len(recording.events) == 1
    status, answer = raw_request(api, _request_of(limit + 1))
    assert (status, answer) == (431, API_GATEWAY_HEADERS_TOO_LARGE)
    assert len(recording.events) == 1


def test_repeated_headers_count_every_value(aws, serve):
    api, recording = serve()
    many = "POST /webhooks/nowhere HTTP/1.1\r\nContent-Length: 0\r\n" + "X-Tag: t\r\n" * 20
    status, _ = raw_request(api, (many + "\r\n").encode())
    assert status == 404
    assert recording.events[0]["headers"]["x-tag"] == ",".join(["t"] * 20)


# --- A burst -------------------------------------------------------------------------


def test_a_burst_of_200_concurrent_connections_is_answered_without_a_reset(aws, serve):
    # Every client connects at the same moment and POSTs: half a valid webhook, half to an
    # unknown source. API Gateway answers each; so must the local API (its listen backlog
    # is large), and one invocation at a time, so no request is handled as another's.
    assert LISTEN_BACKLOG >= 1024
    add_source(aws, "shop", "standard")
    api, recording = serve()
    clients = 200
    ready = threading.Barrier(clients)
    answers: list[tuple[int, Any] | BaseException] = [RuntimeError("no answer")] * clients

    def client(number: int) -> None:
        body = json.dumps({"type": "order.created", "data": {"order": f"BH-{number}"}}).encode()
        headers = {"content-type": "application/json"}
        path = "/webhooks/nowhere"
        if number % 2 == 0:
            path = "/webhooks/shop"
            headers |= signature_headers(
                "standard", SECRETS["standard"], body, time.time(), msg_id=f"msg_burst_{number}"
            )
        connection = http.client.HTTPConnection(
            "127.0.0.1", api.server.server_address[1], timeout=120
        )
        try:
            ready.wait()
            connection.connect()
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            answers[number] = (response.status, json.loads(response.read()))
        except BaseException as error:  # a reset, a refusal, a timeout: the test fails
            answers[number] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    errors = [a for a in answers if isinstance(a, BaseException)]
    assert errors == []
    statuses = [a[0] if not isinstance(a, BaseException) else 0 for a in answers]
    assert statuses == [202 if n % 2 == 0 else 404 for n in range(clients)]
    ids = {a[1]["id"] for a in answers if not isinstance(a, BaseException) and a[0] == 202}
    assert len(ids) == clients // 2  # each accepted as itself, none as a duplicate of another
    assert len(recording.events) == clients
