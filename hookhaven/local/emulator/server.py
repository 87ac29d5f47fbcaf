"""The emulator's server: moto's WSGI application behind one lock, on kept-alive connections.

Replaces (patched mode only), as a subclass of
``moto.moto_server.werkzeug_app.MotoRequestHandler``: werkzeug's
``WSGIRequestHandler.run_wsgi`` (it writes through ``http.server``'s private
``_headers_buffer``). Patched or not, requests go through ``_serialized`` (one at a time)
and, with ``PROFILE_ENVIRONMENT`` set, ``_profiled``: neither uses a private name.
"""

from __future__ import annotations

import argparse
import atexit
import io
import json
import os
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from hookhaven.local.emulator import compat, core, dynamodb, events, sqs

#: Set to a file path: the emulator writes its time per AWS operation there when it exits
#: (bench/local_stack.py --profile).
PROFILE_ENVIRONMENT = "HOOKHAVEN_EMULATOR_PROFILE"
#: What this module replaces or relies on (checked before anything is patched).
REPLACES = (
    "moto.moto_server.werkzeug_app:MotoRequestHandler.make_environ",
    "werkzeug.serving:WSGIRequestHandler.run_wsgi",
    "werkzeug.serving:WSGIRequestHandler.make_environ",
    "http.server:BaseHTTPRequestHandler.flush_headers",
)

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class _Serial:
    """The one lock every state-changing request holds; a long poll lets go while it waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()

    def __enter__(self) -> None:
        self._lock.acquire()
        self._local.held = True

    def __exit__(self, *exc: object) -> None:
        self._local.held = False
        self._lock.release()

    def held(self) -> bool:
        return bool(getattr(self._local, "held", False))

    def waiting(self, wait: Callable[[], Any]) -> Any:
        """Run ``wait`` (a blocking wait) without the lock, if this thread holds it."""
        if not self.held():
            return wait()
        self.__exit__()
        try:
            return wait()
        finally:
            self.__enter__()


SERIAL = _Serial()


def install() -> compat.Compatibility:
    """Patch moto if ``compat.check()`` allows it and every patch applies; else patch
    nothing and say so on stderr. What was decided, either way."""
    compatibility = compat.check()
    if compatibility.ok:
        patches = compat.Patches()
        try:
            core.install(patches)
            sqs.install(patches, SERIAL.waiting)
            dynamodb.install(patches)
            events.install(patches)
        except Exception as error:
            patches.undo()
            reason = error if isinstance(error, compat.Incompatible) else repr(error)
            compatibility = compat.Compatibility(
                ok=False,
                message=compat.fallback_message(
                    f"a patch does not fit the installed moto ({reason})"
                ),
                installed=compatibility.installed,
            )
    if not compatibility.ok:
        print(compatibility.message, file=sys.stderr, flush=True)
    return compatibility


def _serialized(app: WsgiApp) -> WsgiApp:
    """``app`` with one request at a time, its response body read before the next."""

    def serial(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with SERIAL:
            result = app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return serial


def _operation(environ: dict[str, Any]) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target)
    return f"{environ.get('REQUEST_METHOD')} {environ.get('HTTP_HOST', '').split(':')[0]}"


def _profiled(app: WsgiApp, path: str) -> WsgiApp:
    """``app`` timing each request, by operation; the totals go to ``path`` at exit.

    Inside the lock, this is each request's own time (a long poll's wait included).
    """
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    lock = threading.Lock()

    def timed(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        began = time.perf_counter()
        try:
            return list(app(environ, start_response))
        finally:
            elapsed = time.perf_counter() - began
            with lock:
                row = totals[_operation(environ)]
                row[0] += 1
                row[1] += elapsed

    def dump() -> None:
        with lock:
            rows = {k: {"calls": int(c), "seconds": s} for k, (c, s) in totals.items()}
        with open(path, "w") as out:
            json.dump(rows, out)

    atexit.register(dump)
    return timed


def _build() -> tuple[WsgiApp, compat.Compatibility]:
    compat.require_moto()
    compatibility = install()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    dispatcher = DomainDispatcherApplication(create_backend_app)
    profile = os.environ.get(PROFILE_ENVIRONMENT)
    return _serialized(_profiled(dispatcher, profile) if profile else dispatcher), compatibility


def application() -> WsgiApp:
    """moto's WSGI application, one request at a time: patched if ``compat.check()`` allows,
    else stock (with a warning line on stderr). Raises ``compat.MotoMissing`` without moto."""
    return _build()[0]


def _handler_class() -> type[Any]:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAliveHandler(MotoRequestHandler):
        """werkzeug's handler, answering each request on a connection that stays open.

        werkzeug's development server closes every connection after one response (and
        lingers 10 ms reading what is left), so each AWS call paid for a new connection
        and a new thread. Here the request body is read whole before the application
        runs (so no socket is read while the lock is held, and nothing of it is left
        for the next request), the response goes out in one write with its length, and
        the next request comes on the same connection, as botocore expects.
        """

        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def run_wsgi(self) -> None:
            if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.environ = environ = self.make_environ()
            if environ.get("wsgi.input_terminated"):  # chunked: werkzeug decodes it
                body = environ["wsgi.input"].read()
            else:
                try:
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                except ValueError:
                    length = -1
                if length < 0:
                    self.close_connection = True
                    self.send_error(400, "Bad Content-Length")
                    return
                body = self.rfile.read(length) if length else b""
                if len(body) < length:  # the client went away mid-body
                    self.close_connection = True
                    return
            environ["wsgi.input"] = io.BytesIO(body)
            environ["wsgi.input_terminated"] = True
            state: dict[str, Any] = {"status": "500 INTERNAL SERVER ERROR", "headers": []}
            parts: list[bytes] = []

            def start_response(
                status: str, headers: list[tuple[str, str]], exc_info: Any = None
            ) -> Any:
                state["status"], state["headers"] = status, list(headers)
                return parts.append

            try:
                result = self.server.app(environ, start_response)
                try:
                    parts.extend(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            except Exception as error:
                self.server.log("error", f"Error on request: {error!r}")
                state.update(status="500 INTERNAL SERVER ERROR", headers=[])
                parts[:] = [b"Internal Server Error"]
                self.close_connection = True
            code, _, reason = str(state["status"]).partition(" ")
            status = int(code)
            payload = b"".join(parts)
            self.send_response(status, reason)
            no_body = self.command == "HEAD" or status < 200 or status in (204, 304)
            for name, value in state["headers"]:
                lowered = name.lower()
                if lowered in ("connection", "transfer-encoding"):
                    continue
                if lowered == "content-length" and not no_body:
                    continue  # set below, from what is sent
                self.send_header(name, value)
            if not no_body:
                self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            # Status line, headers and body in one write.
            self._headers_buffer.append(b"\r\n")
            if not no_body:
                self._headers_buffer.append(payload)
            self.flush_headers()

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return

    return KeepAliveHandler


def _stock_handler_class() -> type[Any] | None:
    """moto's own request handler, as ``python -m moto.server`` uses (None: werkzeug's)."""
    from moto.moto_server import werkzeug_app

    handler: type[Any] | None = getattr(werkzeug_app, "MotoRequestHandler", None)
    return handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hookhaven.local.emulator")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    try:
        app, compatibility = _build()
    except compat.MotoMissing as missing:
        parser.exit(2, f"error: {missing}\n")

    from werkzeug.serving import make_server

    def stop(signum: int, frame: Any) -> None:
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    handler = _handler_class() if compatibility.ok else _stock_handler_class()
    server = make_server(args.host, args.port, app, threaded=True, request_handler=handler)
    server.serve_forever()
