"""The SSRF guard against a corpus of internal targets, written every way attackers write them."""

from __future__ import annotations

import ipaddress

import pytest

from hookhaven.ssrf import (
    SsrfBlocked,
    check_url,
    checked_addresses,
    is_public,
    parse_endpoint,
    system_resolver,
)

#: Literal addresses in URL form; the system resolver parses numeric hosts without DNS.
BLOCKED_URLS = [
    "https://127.0.0.1/",
    "https://127.1/",
    "https://0177.0.0.1/",  # octal
    "https://2130706433/",  # decimal
    "https://0x7f000001/",  # hex
    "https://0x7f.0.0.1/",
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "https://[::ffff:7f00:1]/",
    "https://[0:0:0:0:0:ffff:169.254.169.254]/",
    "https://169.254.169.254/latest/meta-data/",  # instance metadata
    "https://169.254.170.2/v2/credentials",  # ECS task credentials
    "https://[fd00:ec2::254]/",  # IMDS over IPv6 (unique local)
    "https://10.0.0.1/",
    "https://10.255.255.255:8443/",
    "https://172.16.0.1/",
    "https://172.31.255.254/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",  # CGNAT
    "https://100.127.255.254/",
    "https://0.0.0.0/",
    "https://0/",
    "https://224.0.0.1/",  # multicast
    "https://239.255.255.250/",
    "https://240.0.0.1/",  # reserved
    "https://255.255.255.255/",
    "https://192.0.0.1/",  # IETF protocol assignments
    "https://198.18.0.1/",  # benchmarking
    "https://[fe80::1]/",  # link-local
    "https://[fc00::1]/",  # unique local
    "https://[ff02::1]/",  # multicast
    "https://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "https://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "https://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
    "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",  # Teredo of 10.0.0.1
    "https://[::]/",
    "https://[fec0::1]/",  # site-local (deprecated, not global)
    "https://[64:ff9b:1::808:808]/",  # local-use NAT64 (RFC 8215): never public
    "https://[64:ff9b:1:a00:0:100::]/",  # its /48 form embedding 10.0.0.1
]

PUBLIC_URLS = [
    "https://93.184.215.14/hooks",
    "https://[2606:4700:4700::1111]/hooks",
    "https://1.1.1.1:8443/hooks?x=1",
]


@pytest.mark.parametrize("url", BLOCKED_URLS)
def test_internal_addresses_are_refused(url):
    with pytest.raises(SsrfBlocked, match="non-public"):
        check_url(url)


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_addresses_pass(url):
    target = check_url(url)
    assert target.scheme == "https"


def test_the_corpus_is_large():
    assert len(BLOCKED_URLS) >= 30


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/",
        "ftp://93.184.215.14/",
        "file:///etc/passwd",
        "gopher://93.184.215.14/",
        "https://user:pass@93.184.215.14/",
        "https:///nohost",
        "https://[::1/",
        "https://example.com:99999/",
        "not a url",
    ],
)
def test_only_plain_https_urls_are_allowed(url):
    with pytest.raises(SsrfBlocked):
        check_url(url, resolver=lambda host, port: ["93.184.215.14"])


def fake_dns(answers: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise LookupError(f"cannot resolve {host}")
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    ("host", "answers"),
    [
        ("localhost.bookhaven.example", ["127.0.0.1"]),
        ("metadata.bookhaven.example", ["169.254.169.254"]),
        ("intranet.bookhaven.example", ["10.1.2.3"]),
        ("mixed.bookhaven.example", ["93.184.215.14", "192.168.0.10"]),
        ("v6.bookhaven.example", ["2606:4700:4700::1111", "::1"]),
        ("mapped.bookhaven.example", ["::ffff:10.0.0.1"]),
        ("scoped.bookhaven.example", ["fe80::1%eth0"]),
    ],
)
def test_names_resolving_to_internal_addresses_are_refused(host, answers):
    with pytest.raises(SsrfBlocked, match=host):
        check_url(f"https://{host}/hooks", resolver=fake_dns({host: answers}))


def test_a_name_with_only_public_answers_passes_and_all_are_returned():
    target = parse_endpoint("https://hooks.bookhaven.example/in", allow_http=False)
    answers = ["93.184.215.14", "2606:4700:4700::1111"]
    assert checked_addresses(target, resolver=fake_dns({target.host: answers})) == answers


def test_unresolvable_names_are_a_lookup_error_not_a_block():
    with pytest.raises(LookupError):
        check_url("https://nowhere.invalid/", resolver=fake_dns({}))


def test_loopback_allowance_is_for_loopback_only():
    assert check_url("http://127.0.0.1:8080/h", allow_http=True, allow_loopback=True).port == 8080
    with pytest.raises(SsrfBlocked):
        check_url("http://10.0.0.1/h", allow_http=True, allow_loopback=True)
    with pytest.raises(SsrfBlocked):
        check_url("http://127.0.0.1/h", allow_loopback=True)  # http still needs allow_http


def test_system_resolver_reads_numeric_forms_without_dns():
    assert system_resolver("2130706433", 443) == ["127.0.0.1"]
    assert system_resolver("0x7f.1", 443) == ["127.0.0.1"]


@pytest.mark.parametrize("text", ["8.8.8.8", "2001:4860:4860::8888", "93.184.215.14"])
def test_global_unicast_is_public(text):
    assert is_public(ipaddress.ip_address(text))


def test_host_and_path_survive_parsing():
    target = parse_endpoint("https://Hooks.BookHaven.example.:8443/in/orders?x=1", allow_http=False)
    assert (target.host, target.port, target.path) == (
        "hooks.bookhaven.example",
        8443,
        "/in/orders?x=1",
    )
