"""POST a delivery to a subscriber: SSRF-checked, pinned to the checked address, pooled.

Each attempt resolves the host again and checks every answer (``hookhaven.ssrf``),
then connects to a checked address while TLS (SNI and certificate verification)
and the Host header still use the host name. Connections are pooled per
(address, port, host) and reused across deliveries and warm invocations.
Redirects are never followed; at most 4 KB of the response body is read.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import urllib3
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
                    pool = urllib3.HTTPSConnectionPool(
                        **common,  # type: ignore[arg-type]
                        cert_reqs=ssl.CERT_REQUIRED,
                        ca_certs=self._ca_certs,
                        server_hostname=endpoint.host,
                        assert_hostname=endpoint.host,
                    )
                else:
                    pool = urllib3.HTTPConnectionPool(**common)  # type: ignore[arg-type]
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
        connect = min(5.0, self._timeout)
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
                timeout=urllib3.Timeout(connect=connect, read=self._timeout),
            )
        except NewConnectionError as error:  # refused, unreachable (a ConnectTimeoutError subclass)
            kind = FailureClass.TIMEOUT if "timed out" in str(error) else FailureClass.CONNECTION
            return result(status=None, error=kind, error_detail=_short(error), address=address)
        except (ConnectTimeoutError, ReadTimeoutError) as error:
            return result(
                status=None, error=FailureClass.TIMEOUT, error_detail=_short(error), address=address
            )
        except SSLError as error:
            return result(
                status=None, error=FailureClass.TLS, error_detail=_short(error), address=address
            )
        except (ProtocolError, HTTPError, OSError) as error:
            kind = FailureClass.TIMEOUT if "timed out" in str(error) else FailureClass.CONNECTION
            return result(status=None, error=kind, error_detail=_short(error), address=address)

        try:
            prefix = response.read(RESPONSE_BODY_LIMIT + 1, decode_content=False)
        except (ReadTimeoutError, ProtocolError, HTTPError, OSError):
            prefix = b""
        if len(prefix) <= RESPONSE_BODY_LIMIT:  # read to the end: the connection is reusable
            response.release_conn()
        else:
            response.close()  # a large or unread body is not worth draining for reuse
        return result(
            status=response.status,
            response_body=prefix[:RESPONSE_BODY_LIMIT].decode("utf-8", errors="replace"),
            retry_after=response.headers.get("retry-after"),
            address=address,
        )


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 300 else text[:297] + "..."
