"""Discord (Ed25519) and SendGrid (ECDSA P-256): against RFC 8032's vectors, SendGrid's
own SDK and its published vector, Discord's documented payloads and answers, a public key
checked when the source is added, and ``ecdsa`` loaded only by the sources that need it.

The generic checks (tampering, another key, rotation, each header required) run over the
cases in tests/provider_cases/keys.py (tests/unit/test_provider_cases.py).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import stripe
from ecdsa import NIST384p, SigningKey  # type: ignore[import-untyped]
from ecdsa.curves import Ed25519  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st
from sendgrid.helpers.eventwebhook import EventWebhook  # type: ignore[import-untyped]
from typer.testing import CliRunner

from functions.receiver import ReceiverFunction
from hookhaven.cli.app import app
from hookhaven.ingest import Receiver, SourceDirectory
from hookhaven.memory import MemoryBodyStore, MemoryConfig, MemoryEventStore, MemoryQueue
from hookhaven.models import Secret, SourceKind, Subscription
from hookhaven.operations import OperationError
from hookhaven.operations import config as ops
from hookhaven.providers import curves
from hookhaven.tunables import RuntimeTunables
from hookhaven.verification import (
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    VerifiedWebhook,
    verify,
)
from tests.provider_cases import NOW, source_of
from tests.provider_cases.keys import (
    DISCORD_COMMAND,
    DISCORD_KEY,
    SENDGRID_KEY,
    discord_sign,
    ed25519_public,
    p256_public,
    private_key,
    sendgrid_sign,
)

ROOT = Path(__file__).resolve().parents[2]
DISCORD_PUBLIC = ed25519_public(DISCORD_KEY)
SENDGRID_PUBLIC = p256_public(SENDGRID_KEY)


source = source_of


def discord_request(body: bytes | dict[str, Any], *, key: str = DISCORD_KEY) -> InboundRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {k.lower(): v for k, v in discord_sign(raw, NOW, key, "").items()}
    return InboundRequest(headers={**headers, "content-type": "application/json"}, body=raw)


def discord(body: bytes | dict[str, Any]) -> VerifiedWebhook:
    return verify(source("discord", DISCORD_PUBLIC), discord_request(body), NOW)


# --- Ed25519: RFC 8032 ----------------------------------------------------------------------

#: https://www.rfc-editor.org/rfc/rfc8032#section-7.1, TEST 1, 2 and 3: (secret key, public
#: key, message, signature), hex.
RFC_8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
        "39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f"
        "3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67"
        "f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC_8032)
def test_ed25519_verifies_rfc_8032s_vectors_and_signs_them_too(secret, public, message, signature):
    """The curve library is right: it accepts the RFC's signatures, refuses them changed,
    and (what the cases in tests/provider_cases/keys.py rely on) signs exactly as the RFC."""
    key = curves.discord_public_key(public)
    message_bytes, signature_bytes = bytes.fromhex(message), bytes.fromhex(signature)
    assert curves.ed25519_verifies(key, signature_bytes, message_bytes)
    flipped = bytes([signature_bytes[0] ^ 0x01]) + signature_bytes[1:]
    assert not curves.ed25519_verifies(key, flipped, message_bytes)
    assert not curves.ed25519_verifies(key, signature_bytes, message_bytes + b"\x00")
    signing = SigningKey.from_string(bytes.fromhex(secret), curve=Ed25519)
    assert signing.get_verifying_key().to_string().hex() == public
    assert signing.sign(message_bytes).hex() == signature


def test_discord_signs_the_timestamp_then_the_body():
    """RFC 8032's TEST 2 signs the one byte "r": sent as X-Signature-Timestamp "r" with an
    empty body it is authentic (so refused as a payload, 400, not as a signature, 401)."""
    _, public, _, signature = RFC_8032[1]
    headers = {"x-signature-ed25519": signature, "x-signature-timestamp": "r"}
    with pytest.raises(MalformedPayload):
        verify(source("discord", public), InboundRequest(headers, b""), NOW)
    with pytest.raises(InvalidSignature):
        verify(
            source("discord", public),
            InboundRequest({**headers, "x-signature-timestamp": "s"}, b""),
            NOW,
        )
    # And the order: the body then the timestamp is not what Discord signs.
    body = json.dumps(DISCORD_COMMAND).encode()
    timestamp = str(int(NOW))
    swapped = SigningKey.from_string(bytes.fromhex(DISCORD_KEY), curve=Ed25519).sign(
        body + timestamp.encode()
    )
    headers = {"x-signature-ed25519": swapped.hex(), "x-signature-timestamp": timestamp}
    with pytest.raises(InvalidSignature):
        verify(source("discord", DISCORD_PUBLIC), InboundRequest(headers, body), NOW)


# --- Discord: what each request is and what it is answered ----------------------------------

INTERACTION = {"id": "1234567890123456789", "application_id": "775799577604522054", "token": "t"}


@pytest.mark.parametrize(
    ("body", "event_type", "reply"),
    [
        (DISCORD_COMMAND, "interaction.application_command/blep", {"type": 5}),
        (
            {**INTERACTION, "type": 3, "data": {"custom_id": "click_one", "component_type": 2}},
            "interaction.message_component",
            {"type": 6},
        ),
        (
            {**INTERACTION, "type": 4, "data": {"name": "blep", "options": []}},
            "interaction.application_command_autocomplete/blep",
            {"type": 8, "data": {"choices": []}},
        ),
        (
            {**INTERACTION, "type": 5, "data": {"custom_id": "my_modal", "components": []}},
            "interaction.modal_submit",
            {"type": 5},
        ),
    ],
    ids=["command", "component", "autocomplete", "modal"],
)
def test_an_interaction_is_kept_and_answered_with_a_deferred_reply(body, event_type, reply):
    # https://discord.com/developers/docs/interactions/receiving-and-responding
    # ("Interaction Type", "Interaction Callback Type"): an answer is due within 3 s.
    verified = discord(body)
    assert verified.event_type == event_type
    assert verified.provider_event_id == body["id"]
    assert verified.id_signed
    assert verified.answer is None
    assert verified.reply is not None
    assert json.loads(verified.reply.body) == reply
    assert (verified.reply.status, verified.reply.content_type) == (200, "application/json")


def test_a_ping_is_answered_pong_and_nothing_is_kept():
    # https://discord.com/developers/docs/interactions/overview ("Acknowledging PING requests")
    verified = discord({**INTERACTION, "type": 1, "version": 1})
    assert verified.answer is not None
    assert json.loads(verified.answer.body) == {"type": 1}
    assert (verified.answer.status, verified.answer.content_type) == (200, "application/json")


ENTITLEMENT_CREATE = {
    # https://discord.com/developers/docs/events/webhook-events ("Entitlement Create Example")
    "version": 1,
    "application_id": "1234560123453231555",
    "type": 1,
    "event": {
        "type": "ENTITLEMENT_CREATE",
        "timestamp": "2024-10-18T18:41:21.109604",
        "data": {
            "application_id": "1234560123453231555",
            "consumed": False,
            "deleted": False,
            "gift_code_flags": 0,
            "id": "1234505980407808808",
            "promotion_id": None,
            "sku_id": "123489045643835123",
            "type": 4,
            "user_id": "111178765189277770",
        },
    },
}


def test_webhook_events_are_kept_by_their_type_and_answered_204_and_their_ping_too():
    # https://discord.com/developers/docs/events/webhook-events: PING is type 0, an event
    # type 1; both are acknowledged with 204 and no body.
    verified = discord(ENTITLEMENT_CREATE)
    assert (verified.event_type, verified.provider_event_id) == ("ENTITLEMENT_CREATE", None)
    assert verified.trusted_id is None  # no id: a repeat is found by its body
    assert verified.reply is not None
    assert (verified.reply.status, verified.reply.body) == (204, "")
    ping = discord({"version": 1, "application_id": "1234560123453231555", "type": 0})
    assert ping.answer is not None
    assert (ping.answer.status, ping.answer.body) == (204, "")


def test_an_interaction_type_discord_adds_later_is_kept_under_its_number():
    verified = discord({**INTERACTION, "type": 12})
    assert (verified.event_type, verified.provider_event_id) == (
        "interaction.12",
        INTERACTION["id"],
    )
    assert verified.reply is None
    assert verified.answer is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        {"type": 2, "data": {"name": "blep"}},  # an interaction always has an id
        {**INTERACTION, "type": "2"},
        {"version": 1, "application_id": "1", "type": 1, "event": "ENTITLEMENT_CREATE"},
    ],
    ids=["not-json", "array", "no-id", "string-type", "event-not-object"],
)
def test_an_authentic_request_that_is_no_interaction_or_event_is_a_bad_request(body):
    with pytest.raises(MalformedPayload):
        discord(body)


# --- Discord through the receiver -------------------------------------------------------------


@pytest.fixture
def discord_receiver() -> tuple[ReceiverFunction, MemoryEventStore, MemoryQueue]:
    config = MemoryConfig()
    config.sources["discord"] = source("discord", DISCORD_PUBLIC)
    config.subscriptions["sub_all"] = Subscription(
        id="sub_all",
        url="https://example.com/hook",
        secrets=(Secret(value="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", created_at=NOW),),
        created_at=NOW,
        updated_at=NOW,
    )
    events, queue = MemoryEventStore(), MemoryQueue()
    receiver = Receiver(
        directory=SourceDirectory(config, ttl=30, clock=lambda: NOW),
        events=events,
        bodies=MemoryBodyStore(),
        queue=queue,
        settings=RuntimeTunables(),
        clock=lambda: NOW,
    )
    return ReceiverFunction(receiver), events, queue


def http_event(request: InboundRequest) -> dict[str, Any]:
    """The HTTP API's event (payload format 2.0) for ``request`` to /webhooks/discord."""
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{source}",
        "rawPath": "/webhooks/discord",
        "rawQueryString": "",
        "headers": dict(request.headers),
        "requestContext": {
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "http": {"method": "POST", "path": "/webhooks/discord", "sourceIp": "203.0.113.9"},
            "requestId": "r-1",
            "routeKey": "POST /webhooks/{source}",
            "stage": "$default",
        },
        "pathParameters": {"source": "discord"},
        "body": request.body.decode(),
        "isBase64Encoded": False,
    }


def test_the_receiver_sends_discord_its_answers(discord_receiver, lambda_context):
    function, events, queue = discord_receiver

    def send(body: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = function.handler(
            http_event(discord_request(body)), lambda_context
        )
        return response

    ping = send({**INTERACTION, "type": 1})
    assert (ping["statusCode"], json.loads(ping["body"])) == (200, {"type": 1})
    assert ping["headers"]["Content-Type"] == "application/json"
    assert events.events == {}
    assert queue.messages == []
    # A command: kept and queued, answered with the deferred reply; again, the same answer.
    for _ in range(2):
        command = send(DISCORD_COMMAND)
        assert (command["statusCode"], json.loads(command["body"])) == (200, {"type": 5})
        assert command["headers"]["Content-Type"] == "application/json"
    (message,) = queue.messages
    assert message.event_type == "interaction.application_command/blep"
    assert len(events.events) == 1
    # A webhook event: 204, empty; its PING too, and that one is not kept.
    for body in (ENTITLEMENT_CREATE, {"version": 1, "application_id": "1", "type": 0}):
        answered = send(body)
        assert (answered["statusCode"], answered["body"]) == (204, "")
    assert [m.event_type for m in queue.messages] == [
        "interaction.application_command/blep",
        "ENTITLEMENT_CREATE",
    ]
    # A forged one: 401, as for every kind.
    forged = function.handler(
        http_event(discord_request(DISCORD_COMMAND, key=private_key("someone else"))),
        lambda_context,
    )
    assert forged["statusCode"] == 401


# --- SendGrid: its SDK (sendgrid 6.12, EventWebhook) agrees both ways --------------------------

#: SendGrid's SDK's own test vector (sendgrid-python, test/unit/test_eventwebhook.py): a key,
#: a signature, a timestamp and the payload it signs (with its trailing CR LF).
SDK_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
    "2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SDK_OTHER_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo"
    "7aNDthvj+y7GjUuFDb/R1NGe1OPzpA=="
)
SDK_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15Tl"
    "uLtEZtM="
)
SDK_TIMESTAMP = "1600112502"
SDK_PAYLOAD = (
    json.dumps(
        [
            {
                "email": "hello@world.com",
                "event": "dropped",
                "reason": "Bounced Address",
                "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-"
                "5F5FC76C-9.0",
                "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                "timestamp": 1600112492,
            }
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    + "\r\n"
)


def sendgrid_request(payload: str, signature: str, timestamp: str) -> InboundRequest:
    headers = {
        "x-twilio-email-event-webhook-signature": signature,
        "x-twilio-email-event-webhook-timestamp": timestamp,
        "content-type": "application/json",
    }
    return InboundRequest(headers, payload.encode())


def test_sendgrids_own_vector_is_accepted_by_its_sdk_and_by_hookhaven_and_so_are_its_refusals():
    at = float(SDK_TIMESTAMP)
    sdk = EventWebhook(SDK_KEY)
    assert sdk.verify_signature(SDK_PAYLOAD, SDK_SIGNATURE, SDK_TIMESTAMP)
    verified = verify(
        source("sendgrid", SDK_KEY), sendgrid_request(SDK_PAYLOAD, SDK_SIGNATURE, SDK_TIMESTAMP), at
    )
    assert (verified.event_type, verified.provider_event_id) == ("dropped", None)

    tampered = SDK_PAYLOAD.replace("Bounced", "Bouncing")
    assert not sdk.verify_signature(tampered, SDK_SIGNATURE, SDK_TIMESTAMP)
    with pytest.raises(InvalidSignature):
        verify(
            source("sendgrid", SDK_KEY),
            sendgrid_request(tampered, SDK_SIGNATURE, SDK_TIMESTAMP),
            at,
        )
    assert not EventWebhook(SDK_OTHER_KEY).verify_signature(
        SDK_PAYLOAD, SDK_SIGNATURE, SDK_TIMESTAMP
    )
    with pytest.raises(InvalidSignature):
        verify(
            source("sendgrid", SDK_OTHER_KEY),
            sendgrid_request(SDK_PAYLOAD, SDK_SIGNATURE, SDK_TIMESTAMP),
            at,
        )
    later = str(int(SDK_TIMESTAMP) + 1)  # the timestamp is signed
    assert not sdk.verify_signature(SDK_PAYLOAD, SDK_SIGNATURE, later)
    with pytest.raises(InvalidSignature):
        verify(source("sendgrid", SDK_KEY), sendgrid_request(SDK_PAYLOAD, SDK_SIGNATURE, later), at)
    # A year on: the SDK checks no age, and SendGrid documents no tolerance; nor does hookhaven.
    a_year_later = at + 365 * 86_400
    assert sdk.verify_signature(SDK_PAYLOAD, SDK_SIGNATURE, SDK_TIMESTAMP)
    verify(
        source("sendgrid", SDK_KEY),
        sendgrid_request(SDK_PAYLOAD, SDK_SIGNATURE, SDK_TIMESTAMP),
        a_year_later,
    )


def test_what_hookhavens_cases_sign_sendgrids_sdk_accepts():
    """The case's signer (ecdsa) checked by the SDK (which verifies with ``cryptography``)."""
    body = json.dumps([{"event": "open", "sg_event_id": "b3Blbi0x"}]).encode()
    headers = sendgrid_sign(body, NOW, SENDGRID_KEY, "")
    signature = headers["X-Twilio-Email-Event-Webhook-Signature"]
    timestamp = headers["X-Twilio-Email-Event-Webhook-Timestamp"]
    assert EventWebhook(SENDGRID_PUBLIC).verify_signature(body.decode(), signature, timestamp)
    assert not EventWebhook(p256_public(private_key("x"))).verify_signature(
        body.decode(), signature, timestamp
    )
    verified = verify(
        source("sendgrid", SENDGRID_PUBLIC),
        sendgrid_request(body.decode(), signature, timestamp),
        NOW,
    )
    assert verified.event_type == "open"


def test_the_signatures_base64_is_read_strictly_where_the_sdk_is_lenient():
    """The SDK's base64.b64decode ignores what follows the padding; SendGrid sends canonical
    base64, and hookhaven refuses anything else (the same signature spelled two ways)."""
    assert EventWebhook(SDK_KEY).verify_signature(SDK_PAYLOAD, SDK_SIGNATURE + "00", SDK_TIMESTAMP)
    with pytest.raises(InvalidSignature):
        verify(
            source("sendgrid", SDK_KEY),
            sendgrid_request(SDK_PAYLOAD, SDK_SIGNATURE + "00", SDK_TIMESTAMP),
            float(SDK_TIMESTAMP),
        )


def sendgrid(events: Any) -> VerifiedWebhook:
    body = json.dumps(events).encode()
    headers = {k.lower(): v for k, v in sendgrid_sign(body, NOW, SENDGRID_KEY, "").items()}
    return verify(source("sendgrid", SENDGRID_PUBLIC), InboundRequest(headers, body), NOW)


def test_a_sendgrid_batch_is_typed_by_its_events_common_type_else_batch():
    assert sendgrid([{"event": "bounce"}, {"event": "bounce"}]).event_type == "bounce"
    assert sendgrid([{"event": "open"}, {"event": "click"}]).event_type == "batch"
    assert sendgrid([{"event": "open"}, "odd"]).event_type == "batch"
    assert sendgrid([]).event_type == "batch"
    for not_a_batch in ({"event": "open"}, "open"):
        with pytest.raises(MalformedPayload):
            sendgrid(not_a_batch)


# --- keys: checked when the source is added, never an error at verify time -----------------

BAD_DISCORD_KEYS = [
    ("abc", "64 hex characters"),
    ("z" * 64, "64 hex characters"),
    ("02" + "00" * 31, "not a point of Ed25519"),  # y = 2 is on no Ed25519 point
]
BAD_SENDGRID_KEYS = [
    ("not base64!", "is base64"),
    (base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), "not a DER-encoded public key"),
    (
        base64.b64encode(
            SigningKey.from_string(bytes(range(32)), curve=Ed25519).get_verifying_key().to_der()
        ).decode(),
        "P-256; that key is on Ed25519",
    ),
    (
        base64.b64encode(
            SigningKey.from_secret_exponent(12345, curve=NIST384p).get_verifying_key().to_der()
        ).decode(),
        "P-256; that key is on NIST384p",
    ),
]


@pytest.mark.parametrize(
    ("kind", "bad", "message"),
    [("discord", k, m) for k, m in BAD_DISCORD_KEYS]
    + [("sendgrid", k, m) for k, m in BAD_SENDGRID_KEYS],
)
def test_a_malformed_public_key_is_refused_when_added_or_rotated_in_one_line(kind, bad, message):
    store = MemoryConfig()
    with pytest.raises(OperationError, match=message) as refused:
        ops.add_source(store, name=kind, kind=SourceKind(kind), secret=bad, now=NOW)
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith(f"bad --secret for a {kind} source: ")
    assert store.sources == {}
    good = DISCORD_PUBLIC if kind == "discord" else SENDGRID_PUBLIC
    ops.add_source(store, name=kind, kind=SourceKind(kind), secret=good, now=NOW)
    with pytest.raises(OperationError, match=message):
        ops.rotate_source_secret(store, kind, secret=bad, keep_old=3600, now=NOW)
    assert store.sources[kind].active_secrets(NOW) == [good]


def test_sources_add_says_what_is_wrong_with_the_key_in_one_line():
    """Refused before any AWS call: no stack is needed to see it."""
    result = CliRunner().invoke(
        app, ["sources", "add", "bot", "--kind", "discord", "--secret", "not-a-key"]
    )
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: bad --secret for a discord source: ")
    assert "64 hex characters" in line


@pytest.mark.parametrize("kind", ["discord", "sendgrid"])
def test_a_configured_key_that_does_not_parse_matches_nothing(kind):
    """A source saved some other way (or before the check): 401, never a 500."""
    if kind == "discord":
        request = discord_request(DISCORD_COMMAND)
        good, bads = DISCORD_PUBLIC, [k for k, _ in BAD_DISCORD_KEYS]
    else:
        body = b'[{"event":"open"}]'
        headers = {k.lower(): v for k, v in sendgrid_sign(body, NOW, SENDGRID_KEY, "").items()}
        request = InboundRequest(headers, body)
        good, bads = SENDGRID_PUBLIC, [k for k, _ in BAD_SENDGRID_KEYS]
    with pytest.raises(InvalidSignature):
        verify(source(kind, *bads), request, NOW)
    # Beside a good key (a rotation), the good one still verifies.
    verify(source(kind, *bads, good), request, NOW)


# --- hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["discord", "sendgrid"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_hostile_headers_and_bodies_only_ever_raise_the_verifiers_refusals(kind, data):
    if kind == "discord":
        genuine = discord_request(DISCORD_COMMAND)
        names = ["x-signature-ed25519", "x-signature-timestamp"]
        secret = DISCORD_PUBLIC
    else:
        body = b'[{"event":"open"}]'
        headers = {k.lower(): v for k, v in sendgrid_sign(body, NOW, SENDGRID_KEY, "").items()}
        genuine = InboundRequest(headers, body)
        names = list(headers)
        secret = SENDGRID_PUBLIC
    headers = dict(genuine.headers)
    for name in names:
        if data.draw(st.booleans(), label=f"replace {name}"):
            headers[name] = data.draw(
                st.one_of(
                    st.text(max_size=200),
                    st.binary(max_size=80).map(bytes.hex),
                    st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode()),
                ),
                label=name,
            )
    body = data.draw(st.one_of(st.just(genuine.body), st.binary(max_size=300)), label="body")
    changed = headers != dict(genuine.headers) or body != genuine.body
    try:
        verify(source(kind, secret), InboundRequest(headers, body), NOW)
    except InvalidSignature:
        assert changed
    except MalformedPayload:
        assert not changed  # only what was signed may get as far as its payload
    else:
        assert not changed


# --- ecdsa: loaded by the sources that need it, not by the receiver -------------------------

LAZY = """
import json, sys
import functions.receiver
from hookhaven.models import Secret, Source, SourceKind
from hookhaven.verification import InboundRequest, verify

given = json.loads(sys.argv[1])
now = given["now"]

def check(kind, secret, headers, body):
    source = Source(name=kind, kind=SourceKind(kind), secrets=(Secret(value=secret, created_at=0),),
                    created_at=0, updated_at=0)
    return verify(source, InboundRequest(headers, body.encode()), now).event_type

loaded = {"receiver": "ecdsa" in sys.modules}
loaded["stripe"] = check(*given["stripe"]), "ecdsa" in sys.modules
loaded["catalog"] = "hookhaven.catalog" in sys.modules
loaded["discord"] = check(*given["discord"]), "ecdsa" in sys.modules
print(json.dumps(loaded))
"""


def test_ecdsa_is_imported_by_the_first_discord_request_not_by_the_receiver_or_stripe():
    stripe_secret = "whsec_stripe_test_secret"
    stripe_body = json.dumps({"id": "evt_1", "type": "charge.succeeded"})
    stripe_header = stripe.WebhookSignature.generate_signature_header(
        stripe_body, stripe_secret, timestamp=int(NOW)
    )
    command = discord_request(DISCORD_COMMAND)
    given = {
        "now": NOW,
        "stripe": ["stripe", stripe_secret, {"stripe-signature": stripe_header}, stripe_body],
        "discord": ["discord", DISCORD_PUBLIC, dict(command.headers), command.body.decode()],
    }
    result = subprocess.run(
        [sys.executable, "-c", LAZY, json.dumps(given)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {
        "receiver": False,
        "stripe": ["charge.succeeded", False],
        "catalog": True,
        "discord": ["interaction.application_command/blep", True],
    }
