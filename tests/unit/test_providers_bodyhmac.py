"""Providers that sign the body only (hookhaven/providers/bodyhmac.py), beyond the checks
every case gets (tests/unit/test_provider_cases.py).

Documented example vectors: none of these providers' documentation publishes a worked
example (a secret, a body and the signature they give). Typeform's, Sentry's, Vercel's,
WooCommerce's and Razorpay's pages show code or pseudocode only; Intercom's shows a signed
request but not the key it was signed with; Bitbucket's shows a placeholder digest; GitLab
signs nothing. Each is covered by its hand-signed case, which follows the documented
algorithm (the page is named beside each signer in tests/provider_cases/bodyhmac.py), and
by the documented payload shapes below.

SDKs: Razorpay is the only one of them with a Python webhook validator (razorpay 2.0,
``Utility.verify_webhook_signature``); it has no signer, so the vector that stands for
"what the SDK signs" is the one in the SDK's own test suite.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from importlib.metadata import version

import pytest
import razorpay  # type: ignore[import-untyped]  # (no stubs; a test dependency)
from razorpay.errors import SignatureVerificationError  # type: ignore[import-untyped]

from hookhaven import catalog
from hookhaven.ingest import Accepted, Challenge, Duplicate, Receiver, SourceDirectory
from hookhaven.memory import MemoryBodyStore, MemoryConfig, MemoryEventStore, MemoryQueue
from hookhaven.models import Source, SourceKind
from hookhaven.tunables import RuntimeTunables
from hookhaven.verification import (
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    VerifiedWebhook,
    verify,
)
from tests.provider_cases import NOW, ProviderCase, source_of
from tests.provider_cases.bodyhmac import (
    PROVIDER_CASES,
    gitlab_token,
    intercom_signature,
    sentry_signature,
    vercel_signature,
    woocommerce_signature,
)

CASES = {case.kind: case for case in PROVIDER_CASES}


def source(kind: str, *secrets: str) -> Source:
    return source_of(kind, *(secrets or (CASES[kind].source_secret,)))


def signed(
    case: ProviderCase,
    body: bytes | None = None,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> InboundRequest:
    """``body`` (the case's by default) signed as the case's provider signs it, with the
    case's headers, then ``headers`` on top and ``drop`` removed."""
    body = case.body if body is None else body
    merged = {k.lower(): v for k, v in case.headers.items()}
    signature = case.sign(body, NOW, key or case.signing_key, case.url)
    merged.update({k.lower(): v for k, v in signature.items()})
    merged.update({k.lower(): v for k, v in (headers or {}).items()})
    for name in drop:
        merged.pop(name.lower(), None)
    return InboundRequest(headers=merged, body=body, url=case.url)


def check(kind: str, request: InboundRequest) -> VerifiedWebhook:
    return verify(source(kind), request, NOW)


def receiver_for(kind: str) -> tuple[Receiver, MemoryEventStore]:
    config = MemoryConfig()
    config.sources[kind] = source(kind)
    events = MemoryEventStore()
    receiver = Receiver(
        directory=SourceDirectory(config, ttl=30, clock=lambda: NOW),
        events=events,
        bodies=MemoryBodyStore(),
        queue=MemoryQueue(),
        settings=RuntimeTunables(inline_body_limit_bytes=4096, max_body_bytes=65536),
        clock=lambda: NOW,
    )
    return receiver, events


# --- the catalog's claims ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "signed_id", "retry"),
    [
        ("typeform", True, None),
        ("intercom", True, None),
        ("bitbucket", False, None),
        ("gitlab", False, None),
        ("sentry", False, None),
        ("vercel", True, None),
        ("woocommerce", False, None),
        ("razorpay", False, 86_400),
    ],
)
def test_what_stops_a_replay_is_the_signed_id_or_the_body_digest(kind, signed_id, retry):
    provider = catalog.provider(SourceKind(kind))
    # None of them signs a timestamp: nothing signed says when.
    assert not provider.signed_timestamp
    assert provider.tolerance is None
    assert provider.signed_id is signed_id
    assert provider.replay == (
        "signed event id, deduplicated" if signed_id else "body digest, deduplicated"
    )
    assert provider.retry_seconds == retry
    assert provider.alias_of is None


def test_gitlab_says_plainly_that_nothing_is_signed():
    provider = catalog.provider(SourceKind.GITLAB)
    assert provider.verifies.startswith("nothing is signed")
    assert "anyone who sees one request can send" in provider.verifies


# --- Razorpay against its SDK (razorpay 2.0) ---------------------------------------------

#: The razorpay SDK's own webhook vector: tests/test_client_utility.py
#: (test_verify_webhook_signature) with tests/mocks/fake_payment_authorized_webhook.json
#: and the test client's key secret, in https://github.com/razorpay/razorpay-python.
RAZORPAY_SDK_SECRET = "key_secret"
RAZORPAY_SDK_SIGNATURE = "d60e67fd884556c045e9be7dad57903e33efc7172c17c6e3ef77db42d2b366e9"
RAZORPAY_SDK_BODY = """{
  "event": "payment.authorized",
  "entity": "event",
  "contains": [
    "payment"
  ],
  "payload": {
    "payment": {
      "entity": {
        "id": "pay_6koWN7bvxujzxM",
        "entity": "payment",
        "amount": 1000000,
        "currency": "INR",
        "status": "captured",
        "order_id": "order_100000000order",
        "international": false,
        "method": "card",
        "amount_refunded": 0,
        "refund_status": null,
        "captured": true,
        "description": "random description",
        "card_id": "card_6koWNAT6LASUqy",
        "bank": null,
        "wallet": null,
        "vpa": null,
        "email": "a@b.com",
        "contact": "+919999999999",
        "notes": {
          "merchant_order_id": "random order id"
        },
        "fee": 23000,
        "service_tax": 3000,
        "error_code": null,
        "error_description": null,
        "created_at": 1479978483
      }
    }
  },
  "created_at": 1400826760
}
"""


def razorpay_sdk_accepts(body: bytes, signature: str, secret: str) -> bool:
    try:
        return bool(razorpay.Utility().verify_webhook_signature(body.decode(), signature, secret))
    except SignatureVerificationError:
        return False


def test_the_razorpay_sdk_is_the_version_these_tests_were_written_for():
    assert version("razorpay").startswith("2.")


def test_the_razorpay_sdks_own_vector_is_accepted_by_both():
    body = RAZORPAY_SDK_BODY.encode()
    assert razorpay_sdk_accepts(body, RAZORPAY_SDK_SIGNATURE, RAZORPAY_SDK_SECRET)
    request = InboundRequest(
        headers={
            "x-razorpay-signature": RAZORPAY_SDK_SIGNATURE,
            "x-razorpay-event-id": "evt_sdk_vector",
            "content-type": "application/json",
        },
        body=body,
    )
    verified = verify(source("razorpay", RAZORPAY_SDK_SECRET), request, NOW)
    assert (verified.event_type, verified.provider_event_id) == (
        "payment.authorized",
        "evt_sdk_vector",
    )
    assert not verified.id_signed
    # The vector's body includes its final newline: without it, both refuse.
    trimmed = body.rstrip(b"\n")
    assert not razorpay_sdk_accepts(trimmed, RAZORPAY_SDK_SIGNATURE, RAZORPAY_SDK_SECRET)
    with pytest.raises(InvalidSignature):
        verify(
            source("razorpay", RAZORPAY_SDK_SECRET),
            InboundRequest(headers=request.headers, body=trimmed),
            NOW,
        )


def test_the_razorpay_sdk_accepts_hookhavens_case_and_refuses_what_hookhaven_refuses():
    case = CASES["razorpay"]
    request = signed(case)
    signature = request.headers["x-razorpay-signature"]
    assert razorpay_sdk_accepts(case.body, signature, case.source_secret)
    assert check("razorpay", request).event_type == "payment.captured"
    # A changed body (the amount), another secret: both refuse. Razorpay signs no
    # timestamp, so there is no stale request to compare.
    tampered = case.body.replace(b'"amount": 100', b'"amount": 900')
    assert tampered != case.body
    assert not razorpay_sdk_accepts(tampered, signature, case.source_secret)
    with pytest.raises(InvalidSignature):
        check("razorpay", InboundRequest(headers=request.headers, body=tampered))
    assert not razorpay_sdk_accepts(case.body, signature, case.other_signing_key)
    with pytest.raises(InvalidSignature):
        verify(source("razorpay", case.other_signing_key), request, NOW)
    # Signed with the API key secret instead of the webhook secret (Razorpay's FAQ: the
    # usual mistake): both refuse.
    wrong = signed(case, key="rzp_test_key_secret")
    wrong_signature = wrong.headers["x-razorpay-signature"]
    assert not razorpay_sdk_accepts(case.body, wrong_signature, case.source_secret)
    with pytest.raises(InvalidSignature):
        check("razorpay", wrong)


def test_razorpays_event_id_header_is_unsigned_so_a_replay_is_found_by_its_body():
    case = CASES["razorpay"]
    receiver, events = receiver_for("razorpay")
    first = receiver.receive("razorpay", signed(case))
    assert isinstance(first, Accepted)
    again = receiver.receive("razorpay", signed(case, headers={"x-razorpay-event-id": "new"}))
    assert isinstance(again, Duplicate)
    assert again.event_id == first.event_id
    assert len(events.events) == 1


# --- Intercom ----------------------------------------------------------------------------

#: The example signed request of https://developers.intercom.com/intercom-api-reference/
#: v1.0/reference/signed-notifications (its key is not published, so it is re-signed here).
INTERCOM_DOCS_BODY = b"""{
  "type" : "notification_event",
  "id" : "notif_78c122d0-23ba-11e4-9464-79b01267cc2e",
  "topic" : "user.created",
  "app_id" : "a86dr8yl",
  "data" : {
    "type" : "notification_event_data",
    "item" : {
      "type" : "user",
      "id" : "530370b477ad7120001d",
      "user_id" : "25",
      "name" : "Hoban Washburne",
      "unsubscribed_from_emails" : false,
      "custom_attributes" : {}
    }
  }
}"""


def test_intercoms_documented_request_is_read_as_documented():
    case = CASES["intercom"]
    request = signed(case, INTERCOM_DOCS_BODY)
    # The documented header's shape: "sha1=" and 40 hex digits.
    header = request.headers["x-hub-signature"]
    assert header.startswith("sha1=")
    assert len(header) == len("sha1=21ff2e149e0fdcac6f947740f6177f6434bda921")
    verified = check("intercom", request)
    assert verified.event_type == "user.created"
    assert verified.provider_event_id == "notif_78c122d0-23ba-11e4-9464-79b01267cc2e"
    assert verified.id_signed


def test_intercom_is_sha1_with_its_prefix_and_nothing_else():
    case = CASES["intercom"]
    sha256 = hmac.new(case.signing_key.encode(), case.body, hashlib.sha256).hexdigest()
    for header in (
        "sha256=" + sha256,
        intercom_signature(case.body, NOW, case.signing_key, "")["X-Hub-Signature"][5:],
        "sha1 " + intercom_signature(case.body, NOW, case.signing_key, "")["X-Hub-Signature"][5:],
    ):
        with pytest.raises(InvalidSignature):
            check("intercom", signed(case, headers={"x-hub-signature": header}))


def test_an_intercom_retry_is_a_duplicate_of_its_signed_id():
    case = CASES["intercom"]
    receiver, events = receiver_for("intercom")
    first = receiver.receive("intercom", signed(case))
    again = receiver.receive("intercom", signed(case))
    assert isinstance(first, Accepted)
    assert isinstance(again, Duplicate)
    assert len(events.events) == 1


# --- Bitbucket ---------------------------------------------------------------------------


def test_bitbucket_reads_the_event_key_and_the_request_uuid_not_the_hook_uuid():
    case = CASES["bitbucket"]
    verified = check("bitbucket", signed(case))
    assert verified.provider_event_id == case.headers["X-Request-UUID"]
    assert verified.provider_event_id != case.headers["X-Hook-UUID"]
    assert not verified.id_signed
    pull = signed(case, headers={"X-Event-Key": "pullrequest:created"})
    assert check("bitbucket", pull).event_type == "pullrequest:created"


def test_an_authentic_bitbucket_request_without_its_event_key_is_a_bad_request():
    case = CASES["bitbucket"]
    with pytest.raises(MalformedPayload):
        check("bitbucket", signed(case, drop=("X-Event-Key",)))
    # Without the request UUID it is still taken (the body's digest finds duplicates).
    assert check("bitbucket", signed(case, drop=("X-Request-UUID",))).provider_event_id is None


def test_bitbucket_sends_github_style_sha256_under_githubs_sha1_header_name():
    case = CASES["bitbucket"]
    sha1 = hmac.new(case.signing_key.encode(), case.body, hashlib.sha1).hexdigest()
    with pytest.raises(InvalidSignature):
        check("bitbucket", signed(case, headers={"x-hub-signature": "sha1=" + sha1}))


# --- GitLab ------------------------------------------------------------------------------

# Payload shapes from https://docs.gitlab.com/user/project/integrations/webhook_events/.
GITLAB_PUSH = {"object_kind": "push", "event_name": "push", "ref": "refs/heads/main"}
GITLAB_ISSUE = {"object_kind": "issue", "object_attributes": {"id": 301, "action": "open"}}
GITLAB_PIPELINE = {"object_kind": "pipeline", "object_attributes": {"status": "success"}}
GITLAB_SYSTEM_HOOK = {"event_name": "project_create", "name": "StoreCloud"}


@pytest.mark.parametrize(
    ("body", "event_header", "expected"),
    [
        (GITLAB_PUSH, "Push Hook", "push"),
        (GITLAB_ISSUE, "Issue Hook", "issue.open"),
        (GITLAB_PIPELINE, "Pipeline Hook", "pipeline"),
        (GITLAB_SYSTEM_HOOK, "System Hook", "project_create"),
        # A custom webhook template replaces the body: the header names the event.
        ({"text": "templated"}, "Push Hook", "Push_Hook"),
    ],
)
def test_gitlabs_event_type_is_object_kind_and_action(body, event_header, expected):
    case = CASES["gitlab"]
    request = signed(case, json.dumps(body).encode(), headers={"X-Gitlab-Event": event_header})
    assert check("gitlab", request).event_type == expected


def test_gitlabs_id_is_the_idempotency_key_else_the_webhook_uuid_else_the_event_uuid():
    case = CASES["gitlab"]
    ids = ("Idempotency-Key", "X-Gitlab-Webhook-UUID", "X-Gitlab-Event-UUID")
    for dropped in range(len(ids)):
        verified = check("gitlab", signed(case, drop=ids[:dropped]))
        assert verified.provider_event_id == case.headers[ids[dropped]]
        assert not verified.id_signed
    assert check("gitlab", signed(case, drop=ids)).provider_event_id is None


def test_gitlabs_token_must_match_whole():
    case = CASES["gitlab"]
    token = case.signing_key
    for wrong in (token[:-1], token + "x", token.upper(), " ", token[1:]):
        with pytest.raises(InvalidSignature):
            check("gitlab", signed(case, headers={"X-Gitlab-Token": wrong}))
    assert check("gitlab", signed(case)).event_type == "merge_request.open"


def test_gitlab_signs_nothing_so_only_the_body_digest_stops_a_replay():
    """What the README warns of: the token authenticates any body, and the ids are
    unsigned headers, so a replay under a fresh Idempotency-Key is found by its body."""
    case = CASES["gitlab"]
    forged = gitlab_token(b'{"object_kind":"push"}', NOW, case.signing_key, "")
    request = InboundRequest(
        headers={k.lower(): v for k, v in forged.items()}, body=b'{"object_kind":"push"}'
    )
    assert check("gitlab", request).event_type == "push"  # accepted: nothing is signed

    receiver, events = receiver_for("gitlab")
    first = receiver.receive("gitlab", signed(case))
    again = receiver.receive(
        "gitlab",
        signed(
            case,
            headers={
                "Idempotency-Key": "11111111-2222-3333-4444-555555555555",
                "X-Gitlab-Webhook-UUID": "66666666-7777-8888-9999-000000000000",
            },
        ),
    )
    assert isinstance(first, Accepted)
    assert isinstance(again, Duplicate)
    assert again.event_id == first.event_id
    assert len(events.events) == 1


# --- Sentry ------------------------------------------------------------------------------


def test_sentry_joins_the_resource_header_and_the_body_action():
    case = CASES["sentry"]
    installation = json.dumps(
        {"action": "created", "installation": {"uuid": "a8e5d37a"}, "data": {}}
    ).encode()
    request = signed(case, installation, headers={"Sentry-Hook-Resource": "installation"})
    assert check("sentry", request).event_type == "installation.created"
    no_action = signed(case, b'{"data": {}}')
    assert check("sentry", no_action).event_type == "issue"


def test_sentrys_timestamp_is_not_signed_so_it_is_not_checked():
    case = CASES["sentry"]
    stale = signed(case, headers={"Sentry-Hook-Timestamp": str(int(NOW) - 86_400 * 30)})
    assert check("sentry", stale).event_type == "issue.created"
    assert check("sentry", signed(case, drop=("Sentry-Hook-Timestamp",))).event_type
    assert "Sentry-Hook-Timestamp" not in case.signature_headers


def test_an_authentic_sentry_request_without_its_resource_is_a_bad_request():
    case = CASES["sentry"]
    with pytest.raises(MalformedPayload):
        check("sentry", signed(case, drop=("Sentry-Hook-Resource",)))


def test_sentry_signs_the_raw_body_not_a_reserialisation():
    # The docs' snippet hashes JSON.stringify(request.body); Sentry signs the string it
    # sends (AppPlatformEvent.body). A compact re-serialisation of this body differs, and
    # its signature does not verify the body as sent.
    case = CASES["sentry"]
    compact = json.dumps(json.loads(case.body), separators=(",", ":")).encode()
    assert compact != case.body
    other = sentry_signature(compact, NOW, case.signing_key, "")["Sentry-Hook-Signature"]
    with pytest.raises(InvalidSignature):
        check("sentry", signed(case, headers={"Sentry-Hook-Signature": other}))


# --- Vercel ------------------------------------------------------------------------------


def test_vercel_is_hex_hmac_sha1():
    case = CASES["vercel"]
    header = vercel_signature(case.body, NOW, case.signing_key, "")["x-vercel-signature"]
    assert len(header) == 40
    sha256 = hmac.new(case.signing_key.encode(), case.body, hashlib.sha256).hexdigest()
    with pytest.raises(InvalidSignature):
        check("vercel", signed(case, headers={"x-vercel-signature": sha256}))
    with pytest.raises(InvalidSignature):
        check("vercel", signed(case, headers={"x-vercel-signature": "sha1=" + header}))


# --- WooCommerce -------------------------------------------------------------------------


def test_woocommerces_ping_is_answered_200_and_not_recorded():
    # WC_Webhook::deliver_ping posts "webhook_id=<id>" unsigned, without topic headers,
    # and leaves the webhook pending unless the answer is exactly 200.
    ping = InboundRequest(
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "user-agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)",
        },
        body=b"webhook_id=142",
    )
    verified = check("woocommerce", ping)
    assert verified.answer is not None
    assert (verified.answer.status, verified.answer.body) == (200, "")
    receiver, events = receiver_for("woocommerce")
    answered = receiver.receive("woocommerce", ping)
    assert isinstance(answered, Challenge)
    assert answered.answer.status == 200
    assert events.events == {}
    assert events.dedupe == {}


@pytest.mark.parametrize(
    "body",
    [
        b"webhook_id=",
        b"webhook_id=142&topic=order.created",
        b"webhook_id=abc",
        b"webhook_id=142\n",
        b" webhook_id=142",
        b'{"webhook_id": 142}',
        b"webhook_id=" + b"1" * 21,
    ],
)
def test_only_the_exact_ping_goes_unsigned(body):
    with pytest.raises(InvalidSignature):
        check("woocommerce", InboundRequest(headers={}, body=body))


def test_a_ping_with_a_wrong_signature_is_refused_and_a_signed_one_answered():
    case = CASES["woocommerce"]
    with pytest.raises(InvalidSignature):
        check(
            "woocommerce",
            InboundRequest(headers={"x-wc-webhook-signature": "bm9wZQ=="}, body=b"webhook_id=1"),
        )
    # A ping some plugin signs (woocommerce_webhook_http_args) has no topic: a bad request.
    signed_ping = woocommerce_signature(b"webhook_id=1", NOW, case.signing_key, "")
    with pytest.raises(MalformedPayload):
        check(
            "woocommerce",
            InboundRequest(
                headers={k.lower(): v for k, v in signed_ping.items()}, body=b"webhook_id=1"
            ),
        )


def test_woocommerce_reads_the_delivery_id_under_either_name():
    case = CASES["woocommerce"]
    documented = signed(
        case, drop=("X-WC-Webhook-Delivery-ID",), headers={"X-WC-Delivery-ID": "d-17"}
    )
    assert check("woocommerce", documented).provider_event_id == "d-17"
    assert (
        check("woocommerce", signed(case, drop=("X-WC-Webhook-Delivery-ID",))).provider_event_id
        is None
    )


def test_an_authentic_woocommerce_delivery_without_its_topic_is_a_bad_request():
    case = CASES["woocommerce"]
    with pytest.raises(MalformedPayload):
        check("woocommerce", signed(case, drop=("X-WC-Webhook-Topic",)))
