"""The local ingest API: HTTP requests in, HTTP API v2 events to the receiver handler, HTTP out.

It does what API Gateway's HTTP API does for hookhaven: routes ``POST
/webhooks/{source}``, hands the body over as text for the media types HTTP API passes
as text and base64 (``isBase64Encoded``) for every other one, form-encoded bodies
included (``hookhaven.quotas.http_api_sends_as_text``), joins a repeated header's values
with commas, refuses bodies above the limit with the
same 413 JSON the handler gives, and returns the handler's response as HTTP.
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
    routed = method == "POST" and len(segments) == 2 and segments[0] == "webhooks"
    lowered = {k.lower(): v for k, v in headers.items()}
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
        "routeKey": "POST /webhooks/{source}" if routed else "$default",
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
            "routeKey": "POST /webhooks/{source}" if routed else "$default",
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


class LocalApi:
    """``LocalApi(handler, port=3000, max_body_bytes=...)``; ``start()``/``stop()``."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        max_body_bytes: int,
    ) -> None:
        api = self
        self.handler = handler
        self.max_body_bytes = max_body_bytes

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "hookhaven-local"
            # Headers and body go out as they are written: on a kept-alive connection,
            # Nagle's algorithm would hold the body back until the client acknowledged
            # the headers, which it delays by up to 40 ms.
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > api.max_body_bytes:
                    self._reply(
                        413,
                        {"content-type": "application/json"},
                        json.dumps(
                            {
                                "error": "payload_too_large",
                                "message": f"the body is {length} bytes; the limit is "
                                f"{api.max_body_bytes}",
                            }
                        ).encode(),
                        close=True,
                    )
                    return
                body = self.rfile.read(length) if length else b""
                event = http_api_event(
                    self.command,
                    self.path,
                    event_headers(self.headers.items()),
                    body,
                    self.client_address[0],
                )
                try:
                    response = api.handler(event, LambdaContext("hookhaven-local-receiver", 10))
                except Exception:  # a crash is what API Gateway reports as 500
                    self._reply(
                        500,
                        {"content-type": "application/json"},
                        b'{"message":"Internal Server Error"}',
                    )
                    return
                raw = response.get("body") or ""
                payload = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
                headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
                self._reply(int(response.get("statusCode", 200)), headers, payload)

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

            do_POST = _handle
            do_GET = _handle
            do_PUT = _handle
            do_DELETE = _handle
            do_PATCH = _handle

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer((host, port), RequestHandler)
        self.server.daemon_threads = True
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
