"""Every verifier against its provider's own signer, documented examples, and hostile input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.signature import Clock, SignatureVerifier
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError
from svix.webhooks import Webhook as SvixWebhook

from hookhaven.models import FieldRef, HmacOptions, Secret, Source, SourceKind
from hookhaven.signatures import new_standard_secret, standard_signature_header
from hookhaven.verification import (
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    verify,
)
from tests.providers import SECRETS, github_signature, raw_body, shopify_signature, signed

NOW = 1_795_881_600.0
COURIER = HmacOptions(
    header="X-Courier-Signature",
    algorithm="sha256",
    encoding="hex",
    prefix="sha256=",
    id_from=FieldRef.parse("field:id"),
    type_from=FieldRef.parse("header:x-courier-event"),
)
SAMPLES = {
    "standard": "standard_order_created",
    "svix": "standard_order_created",
    "stripe": "stripe_payment_intent_succeeded",
    "github": "github_pull_request_opened",
    "shopify": "shopify_orders_create",
    "slack": "slack_app_mention",
    "hmac": "hmac_shipment_dispatched",
}
EXPECTED_IDENTITY = {
    "standard": ("order.created", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
    "svix": ("order.created", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
    "stripe": ("payment_intent.succeeded", "evt_3PqZ8aLkdIwHu7ix0cT1c2eR"),
    "github": ("pull_request.opened", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    "shopify": ("orders/create", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
    "slack": ("app_mention", "Ev123ABC456"),
    "hmac": ("shipment.dispatched", "dlv_000123"),
}
TIMESTAMPED = ["standard", "svix", "stripe", "slack"]
SIGNATURE_HEADERS = {
    "standard": ["webhook-signature", "webhook-timestamp", "webhook-id"],
    "svix": ["svix-signature", "svix-timestamp", "svix-id"],
    "stripe": ["stripe-signature"],
    "github": ["x-hub-signature-256"],
    "shopify": ["x-shopify-hmac-sha256"],
    "slack": ["x-slack-signature", "x-slack-request-timestamp"],
    "hmac": ["x-courier-signature"],
}


def source_for(kind: str, *secrets: str, expires: dict[str, float] | None = None) -> Source:
    real_kind = "standard" if kind == "svix" else kind
    values = secrets or (SECRETS[real_kind],)
    return Source(
        name=real_kind,
        kind=SourceKind(real_kind),
        secrets=tuple(
            Secret(value=v, created_at=NOW - 100, expires_at=(expires or {}).get(v)) for v in values
        ),
        hmac=COURIER if kind == "hmac" else None,
        created_at=NOW - 100,
        updated_at=NOW - 100,
    )


def request_of(event: dict[str, Any]) -> InboundRequest:
    return InboundRequest(
        headers={k.lower(): v for k, v in event["headers"].items()}, body=raw_body(event)
    )


@pytest.fixture
def signed_request(load_event):
    def make(kind: str, *, now: float = NOW, secret: str | None = None) -> InboundRequest:
        return signed_sample(load_event(f"http/{SAMPLES[kind]}"), kind, now, secret)

    return make


def signed_sample(
    event: dict[str, Any], kind: str, now: float, secret: str | None = None
) -> InboundRequest:
    """The kind's sample request, signed at ``now`` (Svix's headers instead of Standard
    Webhooks' for ``svix``)."""
    real_kind = "standard" if kind == "svix" else kind
    if kind == "svix":
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            event["headers"].pop(name)
    return request_of(signed(event, kind, now, secret or SECRETS[real_kind]))


# --- the good path --------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_genuine_request_is_verified_and_identified(kind, signed_request):
    verified = verify(source_for(kind), signed_request(kind), NOW)
    assert (verified.event_type, verified.provider_event_id) == EXPECTED_IDENTITY[kind]
    assert verified.answer is None


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_wrong_secret_is_rejected(kind, signed_request):
    secret = new_standard_secret() if kind in ("standard", "svix") else "not-the-secret"
    with pytest.raises(InvalidSignature):
        verify(source_for(kind), signed_request(kind, secret=secret), NOW)


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_tampered_body_is_rejected(kind, signed_request):
    request = signed_request(kind)
    tampered = InboundRequest(headers=request.headers, body=request.body.replace(b"1", b"2", 1))
    assert tampered.body != request.body
    with pytest.raises(InvalidSignature):
        verify(source_for(kind), tampered, NOW)


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_a_single_changed_byte_anywhere_is_rejected(kind, signed_request):
    request = signed_request(kind)
    for position in (0, len(request.body) // 2, len(request.body) - 1):
        body = bytearray(request.body)
        body[position] ^= 0x01
        with pytest.raises(InvalidSignature):
            verify(source_for(kind), InboundRequest(request.headers, bytes(body)), NOW)


@pytest.mark.parametrize(
    ("kind", "header"), [(k, h) for k, names in SIGNATURE_HEADERS.items() for h in names]
)
def test_missing_header_is_rejected(kind, header, signed_request):
    request = signed_request(kind)
    headers = {k: v for k, v in request.headers.items() if k != header}
    with pytest.raises(InvalidSignature):
        verify(source_for(kind), InboundRequest(headers, request.body), NOW)


@pytest.mark.parametrize("kind", TIMESTAMPED)
@pytest.mark.parametrize("offset", [-301, 301, -86400, 10**9])
def test_stale_and_future_timestamps_are_rejected(kind, offset, signed_request):
    request = signed_request(kind, now=NOW + offset)
    with pytest.raises(InvalidSignature):
        verify(source_for(kind), request, NOW)


SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


@pytest.mark.parametrize(
    ("kind", "header"),
    [
        ("standard", "webhook-timestamp"),
        ("slack", "x-slack-request-timestamp"),
        ("stripe", "stripe-signature"),
    ],
)
def test_timestamps_in_unicode_digits_are_rejected_not_crashed_on(kind, header, signed_request):
    # str.isdigit() says yes to "¹⁷⁰⁰", int() says no: found by hypothesis.
    request = signed_request(kind)
    value = request.headers[header]
    if kind == "stripe":
        t, rest = value.split(",", 1)
        value = t.translate(SUPERSCRIPT) + "," + rest
    else:
        value = value.translate(SUPERSCRIPT)
    headers = {**request.headers, header: value}
    with pytest.raises(InvalidSignature):
        verify(source_for(kind), InboundRequest(headers, request.body), NOW)


@pytest.mark.parametrize("kind", TIMESTAMPED)
@pytest.mark.parametrize("offset", [-299, 0, 299])
def test_timestamps_within_five_minutes_are_accepted(kind, offset, signed_request):
    verify(source_for(kind), signed_request(kind, now=NOW + offset), NOW)


# --- rotation ----------------------------------------------------------------------------


def _second_secret(kind: str) -> str:
    return (
        new_standard_secret() if kind in ("standard", "svix") else "the-new-secret-after-rotation"
    )


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_either_secret_verifies_during_rotation(kind, signed_request):
    real_kind = "standard" if kind == "svix" else kind
    old, new = SECRETS[real_kind], _second_secret(kind)
    source = source_for(kind, old, new, expires={old: NOW + 3600})
    verify(source, signed_request(kind, secret=old), NOW)
    verify(source, signed_request(kind, secret=new), NOW)


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_old_secret_stops_working_when_its_overlap_ends(kind, signed_request):
    real_kind = "standard" if kind == "svix" else kind
    old, new = SECRETS[real_kind], _second_secret(kind)
    source = source_for(kind, old, new, expires={old: NOW - 1})
    with pytest.raises(InvalidSignature):
        verify(source, signed_request(kind, secret=old), NOW)
    verify(source, signed_request(kind, secret=new), NOW)


def test_standard_accepts_any_of_several_signatures_in_the_header():
    body = b'{"type":"order.created"}'
    other = new_standard_secret()
    header = standard_signature_header([other, SECRETS["standard"]], "msg_1", int(NOW), body)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(NOW)),
        "webhook-signature": header,
    }
    verify(source_for("standard"), InboundRequest(headers, body), NOW)


def test_stripe_accepts_any_of_several_v1_signatures(signed_request):
    request = signed_request("stripe")
    header = request.headers["stripe-signature"]
    t, v1 = header.split(",")
    headers = {**request.headers, "stripe-signature": f"{t},v1={'0' * 64},{v1},v0=abc"}
    verify(source_for("stripe"), InboundRequest(headers, request.body), NOW)


# --- the providers' own verifiers agree ---------------------------------------------------


def test_standard_signatures_we_make_are_accepted_by_standardwebhooks_and_svix():
    secret = new_standard_secret()
    body = b'{"type":"order.created","data":{"order":"BH-1"}}'
    now = int(datetime.now(UTC).timestamp())
    header = standard_signature_header([secret], "evt_1", now, body)
    headers = {"webhook-id": "evt_1", "webhook-timestamp": str(now), "webhook-signature": header}
    StandardWebhook(secret).verify(body, headers)
    SvixWebhook(secret).verify(
        body, {"svix-id": "evt_1", "svix-timestamp": str(now), "svix-signature": header}
    )
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(secret).verify(body + b" ", headers)


def test_stripe_library_and_ours_agree(signed_request):
    now = int(datetime.now(UTC).timestamp())
    request = signed_request("stripe", now=now)
    header = request.headers["stripe-signature"]
    stripe.WebhookSignature.verify_header(request.body.decode(), header, SECRETS["stripe"], 300)
    verify(source_for("stripe"), request, now)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            request.body.decode() + " ", header, SECRETS["stripe"], 300
        )


def test_slack_sdk_and_ours_agree(signed_request):
    now = int(datetime.now(UTC).timestamp())
    request = signed_request("slack", now=now)
    verifier = SignatureVerifier(SECRETS["slack"])
    assert verifier.is_valid(
        request.body,
        request.headers["x-slack-request-timestamp"],
        request.headers["x-slack-signature"],
    )
    verify(source_for("slack"), request, now)


def test_github_documented_example():
    # docs.github.com "Validating webhook deliveries": secret, payload and expected signature.
    signature = github_signature("It's a Secret to Everybody", b"Hello, World!")
    assert signature == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    headers = {
        "x-hub-signature-256": signature,
        "x-github-event": "ping",
        "x-github-delivery": "d-1",
    }
    verified = verify(source_for("github"), InboundRequest(headers, b"Hello, World!"), NOW)
    assert verified.event_type == "ping"


def test_slack_documented_example():
    # api.slack.com "Verifying requests from Slack": the slash-command example.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
        b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
        b"collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F39770"
        b"0885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2"
        b"c447fce8b6703c"
    )
    headers = {
        "x-slack-request-timestamp": "1531420618",
        "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "content-type": "application/x-www-form-urlencoded",
    }
    source = source_for("slack", "8f742231b10e8888abcd99yyyzzz85a5")
    verified = verify(source, InboundRequest(headers, body), 1531420618)
    # A slash command: its type is slash_command plus the command, its id the trigger_id,
    # and Slack wants an empty 200 (it shows the answer's body to the user).
    assert verified.event_type == "slash_command/webhook-collect"
    assert verified.provider_event_id == "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    assert verified.id_signed
    assert verified.empty_answer
    # Slack's own SDK agrees, both ways (at the example's time).
    sdk = SignatureVerifier("8f742231b10e8888abcd99yyyzzz85a5", clock=_FixedClock(1531420618))
    assert sdk.is_valid(body, headers["x-slack-request-timestamp"], headers["x-slack-signature"])
    tampered = body.replace(b"roadrunner", b"coyote")
    assert not sdk.is_valid(
        tampered, headers["x-slack-request-timestamp"], headers["x-slack-signature"]
    )
    with pytest.raises(InvalidSignature):
        verify(source, InboundRequest(headers, tampered), 1531420618)
    # Stale by more than five minutes: both refuse.
    late = 1531420618 + 301
    assert not SignatureVerifier(
        "8f742231b10e8888abcd99yyyzzz85a5", clock=_FixedClock(late)
    ).is_valid(body, headers["x-slack-request-timestamp"], headers["x-slack-signature"])
    with pytest.raises(InvalidSignature):
        verify(source, InboundRequest(headers, body), late)


class _FixedClock(Clock):
    """slack_sdk's verifier asks its clock for the time."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def test_slack_interactivity_and_a_form_that_is_neither_are_told_apart():
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    source = source_for("slack", secret)
    form = {"content-type": "application/x-www-form-urlencoded"}

    def signed_form(body: bytes) -> InboundRequest:
        sdk = SignatureVerifier(secret, clock=_FixedClock(NOW))
        signature = sdk.generate_signature(timestamp=str(int(NOW)), body=body)
        assert signature is not None
        return InboundRequest(
            {**form, "x-slack-request-timestamp": str(int(NOW)), "x-slack-signature": signature},
            body,
        )

    payload = b'{"type":"block_actions","trigger_id":"123.456.abc","actions":[]}'
    verified = verify(source, signed_form(b"payload=" + quote(payload).encode()), NOW)
    assert verified.event_type == "block_actions"
    assert verified.provider_event_id == "123.456.abc"
    assert verified.empty_answer
    # Authentic, but neither an event, a payload nor a command: 400, not 401.
    with pytest.raises(MalformedPayload):
        verify(source, signed_form(b"team_id=T1&text=hello"), NOW)
    with pytest.raises(MalformedPayload):
        verify(source, signed_form(b"command=weather&trigger_id=1.2.3"), NOW)


def test_shopify_documented_hmac_shape():
    # Shopify's docs compute base64(HMAC-SHA256(secret, raw body)); the classic example vector.
    assert shopify_signature("secret", b"foo") == "dzukRpPHVT1u4g9h6l0nV6mk9KRNKEGuTpW1LkzWLbQ="
    headers = {
        "x-shopify-hmac-sha256": "dzukRpPHVT1u4g9h6l0nV6mk9KRNKEGuTpW1LkzWLbQ=",
        "x-shopify-topic": "shop/update",
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }
    verify(source_for("shopify", "secret"), InboundRequest(headers, b"foo"), NOW)


@pytest.mark.parametrize(
    ("kind", "sample", "id_header"),
    [
        ("github", "http/github_pull_request_opened", "X-GitHub-Delivery"),
        ("shopify", "http/shopify_orders_create", "X-Shopify-Webhook-Id"),
    ],
)
def test_a_github_or_shopify_request_without_its_id_header_is_refused(
    kind, sample, id_header, load_event
):
    """Every delivery of theirs carries one; a request without is not theirs. 400, not 202."""
    request = request_of(signed(load_event(sample), kind, NOW))
    headers = {k: v for k, v in request.headers.items() if k != id_header.lower()}
    with pytest.raises(MalformedPayload, match=id_header):
        verify(source_for(kind), InboundRequest(headers, request.body), NOW)


@pytest.mark.parametrize(
    ("kind", "signed_id"),
    [("standard", True), ("stripe", True), ("slack", True), ("github", False), ("shopify", False)],
)
def test_whether_the_signature_covers_the_event_id(kind, signed_id, load_event):
    samples = {
        "standard": "http/standard_order_created",
        "stripe": "http/stripe_payment_intent_succeeded",
        "slack": "http/slack_app_mention",
        "github": "http/github_pull_request_opened",
        "shopify": "http/shopify_orders_create",
    }
    event = signed(load_event(samples[kind]), kind, NOW)
    verified = verify(source_for(kind), request_of(event), NOW)
    assert verified.id_signed is signed_id
    assert (verified.trusted_id is not None) is signed_id


# --- provider conventions -----------------------------------------------------------------


def test_slack_url_verification_yields_the_challenge(load_event):
    event = signed(load_event("http/slack_url_verification"), "slack", NOW)
    verified = verify(source_for("slack"), request_of(event), NOW)
    assert verified.answer is not None
    assert verified.answer.body == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    assert verified.answer.content_type == "text/plain"


def test_github_event_without_action_is_typed_by_the_header_alone():
    body = b'{"zen":"Design for failure.","hook_id":1}'
    headers = {
        "x-hub-signature-256": github_signature(SECRETS["github"], body),
        "x-github-event": "ping",
        "x-github-delivery": "abc",
    }
    assert verify(source_for("github"), InboundRequest(headers, body), NOW).event_type == "ping"


def test_github_form_encoded_delivery_reads_the_action_from_the_payload():
    body = b"payload=" + json.dumps({"action": "created"}).encode().replace(b'"', b"%22")
    headers = {
        "x-hub-signature-256": github_signature(SECRETS["github"], body),
        "x-github-event": "issue_comment",
        "x-github-delivery": "abc",
        "content-type": "application/x-www-form-urlencoded",
    }
    assert verify(source_for("github"), InboundRequest(headers, body), NOW).event_type == (
        "issue_comment.created"
    )


def test_stripe_body_without_an_id_is_a_bad_request():
    body = b'{"type":"charge.succeeded"}'
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), SECRETS["stripe"], timestamp=int(NOW)
    )
    with pytest.raises(MalformedPayload):
        verify(source_for("stripe"), InboundRequest({"stripe-signature": header}, body), NOW)


def test_event_types_are_made_header_safe():
    body = json.dumps({"type": "order.created\r\nx-evil: 1"}).encode()
    header = standard_signature_header([SECRETS["standard"]], "m", int(NOW), body)
    headers = {"webhook-id": "m", "webhook-timestamp": str(int(NOW)), "webhook-signature": header}
    event_type = verify(source_for("standard"), InboundRequest(headers, body), NOW).event_type
    assert "\r" not in event_type
    assert "\n" not in event_type
    assert " " not in event_type


# --- hostile input ------------------------------------------------------------------------

header_values = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        [
            "",
            " ",
            "v1,",
            "v1,@@@",
            "t=,v1=",
            "t=abc,v1=zz",
            "t=99999999999999999999,v1=00",
            "sha256=",
            "sha256=zz",
            "v0=",
            "=",
            ",,,",
            "v1,AAAA v1,==",
        ]
    ),
)


@pytest.mark.parametrize("kind", list(SAMPLES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_malformed_headers_only_ever_raise_the_verifiers_own_rejections(kind, data, load_event):
    """Signed afresh at NOW, so that the timestamped kinds reach the signature comparison;
    then some signed headers replaced or dropped, or the body changed: refused, always; and
    the request left as it was signed, accepted."""
    genuine = signed_sample(load_event(f"http/{SAMPLES[kind]}"), kind, NOW)
    headers = dict(genuine.headers)
    changed = False
    for name in SIGNATURE_HEADERS[kind]:
        if data.draw(st.booleans(), label=f"replace {name}"):
            value = data.draw(header_values, label=name)
            changed |= value.strip() != headers.get(name, "").strip()
            headers[name] = value
        elif data.draw(st.booleans(), label=f"drop {name}"):
            changed |= name in headers
            headers.pop(name, None)
    body = data.draw(st.one_of(st.just(genuine.body), st.binary(max_size=2000)), label="body")
    changed |= body != genuine.body
    try:
        verify(source_for(kind), InboundRequest(headers, body), NOW)
    except InvalidSignature:
        assert changed, "the request as signed was refused"
    except MalformedPayload:
        # Authentic but not an event of the kind: only possible for what was signed.
        assert not changed, "a forged request got as far as its payload"
    else:  # only a genuine signature may pass
        assert not changed, "a forged request was accepted"
