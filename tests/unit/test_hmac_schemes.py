"""The HMAC scheme engine (hookhaven/providers/schemes.py) on its own: each setting of an
``HmacScheme`` does what its provider's documentation says, checked with signatures made
by hand (hmac, hashlib, base64), never by hookhaven's code.

The schemes here have the shapes providers document: a bare digest with a prefix (GitHub's
``sha256=``), base64 (Shopify, Typeform), ``key=value`` items carrying a timestamp and
signatures (Calendly's ``t=..,v1=..``, Paddle's ``ts=..;h1=..``), a timestamp in a header of
its own joined to the body (Zoom's ``v0:{ts}:{body}``), timestamps in milliseconds and ISO
8601. Mutation testing (``make mutate``) runs these against the engine's mutants.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from hookhaven.models import Secret, Source, SourceKind
from hookhaven.providers.schemes import (
    HmacScheme,
    Params,
    body,
    hmac_verifier,
    joined,
    parse_time,
)
from hookhaven.verification import InboundRequest, InvalidSignature, VerifiedWebhook

NOW = 1_795_881_600.0
SECRET = "scheme-secret-0123456789"
OTHER = "another-secret-9876543210"
BODY = b'{"id":"evt_1","type":"invitee.created"}'


def mac(message: bytes, secret: str = SECRET, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret.encode(), message, getattr(hashlib, algorithm)).digest()


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def request(headers: dict[str, str], payload: bytes = BODY) -> InboundRequest:
    return InboundRequest({k.lower(): v for k, v in headers.items()}, payload)


def accepts(
    scheme: HmacScheme, headers: dict[str, str], *, secrets: Sequence[str] = (SECRET,)
) -> bool:
    try:
        scheme.check(request(headers), list(secrets), NOW)
    except InvalidSignature:
        return False
    return True


# --- a bare digest ----------------------------------------------------------------------------

GITHUB_LIKE = HmacScheme(header="x-signature", prefix="sha256=")
SHOPIFY_LIKE = HmacScheme(header="x-signature", encoding="base64")


def test_a_hex_digest_after_its_prefix_is_accepted_and_nothing_else():
    genuine = mac(BODY).hex()
    assert accepts(GITHUB_LIKE, {"x-signature": "sha256=" + genuine})
    assert accepts(GITHUB_LIKE, {"x-signature": "sha256=" + genuine.upper()})  # hex, any case
    assert not accepts(GITHUB_LIKE, {"x-signature": genuine})  # without its prefix
    assert not accepts(GITHUB_LIKE, {"x-signature": "sha1=" + genuine})
    assert not accepts(GITHUB_LIKE, {"x-signature": "sha256=" + b64(mac(BODY))})
    assert not accepts(GITHUB_LIKE, {"x-signature": "sha256=" + mac(BODY, OTHER).hex()})
    assert not accepts(GITHUB_LIKE, {})


def test_a_base64_digest_is_accepted_and_its_hex_is_not():
    assert accepts(SHOPIFY_LIKE, {"x-signature": b64(mac(BODY))})
    assert not accepts(SHOPIFY_LIKE, {"x-signature": mac(BODY).hex()})


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_the_scheme_hashes_with_its_algorithm(algorithm):
    scheme = HmacScheme(header="x-signature", algorithm=algorithm)
    assert accepts(scheme, {"x-signature": mac(BODY, algorithm=algorithm).hex()})
    for other in {"sha1", "sha256", "sha512"} - {algorithm}:
        assert not accepts(scheme, {"x-signature": mac(BODY, algorithm=other).hex()})


def test_a_scheme_without_a_timestamp_says_so_with_an_empty_string():
    headers = {"x-signature": "sha256=" + mac(BODY).hex()}
    assert GITHUB_LIKE.check(request(headers), [SECRET], NOW) == ""
    assert not GITHUB_LIKE.timestamped


@pytest.mark.parametrize("scheme", [GITHUB_LIKE, SHOPIFY_LIKE], ids=["hex", "base64"])
def test_an_empty_truncated_or_lengthened_signature_is_refused(scheme):
    encode = (lambda d: "sha256=" + d.hex()) if scheme is GITHUB_LIKE else b64
    genuine = encode(mac(BODY))
    cut = len("sha256=") if scheme is GITHUB_LIKE else 0
    for bad in (genuine[:cut], genuine[: cut + 2], genuine[: (len(genuine) + cut) // 2]):
        assert not accepts(scheme, {"x-signature": bad})
    for bad in (genuine[:-2], genuine[:-4], genuine + "00", genuine + "AAAA"):
        assert not accepts(scheme, {"x-signature": bad})


@pytest.mark.parametrize("scheme", [GITHUB_LIKE, SHOPIFY_LIKE], ids=["hex", "base64"])
def test_a_scheme_that_sends_one_signature_takes_the_header_as_that_one(scheme):
    """Two signatures in the header of a provider that sends one are not a rotation."""
    encode = (lambda d: "sha256=" + d.hex()) if scheme is GITHUB_LIKE else b64
    genuine, other = encode(mac(BODY)), encode(mac(BODY, OTHER))
    for header in (f"{genuine} {other}", f"{other} {genuine}", f"{genuine},{other}"):
        assert not accepts(scheme, {"x-signature": header})


def test_either_secret_of_a_rotation_matches():
    headers = {"x-signature": "sha256=" + mac(BODY, OTHER).hex()}
    assert accepts(GITHUB_LIKE, headers, secrets=[SECRET, OTHER])
    assert accepts(GITHUB_LIKE, headers, secrets=[OTHER, SECRET])
    assert not accepts(GITHUB_LIKE, headers, secrets=[SECRET])


# --- several signatures in one header ------------------------------------------------------

LISTED = HmacScheme(header="x-signature", prefix="v1=", separator=",")


@pytest.mark.parametrize("position", ["first", "last", "alone"])
def test_the_genuine_signature_counts_wherever_it_stands_in_a_list(position):
    genuine = "v1=" + mac(BODY).hex()
    others = ["v1=" + mac(BODY, f"other-{n}").hex() for n in range(2)]
    listed = {"first": [genuine, *others], "last": [*others, genuine], "alone": [genuine]}
    assert accepts(LISTED, {"x-signature": ",".join(listed[position])})
    assert accepts(LISTED, {"x-signature": " , ".join(listed[position])})


def test_a_listed_signature_of_another_version_is_passed_over_not_the_end_of_the_list():
    genuine = "v1=" + mac(BODY).hex()
    assert accepts(LISTED, {"x-signature": f"v0={mac(BODY).hex()},{genuine}"})
    assert accepts(LISTED, {"x-signature": f"{mac(BODY).hex()},{genuine}"})
    assert not accepts(LISTED, {"x-signature": f"v0={mac(BODY).hex()}"})
    assert not accepts(LISTED, {"x-signature": mac(BODY).hex()})


def test_a_list_of_wrong_or_empty_signatures_is_refused():
    others = ["v1=" + mac(BODY, f"other-{n}").hex() for n in range(2)]
    assert not accepts(LISTED, {"x-signature": ",".join(others)})
    assert not accepts(LISTED, {"x-signature": ",".join([*others, "v1=", "v1"])})
    assert not accepts(LISTED, {"x-signature": ","})


# --- key=value items with a timestamp ------------------------------------------------------

# Calendly: "Calendly-Webhook-Signature: t=1492774577,v1=5257a869...", HMAC-SHA256 of
# "{t}.{body}", hex (developer.calendly.com, "Webhook signatures").
CALENDLY_LIKE = HmacScheme(
    header="x-signature",
    message=joined("", "."),
    params=Params(timestamp="t", signature="v1"),
    tolerance=180,
)
# Paddle: "Paddle-Signature: ts=1671552777;h1=eb4d0dc8...", HMAC-SHA256 of "{ts}:{body}"
# (developer.paddle.com, "Verify webhook signatures").
PADDLE_LIKE = HmacScheme(
    header="x-signature",
    message=joined("", ":"),
    params=Params(timestamp="ts", signature="h1", separator=";"),
    tolerance=5,
)


def calendly(at: float = NOW, secret: str = SECRET) -> str:
    return f"t={int(at)},v1=" + mac(f"{int(at)}.".encode() + BODY, secret).hex()


def paddle(at: float = NOW, secret: str = SECRET) -> str:
    return f"ts={int(at)};h1=" + mac(f"{int(at)}:".encode() + BODY, secret).hex()


def test_a_params_header_is_read_item_by_item_and_its_timestamp_returned():
    assert CALENDLY_LIKE.check(request({"x-signature": calendly()}), [SECRET], NOW) == str(int(NOW))
    assert PADDLE_LIKE.check(request({"x-signature": paddle()}), [SECRET], NOW) == str(int(NOW))
    # In any order, with spaces around the items.
    t, v1 = calendly().split(",")
    assert accepts(CALENDLY_LIKE, {"x-signature": f" {v1} , {t} "})
    ts, h1 = paddle().split(";")
    assert accepts(PADDLE_LIKE, {"x-signature": f"{h1};{ts}"})


def test_a_params_header_is_split_on_its_own_separator():
    # Paddle's items split on ","  are one item: no timestamp, refused.
    assert not accepts(PADDLE_LIKE, {"x-signature": paddle().replace(";", ",")})
    assert not accepts(CALENDLY_LIKE, {"x-signature": calendly().replace(",", ";")})


def test_a_params_header_without_its_timestamp_item_is_refused():
    _, v1 = calendly().split(",")
    assert not accepts(CALENDLY_LIKE, {"x-signature": v1})
    assert not accepts(CALENDLY_LIKE, {"x-signature": f"ts={int(NOW)},{v1}"})
    assert not accepts(CALENDLY_LIKE, {"x-signature": f"t=,{v1}"})
    # Not even when another header carries a time: the signature header's own is required.
    with_header = HmacScheme(
        header="x-signature",
        message=joined("", "."),
        params=Params(timestamp="t", signature="v1"),
        timestamp_header="x-timestamp",
    )
    assert accepts(with_header, {"x-signature": calendly(), "x-timestamp": str(int(NOW))})
    assert not accepts(with_header, {"x-signature": v1, "x-timestamp": str(int(NOW))})


def test_a_params_header_may_carry_several_signatures():
    t, genuine = calendly().split(",")
    _, other = calendly(secret=OTHER).split(",")
    assert accepts(CALENDLY_LIKE, {"x-signature": f"{t},{other},{genuine}"})
    assert accepts(CALENDLY_LIKE, {"x-signature": f"{t},{genuine},{other}"})
    assert not accepts(CALENDLY_LIKE, {"x-signature": f"{t},{other}"})
    # A value under another key is no signature.
    assert not accepts(CALENDLY_LIKE, {"x-signature": f"{t},v0={genuine.removeprefix('v1=')}"})


def test_a_params_signature_in_base64_keeps_its_padding():
    """An item is split at its first "=": a base64 value keeps the "=" that pad it."""
    scheme = HmacScheme(
        header="x-signature",
        message=joined("", "."),
        params=Params(timestamp="t", signature="v1"),
        encoding="base64",
    )
    signature = b64(mac(f"{int(NOW)}.".encode() + BODY))
    assert signature.endswith("=")
    assert accepts(scheme, {"x-signature": f"t={int(NOW)},v1={signature}"})
    assert not accepts(scheme, {"x-signature": f"t={int(NOW)},v1={signature.rstrip('=')}"})


def test_the_signed_timestamp_is_the_one_in_the_header():
    # Signed at another time than the header says: the message differs, refused.
    forged = f"t={int(NOW)},v1=" + mac(f"{int(NOW) - 60}.".encode() + BODY).hex()
    assert not accepts(CALENDLY_LIKE, {"x-signature": forged})


# --- a timestamp header joined to the body -------------------------------------------------

# Zoom: x-zm-request-timestamp, and x-zm-signature "v0=" + hex HMAC-SHA256 of
# "v0:{timestamp}:{body}" (developers.zoom.us, "Verify webhook events").
ZOOM_LIKE = HmacScheme(
    header="x-signature",
    message=joined("v0:", ":"),
    prefix="v0=",
    timestamp_header="x-timestamp",
    tolerance=300,
)


def zoom(at: float = NOW, secret: str = SECRET) -> dict[str, str]:
    digest = mac(f"v0:{int(at)}:".encode() + BODY, secret).hex()
    return {"x-signature": "v0=" + digest, "x-timestamp": str(int(at))}


def test_joined_puts_the_timestamp_between_its_parts_and_the_body():
    assert joined("v0:", ":")(request({}), "1700000000") == b"v0:1700000000:" + BODY
    assert joined("", ".")(request({}), "17") == b"17." + BODY
    assert joined("")(request({}), "17") == b"17" + BODY
    assert body(request({}), "17") == BODY


def test_a_timestamp_header_is_required_signed_and_returned():
    assert ZOOM_LIKE.check(request(zoom()), [SECRET], NOW) == str(int(NOW))
    headers = zoom()
    del headers["x-timestamp"]
    assert not accepts(ZOOM_LIKE, headers)
    # Another time in the header than the one signed: refused.
    assert not accepts(ZOOM_LIKE, {**zoom(), "x-timestamp": str(int(NOW) - 1)})


@pytest.mark.parametrize(
    ("scheme", "headers"),
    [
        (ZOOM_LIKE, zoom),
        (CALENDLY_LIKE, lambda at: {"x-signature": calendly(at)}),
        (PADDLE_LIKE, lambda at: {"x-signature": paddle(at)}),
    ],
    ids=["zoom", "calendly", "paddle"],
)
def test_a_timestamp_exactly_at_the_tolerance_is_accepted_and_one_second_more_is_not(
    scheme: HmacScheme, headers: Callable[[float], dict[str, str]]
):
    assert scheme.tolerance is not None
    for edge in (-scheme.tolerance, scheme.tolerance):
        assert accepts(scheme, headers(NOW + edge))
        assert not accepts(scheme, headers(NOW + edge + (1 if edge > 0 else -1)))


def test_without_a_documented_tolerance_an_old_timestamp_is_accepted_if_well_formed():
    scheme = HmacScheme(
        header="x-signature",
        message=joined("v0:", ":"),
        prefix="v0=",
        timestamp_header="x-timestamp",
    )
    assert scheme.timestamped
    assert scheme.tolerance is None
    week = 7 * 86_400
    assert accepts(scheme, zoom(NOW - week))
    assert accepts(scheme, zoom(NOW + week))
    assert not accepts(scheme, {**zoom(), "x-timestamp": "yesterday"})


def test_a_malformed_timestamp_is_refused_before_the_signature_is_looked_at():
    for text in ("", "17e8", "-1795881600", "1795881600.5", "¹⁷⁹⁵⁸⁸¹⁶⁰⁰", "9" * 5000):
        assert not accepts(ZOOM_LIKE, {**zoom(), "x-timestamp": text})


RAW = b"\xff\xfe order \x80\x81 \xc3\x28"
LENIENT = RAW.decode("utf-8", errors="replace").encode()


#: Schemes of each kind of message, and how their provider signs a body with them.
RAW_SIGNERS: list[tuple[HmacScheme, Callable[[bytes], dict[str, str]]]] = [
    (GITHUB_LIKE, lambda body: {"x-signature": "sha256=" + mac(body).hex()}),
    (SHOPIFY_LIKE, lambda body: {"x-signature": b64(mac(body))}),
    (
        ZOOM_LIKE,
        lambda body: {
            "x-signature": "v0=" + mac(f"v0:{int(NOW)}:".encode() + body).hex(),
            "x-timestamp": str(int(NOW)),
        },
    ),
]


@pytest.mark.parametrize(("scheme", "sign"), RAW_SIGNERS, ids=["body-hex", "body-base64", "joined"])
def test_a_body_that_is_not_utf8_is_signed_over_its_raw_bytes(
    scheme: HmacScheme, sign: Callable[[bytes], dict[str, str]]
):
    assert LENIENT != RAW
    scheme.check(request(sign(RAW), RAW), [SECRET], NOW)
    # Signed over the text a lenient decoder makes of it: not the same bytes, refused.
    with pytest.raises(InvalidSignature):
        scheme.check(request(sign(LENIENT), RAW), [SECRET], NOW)


# --- timestamps ----------------------------------------------------------------------------


def test_timestamps_in_seconds_milliseconds_and_iso_8601():
    assert parse_time("1795881600", "s") == NOW
    assert parse_time("0", "s") == 0
    # Milliseconds: 13 digits today.
    assert parse_time("1795881600250", "ms") == NOW + 0.25
    assert parse_time("1795881600000", "ms") == NOW
    assert parse_time("2026-11-28T12:00:00Z", "iso") == 1_795_867_200.0
    assert parse_time("2026-11-28T13:00:00+01:00", "iso") == 1_795_867_200.0
    assert parse_time("2026-11-28T12:00:00.500+00:00", "iso") == 1_795_867_200.5


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("2026-11-28T12:00:00", "iso"),  # no time zone: no instant
        ("yesterday", "iso"),
        ("", "iso"),
        ("1795881600", "iso"),
        ("17958816OO", "s"),
        ("¹⁷⁹⁵⁸⁸¹⁶⁰⁰", "s"),
        ("1795881600 ", "s"),
        ("-1", "ms"),
        ("9" * 5000, "s"),
        ("9" * 5000, "ms"),
    ],
)
def test_a_malformed_timestamp_is_an_invalid_signature_not_a_crash(text, form):
    with pytest.raises(InvalidSignature):
        parse_time(text, form)


def test_the_tolerance_is_checked_in_the_scheme_s_unit():
    ms = HmacScheme(
        header="x-signature",
        message=joined("", "."),
        timestamp_header="x-timestamp",
        timestamp_format="ms",
        tolerance=300,
    )

    def sent_at(at_ms: int) -> dict[str, str]:
        digest = mac(f"{at_ms}.".encode() + BODY).hex()
        return {"x-signature": digest, "x-timestamp": str(at_ms)}

    now_ms = int(NOW * 1000)
    assert accepts(ms, sent_at(now_ms))
    assert accepts(ms, sent_at(now_ms - 300_000))
    assert not accepts(ms, sent_at(now_ms - 300_001))
    assert not accepts(ms, sent_at(now_ms + 300_001))
    iso = HmacScheme(
        header="x-signature",
        message=joined("", "."),
        timestamp_header="x-timestamp",
        timestamp_format="iso",
        tolerance=60,
    )
    stamp = "2026-11-28T16:00:00Z"  # NOW
    digest = mac(f"{stamp}.".encode() + BODY).hex()
    assert accepts(iso, {"x-signature": digest, "x-timestamp": stamp})
    late = "2026-11-28T16:01:01Z"
    digest = mac(f"{late}.".encode() + BODY).hex()
    assert not accepts(iso, {"x-signature": digest, "x-timestamp": late})


# --- several candidate messages ------------------------------------------------------------


def test_a_scheme_with_several_candidate_messages_accepts_a_signature_of_any():
    def either(req: InboundRequest, timestamp: str) -> list[bytes]:
        return [b"https://a.example/hook" + req.body, b"https://a.example:443/hook" + req.body]

    scheme = HmacScheme(header="x-signature", message=either)
    for prefix in (b"https://a.example/hook", b"https://a.example:443/hook"):
        assert accepts(scheme, {"x-signature": mac(prefix + BODY).hex()})
    assert not accepts(scheme, {"x-signature": mac(b"https://b.example/hook" + BODY).hex()})


# --- hmac_verifier -------------------------------------------------------------------------


def test_hmac_verifier_checks_then_identifies_with_the_body_and_the_timestamp():
    seen: list[tuple[InboundRequest, dict[str, Any] | None, str]] = []

    def identify(req: InboundRequest, parsed: dict[str, Any] | None, ts: str) -> VerifiedWebhook:
        seen.append((req, parsed, ts))
        return VerifiedWebhook(event_type="invitee.created", provider_event_id="evt_1")

    verifier = hmac_verifier(ZOOM_LIKE, identify)
    source = Source(
        name="zoom-like",
        kind=SourceKind.TYPEFORM,
        secrets=(Secret(value=SECRET, created_at=NOW),),
        created_at=NOW,
        updated_at=NOW,
    )
    genuine = request(zoom())
    verified = verifier(source, genuine, [OTHER, SECRET], NOW)
    assert verified.provider_event_id == "evt_1"
    assert seen == [(genuine, {"id": "evt_1", "type": "invitee.created"}, str(int(NOW)))]
    # A body that is not a JSON object reaches identify as None.
    text = InboundRequest(genuine.headers, b"not json")
    with pytest.raises(InvalidSignature):
        verifier(source, text, [SECRET], NOW)
    digest = mac(f"v0:{int(NOW)}:".encode() + b"not json").hex()
    text = request({"x-signature": "v0=" + digest, "x-timestamp": str(int(NOW))}, b"not json")
    verifier(source, text, [SECRET], NOW)
    assert seen[-1] == (text, None, str(int(NOW)))
    # Nothing is identified unless the signature matches, with the secrets given.
    with pytest.raises(InvalidSignature):
        verifier(source, genuine, [OTHER], NOW)
    with pytest.raises(InvalidSignature):
        verifier(source, genuine, [SECRET], NOW + 301)
    assert len(seen) == 2
