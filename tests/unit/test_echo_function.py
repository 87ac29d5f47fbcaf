"""The echo subscriber (functions/echo.py): 204 for a delivery signed with the run's secret,
401 for anything else; checked against the Standard Webhooks library both ways."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from functions.echo import EchoFunction
from hookhaven import verification
from hookhaven.echo import (
    CONFIG_TABLE_VARIABLE,
    TOLERANCE_SECONDS,
    key_of_path,
    signature_matches,
)
from hookhaven.memory import MemoryEchoSecrets
from hookhaven.resources import Resources
from hookhaven.signatures import new_standard_secret, standard_signature_header

NOW = 1_800_000_000
KEY = "smoke-1a2b3c4d"
SECRET = new_standard_secret()
BODY = b'{"type":"hookhaven.smoke","data":{"smoke":"smoke-1a2b3c4d"}}'


def library_headers(
    secret: str = SECRET, body: bytes = BODY, at: int = NOW, message_id: str = "evt_1"
) -> dict[str, str]:
    """Headers as the Standard Webhooks library signs them."""
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(at, UTC), body.decode())
    return {"webhook-id": message_id, "webhook-timestamp": str(at), "webhook-signature": signature}


def function_url_event(
    headers: dict[str, str], body: bytes = BODY, *, path: str = f"/{KEY}", binary: bool = False
) -> dict[str, Any]:
    """A Lambda function URL request (payload format 2.0)."""
    return {
        "version": "2.0",
        "rawPath": path,
        # Lambda passes header names lower-case; any case must do.
        "headers": {name.title(): value for name, value in headers.items()},
        "body": base64.b64encode(body).decode() if binary else body.decode(),
        "isBase64Encoded": binary,
        "requestContext": {"http": {"method": "POST", "path": path}},
    }


def echo(secrets: list[str] | None = None, *, expires_at: float = NOW + 60) -> EchoFunction:
    store = MemoryEchoSecrets()
    store.put(KEY, secrets or [SECRET], expires_at=expires_at)
    return EchoFunction(store.get, clock=lambda: NOW, log=lambda line: None)


def counting_echo() -> tuple[EchoFunction, list[str]]:
    """An echo subscriber that knows every run's secret, and the keys it looked up."""
    looked_up: list[str] = []

    def lookup(key: str, now: float) -> list[str]:
        looked_up.append(key)
        return [SECRET]

    return EchoFunction(lookup, clock=lambda: NOW, log=lambda line: None), looked_up


def assert_rejected(answer: dict[str, Any]) -> None:
    assert answer["statusCode"] == 401
    assert answer["headers"]["content-type"] == "application/json"
    body = json.loads(answer["body"])
    assert body["error"] == "invalid_signature"
    assert body["message"]


def test_a_delivery_signed_with_the_runs_secret_is_answered_204():
    assert echo().handle(function_url_event(library_headers())) == {"statusCode": 204}


def test_a_base64_body_is_verified_as_its_bytes():
    answer = echo().handle(function_url_event(library_headers(), binary=True))
    assert answer["statusCode"] == 204


def test_any_one_of_several_signatures_will_do():
    headers = library_headers()
    other = library_headers(secret=new_standard_secret())["webhook-signature"]
    headers["webhook-signature"] = f"v2,abc {other} {headers['webhook-signature']}"
    assert echo().handle(function_url_event(headers))["statusCode"] == 204


def test_any_of_the_runs_secrets_will_do():
    secrets = [new_standard_secret(), SECRET]
    assert echo(secrets).handle(function_url_event(library_headers()))["statusCode"] == 204


def test_a_tampered_body_is_rejected():
    assert_rejected(echo().handle(function_url_event(library_headers(), BODY + b" ")))


def test_another_secret_is_rejected():
    assert_rejected(echo().handle(function_url_event(library_headers(new_standard_secret()))))


@pytest.mark.parametrize("age", [TOLERANCE_SECONDS + 1, -(TOLERANCE_SECONDS + 1)])
def test_a_stale_or_future_timestamp_is_rejected(age):
    assert_rejected(echo().handle(function_url_event(library_headers(at=NOW - age))))


def test_the_edge_of_the_tolerance_is_accepted():
    headers = library_headers(at=NOW - TOLERANCE_SECONDS)
    assert echo().handle(function_url_event(headers))["statusCode"] == 204


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_rejected_without_a_lookup(missing):
    headers = library_headers()
    del headers[missing]
    function, looked_up = counting_echo()
    assert_rejected(function.handle(function_url_event(headers)))
    assert looked_up == []


@pytest.mark.parametrize("timestamp", ["soon", "1e9", "-1800000000", "18000000000000"])
def test_a_malformed_timestamp_is_rejected(timestamp):
    headers = library_headers()
    headers["webhook-timestamp"] = timestamp
    assert_rejected(echo().handle(function_url_event(headers)))


def test_a_run_that_is_not_known_is_rejected():
    event = function_url_event(library_headers(), path="/smoke-ffffffff")
    assert_rejected(echo().handle(event))


def test_an_expired_secret_is_no_longer_honoured():
    assert_rejected(echo(expires_at=NOW).handle(function_url_event(library_headers())))


@pytest.mark.parametrize("path", ["/", "", "/../SOURCE", "/smoke-1/x", "/UPPER", "/" + "a" * 65])
def test_a_path_that_names_no_run_is_rejected_without_a_lookup(path):
    function, looked_up = counting_echo()
    assert_rejected(function.handle(function_url_event(library_headers(), path=path)))
    assert looked_up == []


def test_a_body_flagged_base64_that_is_not_is_rejected():
    event = function_url_event(library_headers())
    event["isBase64Encoded"] = True
    event["body"] = "not base64!"
    assert_rejected(echo().handle(event))


def test_only_post_is_served():
    event = function_url_event(library_headers())
    event["requestContext"]["http"]["method"] = "GET"
    answer = echo().handle(event)
    assert answer["statusCode"] == 405


def test_a_request_is_logged_without_its_secret_signature_or_body():
    lines: list[Any] = []
    store = MemoryEchoSecrets()
    store.put(KEY, [SECRET], expires_at=NOW + 60)
    function = EchoFunction(store.get, clock=lambda: NOW, log=lines.append)
    headers = library_headers()
    function.handle(function_url_event(headers))
    assert lines == [{"outcome": "delivered", "run": KEY, "webhook_id": "evt_1"}]
    text = json.dumps(lines)
    assert SECRET not in text
    assert headers["webhook-signature"] not in text


# --- the same scheme as the library's, both ways ------------------------------------


@pytest.mark.parametrize("body", [BODY, b"", "caf\u00e9 \u2603".encode(), b'{"a": [1, 2]}\n'])
def test_what_the_library_signs_our_check_accepts(body):
    headers = library_headers(body=body)
    assert signature_matches(headers, body, [SECRET], NOW)
    assert not signature_matches(headers, body + b"x", [SECRET], NOW)


def hookhaven_headers(body: bytes, at: int) -> dict[str, str]:
    """Headers as hookhaven's dispatcher signs them (hookhaven.signatures)."""
    signature = standard_signature_header([SECRET], "evt_2", at, body)
    return {"webhook-id": "evt_2", "webhook-timestamp": str(at), "webhook-signature": signature}


@pytest.mark.parametrize("body", [BODY, b"", "caf\u00e9 \u2603".encode(), b'{"a": [1, 2]}\n'])
def test_what_hookhaven_signs_the_library_accepts_and_so_does_our_check(body):
    # The library checks the timestamp against the real clock.
    now = int(time.time())
    Webhook(SECRET).verify(body, hookhaven_headers(body, now), json_parse=False)  # or raises
    assert signature_matches(hookhaven_headers(body, NOW), body, [SECRET], NOW)


def test_its_rules_are_the_receivers():
    assert TOLERANCE_SECONDS == verification.TOLERANCE_SECONDS
    assert Resources.variable("config_table") == CONFIG_TABLE_VARIABLE
    assert key_of_path("/smoke-1a2b3c4d") == "smoke-1a2b3c4d"
    assert key_of_path("/smoke-1a2b3c4d/") == "smoke-1a2b3c4d"
