"""POST a delivery to a subscriber: SSRF-checked, pinned to the checked address, pooled.

Each attempt resolves the host again and checks every answer (``hookhaven.ssrf``),
then connects to a checked address while TLS (SNI and certificate verification)
and the Host header still use the host name. Connections are pooled per
(address, port, host) and reused across deliveries and warm invocations.
Redirects are never followed; at most 4 KB of the response body is read.

Each POST has one deadline for the whole request (``timeout_seconds``): urllib3's read
timeout applies to each read of the socket, so a subscriber trickling a byte at a time
could otherwise hold a delivery, and the batch around it, for as long as it liked. At
the deadline the connection's socket is shut down, which ends whatever read is waiting.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from hookhaven.retry import FailureClass
from hookhaven.ssrf import (
    Endpoint,
    Resolver,
    SsrfBlocked,
    checked_addresses,
    parse_endpoint,
    system_resolver,
)

RESPONSE_BODY_LIMIT = 4096


@dataclass(frozen=True)
class SendResult:
    status: int | None
    latency_ms: float
    response_body: str = ""
    retry_after: str | None = None
    error: FailureClass | None = None
    error_detail: str | None = None
    address: str | None = None


_current = threading.local()


class Deadline:
    """Ends one request at a point in time: its connection's socket is shut down then.

    Once the ``with`` block is left, the deadline can no longer touch the connection:
    ``Timer.cancel`` cannot stop a timer whose wait has already run out, and a late
    ``_expire`` would otherwise shut the socket of the next request to reuse the pooled
    connection (on a busy machine, between that request's headers and its body: the
    subscriber got the headers and a short body under a real webhook-id). Expiry and exit
    take the same lock, and the shutdown happens under it.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._ended = False
        self._connection: HTTPConnection | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _current.deadline = None
        with self._lock:
            self._ended = True
            self._connection = None

    def watch(self, connection: HTTPConnection) -> None:
        with self._lock:
            if self._ended:
                return
            self._connection = connection
            if self.expired:
                self._shut(connection)

    def _expire(self) -> None:
        with self._lock:
            if self._ended:
                return
            self.expired = True
            if self._connection is not None:
                self._shut(self._connection)

    @staticmethod
    def _shut(connection: HTTPConnection) -> None:
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)


class _Watched:
    """A connection the current request's deadline can cut."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        deadline = getattr(_current, "deadline", None)
        if deadline is not None:
            deadline.watch(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class Sender:
    def __init__(
        self,
        *,
        timeout_seconds: float,
        pool_size: int = 16,
        allow_loopback: bool = False,
        resolver: Resolver = system_resolver,
        ca_certs: str | None = None,
    ) -> None:
        self._timeout = timeout_seconds
        self._pool_size = pool_size
        self._allow_loopback = allow_loopback
        self._resolver = resolver
        self._ca_certs = ca_certs
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def _pool(self, endpoint: Endpoint, address: str) -> urllib3.HTTPConnectionPool:
        key = (endpoint.scheme, address, endpoint.port, endpoint.host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                common = {
                    "host": address,
                    "port": endpoint.port,
                    "maxsize": self._pool_size,
                    "block": False,
                    "retries": False,
                }
                if endpoint.scheme == "https":
                    pool = _HTTPSPool(
                        **common,  # type: ignore[arg-type]
                        cert_reqs=ssl.CERT_REQUIRED,
                        ca_certs=self._ca_certs,
                        server_hostname=endpoint.host,
                        assert_hostname=endpoint.host,
                    )
                else:
                    pool = _HTTPPool(**common)  # type: ignore[arg-type]
                self._pools[key] = pool
            return pool

    def post(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        started = time.perf_counter()

        def result(**kwargs: object) -> SendResult:
            latency = (time.perf_counter() - started) * 1000
            return SendResult(latency_ms=latency, **kwargs)  # type: ignore[arg-type]

        try:
            endpoint = parse_endpoint(url, allow_http=self._allow_loopback)
            addresses = checked_addresses(
                endpoint, resolver=self._resolver, allow_loopback=self._allow_loopback
            )
        except SsrfBlocked as blocked:
            return result(status=None, error=FailureClass.SSRF_BLOCKED, error_detail=str(blocked))
        except LookupError as missing:
            return result(status=None, error=FailureClass.DNS, error_detail=str(missing))

        address = addresses[0]
        host_header = (
            endpoint.host if endpoint.port in (80, 443) else f"{endpoint.host}:{endpoint.port}"
        )
        request_headers = {**headers, "Host": host_header}
        left = self._timeout - (time.perf_counter() - started)
        connect = max(0.1, min(5.0, left))
        with Deadline(left) as deadline:
            try:
                response = self._pool(endpoint, address).urlopen(
                    "POST",
                    endpoint.path,
                    body=body,
                    headers=request_headers,
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    assert_same_host=False,
                    timeout=urllib3.Timeout(connect=connect, read=max(0.1, left)),
                )
            except Exception as error:
                failed = _failure(error, deadline.expired, self._timeout)
                if failed is None:
                    raise
                kind, detail = failed
                return result(status=None, error=kind, error_detail=detail, address=address)
            try:
                prefix = response.read(RESPONSE_BODY_LIMIT + 1, decode_content=False)
            except (ReadTimeoutError, ProtocolError, HTTPError, OSError):
                prefix = b""  # the answer's status stands; its body was cut short
        expired = deadline.expired  # final once the block is left: no expiry comes after
        if expired or len(prefix) > RESPONSE_BODY_LIMIT:
            # Cut at the deadline (its socket is shut), or a large body not worth draining.
            response.close()
        else:
            response.release_conn()  # read to the end: the connection is reusable
        return result(
            status=response.status,
            response_body=prefix[:RESPONSE_BODY_LIMIT].decode("utf-8", errors="replace"),
            retry_after=response.headers.get("retry-after"),
            address=address,
        )


def _failure(error: Exception, expired: bool, timeout: float) -> tuple[FailureClass, str] | None:
    """The failure class of a request that got no answer; None for anything unexpected."""
    if expired:
        return FailureClass.TIMEOUT, f"no answer within {timeout:g} s in all"
    if isinstance(error, NewConnectionError):  # refused, unreachable (a ConnectTimeoutError)
        kind = FailureClass.TIMEOUT if "timed out" in str(error) else FailureClass.CONNECTION
        return kind, _short(error)
    if isinstance(error, (ConnectTimeoutError, ReadTimeoutError)):
        return FailureClass.TIMEOUT, _short(error)
    if isinstance(error, SSLError):
        return FailureClass.TLS, _short(error)
    if isinstance(error, (ProtocolError, HTTPError, OSError)):
        kind = FailureClass.TIMEOUT if "timed out" in str(error) else FailureClass.CONNECTION
        return kind, _short(error)
    return None


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 300 else text[:297] + "..."
