"""Zoom, Twitch, Paddle, Calendly, Linear and Zendesk beyond the generic provider cases
(tests/provider_cases/timestamped.py): the handshakes, each documentation's own example
values (the page beside each vector), and Paddle's SDK against hookhaven both ways."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import paddle_billing.Notifications as paddle_sdk  # type: ignore[import-untyped]
import pytest

from hookhaven import catalog
from hookhaven.models import SourceKind
from hookhaven.providers.schemes import joined
from hookhaven.resources import Resources
from hookhaven.verification import (
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    verify,
)
from tests.integration.conftest import iam_policies, make_receiver
from tests.integration.helpers import add_source
from tests.provider_cases import NOW, source_of
from tests.provider_cases import timestamped as cases

__all__ = ["iam_policies", "make_receiver"]  # pytest fixtures, used by name


source = source_of


def request(body: bytes, headers: dict[str, str]) -> InboundRequest:
    return InboundRequest(headers={k.lower(): v for k, v in headers.items()}, body=body)


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# --- Zoom ---------------------------------------------------------------------------------

ZOOM_SECRET = "zoom-secret-token-WJ7wz3Qk"
#: The validation request Zoom documents (https://developers.zoom.us/docs/api/webhooks/,
#: "Validate your webhook endpoint"), as its example body prints it.
ZOOM_VALIDATION = (
    b'{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,'
    b'"event":"endpoint.url_validation"}'
)


def zoom_request(body: bytes, secret: str = ZOOM_SECRET, when: float = NOW) -> InboundRequest:
    return request(body, {"content-type": "application/json", **cases.zoom(body, when, secret, "")})


def test_zoom_url_validation_is_answered_with_the_tokens_hmac_and_nothing_recorded():
    verified = verify(source("zoom", ZOOM_SECRET), zoom_request(ZOOM_VALIDATION), NOW)
    assert verified.answer is not None
    assert (verified.answer.status, verified.answer.content_type) == (200, "application/json")
    # https://developers.zoom.us/docs/api/webhooks/: HMAC-SHA256, the secret token as the
    # key, the plainToken as the message, hex; answered as {"plainToken", "encryptedToken"}.
    expected = hmac.new(ZOOM_SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256)
    assert json.loads(verified.answer.body) == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": expected.hexdigest(),
    }
    assert (verified.event_type, verified.provider_event_id) == ("endpoint.url_validation", None)


def test_zoom_answer_agrees_with_another_implementations_vector():
    # Zoom's page prints an encryptedToken (23a89b63...) but not the secret token behind it.
    # Elastic's Filebeat tests its Zoom CRC answer with a secret it names:
    # elastic/beats x-pack/filebeat/input/http_endpoint/handler_test.go, "validate_CRC_request"
    # (CRCSecret "secretValueTest", the same plainToken).
    verified = verify(
        source("zoom", "secretValueTest"), zoom_request(ZOOM_VALIDATION, "secretValueTest"), NOW
    )
    assert verified.answer is not None
    assert json.loads(verified.answer.body) == {
        "encryptedToken": "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff",
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
    }


def test_a_zoom_url_validation_with_a_bad_signature_gets_no_answer():
    zoom = source("zoom", ZOOM_SECRET)
    # Signed with another secret, unsigned, or with the token changed after signing.
    with pytest.raises(InvalidSignature):
        verify(zoom, zoom_request(ZOOM_VALIDATION, "a-guess"), NOW)
    unsigned = request(ZOOM_VALIDATION, {"content-type": "application/json"})
    with pytest.raises(InvalidSignature):
        verify(zoom, unsigned, NOW)
    genuine = zoom_request(ZOOM_VALIDATION)
    forged = InboundRequest(genuine.headers, ZOOM_VALIDATION.replace(b"qgg8", b"qgg9"))
    with pytest.raises(InvalidSignature):
        verify(zoom, forged, NOW)


def test_zoom_answers_with_the_secret_token_that_signed_the_challenge():
    """During a rotation both tokens are active: the answer is hashed with the one Zoom used."""
    rotated = source("zoom", "the-old-secret-token", "the-new-secret-token")
    for secret in ("the-old-secret-token", "the-new-secret-token"):
        answer = verify(rotated, zoom_request(ZOOM_VALIDATION, secret), NOW).answer
        assert answer is not None
        token = hmac.new(secret.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
        assert json.loads(answer.body)["encryptedToken"] == token


def test_a_zoom_url_validation_without_a_token_is_a_bad_request():
    body = b'{"event":"endpoint.url_validation","payload":{},"event_ts":1654503849680}'
    with pytest.raises(MalformedPayload):
        verify(source("zoom", ZOOM_SECRET), zoom_request(body), NOW)


def test_zoom_signs_the_message_its_page_prints():
    # https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events, "Construct the
    # message": the example string for its session.started body and timestamp 1658940994.
    body = (
        b'{"event":"session.started","payload":{"account_id":"{ACCOUNT_ID}","object":'
        b'{"start_time":"2022-07-27T16:56:34Z","id":"{SESSION_ID}"}},"event_ts":1658940994914}'
    )
    printed = (
        b'v0:1658940994:{"event":"session.started","payload":{"account_id":"{ACCOUNT_ID}",'
        b'"object":{"start_time":"2022-07-27T16:56:34Z","id":"{SESSION_ID}"}},'
        b'"event_ts":1658940994914}'
    )
    assert joined("v0:", ":")(request(body, {}), "1658940994") == printed
    # Zoom's example signature on that page is a placeholder (not hex), so the check is of
    # the message; a request signed over it is accepted at its own time.
    signed = request(body, cases.zoom(body, 1658940994, ZOOM_SECRET, ""))
    assert signed.headers["x-zm-request-timestamp"] == "1658940994"
    verified = verify(source("zoom", ZOOM_SECRET), signed, 1658940994)
    assert verified.event_type == "session.started"


def test_zoom_documents_no_tolerance_so_an_old_timestamp_is_not_refused():
    """Zoom's page says nothing of the timestamp's age (and retries for 85 minutes): a
    request signed days ago verifies; the dedupe window, keyed on its body, stops a replay."""
    (case,) = (c for c in cases.PROVIDER_CASES if c.kind == "zoom")
    old = zoom_request(case.body, when=NOW - 3 * 86_400)
    verified = verify(source("zoom", ZOOM_SECRET), old, NOW)
    assert verified.event_type == "meeting.started"
    assert not verified.id_signed  # x-zm-request-id is a label: the body is the key
    assert catalog.provider(SourceKind.ZOOM).tolerance is None
    malformed = InboundRequest({**old.headers, "x-zm-request-timestamp": "soon"}, case.body)
    with pytest.raises(InvalidSignature):
        verify(source("zoom", ZOOM_SECRET), malformed, NOW)


# --- Twitch EventSub ----------------------------------------------------------------------

TWITCH_SECRET = "twitch-eventsub-secret-5f1c"
#: The challenge request Twitch documents
#: (https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#responding-to-a-challenge-request):
#: its example headers' id and timestamp and its example body.
TWITCH_DOC_TIMESTAMP = "2019-11-16T10:11:12.634234626Z"
TWITCH_CHALLENGE = json.dumps(
    {
        "challenge": "pogchamp-kappa-360noscope-vohiyo",
        "subscription": {
            "id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4",
            "status": "webhook_callback_verification_pending",
            "type": "channel.follow",
            "version": "1",
            "cost": 1,
            "condition": {"broadcaster_user_id": "12826"},
            "transport": {"method": "webhook", "callback": "https://example.com/webhooks/callback"},
            "created_at": "2019-11-16T10:11:12.634234626Z",
        },
    }
).encode()


def twitch_request(
    body: bytes,
    message_type: str,
    *,
    secret: str = TWITCH_SECRET,
    when: str = TWITCH_DOC_TIMESTAMP,
    headers: dict[str, str] | None = None,
) -> InboundRequest:
    """Signed by hand as Twitch's page says: "sha256=" + hex HMAC-SHA256(secret, message id +
    timestamp + body)."""
    message_id = cases.TWITCH_MESSAGE_ID
    signature = hmac.new(
        secret.encode(), message_id.encode() + when.encode() + body, hashlib.sha256
    ).hexdigest()
    return request(
        body,
        {
            "Twitch-Eventsub-Message-Id": message_id,
            "Twitch-Eventsub-Message-Retry": "0",
            "Twitch-Eventsub-Message-Type": message_type,
            "Twitch-Eventsub-Message-Signature": "sha256=" + signature,
            "Twitch-Eventsub-Message-Timestamp": when,
            "Twitch-Eventsub-Subscription-Type": "channel.follow",
            "Twitch-Eventsub-Subscription-Version": "1",
            **(headers or {}),
        },
    )


def test_twitch_callback_verification_is_answered_with_its_challenge_and_nothing_recorded():
    challenge = twitch_request(TWITCH_CHALLENGE, "webhook_callback_verification")
    verified = verify(source("twitch", TWITCH_SECRET), challenge, at(TWITCH_DOC_TIMESTAMP))
    assert verified.answer is not None
    # "The response must contain the raw challenge string only", 200, text/plain.
    assert verified.answer.body == "pogchamp-kappa-360noscope-vohiyo"
    assert (verified.answer.status, verified.answer.content_type) == (200, "text/plain")
    assert verified.provider_event_id is None


def test_a_twitch_challenge_with_a_bad_or_stale_signature_gets_no_answer():
    twitch = source("twitch", TWITCH_SECRET)
    now = at(TWITCH_DOC_TIMESTAMP)
    forged = twitch_request(TWITCH_CHALLENGE, "webhook_callback_verification", secret="a-guess")
    with pytest.raises(InvalidSignature):
        verify(twitch, forged, now)
    genuine = twitch_request(TWITCH_CHALLENGE, "webhook_callback_verification")
    changed = TWITCH_CHALLENGE.replace(b"vohiyo", b"vohiyO")
    with pytest.raises(InvalidSignature):
        verify(twitch, InboundRequest(genuine.headers, changed), now)
    # Older than Twitch's 10 minutes (by a second): refused like any message.
    with pytest.raises(InvalidSignature):
        verify(twitch, genuine, now + 601)
    assert verify(twitch, genuine, now + 599).answer is not None


def test_a_twitch_challenge_without_a_challenge_is_a_bad_request():
    body = json.dumps({"subscription": {"type": "channel.follow"}}).encode()
    with pytest.raises(MalformedPayload):
        verify(
            source("twitch", TWITCH_SECRET),
            twitch_request(body, "webhook_callback_verification"),
            at(TWITCH_DOC_TIMESTAMP),
        )


def test_a_twitch_revocation_is_recorded_under_its_own_type():
    # https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#revoking-your-subscription
    body = json.dumps(
        {
            "subscription": {
                "id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4",
                "status": "authorization_revoked",
                "type": "channel.follow",
                "version": "1",
                "cost": 1,
                "condition": {"broadcaster_user_id": "12826"},
                "transport": {"method": "webhook", "callback": "https://example.com/cb"},
                "created_at": "2019-11-16T10:11:12.634234626Z",
            }
        }
    ).encode()
    verified = verify(
        source("twitch", TWITCH_SECRET),
        twitch_request(body, "revocation"),
        at(TWITCH_DOC_TIMESTAMP),
    )
    assert verified.answer is None
    assert verified.event_type == "revocation/channel.follow"
    assert (verified.provider_event_id, verified.id_signed) == (cases.TWITCH_MESSAGE_ID, True)


def test_twitch_types_a_notification_by_its_signed_body_not_the_unsigned_header():
    (case,) = (c for c in cases.PROVIDER_CASES if c.kind == "twitch")
    when = cases.rfc3339_nanoseconds(NOW)
    relabelled = twitch_request(
        case.body,
        "notification",
        when=when,
        headers={"Twitch-Eventsub-Subscription-Type": "channel.ban"},
    )
    verified = verify(source("twitch", TWITCH_SECRET), relabelled, NOW)
    assert verified.event_type == "channel.follow"


def test_twitch_timestamps_with_nanoseconds_are_read_and_must_say_their_zone():
    twitch = source("twitch", TWITCH_SECRET)
    genuine = twitch_request(TWITCH_CHALLENGE, "webhook_callback_verification")
    # Nine fractional digits, as Twitch sends them: read (to the microsecond), and timed.
    assert verify(twitch, genuine, at(TWITCH_DOC_TIMESTAMP) + 599).answer is not None
    assert verify(twitch, genuine, at(TWITCH_DOC_TIMESTAMP) - 599).answer is not None
    for malformed in ("2019-11-16T10:11:12.634234626", "yesterday", "1573899072"):
        with pytest.raises(InvalidSignature):
            verify(
                twitch,
                twitch_request(TWITCH_CHALLENGE, "webhook_callback_verification", when=malformed),
                at(TWITCH_DOC_TIMESTAMP),
            )


def test_a_twitch_message_without_its_message_type_is_a_bad_request():
    genuine = twitch_request(TWITCH_CHALLENGE, "webhook_callback_verification")
    headers = {k: v for k, v in genuine.headers.items() if k != "twitch-eventsub-message-type"}
    with pytest.raises(MalformedPayload):
        verify(
            source("twitch", TWITCH_SECRET),
            InboundRequest(headers, TWITCH_CHALLENGE),
            at(TWITCH_DOC_TIMESTAMP),
        )


# --- Paddle: its SDK (paddle-python-sdk, paddle_billing's Verifier) and hookhaven agree ----


@dataclass
class PaddleRequest:
    """What paddle_billing's Verifier reads of a request: headers.get and the raw body."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def paddle_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Set the clock paddle_billing's Verifier reads (its module's ``time``)."""
    module = importlib.import_module("paddle_billing.Notifications.Verifier")
    monkeypatch.delenv("TEST_MODE", raising=False)  # it would switch the time check off

    def set_clock(now: float) -> None:
        monkeypatch.setattr(module, "time", lambda: now)

    set_clock(NOW)
    return set_clock


def paddle_case() -> Any:
    (case,) = (c for c in cases.PROVIDER_CASES if c.kind == "paddle")
    return case


def sdk_accepts(body: bytes, header: str, secret: str) -> bool:
    verified = paddle_sdk.Verifier().verify(
        PaddleRequest(body, {"Paddle-Signature": header}), paddle_sdk.Secret(secret)
    )
    assert isinstance(verified, bool)
    return verified


def test_what_paddles_sdk_signs_hookhaven_accepts(paddle_clock: Callable[[float], None]):
    case = paddle_case()
    # paddle_sdk.PaddleSignature.calculate_hmac is the SDK's own HMAC over "{ts}:{body}".
    digest = paddle_sdk.PaddleSignature.calculate_hmac(
        case.signing_key, f"{int(NOW)}:".encode() + case.body
    )
    header = f"ts={int(NOW)};h1={digest.hexdigest()}"
    assert sdk_accepts(case.body, header, case.signing_key)
    verified = verify(
        source("paddle", case.source_secret), request(case.body, {"Paddle-Signature": header}), NOW
    )
    assert (verified.event_type, verified.provider_event_id) == case.expected


def test_hookhavens_paddle_vector_is_accepted_by_paddles_sdk_and_refusals_agree(
    paddle_clock: Callable[[float], None],
):
    case = paddle_case()
    paddle = source("paddle", case.source_secret)

    def both(body: bytes, header: str, secret: str = case.signing_key) -> tuple[bool, bool]:
        try:
            verify(source("paddle", secret), request(body, {"Paddle-Signature": header}), NOW)
        except InvalidSignature:
            ours = False
        else:
            ours = True
        return sdk_accepts(body, header, secret), ours

    header = case.sign(case.body, NOW, case.signing_key, case.url)["Paddle-Signature"]
    assert both(case.body, header) == (True, True)
    # A tampered body, another secret: both refuse.
    assert both(case.body.replace(b"completed", b"Completed"), header) == (False, False)
    assert both(case.body, header, case.other_signing_key) == (False, False)
    # The SDK's default variance is 5 seconds either way: at 5 both accept, at 6 both refuse.
    for offset, accepted in ((-5, True), (5, True), (-6, False), (6, False)):
        stale = case.sign(case.body, NOW + offset, case.signing_key, case.url)["Paddle-Signature"]
        assert both(case.body, stale) == (accepted, accepted), offset
    assert verify(paddle, request(case.body, {"Paddle-Signature": header}), NOW).id_signed


def test_paddles_sdk_test_vector_with_several_h1(paddle_clock: Callable[[float], None]):
    # The vector paddle-python-sdk's own tests verify (PaddleHQ/paddle-python-sdk,
    # tests/Unit/Notification/test_Verifier.py): two h1 values, one of them a non-hex
    # "dummy", and three secrets of which only the last signed it.
    header = (
        "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02"
    )
    secrets = (
        "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4",
        "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_vB/yIOnTOCWIvpBadM5jzBZPHc7OmdSo",
        "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh",
    )
    paddle_clock(1696195954)
    assert sdk_accepts(b"hello-world", header, secrets[2])
    signed = request(b"hello-world", {"Paddle-Signature": header})
    # The signature verifies (with the three secrets of a rotation, or the last alone); the
    # body is no Paddle event, so it is refused as malformed, not as forged.
    for accepted in (source("paddle", *secrets), source("paddle", secrets[2])):
        with pytest.raises(MalformedPayload):
            verify(accepted, signed, 1696195954)
    with pytest.raises(InvalidSignature):
        verify(source("paddle", *secrets[:2]), signed, 1696195954)


def test_a_paddle_notification_without_an_event_id_is_a_bad_request():
    case = paddle_case()
    body = json.dumps({"event_type": "transaction.completed", "data": {}}).encode()
    signed = request(body, case.sign(body, NOW, case.signing_key, case.url))
    with pytest.raises(MalformedPayload):
        verify(source("paddle", case.source_secret), signed, NOW)


# --- Calendly -----------------------------------------------------------------------------


def test_calendly_reads_t_and_v1_wherever_they_are_and_needs_t():
    # https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures: the
    # header is split on "," and each part on "="; t is the timestamp, v1 the signature.
    (case,) = (c for c in cases.PROVIDER_CASES if c.kind == "calendly")
    calendly = source("calendly", case.source_secret)
    header = case.sign(case.body, NOW, case.signing_key, case.url)["Calendly-Webhook-Signature"]
    t, v1 = header.split(",")
    swapped = request(case.body, {"Calendly-Webhook-Signature": f"{v1},{t}"})
    assert verify(calendly, swapped, NOW).event_type == "invitee.created"
    with pytest.raises(InvalidSignature):
        verify(calendly, request(case.body, {"Calendly-Webhook-Signature": v1}), NOW)
    assert not verify(calendly, swapped, NOW).trusted_id  # no signed id: the body is the key


# --- Linear -------------------------------------------------------------------------------

LINEAR_SECRET = "lin_wh_3f8a1c2b9d7e6f5a4b3c2d1e0f9a8b7c"


def linear_request(payload: dict[str, Any]) -> InboundRequest:
    body = json.dumps(payload).encode()
    return request(body, {**cases.linear(body, NOW, LINEAR_SECRET, ""), "Linear-Delivery": "d-1"})


def test_linear_checks_webhook_timestamp_to_the_millisecond_as_its_sdk_does():
    """LinearWebhookClient.verify (linear/linear packages/sdk/src/webhooks/client.ts) refuses
    |now - webhookTimestamp| > 60 000 ms."""
    linear = source("linear", LINEAR_SECRET)
    base = json.loads(cases.linear_body(NOW))
    now_ms = round(NOW * 1000)
    for offset, accepted in ((-60_000, True), (60_000, True), (-60_001, False), (60_001, False)):
        signed = linear_request({**base, "webhookTimestamp": now_ms + offset})
        if accepted:
            assert verify(linear, signed, NOW).event_type == "Issue.create"
        else:
            with pytest.raises(InvalidSignature):
                verify(linear, signed, NOW)


def test_a_linear_body_without_a_millisecond_webhook_timestamp_is_refused():
    """Linear always sends webhookTimestamp, an integer: without it nothing says when the
    body was sent, so a genuine signature does not make it fresh."""
    linear = source("linear", LINEAR_SECRET)
    base = json.loads(cases.linear_body(NOW))
    del base["webhookTimestamp"]
    for stamp in (None, str(round(NOW * 1000)), NOW * 1000, True):
        payload = base if stamp is None else {**base, "webhookTimestamp": stamp}
        with pytest.raises(InvalidSignature):
            verify(linear, linear_request(payload), NOW)
    signed_non_json = request(b"[1, 2]", cases.linear(b"[1, 2]", NOW, LINEAR_SECRET, ""))
    with pytest.raises(InvalidSignature):
        verify(linear, signed_non_json, NOW)


def test_linear_types_by_type_and_action_and_keeps_the_delivery_as_a_label():
    linear = source("linear", LINEAR_SECRET)
    base = json.loads(cases.linear_body(NOW))
    verified = verify(linear, linear_request({**base, "type": "Comment", "action": "update"}), NOW)
    assert (verified.event_type, verified.provider_event_id) == ("Comment.update", "d-1")
    assert verified.trusted_id is None  # Linear-Delivery is unsigned: the body is the key
    without_action = {k: v for k, v in base.items() if k != "action"}
    assert verify(linear, linear_request(without_action), NOW).event_type == "Issue"


# --- Zendesk ------------------------------------------------------------------------------


def zendesk_request(body: bytes, secret: str, timestamp: str, **headers: str) -> InboundRequest:
    """Signed by hand as Zendesk's page says: base64(HMACSHA256(TIMESTAMP + BODY))."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return request(
        body,
        {
            "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
            **headers,
        },
    )


def test_zendesk_event_webhooks_are_named_by_their_signed_id():
    # An event webhook's envelope (https://developer.zendesk.com/api-reference/webhooks/
    # event-types/webhook-event-types/), signed with the static secret Zendesk documents
    # for test requests (https://developer.zendesk.com/documentation/webhooks/verifying/).
    body = json.dumps(
        {
            "account_id": 22129848,
            "detail": {"id": "35436", "status": "OPEN", "subject": "Where is my order?"},
            "event": {},
            "id": "cbe4028c-7239-495d-b020-f22348516046",
            "subject": "zen:ticket:35436",
            "time": "2026-11-28T15:59:59.123456789Z",
            "type": "zen:event-type:ticket.created",
            "zendesk_event_version": "2022-11-06",
        }
    ).encode()
    signed = zendesk_request(
        body,
        cases.ZENDESK_TEST_SECRET,
        "2026-11-28T16:00:00Z",
        **{"X-Zendesk-Webhook-Invocation-Id": "8345983702983459834"},
    )
    verified = verify(source("zendesk", cases.ZENDESK_TEST_SECRET), signed, NOW)
    assert verified.event_type == "zen:event-type:ticket.created"
    assert verified.trusted_id == "cbe4028c-7239-495d-b020-f22348516046"
    with pytest.raises(InvalidSignature):
        verify(
            source("zendesk", cases.ZENDESK_TEST_SECRET),
            InboundRequest(signed.headers, body.replace(b"35436", b"35437")),
            NOW,
        )


def test_a_zendesk_trigger_body_id_is_not_taken_for_an_event_id():
    """A trigger's body is the admin's template: its "id" is often a ticket's, the same for
    every update of that ticket, so it must not name the event (the body's digest does)."""
    body = b'{"id": "35436", "type": "ticket_update", "status": "solved"}'
    signed = zendesk_request(
        body,
        cases.ZENDESK_TEST_SECRET,
        "2026-11-28T16:00:00Z",
        **{"X-Zendesk-Webhook-Invocation-Id": "8345983702983459834"},
    )
    verified = verify(source("zendesk", cases.ZENDESK_TEST_SECRET), signed, NOW)
    assert (verified.event_type, verified.provider_event_id) == (
        "ticket_update",
        "8345983702983459834",
    )
    assert verified.trusted_id is None


def test_zendesk_signs_timestamp_then_body_not_the_other_way_round():
    """Zendesk's current page states TIMESTAMP + BODY. An older edition of it
    (developer.zendesk.com/documentation/event-connectors/webhooks/verifying/) stated
    (BODY)(TIMESTAMP) and printed a vector computed that way: secret
    HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA=, body {"say": "hello"}, timestamp
    2021-07-25T10:00:00Z, signature tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw=. hookhaven
    follows the current page, so that vector verifies only in the older order, and is
    refused; signed as the current page says, the same values are accepted."""
    secret, body, timestamp = (
        "HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA=",
        b'{"say": "hello"}',
        "2021-07-25T10:00:00Z",
    )
    old_order = hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).digest()
    assert base64.b64encode(old_order).decode() == "tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw="
    zendesk = source("zendesk", secret)
    old = request(
        body,
        {
            "X-Zendesk-Webhook-Signature": "tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw=",
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        },
    )
    with pytest.raises(InvalidSignature):
        verify(zendesk, old, at(timestamp))
    verified = verify(zendesk, zendesk_request(body, secret, timestamp), at(timestamp))
    assert verified.event_type == "unknown"


def test_zendesk_documents_no_tolerance_but_its_timestamp_must_be_iso_8601():
    body = b'{"ticket": {"id": 35436}}'
    zendesk = source("zendesk", cases.ZENDESK_TEST_SECRET)
    weeks_old = zendesk_request(body, cases.ZENDESK_TEST_SECRET, "2026-11-01T09:30:00Z")
    assert verify(zendesk, weeks_old, NOW).event_type == "unknown"
    for malformed in ("1795881600", "28/Nov/2026:16:00:00", "2026-11-28T16:00:00"):
        with pytest.raises(InvalidSignature):
            verify(zendesk, zendesk_request(body, cases.ZENDESK_TEST_SECRET, malformed), NOW)


# --- the handshakes through the receiver --------------------------------------------------


def http_event(template: dict[str, Any], name: str, body: bytes, headers: dict[str, str]) -> Any:
    event = copy.deepcopy(template)
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/webhooks/{name}"
    event["pathParameters"] = {"source": name}
    event["headers"] = {
        **{k: v for k, v in event["headers"].items() if not k.startswith("x-slack")},
        **{k.lower(): v for k, v in headers.items()},
        "content-length": str(len(body)),
    }
    event["body"] = body.decode()
    event["isBase64Encoded"] = False
    return event


def nothing_recorded(aws: Resources) -> bool:
    queue = boto3.client("sqs").receive_message(
        QueueUrl=aws.deliveries_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    )
    events = boto3.client("dynamodb").scan(TableName=aws.events_table, Select="COUNT")
    return not queue.get("Messages") and events["Count"] == 0


def test_the_handshakes_are_answered_through_the_receiver_and_nothing_recorded(
    aws: Resources,
    make_receiver: Callable[..., Any],
    load_event: Callable[[str], dict[str, Any]],
    lambda_context: Any,
):
    receiver = make_receiver()
    template = load_event("http/slack_url_verification")
    add_source(aws, "zoom-app", "zoom", ZOOM_SECRET)
    add_source(aws, "twitch-subs", "twitch", TWITCH_SECRET)
    now = time.time()  # the receiver reads the clock

    zoom = http_event(
        template,
        "zoom-app",
        ZOOM_VALIDATION,
        {"content-type": "application/json", **cases.zoom(ZOOM_VALIDATION, now, ZOOM_SECRET, "")},
    )
    response = receiver.handler(zoom, lambda_context)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("application/json")
    expected = hmac.new(ZOOM_SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256)
    assert json.loads(response["body"]) == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": expected.hexdigest(),
    }

    challenge = twitch_request(
        TWITCH_CHALLENGE, "webhook_callback_verification", when=cases.rfc3339_nanoseconds(now)
    )
    twitch = http_event(
        template,
        "twitch-subs",
        TWITCH_CHALLENGE,
        {"content-type": "application/json", **challenge.headers},
    )
    response = receiver.handler(twitch, lambda_context)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("text/plain")
    assert response["body"] == "pogchamp-kappa-360noscope-vohiyo"

    # The same challenges unsigned: 401, no answer.
    for event in (zoom, twitch):
        unsigned = copy.deepcopy(event)
        unsigned["headers"] = {k: v for k, v in unsigned["headers"].items() if "signature" not in k}
        response = receiver.handler(unsigned, lambda_context)
        assert response["statusCode"] == 401
        assert "pogchamp" not in response["body"]
        assert "encryptedToken" not in response["body"]
    assert nothing_recorded(aws)


def test_every_timestamped_kind_is_in_the_catalog_as_documented():
    expected = {
        "zoom": (None, True, False, True),
        "twitch": (600, True, True, True),
        "paddle": (5, True, True, False),
        "calendly": (180, True, False, False),
        "linear": (60, True, False, False),
        "zendesk": (None, True, False, False),
    }
    for kind, (tolerance, signed_timestamp, signed_id, handshake) in expected.items():
        entry = catalog.provider(SourceKind(kind))
        assert (entry.tolerance, entry.signed_timestamp, entry.signed_id) == (
            tolerance,
            signed_timestamp,
            signed_id,
        ), kind
        assert (entry.handshake is not None) == handshake, kind
