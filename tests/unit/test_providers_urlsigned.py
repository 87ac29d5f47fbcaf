"""Twilio, Square, HubSpot and Trello: their documented example vectors, their SDKs'
agreement with hookhaven both ways (what the SDK signs hookhaven accepts, hookhaven's cases
pass the SDK's validator, and what the SDK refuses hookhaven refuses), and how each reads
its event's type and id. The generic checks of every case are in test_provider_cases.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from hubspot.exceptions import InvalidSignatureTimestampError  # type: ignore[import-untyped]
from hubspot.utils.signature import Signature  # type: ignore[import-untyped]
from square.utils.webhooks_helper import verify_signature as square_verify_signature
from twilio.request_validator import (  # type: ignore[import-untyped]
    RequestValidator,
    get_signature_algorithm,
)

from hookhaven.verification import (
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    VerifiedWebhook,
    verify,
)
from tests.provider_cases import NOW, ProviderCase, source_of
from tests.provider_cases import urlsigned as cases

FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}


source = source_of


def accepted(
    kind: str,
    secret: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    now: float = NOW,
    method: str = "POST",
) -> VerifiedWebhook | None:
    """The verified webhook, or None if hookhaven refuses the signature."""
    request = InboundRequest(
        headers={k.lower(): v for k, v in headers.items()}, body=body, method=method, url=url
    )
    try:
        return verify(source(kind, secret), request, now)
    except InvalidSignature:
        return None


def case(case_id: str) -> ProviderCase:
    (found,) = [c for c in cases.PROVIDER_CASES if c.id == case_id]
    return found


# --- Twilio ---------------------------------------------------------------------------------

TWILIO_DOCS_TOKEN = "12345"
TWILIO_DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_DOCS_FIELDS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675310",
    "Digits": "1234",
    "From": "+14158675310",
    "To": "+18005551212",
}


def twilio(
    url: str,
    body: bytes,
    signature: str,
    *,
    token: str = TWILIO_DOCS_TOKEN,
    headers: dict[str, str] | None = None,
) -> VerifiedWebhook | None:
    return accepted(
        "twilio", token, url, body, {**FORM, **(headers or {}), "x-twilio-signature": signature}
    )


def test_twilio_documented_example():
    # https://www.twilio.com/docs/usage/security#validating-requests: Auth Token 12345, this
    # URL and these POST fields, and the signature the page prints. (The page's example was
    # not in the stored copy searched here: the values are those implementations quote from
    # it, and twilio-python's compute_signature gives the same signature.)
    body = urlencode(TWILIO_DOCS_FIELDS).encode()
    verified = twilio(TWILIO_DOCS_URL, body, "GvWf1cFY/Q7PnoempGyD5oXAezc=")
    assert verified is not None
    # A voice request with no status field: the fallback type; no idempotency token sent.
    assert (verified.event_type, verified.provider_event_id) == ("twilio", None)
    validator = RequestValidator(TWILIO_DOCS_TOKEN)
    assert validator.validate(
        TWILIO_DOCS_URL, cases.form_fields(body), "GvWf1cFY/Q7PnoempGyD5oXAezc="
    )
    tampered = body.replace(b"1234", b"1235")
    assert twilio(TWILIO_DOCS_URL, tampered, "GvWf1cFY/Q7PnoempGyD5oXAezc=") is None
    assert not validator.validate(
        TWILIO_DOCS_URL, cases.form_fields(tampered), "GvWf1cFY/Q7PnoempGyD5oXAezc="
    )


# twilio-python's own vectors (tests/unit/test_request_validator.py in twilio/twilio-python):
# the URL signed without its port, with 1234, with the default port added, and a JSON body.
_SDK_FIELDS = {**TWILIO_DOCS_FIELDS, "Caller": "+14158675309", "From": "+14158675309"}


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (TWILIO_DOCS_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (TWILIO_DOCS_URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (
            TWILIO_DOCS_URL.replace(".com", ".com:1234").replace("https", "http"),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
        ),
        (TWILIO_DOCS_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        (TWILIO_DOCS_URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
    ids=["plain", "port-removed-https", "port-removed-http", "443-added", "80-added"],
)
def test_twilio_sdk_vectors_for_the_port(url: str, signature: str):
    body = urlencode(_SDK_FIELDS).encode()
    assert twilio(url, body, signature) is not None
    assert RequestValidator(TWILIO_DOCS_TOKEN).validate(url, cases.form_fields(body), signature)


def test_twilio_sdk_vectors_for_repeated_fields_and_a_json_body():
    # Repeated names: values sorted, each name once (the SDK's MultiDict and QueryDict test).
    body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"
    assert twilio(TWILIO_DOCS_URL, body, "IK+Dwps556ElfBT0I3Rgjkr1wJU=") is not None
    json_body = b'{"property": "value", "boolean": true}'
    body_hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    assert hashlib.sha256(json_body).hexdigest() == body_hash
    url = f"{TWILIO_DOCS_URL}&bodySHA256={body_hash}"
    signature = "a9nBmqA0ju/hNViExpshrM61xv4="
    assert accepted(
        "twilio", TWILIO_DOCS_TOKEN, url, json_body, {**JSON, "x-twilio-signature": signature}
    )


_URLS = [
    "https://hooks.example.com/webhooks/twilio",
    "https://hooks.example.com:443/webhooks/twilio",
    "https://hooks.example.com:8443/webhooks/twilio",
    "http://hooks.example.com/webhooks/twilio",
    "http://hooks.example.com:80/webhooks/twilio",
    "http://127.0.0.1:3000/webhooks/twilio",
    "https://hooks.example.com/webhooks/twilio?a=1&b=%20x",
    "https://hooks.example.com/relay/webhooks/twilio",
]


def test_twilio_accepts_exactly_the_urls_the_sdk_accepts():
    """Signed for one URL, received at another: hookhaven and RequestValidator.validate
    agree on every pair (the same URL, with the default port added or removed, with another
    port removed, another scheme, host, query or path)."""
    validator = RequestValidator(cases.TWILIO_AUTH_TOKEN)
    fields = cases.form_fields(cases.TWILIO_FORM)
    outcomes = set()
    for signed_for in _URLS:
        signature = validator.compute_signature(signed_for, fields)
        for received_at in _URLS:
            sdk = validator.validate(received_at, fields, signature)
            ours = twilio(received_at, cases.TWILIO_FORM, signature, token=cases.TWILIO_AUTH_TOKEN)
            assert (ours is not None) == sdk, (signed_for, received_at)
            outcomes.add(sdk)
    assert outcomes == {True, False}


@pytest.mark.parametrize(
    "body",
    [
        cases.TWILIO_FORM,
        b"Digits=5678&Digits=1234&Digits=5678&CallSid=CA1",  # repeated, and one value twice
        b"ErrorCode=&MessageStatus=sent&MessageSid=SM1",  # blank values are signed too
        b"Body=caf%C3%A9+%E2%80%93+r%C3%A9sum%C3%A9&From=whatsapp%3A%2B14155550100",  # UTF-8
        b"a=1&A=2&_=3&%7E=4&b",  # case-sensitive order, a name without '='
    ],
    ids=["status-callback", "repeated", "blank", "utf-8", "order"],
)
def test_twilio_sdk_and_hookhaven_agree_on_forms(body: bytes):
    token, url = cases.TWILIO_AUTH_TOKEN, "https://hooks.example.com/webhooks/twilio"
    validator = RequestValidator(token)
    signature = validator.compute_signature(url, cases.form_fields(body))
    assert twilio(url, body, signature, token=token) is not None
    assert validator.validate(url, cases.form_fields(body), signature)
    # What the SDK refuses, hookhaven refuses: another value, another secret.
    tampered = body + b"&Extra=1"
    assert not validator.validate(url, cases.form_fields(tampered), signature)
    assert twilio(url, tampered, signature, token=token) is None
    other = RequestValidator(cases.OTHER_TWILIO_AUTH_TOKEN)
    assert not other.validate(url, cases.form_fields(body), signature)
    assert twilio(url, body, signature, token=cases.OTHER_TWILIO_AUTH_TOKEN) is None


@pytest.mark.parametrize("case_id", ["twilio-form", "twilio-json", "twilio-sharedkey"])
def test_twilio_cases_pass_the_sdks_validator(case_id: str):
    """hookhaven's own vectors, handed to RequestValidator.validate the way a Flask app
    would: the form's fields, or the raw JSON body (validated against bodySHA256)."""
    c = case(case_id)
    headers = c.sign(c.body, NOW, c.signing_key, c.url)
    settings = c.headers.get("X-Twilio-Webhooks-Signature-Settings")
    algorithm = get_signature_algorithm(settings)
    params = cases.form_fields(c.body) if case_id != "twilio-json" else c.body.decode()
    validator = RequestValidator(c.signing_key)
    assert validator.validate(c.url, params, headers["X-Twilio-Signature"], algorithm)
    assert accepted("twilio", c.source_secret, c.url, c.body, {**c.headers, **headers})


def test_twilio_json_bodies_are_covered_by_body_sha256_only():
    c = case("twilio-json")
    validator = RequestValidator(c.signing_key)

    def both(url: str, body: bytes) -> tuple[bool, bool]:
        """(the SDK's verdict, hookhaven's) on ``body`` at ``url``, signed for ``url``."""
        signature = validator.compute_signature(url, {})
        headers = {**JSON, "x-twilio-signature": signature}
        ours = accepted("twilio", c.source_secret, url, body, headers)
        return validator.validate(url, body.decode(), signature), ours is not None

    assert both(c.url, c.body) == (True, True)
    assert both(c.url, c.body + b" ") == (False, False)  # it no longer hashes to bodySHA256
    # The digest in upper case is not what Twilio sends (the SDK compares it exactly).
    upper = c.url.split("?")[0] + "?bodySHA256=" + hashlib.sha256(c.body).hexdigest().upper()
    assert both(upper, c.body) == (False, False)
    # A JSON body without bodySHA256 is covered by nothing: refused (the SDK cannot even
    # try: it reads a string of parameters as a mapping and fails).
    bare = c.url.split("?")[0]
    signature = validator.compute_signature(bare, {})
    assert (
        accepted("twilio", c.source_secret, bare, c.body, {**JSON, "x-twilio-signature": signature})
        is None
    )
    with pytest.raises(TypeError):
        validator.validate(bare, c.body.decode(), signature)
    # An empty body needs nothing more than the URL, for the SDK as for hookhaven.
    assert validator.validate(bare, "", signature)
    assert accepted("twilio", c.source_secret, bare, b"", {**JSON, "x-twilio-signature": signature})


def test_twilio_shared_keys_sign_with_the_algorithm_they_name():
    """https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys: with a Webhook Rule,
    Twilio signs with the SharedKey's secret and the algorithm X-Twilio-Webhooks-Signature-
    Settings names; without that header, HMAC-SHA1 and the Auth Token."""
    c = case("twilio-sharedkey")
    fields = cases.form_fields(c.body)
    validator = RequestValidator(c.signing_key)
    sha256 = validator.compute_signature(c.url, fields, "HMAC_SHA256")
    sha1 = validator.compute_signature(c.url, fields)
    for settings, signature, expected in [
        (cases.TWILIO_SHARED_KEY_SETTINGS, sha256, True),
        ("key=webhooks_sharedkey_1,algorithm=hmac_sha256", sha256, True),  # any case
        (cases.TWILIO_SHARED_KEY_SETTINGS, sha1, False),  # not the algorithm it names
        (None, sha256, False),  # no header: HMAC-SHA1
        (None, sha1, True),
        ("key=webhooks_sharedkey_1,algorithm=HMAC_SHA512", sha256, False),  # unsupported
        ("key=webhooks_sharedkey_1", sha1, True),  # no algorithm named: HMAC-SHA1
    ]:
        algorithm = get_signature_algorithm(settings)
        assert validator.validate(c.url, fields, signature, algorithm) is expected
        headers = {**FORM, "x-twilio-signature": signature}
        if settings is not None:
            headers["x-twilio-webhooks-signature-settings"] = settings
        ours = accepted("twilio", c.source_secret, c.url, c.body, headers)
        assert (ours is not None) is expected, settings


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"MessageStatus": "delivered", "SmsStatus": "delivered"}, "message.delivered"),
        ({"SmsStatus": "received", "Body": "hello"}, "message.received"),  # an incoming SMS
        ({"CallStatus": "ringing", "Direction": "inbound"}, "call.ringing"),
        ({"CallStatus": "completed", "CallDuration": "42"}, "call.completed"),
        ({"RecordingStatus": "completed", "CallSid": "CA1"}, "recording.completed"),
        ({"EventType": "task.created", "TaskSid": "WT1"}, "task.created"),  # TaskRouter
        ({"EventType": "onMessageAdded"}, "onMessageAdded"),  # Conversations
        ({"Digits": "1234"}, "twilio"),
    ],
)
def test_twilio_event_types(fields: dict[str, str], expected: str):
    url = "https://hooks.example.com/webhooks/twilio"
    body = urlencode(fields).encode()
    signature = RequestValidator("token").compute_signature(url, cases.form_fields(body))
    verified = twilio(
        url, body, signature, token="token", headers={"I-Twilio-Idempotency-Token": "t-1"}
    )
    assert verified is not None
    assert verified.event_type == expected
    # The idempotency token names the request, but the signature leaves it out.
    assert (verified.provider_event_id, verified.id_signed) == ("t-1", False)


# --- Square ---------------------------------------------------------------------------------

# Square's docs page (https://developer.squareup.com/docs/webhooks/step3validate) prints no
# example values; these are the SDK's own (tests/integration/test_webhooks_helper.py in
# square/square-python-sdk), a webhooks.test_notification as Square sends it.
SQUARE_BODY = (
    b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":'
    b'"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z",'
    b'"data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}'
)
SQUARE_SIGNATURE = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="
SQUARE_KEY = "Ibxx_5AKakO-3qeNVR61Dw"
SQUARE_URL = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"


def square(url: str, body: bytes, signature: str, key: str = SQUARE_KEY) -> bool:
    ours = accepted("square", key, url, body, {"x-square-hmacsha256-signature": signature})
    sdk = square_verify_signature(
        request_body=body.decode(),
        signature_header=signature,
        signature_key=key,
        notification_url=url,
    )
    assert (ours is not None) == sdk, "hookhaven and squareup disagree"
    return sdk


def test_square_sdk_example():
    assert square(SQUARE_URL, SQUARE_BODY, SQUARE_SIGNATURE)
    verified = accepted(
        "square",
        SQUARE_KEY,
        SQUARE_URL,
        SQUARE_BODY,
        {"x-square-hmacsha256-signature": SQUARE_SIGNATURE},
    )
    assert verified is not None
    assert (verified.event_type, verified.provider_event_id) == (
        "webhooks.test_notification",
        "ac3ac95b-f97d-458c-a6e6-18981597e05f",
    )
    # What the SDK refuses, hookhaven refuses: tampered, another key, another URL.
    assert not square(SQUARE_URL, SQUARE_BODY.replace(b"MLEF", b"MLEG"), SQUARE_SIGNATURE)
    assert not square(SQUARE_URL, SQUARE_BODY, SQUARE_SIGNATURE, key="another-key")
    assert not square(SQUARE_URL + "/", SQUARE_BODY, SQUARE_SIGNATURE)


def test_square_sdk_escaped_characters_example():
    # The SDK's vector for a body with characters JSON encoders like to escape (">id<"):
    # the signature is over the raw body. Authentic, but no event_id or type: a 400.
    body = b'{"data":{"type":"webhooks","id":">id<"}}'
    signature = "Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U="
    url = "https://webhook.site/webhooks"
    assert square_verify_signature(
        request_body=body.decode(),
        signature_header=signature,
        signature_key="signature-key",
        notification_url=url,
    )
    with pytest.raises(MalformedPayload):
        verify(
            source("square", "signature-key"),
            InboundRequest({"x-square-hmacsha256-signature": signature}, body, url=url),
            NOW,
        )


def test_square_case_passes_the_sdk():
    c = case("square")
    signature = c.sign(c.body, NOW, c.signing_key, c.url)["x-square-hmacsha256-signature"]
    assert square(c.url, c.body, signature, key=c.signing_key)
    assert not square(c.url, c.body + b"\n", signature, key=c.signing_key)
    assert not square(c.url, c.body, signature, key=c.other_signing_key)


# --- HubSpot --------------------------------------------------------------------------------

# HubSpot's page prints examples for v1 and v2 only; this v3 vector is hubspot-api-client's
# own (tests/spec/utils/test_signature.py in HubSpot/hubspot-api-python): timestamp 15000000
# (milliseconds), so it is checked at 15,000 s.
HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"


def hubspot(
    url: str,
    body: bytes,
    signature: str,
    timestamp: str,
    *,
    now: float,
    secret: str = HUBSPOT_SECRET,
    method: str = "POST",
) -> VerifiedWebhook | None:
    headers = {
        **JSON,
        "x-hubspot-signature-v3": signature,
        "x-hubspot-request-timestamp": timestamp,
    }
    return accepted("hubspot", secret, url, body, headers, now=now, method=method)


def test_hubspot_sdk_example():
    body = b"{'example_field':'example_value'}"
    signature = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
    url = "https://www.example.com/webhook_uri"
    verified = hubspot(url, body, signature, "15000000", now=15_000)
    assert verified is not None
    assert verified.event_type == "unknown"  # the example's body is not JSON
    assert hubspot(url, body, signature, "15000000", now=15_000, method="PUT") is None
    assert hubspot(url, body, signature, "15000001", now=15_000) is None
    assert hubspot(url, body, signature, "15000000", now=15_000 + 301) is None


def test_hubspot_sdk_and_hookhaven_agree():
    """At the real time, as the SDK reads the clock: what it signs hookhaven accepts, the
    case's vector passes Signature.is_valid, and tampering, another secret and a stale
    timestamp are refused by both."""
    c = case("hubspot")
    now = time.time()
    headers = c.sign(c.body, now, c.signing_key, c.url)
    signature, timestamp = headers["X-HubSpot-Signature-v3"], headers["X-HubSpot-Request-Timestamp"]

    def sdk(body: bytes, secret: str, stamp: str, sig: str = signature) -> bool:
        valid: bool = Signature.is_valid(sig, secret, body.decode(), c.url, "POST", "v3", stamp)
        return valid

    assert sdk(c.body, c.signing_key, timestamp)
    assert hubspot(c.url, c.body, signature, timestamp, now=now, secret=c.source_secret)
    tampered = c.body.replace(b"reader@", b"writer@")
    assert not sdk(tampered, c.signing_key, timestamp)
    assert hubspot(c.url, tampered, signature, timestamp, now=now, secret=c.source_secret) is None
    assert not sdk(c.body, c.other_signing_key, timestamp)
    assert hubspot(c.url, c.body, signature, timestamp, now=now, secret=c.other_signing_key) is None
    stale = str(int((now - 301) * 1000))
    stale_signature = c.sign(c.body, now - 301, c.signing_key, c.url)["X-HubSpot-Signature-v3"]
    with pytest.raises(InvalidSignatureTimestampError):
        sdk(c.body, c.signing_key, stale, stale_signature)
    assert hubspot(c.url, c.body, stale_signature, stale, now=now, secret=c.source_secret) is None
    # The SDK accepts a timestamp from any time ahead; hookhaven refuses one more than five
    # minutes ahead, as every signed timestamp (HubSpot's clock is never that far ahead).
    ahead = str(int((now + 301) * 1000))
    ahead_signature = c.sign(c.body, now + 301, c.signing_key, c.url)["X-HubSpot-Signature-v3"]
    assert sdk(c.body, c.signing_key, ahead, ahead_signature)
    assert hubspot(c.url, c.body, ahead_signature, ahead, now=now, secret=c.source_secret) is None


def test_hubspot_decodes_the_characters_its_documentation_lists():
    """v3 signs the URI with %3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B decoded; any
    other escape (%20, %3D) stays as sent."""
    sent = (
        "https://hooks.example.com/webhooks/hubspot?return=https%3A%2F%2Fbookhaven.example"
        "%2Fcb%3Fx%3D1&note=%28a%29%20b%21%24%27%2A%2C%3B%40"
    )
    signed = (
        "https://hooks.example.com/webhooks/hubspot?return=https://bookhaven.example"
        "/cb?x%3D1&note=(a)%20b!$'*,;@"
    )
    body, timestamp = b"[]", str(int(NOW * 1000))
    decoded = Signature.get_signature("secret", body.decode(), "v3", signed, "POST", timestamp)
    assert hubspot(sent, body, decoded, timestamp, now=NOW, secret="secret") is not None
    # The same escapes in lower case are the same characters.
    assert hubspot(sent.replace("%3A", "%3a"), body, decoded, timestamp, now=NOW, secret="secret")
    as_sent = Signature.get_signature("secret", body.decode(), "v3", sent, "POST", timestamp)
    assert hubspot(sent, body, as_sent, timestamp, now=NOW, secret="secret") is None


def _hubspot_identity(body: object) -> tuple[str, str | None]:
    raw = json.dumps(body).encode()
    url, timestamp = "https://hooks.example.com/webhooks/hubspot", str(int(NOW * 1000))
    signature = Signature.get_signature("s", raw.decode(), "v3", url, "POST", timestamp)
    verified = hubspot(url, raw, signature, timestamp, now=NOW, secret="s")
    assert verified is not None
    return verified.event_type, verified.provider_event_id


def test_hubspot_event_types_and_ids():
    one = {"eventId": 100, "subscriptionType": "contact.creation", "attemptNumber": 0}
    two = {"eventId": 101, "subscriptionType": "contact.creation", "attemptNumber": 0}
    deal = {"eventId": 102, "subscriptionType": "deal.creation", "attemptNumber": 0}
    assert _hubspot_identity([one]) == ("contact.creation", "100")
    batch_type, batch_id = _hubspot_identity([one, two])
    assert batch_type == "contact.creation"
    assert batch_id == "batch:" + hashlib.sha256(b"100,101").hexdigest()
    # A retry carries another attemptNumber (another body) but the same events: the same id.
    retried = [{**event, "attemptNumber": 1} for event in (two, one)]
    assert _hubspot_identity(retried) == (batch_type, batch_id)
    assert _hubspot_identity([one, deal])[0] == "batch"
    # An event without an eventId: no id, so the body's digest finds duplicates.
    assert _hubspot_identity([one, {"subscriptionType": "contact.creation"}])[1] is None
    assert _hubspot_identity({"eventId": 7, "subscriptionType": "x.y"}) == ("x.y", "7")
    assert _hubspot_identity([]) == ("unknown", None)


# --- Trello ---------------------------------------------------------------------------------

# https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures:
# base64 HMAC-SHA1 of the body followed by the callbackURL "exactly as it was provided
# during webhook creation", under the application's secret; the page gives the algorithm
# and a callbackURL with parameters, not signed example values.
TRELLO_SECRET = "a2f5d1c0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2"
TRELLO_URL = "https://mycallback.com/trelloCallbacks/?memberID=14&mainModel=true"


def trello_signature(signed: bytes) -> str:
    return base64.b64encode(
        hmac.new(TRELLO_SECRET.encode(), signed, hashlib.sha1).digest()
    ).decode()


def trello(body: bytes, signature: str, url: str = TRELLO_URL) -> VerifiedWebhook | None:
    return accepted("trello", TRELLO_SECRET, url, body, {**JSON, "x-trello-webhook": signature})


def trello_body(name: str, action_id: str = "5f2b8c9d0e1f2a3b4c5d6e7f") -> bytes:
    action = {"id": action_id, "type": "createCard", "data": {"card": {"name": name}}}
    return json.dumps(
        {"action": action, "model": {"id": "4d5ea62fd76aa1136000000c"}}, ensure_ascii=False
    ).encode()


def test_trello_documented_algorithm():
    body = trello_body("BH-1001")
    verified = trello(body, trello_signature(body + TRELLO_URL.encode()))
    assert verified is not None
    assert (verified.event_type, verified.provider_event_id) == (
        "createCard",
        "5f2b8c9d0e1f2a3b4c5d6e7f",
    )
    # The URL without its parameters is another callback URL.
    assert (
        trello(body, trello_signature(body + TRELLO_URL.encode()), TRELLO_URL.split("?")[0]) is None
    )


def test_trello_binary_strings_as_its_documentation_describes():
    """Trello's page: "the payloads that we sign are treated as binary strings, not utf-8":
    the en dash (U+2013) counts as its 8 least significant bits, byte 19. A body signed that
    way is accepted, as one signed over its UTF-8 bytes is."""
    body = trello_body("Order BH-1001 \u2013 signed edition")
    text = (body.decode() + TRELLO_URL).encode("utf-16-le")[0::2]
    assert bytes([19]) in text  # U+2013 as byte 19
    assert b"\xe2\x80\x93" in body  # and as UTF-8 on the wire
    assert trello(body, trello_signature(text)) is not None
    assert trello(body, trello_signature(body + TRELLO_URL.encode())) is not None
    assert trello(body.replace(b"BH-1001", b"BH-1002"), trello_signature(text)) is None


def test_trello_binary_form_cannot_carry_another_event_id():
    """In the "binary" form, characters 256 apart sign alike: an id changed that way would
    pass the signature and escape deduplication. Such a form is not tried unless the action's
    id and type are plain ASCII, as Trello's are, so the forgery is refused."""
    genuine = trello_body("BH-1001")
    signature = trello_signature(genuine + TRELLO_URL.encode())
    forged = trello_body("BH-1001", action_id="5f2b8c9d0e1f2a3b4c5d6e7\u0166")  # 0x166: 'f'+256
    assert (forged.decode() + TRELLO_URL).encode("utf-16-le")[0::2] == genuine + TRELLO_URL.encode()
    assert trello(forged, signature) is None


def test_trello_requests_without_an_action_id_are_malformed():
    for body in (b'{"model": {"id": "1"}}', b'{"action": {"type": "createCard"}}', b"[]"):
        request = InboundRequest(
            {"x-trello-webhook": trello_signature(body + TRELLO_URL.encode())}, body, url=TRELLO_URL
        )
        with pytest.raises(MalformedPayload):
            verify(source("trello", TRELLO_SECRET), request, NOW)


def test_a_twilio_form_replayed_in_another_order_or_encoding_is_a_duplicate():
    """Twilio signs the parsed fields, sorted: the same fields in another order or another
    URL encoding carry the same signature (twilio-python's validator accepts them), so a
    replay spelled that way must still be found a duplicate, under any idempotency token."""
    from hookhaven.ingest import Duplicate, Receiver, SourceDirectory
    from hookhaven.memory import MemoryBodyStore, MemoryConfig, MemoryEventStore, MemoryQueue
    from hookhaven.tunables import RuntimeTunables

    token = "12345"
    url = "https://hooks.example.com/webhooks/twilio"
    fields = {"MessageSid": "SM1", "MessageStatus": "delivered", "Body": "café & tea"}
    signature = RequestValidator(token).compute_signature(url, fields)
    first = urlencode(fields).encode()
    reordered = urlencode(dict(reversed(list(fields.items())))).encode()
    respelled = b"Body=caf%C3%A9+%26+tea&MessageSid=SM1&MessageStatus=delivered"
    assert len({first, reordered, respelled}) == 3
    config = MemoryConfig()
    config.sources["twilio"] = source("twilio", token)
    queue = MemoryQueue()
    receiver = Receiver(
        directory=SourceDirectory(config, ttl=30, clock=lambda: NOW),
        events=MemoryEventStore(),
        bodies=MemoryBodyStore(),
        queue=queue,
        settings=RuntimeTunables(),
        clock=lambda: NOW,
    )

    def post(body: bytes, idempotency: str) -> object:
        headers = {
            **FORM,
            "x-twilio-signature": signature,
            "i-twilio-idempotency-token": idempotency,
        }
        request = InboundRequest(headers=headers, body=body, url=url)
        return receiver.receive("twilio", request)

    original = post(first, "token-1")
    assert not isinstance(original, Duplicate)
    for index, body in enumerate((reordered, respelled, first)):
        assert RequestValidator(token).validate(url, dict(_parse(body)), signature), (
            "twilio-python accepts the replay"
        )
        again = post(body, f"token-{index + 2}")
        assert isinstance(again, Duplicate), body
        assert again.event_id == original.event_id  # type: ignore[attr-defined]
    other = urlencode({**fields, "MessageStatus": "failed"}).encode()
    with pytest.raises(InvalidSignature):
        post(other, "token-9")


def _parse(body: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(body.decode(), keep_blank_values=True)
