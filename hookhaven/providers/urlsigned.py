"""Providers that sign the URL they call: Twilio, Square, HubSpot and Trello.

Each signs the public URL the provider called together with the body (or, for Twilio, its
form fields), so a request replayed to another endpoint fails. The receiver rebuilds that
URL (``InboundRequest.url``, from ``functions.receiver.public_url``): the HTTP API's own
domain and path, or ``public_base_url`` when a custom domain maps the API under a path or a
proxy fronts it. Only HubSpot also signs a timestamp; for the others a replay is stopped
by deduplication only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import ParseResult, parse_qs, urlparse

from hookhaven.models import Source, SourceKind
from hookhaven.providers.base import Provider
from hookhaven.providers.schemes import HmacScheme, hmac_verifier
from hookhaven.verification import (
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    VerifiedWebhook,
    _form,
    _json_object,
    clean_id,
    clean_type,
)

# --- Twilio -------------------------------------------------------------------------------
#
# Twilio signs the full URL it called followed, for a form-encoded body, by every field's
# name and value, names in sorted order. A JSON body is not signed itself: the URL carries
# ``bodySHA256`` (the body's hex SHA-256) and only the URL is signed. This follows
# twilio-python's RequestValidator.validate (twilio/request_validator.py) exactly:
#
# - the URL is tried without its port and with it (443 or 80 added when it has none), since
#   Twilio's own signing is "inconsistent" about the port;
# - a name's values are deduplicated and sorted, so ``Digits=5678&Digits=1234`` signs
#   ``Digits1234Digits5678``, and a repeated identical value counts once;
# - the ``bodySHA256`` check applies to a body that is not a form only; a form is signed by
#   its fields even when the URL has a ``bodySHA256``;
# - HMAC-SHA1 under the Auth Token, unless ``X-Twilio-Webhooks-Signature-Settings`` names
#   another algorithm (a SharedKey of the Webhooks configuration API, signing HMAC-SHA256):
#   https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys.
#
# A body that is neither a form nor covered by ``bodySHA256`` is not signed at all: refused
# (the SDK cannot validate one either). Nothing signed says when, and Twilio's idempotency
# token is a header the signature leaves out, so duplicates are found by the body's digest.
# A form's fields may be reordered or re-encoded without changing the signature: such a
# replay is a new body, so it is deduplicated only when byte-identical.


def _twilio_urls(request: InboundRequest) -> tuple[ParseResult, list[str]]:
    try:
        parsed = urlparse(request.url)
        port = parsed.port
    except ValueError:  # a port that is not a number
        raise InvalidSignature("malformed URL") from None
    if port:
        without_port = parsed._replace(netloc=parsed.netloc.split(":")[0]).geturl()
        with_port = parsed.geturl()
    else:
        without_port = parsed.geturl()
        default = 443 if parsed.scheme == "https" else 80
        with_port = parsed._replace(netloc=f"{parsed.netloc}:{default}").geturl()
    return parsed, [without_port, with_port]


def _twilio_message(request: InboundRequest, timestamp: str) -> list[bytes]:
    parsed, urls = _twilio_urls(request)
    fields = _form(request)
    if fields is None:
        query = parse_qs(parsed.query)
        if "bodySHA256" in query:
            digest = hashlib.sha256(request.body).hexdigest().encode()
            if not hmac.compare_digest(digest, query["bodySHA256"][0].encode()):
                raise InvalidSignature("the body does not match bodySHA256")
        elif request.body:
            raise InvalidSignature("a body that is not a form needs bodySHA256 in the URL")
        fields = {}
    signed_fields = _signed_fields(fields)
    return [(url + signed_fields).encode() for url in urls]


def _signed_fields(fields: dict[str, list[str]]) -> str:
    """Each field's name and value, sorted, repeated values once (twilio-python's
    ``compute_signature``)."""
    return "".join(name + value for name in sorted(fields) for value in sorted(set(fields[name])))


#: By the algorithm X-Twilio-Webhooks-Signature-Settings names (HMAC_SHA1 without it).
_TWILIO_SCHEMES = {
    "HMAC_SHA1": HmacScheme(
        header="x-twilio-signature", message=_twilio_message, algorithm="sha1", encoding="base64"
    ),
    "HMAC_SHA256": HmacScheme(
        header="x-twilio-signature", message=_twilio_message, algorithm="sha256", encoding="base64"
    ),
}


def _twilio_algorithm(settings: str | None) -> str:
    """The algorithm ``X-Twilio-Webhooks-Signature-Settings`` names (``key=...,algorithm=
    HMAC_SHA256``); HMAC_SHA1 without one, as twilio-python's get_signature_algorithm."""
    # Equivalent mutant (make mutate): "XXXX" for "" (no header). It has no "=", so it names
    # no algorithm either. (The line's one other mutant, and for or, fails the SharedKey
    # cases: with the pragma removed, this is the only survivor.)
    text = settings or ""  # pragma: no mutate
    for part in text.split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return "HMAC_SHA1"


def _twilio_type(fields: dict[str, list[str]] | None, body: dict[str, Any] | None) -> str:
    """Twilio's callbacks carry no event type; the most telling field names one:
    ``EventType`` (TaskRouter, Conversations), else a message's status (``message.delivered``;
    ``message.received`` for an incoming SMS), a call's (``call.ringing``, ``call.completed``)
    or a recording's, else a JSON body's ``type``; otherwise ``twilio``."""
    if fields is not None:

        def first(name: str) -> str:
            return (fields.get(name) or [""])[0].strip()

        if first("EventType"):
            return clean_type(first("EventType"))
        for prefix, names in (
            ("message", ("MessageStatus", "SmsStatus")),
            ("call", ("CallStatus",)),
            ("recording", ("RecordingStatus",)),
        ):
            for name in names:
                if first(name):
                    return clean_type(f"{prefix}.{first(name)}")
    elif body is not None and isinstance(body.get("type"), str):
        return clean_type(body["type"])
    return "twilio"


def _twilio(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    settings = request.header(
        "x-twilio-webhooks-signature-settings"  # pragma: no mutate (name case)
    )
    algorithm = _twilio_algorithm(settings)
    scheme = _TWILIO_SCHEMES.get(algorithm)
    if scheme is None:
        raise InvalidSignature("an unsupported Twilio signature algorithm")
    # Equivalent mutant (make mutate): None for now. Nothing Twilio signs says when.
    scheme.check(request, secrets, now)  # pragma: no mutate
    fields = _form(request)
    # Equivalent mutant (make mutate): the body parsed for a form too. _twilio_type reads it
    # only when there are no fields. (With the pragma removed, it is the line's only survivor.)
    body = None if fields is not None else _json_object(request.body)  # pragma: no mutate
    return VerifiedWebhook(
        event_type=_twilio_type(fields, body),
        provider_event_id=clean_id(
            request.header("i-twilio-idempotency-token")  # pragma: no mutate (name case)
        ),
        id_signed=False,
        # The same fields in another order or encoding verify too: a replay of them is a
        # duplicate however its body is spelled. Field names and values cannot run into one
        # another ambiguously here any more than in the signature itself.
        signed_content=_signed_fields(fields).encode() if fields is not None else None,
    )


# --- Square -------------------------------------------------------------------------------


def _url_then_body(request: InboundRequest, timestamp: str) -> bytes:
    return request.url.encode() + request.body


def _square(
    request: InboundRequest, body: dict[str, Any] | None, timestamp: str
) -> VerifiedWebhook:
    event_id = clean_id(body.get("event_id")) if body else None
    if body is None or event_id is None or not isinstance(body.get("type"), str):
        raise MalformedPayload("a Square event is a JSON object with an event_id and a type")
    return VerifiedWebhook(event_type=clean_type(body["type"]), provider_event_id=event_id)


# --- HubSpot ------------------------------------------------------------------------------
#
# v3: base64 HMAC-SHA256 (the app's client secret) of method + URI + body + timestamp, the
# timestamp (milliseconds) in X-HubSpot-Request-Timestamp, refused when older than 5
# minutes. The URI is the one HubSpot called with the characters its documentation lists
# decoded (their hex digits read in either case, as RFC 3986 reads them); anything else
# stays percent-encoded. hubspot-api-client (hubspot/utils/signature.py) accepts a timestamp
# from any time in the future; hookhaven also refuses one more than 5 minutes ahead, as for
# every signed timestamp (HubSpot's own clock is never that far ahead).

_HUBSPOT_DECODED = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)


def _hubspot_uri(url: str) -> str:
    return _HUBSPOT_DECODED.sub(lambda match: chr(int(match.group(1), 16)), url)


def _hubspot_message(request: InboundRequest, timestamp: str) -> bytes:
    return (
        f"{request.method}{_hubspot_uri(request.url)}".encode() + request.body + timestamp.encode()
    )


def _hubspot(
    request: InboundRequest, body: dict[str, Any] | None, timestamp: str
) -> VerifiedWebhook:
    """A body is an array of events, each with a subscriptionType and an eventId. One event:
    its type and id. Several: their common subscriptionType (else ``batch``), and as id
    ``batch:`` + the SHA-256 of their sorted eventIds, which a retry repeats (its body does
    not: attemptNumber changes); without every eventId, no id (the body's digest dedupes)."""
    try:
        parsed = json.loads(request.body)
    except (ValueError, RecursionError):
        # Equivalent mutant (make mutate): "" for None, no more a list of events than None.
        parsed = None  # pragma: no mutate
    events = [parsed] if isinstance(parsed, dict) else parsed
    if not isinstance(events, list) or not events or not all(isinstance(e, dict) for e in events):
        return VerifiedWebhook(event_type=clean_type(None), provider_event_id=None)
    ids = [clean_id(event.get("eventId")) for event in events]
    if len(events) == 1:
        return VerifiedWebhook(
            event_type=clean_type(events[0].get("subscriptionType")), provider_event_id=ids[0]
        )
    types = {event.get("subscriptionType") for event in events}
    event_type = clean_type(types.pop()) if len(types) == 1 else "batch"
    batch_id = None
    if all(event_id is not None for event_id in ids):
        joined = ",".join(sorted(event_id for event_id in ids if event_id is not None))
        batch_id = "batch:" + hashlib.sha256(joined.encode()).hexdigest()
    return VerifiedWebhook(event_type=event_type, provider_event_id=batch_id)


# --- Trello -------------------------------------------------------------------------------
#
# base64 HMAC-SHA1 (the OAuth secret of the app's API key) of the body followed by the
# callback URL exactly as it was given when the webhook was created. Trello's documentation
# adds that its signer treats the signed text as a "binary" string, not UTF-8: each
# character counts as its 8 least significant bits (the en dash, U+2013, as byte 19).
# Both forms are accepted: refusing the documented one would refuse every genuine body
# with a non-ASCII character in it (a name with an accent, a curly quote).
#
# That form is lossy: characters 256 apart sign alike. So is Trello's scheme itself, if its
# signer works as documented: a body whose non-ASCII characters are replaced by the ASCII
# ones with the same low byte (U+2122 by a quote) is signed alike over its UTF-8 bytes, and
# no verifier can tell. Trying the "binary" form adds the other direction, ASCII characters
# replaced by non-ASCII ones; it is only tried when the action's id and type, which name and
# deduplicate the event, are plain ASCII, as Trello's always are, so such a body keeps the
# genuine action's id and is found a duplicate of it.


def _node_binary(text: str) -> bytes:
    """``text`` as Node's "binary" encoding writes it: each UTF-16 code unit's low byte."""
    # Equivalent mutant (make mutate): "UTF-16-LE", the same codec.
    encoded = text.encode("utf-16-le")  # pragma: no mutate
    return encoded[0::2]


def _trello_message(request: InboundRequest, timestamp: str) -> list[bytes]:
    signed = [request.body + request.url.encode()]
    try:
        # Equivalent mutant (make mutate): "UTF-8", the same codec.
        text = request.body.decode("utf-8")  # pragma: no mutate
    except UnicodeDecodeError:
        return signed
    lossy = _node_binary(text + request.url)
    action = (_json_object(request.body) or {}).get("action")
    plain = isinstance(action, dict) and all(
        isinstance(action.get(key), str) and action[key].isascii() for key in ("id", "type")
    )
    if lossy != signed[0] and plain:
        signed.append(lossy)
    return signed


def _trello(
    request: InboundRequest, body: dict[str, Any] | None, timestamp: str
) -> VerifiedWebhook:
    action = body.get("action") if body else None
    event_id = clean_id(action.get("id")) if isinstance(action, dict) else None
    if not isinstance(action, dict) or event_id is None:
        raise MalformedPayload("a Trello webhook carries the action, with its id")
    return VerifiedWebhook(event_type=clean_type(action.get("type")), provider_event_id=event_id)


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        kind=SourceKind.TWILIO,
        signs_url=True,
        name="Twilio",
        verifies="HMAC-SHA1 (HMAC-SHA256 under a SharedKey) of the URL plus the sorted form "
        "fields, or of the URL carrying bodySHA256 for a JSON body; base64 in "
        "X-Twilio-Signature; the URL with and without its port",
        docs="https://www.twilio.com/docs/usage/security#validating-requests",
        verifier=_twilio,
        credential="the account's Auth Token (or the SharedKey's secret, under a Webhook Rule)",
    ),
    Provider(
        kind=SourceKind.SQUARE,
        signs_url=True,
        name="Square",
        verifies="HMAC-SHA256 of the notification URL followed by the body, base64 in "
        "x-square-hmacsha256-signature",
        docs="https://developer.squareup.com/docs/webhooks/step3validate",
        verifier=hmac_verifier(
            HmacScheme(
                header="x-square-hmacsha256-signature",
                message=_url_then_body,
                encoding="base64",
            ),
            _square,
        ),
        credential="the webhook subscription's signature key",
        signed_id=True,
        # "Unsuccessful deliveries are retried for up to 24 hours"
        # (https://developer.squareup.com/docs/webhooks/troubleshooting).
        retry_seconds=24 * 3_600,
    ),
    Provider(
        kind=SourceKind.HUBSPOT,
        signs_url=True,
        name="HubSpot (signature v3)",
        verifies="HMAC-SHA256 of method + URI + body + timestamp, base64 in "
        "X-HubSpot-Signature-v3, X-HubSpot-Request-Timestamp (ms) within 5 minutes",
        docs="https://developers.hubspot.com/docs/apps/developer-platform/build-apps/"
        "authentication/request-validation",
        verifier=hmac_verifier(
            HmacScheme(
                header="x-hubspot-signature-v3",
                message=_hubspot_message,
                encoding="base64",
                timestamp_header="x-hubspot-request-timestamp",
                timestamp_format="ms",
                tolerance=300,
            ),
            _hubspot,
        ),
        credential="the app's client secret",
        tolerance=300,
        signed_timestamp=True,
        signed_id=True,
    ),
    Provider(
        kind=SourceKind.TRELLO,
        signs_url=True,
        name="Trello",
        verifies="HMAC-SHA1 of the body followed by the callback URL, base64 in X-Trello-Webhook",
        docs="https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/"
        "#webhook-signatures",
        verifier=hmac_verifier(
            HmacScheme(
                header="x-trello-webhook",
                message=_trello_message,
                algorithm="sha1",
                encoding="base64",
            ),
            _trello,
        ),
        credential="the OAuth secret of the Trello app's API key",
        signed_id=True,
        handshake="HEAD to the callback URL when a webhook is created: answered 200",
    ),
)
