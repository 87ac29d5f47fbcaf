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

from hookhaven.retry import OutcomeClass
from hookhaven.ssrf import (
    Resolver,
    SsrfBlocked,
    Target,
    checked_addresses,
    parse_target,
    system_resolver,
)

RESPONSE_BODY_LIMIT = 4096


@dataclass(frozen=True)
class SendResult:
    status: int | None
    latency_ms: float
    response_body: str = ""
    retry_after: str | None = None
    error: OutcomeClass | None = None
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

    def _pool(self, target: Target, address: str) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, address, target.port, target.host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                common = {
                    "host": address,
                    "port": target.port,
                    "maxsize": self._pool_size,
                    "block": False,
                    "retries": False,
                }
                if target.scheme == "https":
                    pool = urllib3.HTTPSConnectionPool(
                        **common,  # type: ignore[arg-type]
                        cert_reqs=ssl.CERT_REQUIRED,
                        ca_certs=self._ca_certs,
                        server_hostname=target.host,
                        assert_hostname=target.host,
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
            target = parse_target(url, allow_http=self._allow_loopback)
            addresses = checked_addresses(
                target, resolver=self._resolver, allow_loopback=self._allow_loopback
            )
        except SsrfBlocked as blocked:
            return result(status=None, error=OutcomeClass.SSRF_BLOCKED, error_detail=str(blocked))
        except LookupError as missing:
            return result(status=None, error=OutcomeClass.DNS, error_detail=str(missing))

        address = addresses[0]
        host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
        request_headers = {**headers, "Host": host_header}
        connect = min(5.0, self._timeout)
        try:
            response = self._pool(target, address).urlopen(
                "POST",
                target.path,
                body=body,
                headers=request_headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
                timeout=urllib3.Timeout(connect=connect, read=self._timeout),
            )
        except NewConnectionError as error:  # refused, unreachable (a ConnectTimeoutError subclass)
            kind = OutcomeClass.TIMEOUT if "timed out" in str(error) else OutcomeClass.CONNECTION
            return result(status=None, error=kind, error_detail=_short(error), address=address)
        except (ConnectTimeoutError, ReadTimeoutError) as error:
            return result(
                status=None, error=OutcomeClass.TIMEOUT, error_detail=_short(error), address=address
            )
        except SSLError as error:
            return result(
                status=None, error=OutcomeClass.TLS, error_detail=_short(error), address=address
            )
        except (ProtocolError, HTTPError, OSError) as error:
            kind = OutcomeClass.TIMEOUT if "timed out" in str(error) else OutcomeClass.CONNECTION
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
