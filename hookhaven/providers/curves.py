"""The verifiers of the providers that sign with a public key (hookhaven/providers/keys.py
lists them): Discord's Ed25519 and SendGrid's ECDSA over P-256, with ``ecdsa``.

This module is imported on first use (the catalog names its verifiers as strings), so a
receiver that only ever verifies HMAC signatures never loads ``ecdsa`` (some 40 ms of
pure Python to import, measured beside the receiver's own 0.5 s): only the first Discord
or SendGrid request of an execution environment pays for it.

``ecdsa`` is pure Python, and its documentation warns that it is not safe against timing
side channels. That warning concerns the private key: signing and key generation, where
the time taken can leak the secret scalar. Verifying, all hookhaven does, handles only
public data (the provider's public key, the signature and the request, all of which an
eavesdropper on the request already has), so there is nothing secret for timing to leak.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import string
from typing import Any

from ecdsa import NIST256p, VerifyingKey  # type: ignore[import-untyped]
from ecdsa.curves import Ed25519  # type: ignore[import-untyped]
from ecdsa.der import UnexpectedDER  # type: ignore[import-untyped]
from ecdsa.errors import MalformedPointError  # type: ignore[import-untyped]
from ecdsa.keys import BadSignatureError  # type: ignore[import-untyped]
from ecdsa.util import sigdecode_der  # type: ignore[import-untyped]

from hookhaven.models import Source
from hookhaven.verification import (
    Answer,
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    VerifiedWebhook,
    _json_object,
    _required,
    _unbase64,
    _unhex,
    clean_id,
    clean_type,
)

#: What a signature that does not verify, or cannot be decoded, raises in ``ecdsa``.
_NOT_VERIFIED = (BadSignatureError, UnexpectedDER, MalformedPointError, ValueError)
#: Parsed keys, by the source's secret as configured (an unparsable one as None): parsing a
#: key costs about as much as verifying with it (Ed25519's point decompression).
_KEYS = 64


# --- keys -------------------------------------------------------------------------------


def discord_public_key(text: str) -> VerifyingKey:
    """An application's public key as Discord shows it: 64 hex characters, an Ed25519 point
    (RFC 8032). ``ValueError`` saying what is wrong otherwise."""
    text = text.strip()
    if len(text) != 64 or not all(c in string.hexdigits for c in text):
        raise ValueError(
            "a Discord application's public key is 64 hex characters "
            "(Developer Portal, General Information, Public Key)"
        )
    try:
        return VerifyingKey.from_string(bytes.fromhex(text), curve=Ed25519)
    except (MalformedPointError, ValueError):
        raise ValueError("that public key is not a point of Ed25519") from None


def sendgrid_public_key(text: str) -> VerifyingKey:
    """The Event Webhook's verification key as SendGrid shows it: base64 of a DER
    SubjectPublicKeyInfo holding a P-256 (prime256v1) key, the form its SDK wraps in a PEM
    header. ``ValueError`` saying what is wrong otherwise."""
    compact = "".join(text.split())  # line breaks, as a PEM body may have them
    try:
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        # Equivalent mutant (make mutate): None for b"", refused alike just below.
        der = b""  # pragma: no mutate
    if not der:
        raise ValueError(
            "SendGrid's verification key is base64 (MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...), "
            "as Mail Settings, Event Webhook shows it"
        )
    try:
        key = VerifyingKey.from_der(
            der,
            # Equivalent mutants (make mutate): hashfunc None or left out. It is only the
            # key's default for verify(), and p256_verifies always names SHA-256.
            hashfunc=hashlib.sha256,  # pragma: no mutate
            valid_curve_encodings=("named_curve",),
        )
    except Exception:  # any DER that ecdsa cannot read is no such key
        raise ValueError("that verification key is not a DER-encoded public key") from None
    if key.curve != NIST256p:
        raise ValueError(f"SendGrid signs with P-256; that key is on {key.curve.name}")
    return key


@functools.lru_cache(maxsize=_KEYS)
def _discord_key(secret: str) -> VerifyingKey | None:
    try:
        return discord_public_key(secret)
    except ValueError:
        return None  # a key that does not parse verifies nothing


@functools.lru_cache(maxsize=_KEYS)
def _sendgrid_key(secret: str) -> VerifyingKey | None:
    try:
        return sendgrid_public_key(secret)
    except ValueError:
        return None


def ed25519_verifies(key: VerifyingKey, signature: bytes, message: bytes) -> bool:
    """Pure Ed25519 (RFC 8032 section 5.1.7) of ``message``."""
    try:
        return bool(key.verify(signature, message))
    except _NOT_VERIFIED:
        return False


def p256_verifies(key: VerifyingKey, signature: bytes, message: bytes) -> bool:
    """ECDSA with SHA-256 of ``message``, the signature DER-encoded (r, s)."""
    try:
        return bool(
            key.verify(
                signature,
                message,
                # Equivalent mutants (make mutate): hashfunc None or left out. The key's own
                # default is SHA-256 too (sendgrid_public_key makes every key this gets).
                # Each of the two is equivalent only while the other stays: without both,
                # SendGrid's signatures would be checked over SHA-1 and its SDK's vector
                # (test_providers_keys.py) refused.
                hashfunc=hashlib.sha256,  # pragma: no mutate
                sigdecode=sigdecode_der,
            )
        )
    except _NOT_VERIFIED:
        return False


# --- Discord ----------------------------------------------------------------------------

#: Interaction types (Receiving and Responding, "Interaction Type"), by what hookhaven
#: calls their events, and the answer each is given within Discord's 3 seconds: a deferred
#: one (Interaction Callback Type), so that a subscriber can follow up with the token.
_INTERACTIONS: dict[int, tuple[str, dict[str, Any]]] = {
    # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: the user sees "thinking..." until the follow-up.
    2: ("application_command", {"type": 5}),
    # DEFERRED_UPDATE_MESSAGE: a component's message is edited later, no loading state.
    3: ("message_component", {"type": 6}),
    # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT: no suggestions (a relay cannot know them).
    4: ("application_command_autocomplete", {"type": 8, "data": {"choices": []}}),
    5: ("modal_submit", {"type": 5}),
}
_PING = 1
_PONG = Answer(json.dumps({"type": 1}), content_type="application/json")
#: Webhook Events: a PING (type 0) and every event are acknowledged with an empty 204.
_WEBHOOK_PING = 0
_NO_CONTENT = Answer("", status=204)


def discord(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    """Ed25519 over X-Signature-Timestamp + body, the signature hex in X-Signature-Ed25519
    (https://discord.com/developers/docs/interactions/overview, "Validating Security Request
    Headers"; the same for Webhook Events). Discord documents no tolerance for the
    timestamp, so none is checked: an interaction's signed id is deduplicated instead."""
    header = _required(request, "x-signature-ed25519")  # pragma: no mutate (name case)
    signature = _unhex(header)
    timestamp = _required(request, "x-signature-timestamp")  # pragma: no mutate (name case)
    message = timestamp.encode() + request.body
    keys = [key for key in map(_discord_key, secrets) if key is not None]
    if not signature or not any(ed25519_verifies(key, signature, message) for key in keys):
        raise InvalidSignature("X-Signature-Ed25519 does not match")
    body = _json_object(request.body)
    if body is None:
        raise MalformedPayload("a Discord interaction or webhook event is a JSON object")
    kind = body.get("type")
    kind = kind if isinstance(kind, int) and not isinstance(kind, bool) else None
    if "event" in body or kind == _WEBHOOK_PING:
        return _webhook_event(body, kind)
    if kind == _PING:
        return VerifiedWebhook(event_type="interaction.ping", provider_event_id=None, answer=_PONG)
    interaction_id = clean_id(body.get("id"))
    if kind is None or interaction_id is None:
        raise MalformedPayload("a Discord interaction carries an id and a numeric type")
    if kind not in _INTERACTIONS:
        # A type Discord adds after this was written: kept, and answered as any event is
        # (a relay cannot know what Discord would want for it).
        return VerifiedWebhook(
            event_type=clean_type(f"interaction.{kind}"), provider_event_id=interaction_id
        )
    name, reply = _INTERACTIONS[kind]
    data = body.get("data")
    command = data.get("name") if isinstance(data, dict) else None
    event_type = f"interaction.{name}"
    if kind in (2, 4) and isinstance(command, str) and command.strip():
        event_type += f"/{command.strip()}"  # interaction.application_command/weather
    return VerifiedWebhook(
        event_type=clean_type(event_type),
        provider_event_id=interaction_id,
        reply=Answer(json.dumps(reply), content_type="application/json"),
    )


def _webhook_event(body: dict[str, Any], kind: int | None) -> VerifiedWebhook:
    """Discord's Webhook Events (https://discord.com/developers/docs/events/webhook-events):
    ``{"version": 1, "application_id", "type": 0 (PING) or 1, "event": {"type", ...}}``,
    each answered 204 with no body. They carry no id, so a repeat is found by its body."""
    if kind == _WEBHOOK_PING:
        return VerifiedWebhook(
            event_type="webhook.ping", provider_event_id=None, answer=_NO_CONTENT
        )
    event = body.get("event")
    if not isinstance(event, dict):
        raise MalformedPayload("a Discord webhook event carries an event object")
    return VerifiedWebhook(
        event_type=clean_type(event.get("type")), provider_event_id=None, reply=_NO_CONTENT
    )


# --- SendGrid ---------------------------------------------------------------------------


def sendgrid(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    """ECDSA P-256 with SHA-256 over X-Twilio-Email-Event-Webhook-Timestamp + body, the
    DER signature base64 in X-Twilio-Email-Event-Webhook-Signature, as SendGrid's SDK
    verifies it (sendgrid.helpers.eventwebhook.EventWebhook.verify_signature). SendGrid
    documents no tolerance for the timestamp (and its SDK checks none), so none is
    checked; a batch has no id of its own, so a repeat is found by its body.

    The signature's base64 is decoded strictly; the SDK's ``base64.b64decode`` would skip
    characters outside the alphabet, which SendGrid never sends."""
    header = _required(
        request,
        "x-twilio-email-event-webhook-signature",  # pragma: no mutate (name case)
    )
    signature = _unbase64(header)
    timestamp = _required(
        request,
        "x-twilio-email-event-webhook-timestamp",  # pragma: no mutate (name case)
    )
    message = timestamp.encode() + request.body
    keys = [key for key in map(_sendgrid_key, secrets) if key is not None]
    if not signature or not any(p256_verifies(key, signature, message) for key in keys):
        raise InvalidSignature("X-Twilio-Email-Event-Webhook-Signature does not match")
    try:
        events = json.loads(request.body)
    except (ValueError, RecursionError):
        # Equivalent mutant (make mutate): "" for None, no more a list than None.
        events = None  # pragma: no mutate
    if not isinstance(events, list):
        raise MalformedPayload("a SendGrid Event Webhook body is a JSON array of events")
    kinds = {event.get("event") if isinstance(event, dict) else None for event in events}
    only = kinds.pop() if len(kinds) == 1 else None
    return VerifiedWebhook(
        # The events' common type (delivered, open, bounce...), else "batch".
        event_type=clean_type(only) if isinstance(only, str) and only.strip() else "batch",
        # Each event has its sg_event_id, but a batch has no id of its own: a repeat is
        # found by its body (subscribers deduplicate events on sg_event_id, as SendGrid
        # advises, for a retry may batch them differently).
        provider_event_id=None,
    )
