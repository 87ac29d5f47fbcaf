"""SSRF guard: a subscriber URL may only reach the public internet.

Every address a host resolves to must be globally routable; the connection
then goes to an address that was checked (see ``hookhaven.sender``), so a DNS
answer cannot change between the check and the connect. IPv6 forms that embed
an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) are judged by that address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

#: The well-known NAT64 prefix (RFC 6052): the IPv4 address is the last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
#: Never public: the local-use NAT64 prefix (RFC 8215), whose IPv4 address sits in bits
#: that depend on the operator's prefix length, and the deprecated site-local fec0::/10
#: (RFC 3879), which Python's ``is_global`` does not exclude.
_NEVER_PUBLIC = (ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("fec0::/10"))
#: Shared address space (RFC 6598); Python's is_global already excludes it, stated for clarity.
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


class SsrfBlocked(Exception):
    """The URL or one of its addresses is not allowed. The message says which, for operators."""


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id or any(address in network for network in _NEVER_PUBLIC):
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def parse_endpoint(url: str, *, allow_http: bool) -> Endpoint:
    """Split and check a subscriber URL before any DNS lookup."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise SsrfBlocked(f"not a valid URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_http and scheme == "http"):
        raise SsrfBlocked("only https URLs are allowed")
    if parts.username or parts.password:
        raise SsrfBlocked("URLs with credentials are not allowed")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise SsrfBlocked("the URL has no host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Endpoint(
        scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), path=path
    )


def system_resolver(host: str, port: int) -> list[str]:
    """Every A and AAAA answer for ``host``."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise LookupError(f"cannot resolve {host}: {error}") from None
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


def checked_addresses(
    endpoint: Endpoint, *, resolver: Resolver = system_resolver, allow_loopback: bool = False
) -> list[str]:
    """Resolve the host and return its addresses if every one is allowed; else raise.

    One bad answer blocks the lot: an attacker controlling DNS could otherwise mix a
    public address with an internal one and win on a retry.
    """
    addresses = resolver(endpoint.host, endpoint.port)
    if not addresses:
        raise LookupError(f"{endpoint.host} has no addresses")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if is_public(address):
            continue
        if allow_loopback and _is_loopback(address):
            continue
        raise SsrfBlocked(f"{endpoint.host} resolves to a non-public address ({address})")
    return list(addresses)


def _is_loopback(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return embedded.is_loopback
    return address.is_loopback


def check_url(
    url: str,
    *,
    allow_http: bool = False,
    allow_loopback: bool = False,
    resolver: Resolver = system_resolver,
) -> Endpoint:
    """Static and DNS checks together, as ``subscriptions add`` runs them."""
    endpoint = parse_endpoint(url, allow_http=allow_http)
    checked_addresses(endpoint, resolver=resolver, allow_loopback=allow_loopback)
    return endpoint
