"""What mutation testing (``make mutate``) found that no test pinned in the named providers'
verifiers (hookhaven/providers/) and the catalog (hookhaven/catalog.py).

Each test asserts what the provider documents, what its own SDK does, or what hookhaven
documents it answers; the comment above each names the mutants it kills. Requests are
signed as in tests/provider_cases (each provider's SDK where it publishes a signer, else
by hand from its documentation), never by hookhaven's code.
"""

from __future__ import annotations

import base64
import json
import textwrap
from typing import Any
from urllib.parse import urlencode

import pytest
from ecdsa import NIST256p, SigningKey  # type: ignore[import-untyped]
from sendgrid.helpers.eventwebhook import EventWebhook  # type: ignore[import-untyped]
from twilio.request_validator import (  # type: ignore[import-untyped]
    RequestValidator,
    get_signature_algorithm,
)

from hookhaven import catalog, verification
from hookhaven.models import Secret, Source, SourceKind
from hookhaven.providers import curves
from hookhaven.verification import (
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    VerifiedWebhook,
    verify,
)
from tests.provider_cases import CASES, NOW, ProviderCase
from tests.provider_cases.keys import SENDGRID_KEY, p256_public
from tests.provider_cases.urlsigned import TWILIO_AUTH_TOKEN, form_fields

FORM = "application/x-www-form-urlencoded"


def case(kind: str, label: str = "") -> ProviderCase:
    (found,) = (c for c in CASES if c.kind == kind and c.label == label)
    return found


def signed(
    kind: str,
    body: bytes | dict[str, Any] | list[Any],
    *,
    label: str = "",
    headers: dict[str, str] | None = None,
    drop: str | None = None,
) -> InboundRequest:
    """``body`` sent as the kind's case sends its own, signed by the case's signer (the
    provider's SDK, or its documented algorithm by hand), with ``headers`` beside those of
    the case and ``drop`` (a header the signature does not cover) left out."""
    given = case(kind, label)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {k.lower(): v for k, v in given.headers.items()}
    sent.update({k.lower(): v for k, v in (headers or {}).items()})
    sent.update(
        {k.lower(): v for k, v in given.sign(raw, NOW, given.signing_key, given.url).items()}
    )
    if drop is not None:
        del sent[drop.lower()]
    return InboundRequest(sent, raw, url=given.url)


def verify_as(kind: str, request: InboundRequest, label: str = "") -> VerifiedWebhook:
    given = case(kind, label)
    source = Source(
        name=kind,
        kind=SourceKind(kind),
        secrets=(Secret(value=given.source_secret, created_at=NOW - 100),),
        created_at=NOW - 100,
        updated_at=NOW - 100,
    )
    return verify(source, request, NOW)


def told(kind: str, request: InboundRequest, label: str = "") -> str:
    """What the 400 says: the message of the MalformedPayload the verifier raises."""
    with pytest.raises(MalformedPayload) as raised:
        verify_as(kind, request, label)
    return str(raised.value)


# --- what a 400 says -----------------------------------------------------------------------

TWITCH_SUBSCRIPTION = {"id": "f1c2a387", "type": "channel.follow", "version": "2"}
TWITCH_VERIFICATION = {"Twitch-Eventsub-Message-Type": "webhook_callback_verification"}


# Kills the message mutants of every MalformedPayload in the providers' modules: an
# authentic request that breaks its provider's convention is answered 400 with what it
# lacks (README, "What the endpoint answers"); the sender reads that message. Beside them,
# the conditions that decide it (each noted).
@pytest.mark.parametrize(
    ("kind", "request_", "message"),
    [
        ("zoom", signed("zoom", b"[]"), "a Zoom event is a JSON object"),
        # Zoom documents payload.plainToken: without the payload (kills reading it from a
        # payload that is not an object), empty (kills `and` for `or`), or not a string.
        *(
            (
                "zoom",
                signed("zoom", {"event": "endpoint.url_validation", **extra}),
                "endpoint.url_validation without a plainToken",
            )
            for extra in ({}, {"payload": {"plainToken": ""}}, {"payload": {"plainToken": 42}})
        ),
        (
            "twitch",
            signed(
                "twitch", {"subscription": TWITCH_SUBSCRIPTION}, drop="twitch-eventsub-message-type"
            ),
            "Twitch sends Twitch-Eventsub-Message-Type",
        ),
        ("twitch", signed("twitch", b"[]"), "a Twitch EventSub message is a JSON object"),
        # An empty challenge is none: kills `and` for `or`.
        (
            "twitch",
            signed(
                "twitch",
                {"challenge": "", "subscription": TWITCH_SUBSCRIPTION},
                headers=TWITCH_VERIFICATION,
            ),
            "webhook_callback_verification without a challenge",
        ),
        (
            "paddle",
            signed("paddle", {"event_id": "evt_01", "data": {}}),
            "a Paddle notification is a JSON object with an event_type",
        ),
        (
            "paddle",
            signed("paddle", {"event_type": "transaction.completed", "data": {}}),
            "a Paddle notification carries an event_id",
        ),
        ("calendly", signed("calendly", b"[]"), "a Calendly webhook is a JSON object"),
        # Square's events carry event_id and type: a body that is no object (kills reading
        # it regardless), one without event_id (kills `and` for the first `or`), one
        # without type (kills `and` for the second).
        *(
            (
                "square",
                signed("square", body),
                "a Square event is a JSON object with an event_id and a type",
            )
            for body in (
                b"[]",
                {"merchant_id": "6SSW7HV8K2ST5", "type": "payment.created"},
                {"merchant_id": "6SSW7HV8K2ST5", "event_id": "6a8f5f28-54a1-4eb0-a98a"},
            )
        ),
        (
            "trello",
            signed("trello", {"model": {"id": "4d5ea62fd76aa1136000000c"}}),
            "a Trello webhook carries the action, with its id",
        ),
        (
            "discord",
            signed("discord", b"[]"),
            "a Discord interaction or webhook event is a JSON object",
        ),
        (
            "discord",
            signed("discord", {"type": 2, "data": {"name": "blep"}}),
            "a Discord interaction carries an id and a numeric type",
        ),
        (
            "discord",
            signed("discord", {"version": 1, "type": 1, "event": None}),
            "a Discord webhook event carries an event object",
        ),
        (
            "sendgrid",
            signed("sendgrid", {"event": "open", "email": "reader@example.com"}),
            "a SendGrid Event Webhook body is a JSON array of events",
        ),
        (
            "bitbucket",
            signed("bitbucket", {"push": {}}, drop="x-event-key"),
            "Bitbucket requests carry X-Event-Key",
        ),
        (
            "sentry",
            signed("sentry", {"action": "created"}, drop="sentry-hook-resource"),
            "Sentry webhooks carry Sentry-Hook-Resource",
        ),
        (
            "woocommerce",
            signed("woocommerce", {"id": 727}, drop="x-wc-webhook-topic"),
            "WooCommerce deliveries carry X-WC-Webhook-Topic",
        ),
    ],
)
def test_an_authentic_request_that_breaks_the_convention_is_told_what_it_lacks(
    kind, request_, message
):
    assert told(kind, request_) == message


# --- handshakes: what was answered ---------------------------------------------------------


# Kills the event type mutants of the answered handshakes (None, or another spelling): a
# handshake is answered and not recorded, and its verified type names it, as Zoom's does
# (test_providers_timestamped.py).
def test_each_answered_handshake_is_named_by_its_type():
    twitch = verify_as(
        "twitch",
        signed(
            "twitch",
            {"challenge": "pogchamp-kappa", "subscription": TWITCH_SUBSCRIPTION},
            headers=TWITCH_VERIFICATION,
        ),
    )
    assert (twitch.event_type, twitch.answer is not None) == ("webhook_callback_verification", True)
    ping = verify_as("discord", signed("discord", {"id": "1", "application_id": "2", "type": 1}))
    assert (ping.event_type, ping.answer is not None) == ("interaction.ping", True)
    webhook_ping = verify_as("discord", signed("discord", {"version": 1, "type": 0}))
    assert (webhook_ping.event_type, webhook_ping.answer is not None) == ("webhook.ping", True)
    woocommerce = verify_as(
        "woocommerce", InboundRequest({"content-type": FORM}, b"webhook_id=142")
    )
    assert (woocommerce.event_type, woocommerce.answer is not None) == ("ping", True)


# --- Twitch: the subscription type ---------------------------------------------------------


# Kills reading subscription.type from a subscription that is not an object, `and` for `or`
# in both blank checks, and the header's name (None, another name): Twitch-Eventsub-
# Subscription-Type names the type when the signed body does not, and without either the
# type is "unknown" (a revocation's too: revocation/unknown, not revocation/None).
_REVOKED = {"subscription": {"status": "authorization_revoked"}}
_REVOCATION = {"Twitch-Eventsub-Message-Type": "revocation"}
_TYPE_HEADER = "Twitch-Eventsub-Subscription-Type"


@pytest.mark.parametrize(
    ("body", "headers", "drop", "expected"),
    [
        ({"event": {}}, {}, None, "channel.follow"),
        ({"subscription": {"id": "f1c2a387"}, "event": {}}, {}, None, "channel.follow"),
        ({"subscription": {"type": "  "}, "event": {}}, {}, None, "channel.follow"),
        (_REVOKED, _REVOCATION, None, "revocation/channel.follow"),
        ({"event": {}}, {}, _TYPE_HEADER, "unknown"),
        (_REVOKED, _REVOCATION, _TYPE_HEADER, "revocation/unknown"),
    ],
)
def test_twitch_reads_the_subscription_type_header_when_the_body_has_none(
    body, headers, drop, expected
):
    # The case's headers say Twitch-Eventsub-Subscription-Type: channel.follow.
    verified = verify_as("twitch", signed("twitch", body, headers=headers, drop=drop))
    assert verified.event_type == expected


# --- Zendesk: a trigger's body is whatever the admin wrote ---------------------------------


# Kills reading the body's type from a body that is not a JSON object: a webhook connected
# to a trigger or automation may send XML ("Anatomy of a webhook request", https://developer.
# zendesk.com/documentation/webhooks/anatomy-of-a-webhook-request/; the Webhooks API's
# request_format "xml"), typed unknown, named by its invocation id.
def test_a_zendesk_trigger_body_in_xml_is_accepted():
    body = b"<ticket><id>35436</id><status>open</status></ticket>"
    request = signed("zendesk", body, label="trigger", headers={"Content-Type": "application/xml"})
    verified = verify_as("zendesk", request, "trigger")
    assert (verified.event_type, verified.provider_event_id) == ("unknown", "8345983702983459834")
    assert verified.id_signed is False


# --- Twilio --------------------------------------------------------------------------------


# Kills rpartition for partition in _twilio_algorithm: twilio-python splits each item of
# X-Twilio-Webhooks-Signature-Settings at its first "=", so an algorithm whose name has an
# "=" in it is one it does not support, and the request fails validation; split at the
# last, the item would name no algorithm and HMAC-SHA1 would be tried.
def test_a_twilio_algorithm_with_an_equals_sign_is_unsupported_as_in_the_sdk():
    settings = "key=webhooks_sharedkey_01JX5Q3N4T8V2W6Y0Z1A2B3C4D,algorithm=HMAC_SHA1=v2"
    given = case("twilio", "form")
    validator = RequestValidator(TWILIO_AUTH_TOKEN)
    fields = form_fields(given.body)
    signature = validator.compute_signature(given.url, fields)  # HMAC-SHA1
    assert get_signature_algorithm(settings) == "HMAC_SHA1=v2"
    assert not validator.validate(given.url, fields, signature, get_signature_algorithm(settings))
    assert validator.validate(given.url, fields, signature, get_signature_algorithm(None))
    headers = {k.lower(): v for k, v in given.headers.items()}
    headers["x-twilio-signature"] = signature
    verify_as("twilio", InboundRequest(headers, given.body, url=given.url), "form")
    headers["x-twilio-webhooks-signature-settings"] = settings
    with pytest.raises(InvalidSignature):
        verify_as("twilio", InboundRequest(headers, given.body, url=given.url), "form")


# Kills the mutants of "MessageStatus" in _twilio_type: a message status callback is typed
# by MessageStatus (https://www.twilio.com/docs/messaging/guides/track-outbound-message-
# status), not only by the older SmsStatus that the case sends beside it.
def test_a_twilio_message_status_callback_is_typed_by_message_status_alone():
    body = urlencode(
        {
            "AccountSid": "AC3f6c1d0b2a5e4f7c8d9e0a1b2c3d4e5f",
            "From": "whatsapp:+14155550100",
            "MessageSid": "SM1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c",
            "MessageStatus": "read",
            "To": "whatsapp:+14155550111",
        }
    ).encode()
    verified = verify_as("twilio", signed("twilio", body, label="form"), "form")
    assert verified.event_type == "message.read"


# --- Discord -------------------------------------------------------------------------------


# Kills reading data.name from data that is not an object, and `or` for the first `and` of
# the command check: an interaction's data is optional ("data?", Interaction Object,
# https://discord.com/developers/docs/interactions/receiving-and-responding), and without
# it an application command is typed by its kind alone.
def test_a_discord_command_without_data_is_typed_by_its_kind():
    body = {"type": 2, "id": "786008729715212338", "token": "A_UNIQUE_TOKEN", "version": 1}
    verified = verify_as("discord", signed("discord", body))
    assert (verified.event_type, verified.provider_event_id) == (
        "interaction.application_command",
        "786008729715212338",
    )
    assert verified.reply is not None
    assert json.loads(verified.reply.body) == {"type": 5}


# --- the keys a source is configured with ----------------------------------------------------

SENDGRID_SIGNING = SigningKey.from_string(bytes.fromhex(SENDGRID_KEY), curve=NIST256p)
SENDGRID_PUBLIC = p256_public(SENDGRID_KEY)


def refusal(kind: str, key: str) -> str:
    """What ``sources add`` says of ``key`` (``Provider.check_credential``'s ValueError)."""
    check = catalog.provider(SourceKind(kind)).check_credential
    assert check is not None
    with pytest.raises(ValueError) as raised:  # noqa: PT011 (the message is asserted)
        check(key)
    return str(raised.value)


# Kills the message mutants of the keys' ValueErrors: sources add prints the message as
# the reason it refused the key (bad --secret for a ... source: <message>).
@pytest.mark.parametrize(
    ("kind", "key", "message"),
    [
        (
            "discord",
            "abc",
            "a Discord application's public key is 64 hex characters "
            "(Developer Portal, General Information, Public Key)",
        ),
        ("discord", "02" + "00" * 31, "that public key is not a point of Ed25519"),
        (
            "sendgrid",
            "not base64!",
            "SendGrid's verification key is base64 (MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...), "
            "as Mail Settings, Event Webhook shows it",
        ),
        (
            "sendgrid",
            base64.b64encode(b"\x30\x03\x02\x01\x01").decode(),
            "that verification key is not a DER-encoded public key",
        ),
    ],
)
def test_a_refused_key_is_told_why(kind, key, message):
    assert refusal(kind, key) == message


# Kills "XXXX" for "" in joining the key's lines: a verification key pasted as a PEM body,
# in lines of 64, is the same key; SendGrid's SDK (which wraps it in PEM headers) reads it.
def test_a_sendgrid_key_in_lines_is_the_same_key():
    wrapped = "\n".join(textwrap.wrap(SENDGRID_PUBLIC, 64))
    assert "\n" in wrapped
    EventWebhook(wrapped)
    assert curves.sendgrid_public_key(wrapped) == curves.sendgrid_public_key(SENDGRID_PUBLIC)


# Kills validate=False (and its removal): a character outside base64 makes it no key, as
# SendGrid's SDK finds too; decoded leniently it would be skipped and the key taken.
def test_a_sendgrid_key_with_a_character_outside_base64_is_refused_as_by_the_sdk():
    mangled = SENDGRID_PUBLIC[:12] + "$" + SENDGRID_PUBLIC[12:]
    with pytest.raises(ValueError):  # noqa: PT011 (the SDK's own)
        EventWebhook(mangled)
    assert refusal("sendgrid", mangled).startswith("SendGrid's verification key is base64")


# Kills valid_curve_encodings=None (and its removal): a P-256 key is identified by its
# named curve, as RFC 5480 section 2.1.1 requires of a SubjectPublicKeyInfo ("specifiedCurve
# ... MUST NOT be used in PKIX") and as SendGrid shows its keys (MFkwEwYHKoZIzj0CAQYIKoZI
# zj0DAQcDQgAE...: the named curve prime256v1). Explicit curve parameters are refused,
# though the SDK's OpenSSL would read them.
def test_a_sendgrid_key_with_explicit_curve_parameters_is_refused():
    point = SENDGRID_SIGNING.get_verifying_key()
    explicit = base64.b64encode(point.to_der(curve_parameters_encoding="explicit")).decode()
    assert refusal("sendgrid", explicit) == "that verification key is not a DER-encoded public key"
    assert curves.sendgrid_public_key(base64.b64encode(point.to_der()).decode()) == point


# --- the body-signing providers --------------------------------------------------------------


# Kills `or` for `and` in the action checks of Sentry and GitLab: an empty action is none,
# and the type is the resource (Sentry) or the object_kind (GitLab) alone.
def test_an_empty_action_is_no_action():
    sentry = verify_as("sentry", signed("sentry", {"action": "", "data": {}}))
    assert sentry.event_type == "issue"
    gitlab = signed(
        "gitlab", {"object_kind": "merge_request", "object_attributes": {"id": 1, "action": ""}}
    )
    assert verify_as("gitlab", gitlab).event_type == "merge_request"


# Kills the mutants of "surrogatepass" (its removal, another handler's name): a token that
# is not valid Unicode (a lone surrogate, which the JSON of an API Gateway event can carry)
# matches nothing, and is a 401 like any other wrong token, not a crash.
def test_a_gitlab_token_that_is_not_valid_unicode_is_refused():
    given = case("gitlab")
    headers = {k.lower(): v for k, v in given.headers.items()}
    for token in (given.signing_key + "\udc80", "\ud800"):
        headers["x-gitlab-token"] = token
        with pytest.raises(InvalidSignature):
            verify_as("gitlab", InboundRequest(headers, given.body))


# --- the catalog ---------------------------------------------------------------------------


# Kills every mutant of catalog._standard_alias. The catalog's Standard Webhooks senders
# are made when hookhaven.catalog is imported, before mutmut switches a mutant on, so only
# a call made by a test reaches it: each sender by name is Standard Webhooks (its verifier,
# tolerance, signed timestamp and id) under its own name, docs and retry schedule.
def test_a_standard_webhooks_sender_by_name_is_standard_webhooks_under_its_own_name():
    standard = catalog.provider(SourceKind.STANDARD)
    senders = [p for p in catalog.PROVIDERS if p.alias_of is not None]
    assert {p.kind for p in senders} >= {SourceKind.CLERK, SourceKind.OPENAI}
    for sender in senders:
        made = catalog._standard_alias(sender.kind, sender.name, sender.docs, sender.retry_seconds)
        assert made == sender
        assert (made.kind, made.name, made.docs, made.retry_seconds) == (
            sender.kind,
            sender.name,
            sender.docs,
            sender.retry_seconds,
        )
        assert made.verifier is verification._standard
        assert (made.alias_of, made.scheme) == (SourceKind.STANDARD, SourceKind.STANDARD)
        assert (made.tolerance, made.signed_timestamp, made.signed_id) == (300, True, True)
        assert made.replay == standard.replay
        assert made.verifies == (
            "Standard Webhooks: HMAC-SHA256 of id.timestamp.body (webhook-* or svix-*)"
        )
        assert made.credential == "the endpoint's whsec_ signing secret"


# Kills the mutants of bodyhmac._signed_fields: like _standard_alias, its verifiers are
# made at import, before mutmut switches a mutant on, so the test builds one itself. Each
# provider's documented fields are read, and no other.
@pytest.mark.parametrize(
    ("type_field", "id_field", "body"),
    [
        ("event_type", "event_id", {"event_type": "form_response", "event_id": "01HV7Z"}),
        ("topic", "id", {"topic": "conversation.user.created", "id": "notif_1"}),
        ("type", "id", {"type": "deployment.created", "id": "evt_v1"}),
    ],
)
def test_a_body_field_identity_reads_the_fields_it_is_given(type_field, id_field, body):
    from hookhaven.providers import bodyhmac

    identify = bodyhmac._signed_fields(type_field, id_field)
    request = InboundRequest(headers={}, body=b"{}")
    verified = identify(request, {**body, "other": "x"}, "")
    assert (verified.event_type, verified.provider_event_id) == (body[type_field], body[id_field])
    assert verified.id_signed
    empty = identify(request, None, "")
    assert (empty.event_type, empty.provider_event_id) == ("unknown", None)
