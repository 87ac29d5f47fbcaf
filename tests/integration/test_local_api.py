"""The local ingest API in front of the receiver handler (under mock_aws, in process): it
encodes bodies as API Gateway's HTTP API does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from functions.receiver import ReceiverFunction
from hookhaven.local.api import (
    LocalApi,
    event_headers,
    http_api_event,
)
from hookhaven.models import FieldRef, HmacOptions, Secret, Source, SourceKind
from hookhaven.resources import Resources
from tests.conftest import function_logs
from tests.integration.helpers import add_source, config
from tests.providers import SECRETS, github_signature

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
        api = LocalApi(recording, port=0, max_body_bytes=1_000_000).start()
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
