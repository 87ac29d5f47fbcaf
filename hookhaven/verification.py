"""Verify an incoming webhook the way its provider signs it, and read its identity.

Pure: no I/O and no clock of its own (``now`` is passed in). Every check runs on
the exact raw body bytes. A request either yields a ``VerifiedWebhook`` or
raises ``InvalidSignature`` (401, deliberately without saying which part
failed) or ``MalformedPayload`` (400: authentic, but not what the provider's
convention promises, e.g. a Stripe event without an id).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from hookhaven.models import FieldRef, Source, SourceKind
from hookhaven.signatures import any_equal, hmac_digest, standard_secret_key

#: Providers' timestamp tolerance (Standard Webhooks, Stripe and Slack all use 5 minutes).
TOLERANCE_SECONDS = 300
#: Event types travel in a delivery header; anything else is replaced.
_UNSAFE_TYPE_CHARS = re.compile(r"[^A-Za-z0-9._:/\-+*@]")
MAX_TYPE_LENGTH = 128
MAX_PROVIDER_ID_LENGTH = 256
UNKNOWN_TYPE = "unknown"


class InvalidSignature(Exception):
    """Missing, malformed, wrong or expired signature. The message is for logs only."""

    # Mutation testing (make mutate) leaves the ``raise InvalidSignature(...)`` lines alone
    # (pyproject.toml's do_not_mutate_patterns): the message is all a mutant could change
    # there, and nothing reads it (the receiver answers every one with the same 401), so
    # each such mutant is equivalent.


class MalformedPayload(Exception):
    """Authentic request whose body or headers break the provider's own convention."""


class InboundRequest(NamedTuple):
    """A webhook request as received: header names lowercased, the raw body bytes, and the
    public URL the provider called (some providers sign it: Twilio, Square, HubSpot,
    Trello), as the receiver rebuilds it (``public_url``).

    A named tuple, as ``VerifiedWebhook``: immutable, and built once per request for a
    fraction of a frozen dataclass's cost (``object.__setattr__`` per field), which
    ``bench/verifiers.py``'s instruction counts showed as 1-2% of a verification."""

    headers: Mapping[str, str]
    body: bytes
    method: str = "POST"
    url: str = ""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/octet-stream")

    def header(self, name: str) -> str | None:
        # Names are looked up lowercased, so a mutant that upper-cases a name passed here is
        # equivalent: make mutate leaves alone the lines marked "(name case)", which have
        # no other mutant that survives.
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Answer:
    """A handshake's reply (Slack's url_verification, Zoom's endpoint.url_validation,
    Twitch's webhook_callback_verification, Discord's PING): sent as is, nothing recorded."""

    body: str
    content_type: str = "text/plain"
    status: int = 200


class VerifiedWebhook(NamedTuple):
    event_type: str
    provider_event_id: str | None
    #: A handshake: answer with this and record nothing.
    answer: Answer | None = None
    #: Whether the signature covers ``provider_event_id``. When it does not (an id from a
    #: header the signature leaves out), anyone who saw one genuine request could send its
    #: body again under fresh ids: such events are deduplicated on their body instead.
    id_signed: bool = True
    #: The provider shows the answer's body to a person (Slack's slash commands and
    #: interactivity post it in the channel or as an error): answer 200 with no body.
    empty_answer: bool = False
    #: What the signature covers, in a canonical form, where that is not the body's bytes
    #: (Twilio signs a form's parsed fields, sorted, so the same fields reordered or
    #: re-encoded still verify): a duplicate without a trusted id is found by its digest,
    #: not the body's.
    signed_content: bytes | None = None
    #: What to answer an accepted event instead of hookhaven's own 202 (Discord wants an
    #: interaction's deferred reply). A duplicate gets the same answer.
    reply: Answer | None = None

    @property
    def trusted_id(self) -> str | None:
        """The provider's event id, when a replay cannot change it."""
        return self.provider_event_id if self.id_signed else None


Verifier = Callable[[Source, InboundRequest, list[str], float], VerifiedWebhook]
#: Filled from ``hookhaven.catalog`` on first use: the catalog imports this module, and a
#: kind whose verifier needs a library of its own (Discord's curve) loads it only then.
_VERIFIERS: dict[SourceKind, Verifier] = {}


def verify(source: Source, request: InboundRequest, now: float) -> VerifiedWebhook:
    secrets = source.active_secrets(now)
    if not secrets:
        raise InvalidSignature("the source has no active secret")
    # Equivalent mutants (make mutate): a cache miss here (None) only looks the same
    # verifier up in the catalog again.
    verifier = _VERIFIERS.get(source.kind)  # pragma: no mutate
    if verifier is None:
        from hookhaven.catalog import verifier_for  # (the catalog imports this module)

        verifier = _VERIFIERS[source.kind] = verifier_for(source.kind)
    return verifier(source, request, secrets, now)


#: Filled from the catalog as ``_VERIFIERS`` is: whether a kind's signature covers the URL.
_SIGNS_URL: dict[SourceKind, bool] = {}


def signs_url(kind: SourceKind) -> bool:
    """Whether ``kind`` signs the URL the provider called, so the receiver must rebuild it
    (``InboundRequest.url``); the other kinds never pay for building it."""
    # Equivalent mutants (make mutate), as in ``verify``: a cache miss here (None) only
    # looks the same entry up in the catalog again.
    found = _SIGNS_URL.get(kind)  # pragma: no mutate
    if found is None:
        from hookhaven.catalog import provider  # (the catalog imports this module)

        found = _SIGNS_URL[kind] = provider(kind).signs_url
    return found


# --- helpers ------------------------------------------------------------------


def _required(request: InboundRequest, name: str) -> str:
    value = request.header(name)
    if value is None or not value.strip():
        raise InvalidSignature(f"missing {name}")
    return value.strip()


def _timestamp(text: str, now: float) -> int:
    if not (text.isascii() and text.isdigit()):
        raise InvalidSignature("malformed timestamp")
    # The bound keeps int() off a long string. Equivalent mutants (make mutate): a 12- or
    # 13-digit timestamp is the year 5138 or later, refused as malformed here or as outside
    # the tolerance below, so 12 or 13 digits, > or >=, the outcome is the same.
    if len(text) > 12:  # pragma: no mutate
        raise InvalidSignature("malformed timestamp")
    timestamp = int(text)
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise InvalidSignature("timestamp outside the tolerance")
    return timestamp


def _unhex(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _unbase64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _form(request: InboundRequest) -> dict[str, list[str]] | None:
    """An ``application/x-www-form-urlencoded`` body's fields (blank ones kept)."""
    if not request.content_type.startswith("application/x-www-form-urlencoded"):
        return None
    try:
        # Equivalent mutants (make mutate): "UTF-8", or no argument, is the same codec (the
        # line's other mutants, an unknown codec or None, fail every form).
        text = request.body.decode("utf-8")  # pragma: no mutate
    except UnicodeDecodeError:
        return None
    return parse_qs(text, keep_blank_values=True)


def _form_payload(request: InboundRequest) -> dict[str, Any] | None:
    """GitHub and Slack may send ``application/x-www-form-urlencoded`` with ``payload=<json>``."""
    form = _form(request)
    payload = form.get("payload") if form is not None else None
    return _json_object(payload[0].encode()) if payload else None


def _body_object(request: InboundRequest) -> dict[str, Any] | None:
    return _form_payload(request) or _json_object(request.body)


def clean_type(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        return UNKNOWN_TYPE
    return _UNSAFE_TYPE_CHARS.sub("_", value.strip())[:MAX_TYPE_LENGTH]


def clean_id(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_PROVIDER_ID_LENGTH:
        raise MalformedPayload("the provider event id is longer than 256 characters")
    return value


# --- kinds --------------------------------------------------------------------


def _standard(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    # Svix sends the same scheme under svix-* names; accept both spellings.
    standard = request.header("webhook-signature") is not None  # pragma: no mutate (name case)
    prefix = "webhook" if standard else "svix"  # pragma: no mutate (name case)
    message_id = _required(request, f"{prefix}-id")
    timestamp = _timestamp(_required(request, f"{prefix}-timestamp"), now)
    provided = []
    for part in _required(request, f"{prefix}-signature").split(" "):
        # Equivalent mutant (make mutate): rpartition. Base64 has no ",", so a part with
        # more than one can match nothing whichever comma splits it, and a part with one is
        # split the same either way.
        version, _, signature = part.partition(",")  # pragma: no mutate
        if version == "v1" and (decoded := _unbase64(signature)) is not None:
            provided.append(decoded)
    signed = f"{message_id}.{timestamp}.".encode() + request.body
    expected = []
    for secret in secrets:
        try:
            expected.append(hmac_digest(standard_secret_key(secret), signed))
        except ValueError:
            continue  # a secret that is not whsec_ base64 can match nothing
    if not any_equal(expected, provided):
        raise InvalidSignature("no v1 signature matches")
    body = _json_object(request.body)
    return VerifiedWebhook(
        event_type=clean_type(body.get("type") if body else None),
        provider_event_id=clean_id(message_id),
    )


def _stripe(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    header = _required(request, "stripe-signature")  # pragma: no mutate (name case)
    # Equivalent mutant (make mutate): "" for None. A header without t= is then refused as a
    # malformed timestamp instead of a missing one: refused either way.
    timestamp_text: str | None = None  # pragma: no mutate
    provided = []
    for item in header.split(","):
        # Equivalent mutant (make mutate) on every header Stripe sends: rpartition. Only an
        # item with a second "=" is split otherwise. A v1 value with "=" is not hex, matched
        # by neither; a t value with "=" is refused here, ignored by rpartition, which makes
        # a difference only beside another t= item, and Stripe sends one.
        key, _, value = item.strip().partition("=")  # pragma: no mutate
        if key == "t":
            timestamp_text = value
        elif key == "v1" and (decoded := _unhex(value)) is not None:
            provided.append(decoded)
    if timestamp_text is None:
        raise InvalidSignature("no timestamp in Stripe-Signature")
    timestamp = _timestamp(timestamp_text, now)
    signed = f"{timestamp}.".encode() + request.body
    expected = [hmac_digest(secret.encode(), signed) for secret in secrets]
    if not any_equal(expected, provided):
        raise InvalidSignature("no v1 signature matches")
    body = _json_object(request.body)
    if body is None or clean_id(body.get("id")) is None or not isinstance(body.get("type"), str):
        raise MalformedPayload("a Stripe event is a JSON object with an id and a type")
    return VerifiedWebhook(
        event_type=clean_type(body["type"]), provider_event_id=clean_id(body["id"])
    )


def _github(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    header = _required(request, "x-hub-signature-256")  # pragma: no mutate (name case)
    # Equivalent mutant (make mutate): rpartition. Hex has no "=": with one "=" both split
    # alike; with more, the signature (or, split at the last, the algorithm) is wrong
    # either way; with none, the signature is empty or the algorithm is, and neither matches.
    algorithm, _, signature = header.partition("=")  # pragma: no mutate
    provided = _unhex(signature) if algorithm == "sha256" else None
    expected = [hmac_digest(secret.encode(), request.body) for secret in secrets]
    if provided is None or not any_equal(expected, [provided]):
        raise InvalidSignature("X-Hub-Signature-256 does not match")
    event = request.header("x-github-event")  # pragma: no mutate (name case)
    if not event:
        raise MalformedPayload("GitHub deliveries carry X-GitHub-Event")
    body = _body_object(request)
    action = body.get("action") if body else None
    event_type = f"{event}.{action}" if isinstance(action, str) and action else event
    delivery = clean_id(request.header("x-github-delivery"))  # pragma: no mutate (name case)
    if delivery is None:
        raise MalformedPayload("GitHub deliveries carry X-GitHub-Delivery")
    return VerifiedWebhook(
        event_type=clean_type(event_type), provider_event_id=delivery, id_signed=False
    )


def _shopify(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    header = _required(request, "x-shopify-hmac-sha256")  # pragma: no mutate (name case)
    provided = _unbase64(header)
    expected = [hmac_digest(secret.encode(), request.body) for secret in secrets]
    if provided is None or not any_equal(expected, [provided]):
        raise InvalidSignature("X-Shopify-Hmac-Sha256 does not match")
    topic = request.header("x-shopify-topic")  # pragma: no mutate (name case)
    if not topic:
        raise MalformedPayload("Shopify webhooks carry X-Shopify-Topic")
    webhook_id = clean_id(request.header("x-shopify-webhook-id"))  # pragma: no mutate (name case)
    if webhook_id is None:
        raise MalformedPayload("Shopify webhooks carry X-Shopify-Webhook-Id")
    return VerifiedWebhook(
        event_type=clean_type(topic), provider_event_id=webhook_id, id_signed=False
    )


def _slack(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    sent = _required(request, "x-slack-request-timestamp")  # pragma: no mutate (name case)
    timestamp = _timestamp(sent, now)
    header = _required(request, "x-slack-signature")  # pragma: no mutate (name case)
    # Equivalent mutant (make mutate): rpartition, as in _github (hex has no "=").
    version, _, signature = header.partition("=")  # pragma: no mutate
    provided = _unhex(signature) if version == "v0" else None
    signed = f"v0:{timestamp}:".encode() + request.body
    expected = [hmac_digest(secret.encode(), signed) for secret in secrets]
    if provided is None or not any_equal(expected, [provided]):
        raise InvalidSignature("X-Slack-Signature does not match")
    command = _slash_command(request)
    if command is not None:
        return command
    body = _body_object(request)
    if body is None:
        raise MalformedPayload(
            "a Slack request body is JSON, a form with a JSON payload, or a slash command"
        )
    if _form_payload(request) is not None:
        # Interactivity (block_actions, view_submission, shortcuts): Slack shows the
        # answer's body to the user, so it gets an empty 200.
        return VerifiedWebhook(
            event_type=clean_type(body.get("type")),
            provider_event_id=clean_id(body.get("trigger_id") or body.get("action_ts")),
            empty_answer=True,
        )
    if body.get("type") == "url_verification":
        challenge = body.get("challenge")
        if not isinstance(challenge, str):
            raise MalformedPayload("url_verification without a challenge")
        return VerifiedWebhook(
            event_type="url_verification", provider_event_id=None, answer=Answer(challenge)
        )
    event = body.get("event")
    if body.get("type") == "event_callback" and isinstance(event, dict):
        event_type = event.get("type")
    else:
        event_type = body.get("type")
    return VerifiedWebhook(
        event_type=clean_type(event_type),
        provider_event_id=clean_id(body.get("event_id") or body.get("trigger_id")),
    )


def _slash_command(request: InboundRequest) -> VerifiedWebhook | None:
    """A Slack slash command: a signed form with ``command`` (``/weather``) and a
    ``trigger_id``. Its type is ``slash_command`` plus the command
    (``slash_command/weather``), its id the trigger_id; Slack wants an empty 200."""
    form = _form(request)
    if form is None or "payload" in form or "command" not in form:
        return None
    command = form["command"][0].strip()
    if not command.startswith("/"):
        raise MalformedPayload("a Slack slash command starts with /")
    trigger = form.get("trigger_id", [None])[0]
    return VerifiedWebhook(
        event_type=clean_type("slash_command" + command),
        provider_event_id=clean_id(trigger),
        empty_answer=True,
    )


def _hmac(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    options = source.hmac
    assert options is not None  # Source fills in the defaults for kind hmac
    header = _required(request, options.header)
    if options.prefix:
        if not header.startswith(options.prefix):
            raise InvalidSignature("signature prefix missing")
        header = header[len(options.prefix) :]
    provided = _unhex(header) if options.encoding == "hex" else _unbase64(header)
    expected = [hmac_digest(s.encode(), request.body, options.algorithm) for s in secrets]
    if provided is None or not any_equal(expected, [provided]):
        raise InvalidSignature("signature does not match")
    body = _json_object(request.body)

    def read(ref: FieldRef | None) -> object:
        if ref is None:
            return None
        if ref.location == "header":
            return request.header(ref.name)
        return body.get(ref.name) if body else None

    return VerifiedWebhook(
        event_type=clean_type(read(options.type_from)),
        provider_event_id=clean_id(read(options.id_from)),
        # Only an id read from the body is signed.
        id_signed=options.id_from is not None and options.id_from.location == "field",
    )
