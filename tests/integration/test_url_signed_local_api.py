"""The URL a provider signs, end to end: a real HTTP client posts to the local stack's
HTTP API (on 127.0.0.1) a request that twilio-python's RequestValidator signed for the URL
that server serves; the receiver rebuilds that URL from the HTTP API event (scheme, Host,
path and query) and accepts it, and refuses a signature made for any other URL. Trello's
HEAD check of its callback URL is answered there too. One server for the module."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from moto import mock_aws
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from functions.receiver import ReceiverFunction
from hookhaven import wiring
from hookhaven.local.api import LocalApi
from hookhaven.local.iam import Policy
from hookhaven.local.provision import provision
from hookhaven.models import Secret, Source, SourceKind
from hookhaven.permissions import Role
from hookhaven.tunables import Tunables
from tests.conftest import AWS_ENVIRONMENT, function_logs
from tests.integration.helpers import config
from tests.provider_cases.urlsigned import form_fields

TWILIO_TOKEN = "7c1e9a3f5b2d4c6e8a0b1d3f5e7a9c2b"
TRELLO_SECRET = "3e5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a"


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApi]:
    """The local HTTP API in front of a receiver (under mock_aws, as deployed: its IAM
    policy enforced), with a twilio and a trello source."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_ENVIRONMENT.items():
            patch.setenv(name, value)
        with mock_aws():
            tunables = Tunables()
            resources = provision(
                dynamodb=boto3.client("dynamodb"),
                sqs=boto3.client("sqs"),
                s3=boto3.client("s3"),
                tunables=tunables,
            )
            now = time.time()
            for kind, secret in (("twilio", TWILIO_TOKEN), ("trello", TRELLO_SECRET)):
                config(resources).put_source(
                    Source(
                        name=kind,
                        kind=SourceKind(kind),
                        secrets=(Secret(value=secret, created_at=now),),
                        created_at=now,
                        updated_at=now,
                    )
                )
            settings = wiring.FunctionSettings.of(
                tunables.model_copy(update={"source_cache_seconds": 0}),
                replace(resources, dead_letter_queue_url=None),
            )
            policy = Policy(
                Role.RECEIVER, resources, customer_managed_key=tunables.customer_managed_key
            )
            clients = wiring.AwsClients.create(wiring.RECEIVER_CLIENT_CONFIG).wrapped(policy.attach)
            function = ReceiverFunction(wiring.build_receiver(settings, clients))

            def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
                with function_logs():
                    return function.handler(event, context)

            server = LocalApi(handler, port=0).start()
            try:
                yield server
            finally:
                server.stop()
            assert not policy.denied, policy.denied


def call(
    api: LocalApi, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", api.server.server_address[1], timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


PATH = "/webhooks/twilio?tenant=bookhaven&tag=a%20b"
FORM = urlencode(
    {
        "AccountSid": "AC11111111111111111111111111111111",
        "From": "+14155550100",
        "MessageSid": "SM22222222222222222222222222222222",
        "MessageStatus": "delivered",
        "To": "+14155550111",
    }
).encode()


def twilio_headers(signed_for: str, body: bytes = FORM) -> dict[str, str]:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(signed_for, form_fields(body))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
        "I-Twilio-Idempotency-Token": "idem-1",
    }


def test_twilio_signed_for_the_served_url_is_accepted(api: LocalApi):
    # What Twilio calls, as the server serves it: http, 127.0.0.1 and its port, the query.
    status, answer, _ = call(api, "POST", PATH, FORM, twilio_headers(api.url + PATH))
    assert status == 202, answer
    first = json.loads(answer)["id"]
    # The same request again (Twilio's retry): a duplicate, found by the body's digest.
    status, answer, _ = call(api, "POST", PATH, FORM, twilio_headers(api.url + PATH))
    assert (status, json.loads(answer)) == (200, {"id": first, "duplicate": True})


@pytest.mark.parametrize(
    "signed_for",
    [
        "https://hooks.example.com" + PATH,  # another host (a proxy's, say)
        "https://{host}" + PATH,  # the same host and port, another scheme
        "{url}/webhooks/twilio",  # without the query
        "{url}/relay" + PATH,  # under a path the request did not come through
    ],
)
def test_twilio_signed_for_another_url_is_refused(api: LocalApi, signed_for: str):
    url = signed_for.format(url=api.url, host=api.url.removeprefix("http://"))
    body = FORM.replace(b"delivered", b"undelivered")
    status, answer, _ = call(api, "POST", PATH, body, twilio_headers(url, body))
    assert status == 401, answer
    assert json.loads(answer)["error"] == "invalid_signature"


def test_twilio_json_is_covered_by_the_served_urls_body_sha256(api: LocalApi):
    body = json.dumps({"type": "com.twilio.messaging.message.read"}).encode()
    path = f"/webhooks/twilio?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(api.url + path, {})
    headers = {"Content-Type": "application/json", "X-Twilio-Signature": signature}
    status, answer, _ = call(api, "POST", path, body, headers)
    assert status == 202, answer
    status, answer, _ = call(api, "POST", path, body + b" ", headers)
    assert status == 401, answer


def test_trello_checks_its_callback_url_with_head_then_posts(api: LocalApi):
    status, answer, headers = call(api, "HEAD", "/webhooks/trello")
    assert (status, answer) == (200, b"")
    status, answer, _ = call(api, "HEAD", "/webhooks/nope")
    assert (status, answer) == (404, b"")
    status, answer, headers = call(api, "GET", "/webhooks/trello")
    assert status == 405
    assert headers["allow"] == "HEAD, POST"
    body = json.dumps({"action": {"id": "5f2b8c9d0e1f2a3b4c5d6e7f", "type": "createCard"}})
    signed = body.encode() + f"{api.url}/webhooks/trello".encode()
    digest = hmac.new(TRELLO_SECRET.encode(), signed, hashlib.sha1).digest()
    signature = base64.b64encode(digest).decode()
    headers = {"Content-Type": "application/json", "X-Trello-Webhook": signature}
    status, answer, _ = call(api, "POST", "/webhooks/trello", body.encode(), headers)
    assert status == 202, answer
