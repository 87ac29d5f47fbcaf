"""The local ingest API: HTTP requests in, HTTP API v2 events to the receiver handler, HTTP out.

It does what API Gateway's HTTP API does for hookhaven, and refuses what it refuses, with
the status and the body API Gateway answers (``{"message": ...}``), the handler never
called (``hookhaven.quotas`` has each limit and where AWS documents it):

- the request line and the header values together over 10,240 bytes: 431;
- a body over 10 MB: 413;
- a request whose event (the JSON Lambda would be invoked with) is over Lambda's 6 MB
  synchronous payload: 413, as API Gateway answers when Lambda refuses the invocation;
- the handler raising: 500.

Everything else becomes a payload format 2.0 event: the body as text for the media types
HTTP API passes as text, base64 (``isBase64Encoded``) for every other one, form-encoded
bodies included; repeated headers joined with commas. The receiver answers the rest,
its own 413 for a body over ``max_body_bytes`` included.

The handler runs one invocation at a time, as in one Lambda execution environment: the
receiver is not safe to run concurrently in one process (Powertools' resolver keeps the
current event in a class attribute). Connections are still accepted at once and each
waits its turn; none is refused or reset.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from hookhaven import quotas
from hookhaven.local.context import LambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

#: What API Gateway answers when a request is too large for it or for the integration
#: (Lambda refuses an invocation over its payload limit with RequestEntityTooLargeException,
#: HTTP 413, and API Gateway passes the 413 on). See ``quotas.LAMBDA_SYNC_PAYLOAD``.
TOO_LARGE = (413, "Request Entity Too Large")
#: What API Gateway answers when the request line and headers exceed its quota; see
#: ``quotas.HTTP_API_REQUEST_LINE_AND_HEADERS`` for why 431 rather than 413.
HEADERS_TOO_LARGE = (431, "Request Header Fields Too Large")
#: A handler that raised: Lambda reports a function error, API Gateway answers 500.
INTERNAL_ERROR = (500, "Internal Server Error")
#: How long the API waits for the rest of a body it refuses, so that the client, still
#: sending, reads the answer instead of a reset; and at most how much it reads for that.
DRAIN_TIMEOUT_SECONDS = 5
DRAIN_MAX_BYTES = 2 * quotas.HTTP_API_PAYLOAD.value
#: The methods the stack routes to the receiver on /webhooks/{source} (infra's Ingest);
#: every other request reaches it as ``$default`` and is answered 405 or 404.
ROUTED_METHODS = ("POST", "HEAD")
#: Connections waiting to be accepted: API Gateway takes a burst without refusing or
#: resetting any; the standard library's default of 5 resets clients beyond a handful.
LISTEN_BACKLOG = 1024


def event_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as payload format 2.0 has them: names lower-cased, a repeated header's
    values joined with commas."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


def http_api_event(
    method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The HTTP API (payload format 2.0) event for one request."""
    parts = urlsplit(raw_path)
    path = parts.path
    segments = path.strip("/").split("/")
    # The stack's routes: POST (webhooks) and HEAD (Trello's check of its callback URL).
    routed = method in ROUTED_METHODS and len(segments) == 2 and segments[0] == "webhooks"
    route_key = f"{method} /webhooks/{{source}}" if routed else "$default"
    lowered = {k.lower(): v for k, v in headers.items()}
    # As HTTP APIs do (quotas.HTTP_API_FORWARDED_HEADERS): a client's X-Forwarded-* become
    # one Forwarded header, and the x-forwarded-* a function sees are the API's own (https
    # there; the local stack serves plain HTTP).
    forwarded = [
        f"{name.removeprefix('x-forwarded-')}={lowered.pop(name)}"
        for name in sorted(lowered)
        if name.startswith("x-forwarded-")
    ]
    forwarded.append(f"for={source_ip};proto=http")
    lowered["forwarded"] = ";".join(forwarded)
    lowered["x-forwarded-for"] = source_ip
    lowered["x-forwarded-proto"] = "http"
    content_type = lowered.get("content-type", "")
    text: str | None = None
    if quotas.http_api_sends_as_text(content_type):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": text is None and bool(body),
        "body": text if text is not None else base64.b64encode(body).decode(),
    }
    if routed:
        event["pathParameters"] = {"source": unquote(segments[1])}
    return event


def invocation_payload_bytes(event: dict[str, Any]) -> int:
    """The size of the event as Lambda receives it: compact JSON, UTF-8. (API Gateway's
    exact serialization is not documented; this is the smallest it can be, so the local
    API never refuses what AWS would take. A control character in a text body is escaped
    to 6 bytes either way.)"""
    return len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


class LocalApi:
    """``LocalApi(handler, port=3000)``; ``start()``/``stop()``."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 3000) -> None:
        api = self
        self.handler = handler
        #: One invocation at a time, as in one execution environment.
        self._invoking = threading.Lock()

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "hookhaven-local"
            # Headers and body go out as they are written: on a kept-alive connection,
            # Nagle's algorithm would hold the body back until the client acknowledged
            # the headers, which it delays by up to 40 ms.
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if self._request_line_and_headers_bytes() > (
                    quotas.HTTP_API_REQUEST_LINE_AND_HEADERS.value
                ):
                    self._refuse(HEADERS_TOO_LARGE, length)
                    return
                if length > quotas.HTTP_API_PAYLOAD.value:
                    self._refuse(TOO_LARGE, length)
                    return
                body = self.rfile.read(length) if length else b""
                event = http_api_event(
                    self.command,
                    self.path,
                    event_headers(self.headers.items()),
                    body,
                    self.client_address[0],
                )
                if invocation_payload_bytes(event) > quotas.LAMBDA_SYNC_PAYLOAD.value:
                    self._refuse(TOO_LARGE, 0)
                    return
                try:
                    with api._invoking:
                        response = api.handler(event, LambdaContext("hookhaven-local-receiver", 10))
                except Exception:  # a crash is what API Gateway reports as 500
                    self._refuse(INTERNAL_ERROR, 0, close=False)
                    return
                raw = response.get("body") or ""
                payload = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
                headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
                if self.command == "HEAD":
                    payload = b""  # a HEAD's answer has headers only, as API Gateway sends it
                self._reply(int(response.get("statusCode", 200)), headers, payload)

            def _request_line_and_headers_bytes(self) -> int:
                """What API Gateway's quota counts: the request line and the header values
                (http.client decodes them as ISO-8859-1: one character per byte)."""
                line = len(self.requestline)
                return line + sum(len(value) for value in self.headers.values())

            def _refuse(self, answer: tuple[int, str], unread: int, *, close: bool = True) -> None:
                """API Gateway's own answer, ``{"message": ...}``; the connection closes once
                what the client is still sending has been read (a close with unread data
                would reach the client as a reset before it read the answer)."""
                status, message = answer
                body = json.dumps({"message": message}, separators=(",", ":")).encode()
                self._reply(status, {"content-type": "application/json"}, body, close=close)
                if close:
                    self._drain(unread)

            def _drain(self, length: int) -> None:
                if not 0 < length <= DRAIN_MAX_BYTES:
                    return
                self.connection.settimeout(DRAIN_TIMEOUT_SECONDS)
                try:
                    while length > 0:
                        chunk = self.rfile.read(min(length, 65536))
                        if not chunk:
                            return
                        length -= len(chunk)
                except OSError:
                    return

            def _reply(
                self, status: int, headers: dict[str, str], payload: bytes, close: bool = False
            ) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                if close:
                    self.send_header("connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()

            do_POST = _handle
            do_HEAD = _handle
            do_GET = _handle
            do_PUT = _handle
            do_DELETE = _handle
            do_PATCH = _handle

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = _Server((host, port), RequestHandler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> LocalApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
