"""The echo subscriber on loopback, for ``hookhaven smoke`` against the local stack.

The handler the stack deploys behind a function URL (``functions/echo.py``), behind a
small HTTP server on 127.0.0.1 instead: each request becomes a function URL event
(payload format 2.0), and the handler's answer the HTTP response. It reads the run's
secret from the emulator's config table, as the deployed function reads it from AWS.
"""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from functions.echo import EchoFunction, SecretLookup


class LocalEchoSubscriber:
    def __init__(self, secrets: SecretLookup, *, port: int = 0) -> None:
        # Quiet: this runs inside the CLI, whose stdout is the command's output.
        self.function = EchoFunction(secrets, log=lambda line: None)
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LocalEchoSubscriber:
        function = self.function

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._invoke()

            def do_GET(self) -> None:
                self._invoke()

            def _invoke(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                path = self.path.split("?", 1)[0]
                event = {
                    "version": "2.0",
                    "rawPath": path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": base64.b64encode(body).decode(),
                    "isBase64Encoded": True,
                    "requestContext": {"http": {"method": self.command, "path": path}},
                }
                answer = function.handle(event)
                payload = str(answer.get("body") or "").encode()
                self.send_response(int(answer["statusCode"]))
                for name, value in (answer.get("headers") or {}).items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="echo-subscriber", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalEchoSubscriber:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
