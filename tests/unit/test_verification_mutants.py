"""What mutation testing (``make mutate``) found that no test pinned in the built-in kinds'
verifiers (hookhaven/verification.py) and the signature primitives (hookhaven/signatures.py).

Each test asserts what the provider documents, what its own SDK does, or what hookhaven
documents it answers; the comment above each names the mutants it kills. Requests are
signed by the providers' SDKs where they publish one (tests/providers.py), else by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import stripe
from slack_sdk.signature import Clock, SignatureVerifier
from standardwebhooks.webhooks import Webhook as StandardWebhook

from hookhaven import catalog, verification
from hookhaven.models import FieldRef, HmacOptions, Secret, Source, SourceKind
from hookhaven.signatures import (
    STANDARD_SECRET_PREFIX,
    is_standard_secret,
    new_standard_secret,
    standard_secret_key,
)
from hookhaven.verification import (
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    VerifiedWebhook,
    clean_id,
    clean_type,
    verify,
)
from tests.provider_cases import CASES, ProviderCase
from tests.providers import SECRETS, github_signature, shopify_signature, signature_headers
from tests.unit import test_provider_cases as case_tests
from tests.unit import test_verifier_edges as edge_tests

NOW = 1_795_881_600.0
FORM = "application/x-www-form-urlencoded"


def source(kind: str, *secrets: str, options: HmacOptions | None = None) -> Source:
    return Source(
        name=kind,
        kind=SourceKind(kind),
        secrets=tuple(Secret(value=v, created_at=NOW - 100) for v in secrets or (SECRETS[kind],)),
        hmac=options,
        created_at=NOW - 100,
        updated_at=NOW - 100,
    )


def signed(kind: str, body: bytes, *, at: float = NOW, **headers: str) -> InboundRequest:
    """``body`` signed at ``at`` as the provider signs it (tests/providers.py: the
    provider's SDK where there is one), with ``headers`` beside the signature."""
    extra = {k.replace("_", "-").lower(): v for k, v in headers.items()}
    signature = signature_headers(kind, SECRETS[kind], body, at)
    return InboundRequest({**extra, **{k.lower(): v for k, v in signature.items()}}, body)


def slack(body: bytes, *, at: float = NOW, form: bool = False) -> InboundRequest:
    return signed("slack", body, at=at, content_type=FORM if form else "application/json")


def verify_as(kind: str, request: InboundRequest, now: float = NOW) -> VerifiedWebhook:
    return verify(source(kind), request, now)


# --- verify(): the first request of a process ----------------------------------------------


# Kills: `if verifier is not None`, caching None, and looking up verifier_for(None) (every
# other test runs with the cache already filled).
def test_the_first_request_of_a_process_finds_its_verifier_in_the_catalog(monkeypatch):
    monkeypatch.setattr(verification, "_VERIFIERS", {})
    body = b'{"id":"evt_1","type":"charge.succeeded"}'
    verified = verify_as("stripe", signed("stripe", body))
    assert (verified.event_type, verified.provider_event_id) == ("charge.succeeded", "evt_1")
    # ... and so does the next one, from the cache.
    assert verify_as("stripe", signed("stripe", body)).provider_event_id == "evt_1"
    assert verification._VERIFIERS[SourceKind.STRIPE] is catalog.verifier_for(SourceKind.STRIPE)


# --- the tolerance, at its edge ------------------------------------------------------------


# Kills `>=` for `>` in _timestamp. Slack: "If the difference ... is more than five minutes";
# Stripe's and Standard Webhooks' SDKs refuse only a timestamp beyond the tolerance.
@pytest.mark.parametrize("kind", ["standard", "stripe", "slack"])
@pytest.mark.parametrize("offset", [-300, 300])
def test_a_timestamp_exactly_five_minutes_off_is_accepted(kind, offset):
    body = b'{"id":"evt_1","type":"order.created","event_id":"Ev1"}'
    verify_as(kind, signed(kind, body, at=NOW + offset))
    with pytest.raises(InvalidSignature):
        verify_as(kind, signed(kind, body, at=NOW + offset + (1 if offset > 0 else -1)))


class _At(Clock):
    """slack_sdk's verifier asks its clock for the time."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def test_slack_sdk_and_hookhaven_agree_at_the_edge_of_five_minutes():
    body = b'{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}'
    for offset, valid in ((-300, True), (300, True), (-301, False), (301, False)):
        request = slack(body, at=NOW + offset)
        sdk = SignatureVerifier(SECRETS["slack"], clock=_At(NOW))
        headers = request.headers
        sdk_valid = sdk.is_valid(
            body, headers["x-slack-request-timestamp"], headers["x-slack-signature"]
        )
        assert sdk_valid is valid
        if valid:
            verify_as("slack", request)
        else:
            with pytest.raises(InvalidSignature):
                verify_as("slack", request)


def test_stripe_sdk_and_hookhaven_agree_on_a_timestamp_five_minutes_old(monkeypatch):
    # The Stripe SDK reads time.time(); hold it at NOW.
    monkeypatch.setattr("stripe._webhook.time", SimpleNamespace(time=lambda: NOW))
    body = b'{"id":"evt_1","type":"charge.succeeded"}'
    for age, valid in ((300, True), (301, False)):
        request = signed("stripe", body, at=NOW - age)
        header = request.headers["stripe-signature"]
        if valid:
            stripe.WebhookSignature.verify_header(body.decode(), header, SECRETS["stripe"], 300)
            verify_as("stripe", request)
        else:
            with pytest.raises(stripe.SignatureVerificationError):
                stripe.WebhookSignature.verify_header(body.decode(), header, SECRETS["stripe"], 300)
            with pytest.raises(InvalidSignature):
                verify_as("stripe", request)


# --- Standard Webhooks ---------------------------------------------------------------------


# Kills split(None) for split(" "): the specification's list is space-delimited, and its
# SDK splits on " " only; signatures joined by a tab are not a list to either.
def test_standard_signatures_joined_by_a_tab_are_refused_as_by_the_sdk():
    body = b'{"type":"order.created"}'
    secret = SECRETS["standard"]
    when = datetime.fromtimestamp(NOW, UTC)
    genuine = StandardWebhook(secret).sign("msg_1", when, body.decode())
    other = StandardWebhook(new_standard_secret()).sign("msg_1", when, body.decode())
    for joined in (f"{other}\t{genuine}", f"{genuine}\t{other}"):
        headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(NOW))}
        headers["webhook-signature"] = joined
        with pytest.raises(Exception):  # noqa: B017, PT011 (the SDK raises ValueError here)
            StandardWebhook(secret).verify(body, headers)
        with pytest.raises(InvalidSignature):
            verify(source("standard"), InboundRequest(headers, body), NOW)
    # Joined by a space, as the specification says: accepted.
    headers["webhook-signature"] = f"{other} {genuine}"
    verify(source("standard"), InboundRequest(headers, body), NOW)


# Kills `break` for `continue`: a secret that is not whsec_ base64 matches nothing, and the
# source's other secrets are still tried.
def test_a_secret_that_is_not_base64_does_not_stop_the_others_from_matching():
    body = b'{"type":"order.created"}'
    request = signed("standard", body)
    for secrets in (("whsec_not base64!", SECRETS["standard"]), ("%%%", SECRETS["standard"])):
        assert verify(source("standard", *secrets), request, NOW).event_type == "order.created"
    with pytest.raises(InvalidSignature):
        verify(source("standard", "whsec_not base64!"), request, NOW)


# Kills `value if isinstance(value, dict) or True else None` in _json_object: a signed body
# that is JSON but not an object has no type; it is not a crash.
@pytest.mark.parametrize("body", [b"[1, 2]", b'"order.created"', b"42", b"null"])
def test_a_standard_body_that_is_json_but_not_an_object_has_an_unknown_type(body):
    verified = verify_as("standard", signed("standard", body))
    assert verified.event_type == "unknown"
    assert verified.provider_event_id == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


# --- Stripe --------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"[]", b'["evt_1"]', b'"evt_1"'])
def test_a_stripe_body_that_is_json_but_not_an_object_is_a_bad_request(body):
    # Stripe's events are JSON objects with an id and a type: 400, not a crash.
    with pytest.raises(MalformedPayload):
        verify_as("stripe", signed("stripe", body))


# --- GitHub --------------------------------------------------------------------------------


def _github(body: bytes, **headers: str) -> InboundRequest:
    return InboundRequest(
        {
            "x-hub-signature-256": github_signature(SECRETS["github"], body),
            "x-github-event": "issues",
            "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            **headers,
        },
        body,
    )


# Kills `or` for `and` in the action test: the type is X-GitHub-Event, plus ".action" only
# when the payload names an action (a non-empty string).
@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"action": "opened"}, "issues.opened"),
        ({"action": ""}, "issues"),
        ({"action": 5}, "issues"),
        ({"action": ["opened"]}, "issues"),
        ({"zen": "Keep it logically awesome."}, "issues"),
    ],
)
def test_the_github_type_is_the_event_and_the_action_the_payload_names(payload, expected):
    assert verify_as("github", _github(json.dumps(payload).encode())).event_type == expected


# --- Slack ---------------------------------------------------------------------------------


# Kills the url_verification type's string mutants.
def test_slack_url_verification_is_typed_url_verification_and_records_nothing():
    body = json.dumps({"token": "t", "challenge": "3eZbrw1aBm2", "type": "url_verification"})
    verified = verify_as("slack", slack(body.encode()))
    assert verified.event_type == "url_verification"
    assert verified.provider_event_id is None
    assert verified.answer is not None
    assert verified.answer.body == "3eZbrw1aBm2"


# Kills the mutants of the envelope's own type: app_rate_limited is sent as is, not in an
# event_callback (api.slack.com/apis/events-api#rate_limiting).
def test_a_slack_envelope_other_than_event_callback_is_typed_by_its_own_type():
    body = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "type": "app_rate_limited",
        "team_id": "T123456",
        "minute_rate_limited": 1518467820,
        "api_app_id": "A123456",
    }
    verified = verify_as("slack", slack(json.dumps(body).encode()))
    assert verified.event_type == "app_rate_limited"
    assert verified.provider_event_id is None


# Kills `or` for `and` in `type == "event_callback" and isinstance(event, dict)`.
def test_an_event_callback_without_its_event_is_typed_as_the_envelope():
    for event in (None, "app_mention", ["app_mention"]):
        body: dict[str, object] = {"type": "event_callback", "event_id": "Ev1", "event": event}
        verified = verify_as("slack", slack(json.dumps(body).encode()))
        assert (verified.event_type, verified.provider_event_id) == ("event_callback", "Ev1")
    # An envelope of another type whose "event" is an object is still typed by the envelope.
    body = {"type": "app_rate_limited", "event": {"type": "app_mention"}}
    assert verify_as("slack", slack(json.dumps(body).encode())).event_type == "app_rate_limited"


# Kills the trigger_id fallback's mutants for JSON bodies: without an event_id, the id is
# the trigger_id.
def test_a_slack_json_body_without_an_event_id_is_identified_by_its_trigger_id():
    body = {"type": "shortcut", "trigger_id": "944799105734.773906753841.38b5894552bdd4a7"}
    verified = verify_as("slack", slack(json.dumps(body).encode()))
    assert verified.provider_event_id == "944799105734.773906753841.38b5894552bdd4a7"
    body["event_id"] = "Ev1"
    assert verify_as("slack", slack(json.dumps(body).encode())).provider_event_id == "Ev1"


def _interaction(payload: Mapping[str, object]) -> InboundRequest:
    return slack(b"payload=" + quote(json.dumps(payload)).encode(), form=True)


# Kills the action_ts fallback's mutants: an interactive_message (legacy attachments)
# carries action_ts; its id is the trigger_id when there is one, else the action_ts.
def test_a_slack_interaction_without_a_trigger_id_is_identified_by_its_action_ts():
    payload = {"type": "interactive_message", "callback_id": "wopr", "action_ts": "1458170917.1"}
    verified = verify_as("slack", _interaction(payload))
    assert (verified.event_type, verified.provider_event_id) == (
        "interactive_message",
        "1458170917.1",
    )
    assert verified.empty_answer
    payload["trigger_id"] = "13345224609.738474920.8088930838d88f008e0"
    assert verify_as("slack", _interaction(payload)).provider_event_id == payload["trigger_id"]


# Kills the mutants of `"payload" in form` in _slash_command and of keep_blank_values in
# _form: a form that carries a payload field (even blank) is an interaction, not a command.
@pytest.mark.parametrize("payload", ["", "%7B%22type%22%3A%22block_actions%22%7D"])
def test_a_slack_form_with_a_payload_is_never_a_slash_command(payload):
    body = f"payload={payload}&command=%2Fweather&trigger_id=1.2.3".encode()
    if payload:
        verified = verify_as("slack", slack(body, form=True))
        assert verified.event_type == "block_actions"
    else:
        with pytest.raises(MalformedPayload):
            verify_as("slack", slack(body, form=True))


# Kills `form.get("trigger_id", None)[0]` and the argument's removal: a slash command
# without a trigger_id is accepted (deduplicated on its body), not a crash.
def test_a_slash_command_without_a_trigger_id_is_accepted_without_an_id():
    verified = verify_as("slack", slack(b"command=%2Fweather&text=94070", form=True))
    assert (verified.event_type, verified.provider_event_id) == ("slash_command/weather", None)
    assert verified.empty_answer


# --- a signature cut or lengthened to a length that still decodes -------------------------

ENCODING = {
    "standard": "base64",
    "stripe": "hex",
    "github": "hex",
    "shopify": "base64",
    "slack": "hex",
    "hmac": "hex",
}


def _resized(signature: str, encoding: str) -> list[str]:
    """The digest cut to nothing, a byte, half and all but a byte; or a byte longer, or
    twice over: each encoded as the genuine one is, so that each decodes."""
    raw = bytes.fromhex(signature) if encoding == "hex" else base64.b64decode(signature)
    sizes = [raw[:n] for n in (0, 1, len(raw) // 2, len(raw) - 1)] + [raw + b"\0", raw + raw]
    return [d.hex() if encoding == "hex" else base64.b64encode(d).decode() for d in sizes]


# A comparison that accepts a start of the digest, or as many bytes as the shorter has, would
# accept these; the truncations in test_verifier_edges.py mostly are not valid base64, so
# they never reach the comparison for base64 kinds (Shopify's: tests/unit/test_known_gaps.py).
@pytest.mark.parametrize("kind", list(ENCODING))
def test_a_signature_cut_or_lengthened_to_a_length_that_still_decodes_is_refused(kind):
    scheme = edge_tests.BY_KIND[kind]
    genuine = scheme.sign(edge_tests.JSON_BODY)
    assert edge_tests.accepted(scheme, scheme.single(scheme.prefix + genuine, edge_tests.JSON_BODY))
    for resized in _resized(genuine, ENCODING[kind]):
        request = scheme.single(scheme.prefix + resized, edge_tests.JSON_BODY)
        assert not edge_tests.accepted(scheme, request), resized


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_named_provider_s_signature_cut_short_is_refused_at_every_length(case: ProviderCase):
    """Cut by one to eight characters: a base64 digest is valid base64 again every four."""
    name = case.signature_headers[0].lower()
    genuine = case_tests.request(case).headers[name]
    for cut in range(1, 9):
        with pytest.raises(InvalidSignature):
            verify(
                case_tests.source(case),
                case_tests.request(case, change={name: genuine[:-cut]}),
                NOW,
            )


# --- the generic hmac kind -----------------------------------------------------------------


def _hmac(options: HmacOptions, body: bytes, signature: str, **headers: str) -> VerifiedWebhook:
    request = InboundRequest({options.header: signature, **headers}, body)
    return verify(source("hmac", options=options), request, NOW)


def _digest(algorithm: str, body: bytes) -> bytes:
    return hmac.new(SECRETS["hmac"].encode(), body, getattr(hashlib, algorithm)).digest()


# Kills the encoding test's `or True` and `_unbase64(None)`: a base64 source.
def test_an_hmac_source_in_base64_accepts_base64_and_refuses_hex():
    options = HmacOptions(header="x-signature", encoding="base64")
    body = b'{"id":"dlv_1"}'
    _hmac(options, body, base64.b64encode(_digest("sha256", body)).decode())
    with pytest.raises(InvalidSignature):
        _hmac(options, body, _digest("sha256", body).hex())


# Kills the algorithm argument's removal: sha1 and sha512 sources.
@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_an_hmac_source_uses_its_configured_hash(algorithm):
    options = HmacOptions(header="x-signature", algorithm=algorithm)
    body = b'{"id":"dlv_1"}'
    _hmac(options, body, _digest(algorithm, body).hex())
    for other in {"sha1", "sha256", "sha512"} - {algorithm}:
        with pytest.raises(InvalidSignature):
            _hmac(options, body, _digest(other, body).hex())


# Kills every mutant of id_signed: only an id read from the signed body is signed.
@pytest.mark.parametrize(
    ("id_from", "expected_id", "id_signed"),
    [
        ("field:id", "dlv_1", True),
        ("header:x-delivery-id", "hdr_1", False),
        (None, None, False),
    ],
)
def test_an_hmac_id_is_signed_only_when_it_comes_from_the_body(id_from, expected_id, id_signed):
    options = HmacOptions(
        header="x-signature", id_from=FieldRef.parse(id_from) if id_from else None
    )
    body = b'{"id":"dlv_1"}'
    verified = _hmac(options, body, _digest("sha256", body).hex(), **{"x-delivery-id": "hdr_1"})
    assert verified.provider_event_id == expected_id
    assert verified.id_signed is id_signed


# Kills clean_id's int mutants (and bool's): a numeric id is the number's text; a boolean is
# no id.
@pytest.mark.parametrize(
    ("value", "expected"), [(820982911946154508, "820982911946154508"), (0, "0"), (True, None)]
)
def test_a_numeric_id_is_read_as_its_digits(value, expected):
    options = HmacOptions(header="x-signature", id_from=FieldRef.parse("field:id"))
    body = json.dumps({"id": value}).encode()
    assert _hmac(options, body, _digest("sha256", body).hex()).provider_event_id == expected
    assert clean_id(value) == expected


# Kills `>=` for `>` in clean_id: 256 characters is the longest id kept.
def test_an_id_of_256_characters_is_kept_and_257_is_a_bad_request():
    assert clean_id("e" * 256) == "e" * 256
    with pytest.raises(MalformedPayload):
        clean_id("e" * 257)


# Kills the replacement's mutants: each unsafe character becomes one "_".
def test_unsafe_characters_in_a_type_become_underscores():
    assert clean_type("order created") == "order_created"
    assert clean_type(" order.created\r\nx-evil: 1 ") == "order.created__x-evil:_1"
    assert clean_type("commande/créée") == "commande/cr__e"


# --- what a 400 says -----------------------------------------------------------------------


def _shopify() -> InboundRequest:
    body = b'{"id":820982911946154508}'
    headers = {
        "x-shopify-hmac-sha256": shopify_signature(SECRETS["shopify"], body),
        "x-shopify-topic": "orders/create",
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }
    return InboundRequest(headers, body)


def _without(request: InboundRequest, name: str) -> InboundRequest:
    return InboundRequest({k: v for k, v in request.headers.items() if k != name}, request.body)


# Kills the message mutants of MalformedPayload: an authentic request that breaks the
# provider's convention is answered 400 with what it lacks (README, "What the endpoint
# answers"); the sender reads that message.
@pytest.mark.parametrize(
    ("kind", "request_", "message"),
    [
        (
            "stripe",
            signed("stripe", b'{"type":"charge.succeeded"}'),
            "a Stripe event is a JSON object with an id and a type",
        ),
        (
            "github",
            _without(_github(b"{}"), "x-github-event"),
            "GitHub deliveries carry X-GitHub-Event",
        ),
        (
            "github",
            _without(_github(b"{}"), "x-github-delivery"),
            "GitHub deliveries carry X-GitHub-Delivery",
        ),
        (
            "shopify",
            _without(_shopify(), "x-shopify-topic"),
            "Shopify webhooks carry X-Shopify-Topic",
        ),
        (
            "shopify",
            _without(_shopify(), "x-shopify-webhook-id"),
            "Shopify webhooks carry X-Shopify-Webhook-Id",
        ),
        (
            "slack",
            slack(b"team_id=T1&text=hello", form=True),
            "a Slack request body is JSON, a form with a JSON payload, or a slash command",
        ),
        (
            "slack",
            slack(b'{"type":"url_verification"}'),
            "url_verification without a challenge",
        ),
        (
            "slack",
            slack(b"command=weather&trigger_id=1.2.3", form=True),
            "a Slack slash command starts with /",
        ),
        # A blank command is a command that does not start with /, not a form of no kind.
        (
            "slack",
            slack(b"command=&trigger_id=1.2.3", form=True),
            "a Slack slash command starts with /",
        ),
        (
            "stripe",
            signed("stripe", json.dumps({"id": "e" * 257, "type": "charge.succeeded"}).encode()),
            "the provider event id is longer than 256 characters",
        ),
    ],
)
def test_an_authentic_request_that_breaks_the_convention_is_told_what_it_lacks(
    kind, request_, message
):
    with pytest.raises(MalformedPayload) as raised:
        verify_as(kind, request_)
    assert str(raised.value) == message


# --- Standard Webhooks secrets -------------------------------------------------------------


def _secret(size: int) -> str:
    return STANDARD_SECRET_PREFIX + base64.b64encode(bytes(range(size))).decode()


# Kills the bounds' mutants in new_standard_secret and token_bytes(None): the
# specification's secrets are 24 to 64 random bytes.
@pytest.mark.parametrize("size", [24, 32, 64])
def test_a_new_secret_has_the_random_bytes_asked_for(size):
    secret = new_standard_secret(size)
    assert secret.startswith("whsec_")
    assert len(standard_secret_key(secret)) == size
    assert is_standard_secret(secret)
    assert new_standard_secret(size) != secret


@pytest.mark.parametrize("size", [0, 23, 65])
def test_a_new_secret_of_another_size_is_refused(size):
    with pytest.raises(ValueError):  # noqa: PT011 (the message is for the programmer)
        new_standard_secret(size)


# Kills is_standard_secret's mutants (it had no test among the verifiers').
@pytest.mark.parametrize(
    ("secret", "standard"),
    [
        (_secret(24), True),
        (_secret(64), True),
        (_secret(23), False),
        (_secret(65), False),
        (_secret(32).removeprefix("whsec_"), False),  # base64 of 32 bytes, no whsec_
        ("whsec_", False),
        ("whsec_not base64!", False),
        # A character outside base64 in an otherwise good secret: not a secret that the
        # specification's base64 makes, though a lenient decoder would skip it.
        (_secret(32)[:12] + "$" + _secret(32)[12:], False),
    ],
)
def test_what_is_a_standard_webhooks_secret(secret, standard):
    assert is_standard_secret(secret) is standard


# Kills validate=False (and its removal): a whsec_ secret is decoded strictly.
def test_a_whsec_secret_with_a_character_outside_base64_has_no_key():
    with pytest.raises(ValueError):  # noqa: PT011 (every caller reads only that it raised)
        standard_secret_key(_secret(32)[:12] + "$" + _secret(32)[12:])
    assert standard_secret_key(_secret(32)) == bytes(range(32))
