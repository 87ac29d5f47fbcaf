"""Echo subscriber Lambda, behind a function URL: 204 when a delivery is signed with the
smoke test's secret, 401 ``{"error": "invalid_signature", ...}`` when it is not.

Deployed only with ``echo_subscriber`` on, for ``hookhaven smoke``. The request is a
function URL event (payload format 2.0: ``rawPath``, ``headers``, ``body``,
``isBase64Encoded``); its path names the smoke run whose secret to check against, which
the function reads from the config table (``hookhaven.echo`` explains the design and the
grant). A plain handler, no Powertools and no pydantic: a cold start imports boto3 and
two small modules.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hookhaven.echo import (
    CONFIG_TABLE_VARIABLE,
    REJECTION,
    SIGNATURE_HEADERS,
    key_of_path,
    signature_matches,
)

#: ``lookup(key, now)``: the secrets of the smoke run named ``key`` (none when unknown).
SecretLookup = Callable[[str, float], Sequence[str]]


def print_line(line: Mapping[str, Any]) -> None:
    print(json.dumps(line))  # Lambda sends stdout to the function's log group


class EchoFunction:
    def __init__(
        self,
        secrets: SecretLookup,
        clock: Callable[[], float] = time.time,
        log: Callable[[Mapping[str, Any]], None] = print_line,
    ) -> None:
        self._secrets = secrets
        self._clock = clock
        self._log = log

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        method = (event.get("requestContext") or {}).get("http", {}).get("method", "POST")
        if method != "POST":
            return _answer(405, "method_not_allowed", "deliveries are POSTed")
        key = key_of_path(event.get("rawPath"))
        body = _raw_body(event.get("body"), bool(event.get("isBase64Encoded")))
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        now = self._clock()
        # What cannot match costs no read: an unsigned request, a path that names no run.
        secrets: Sequence[str] = ()
        if key is not None and body is not None and all(map(headers.get, SIGNATURE_HEADERS)):
            secrets = self._secrets(key, now)
        if body is None or not secrets or not signature_matches(headers, body, secrets, now):
            self._log_request("rejected", key, headers)
            return _answer(401, "invalid_signature", REJECTION)
        self._log_request("delivered", key, headers)
        return {"statusCode": 204}

    def _log_request(self, outcome: str, key: str | None, headers: Mapping[str, str]) -> None:
        # One line per request, never a secret, a signature or the body.
        self._log({"outcome": outcome, "run": key, "webhook_id": headers.get("webhook-id")})


def _raw_body(body: object, is_base64_encoded: bool) -> bytes | None:
    text = body if isinstance(body, str) else ""
    if not is_base64_encoded:
        return text.encode("utf-8")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _answer(status: int, error: str, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"error": error, "message": message}),
    }


@functools.cache
def deployed() -> EchoFunction:
    """The function of this execution environment, reading secrets from the config table."""
    import boto3
    from botocore.config import Config

    from hookhaven.aws.echo import DynamoEchoSecrets

    # Well inside the function's timeout, which is well inside the dispatcher's.
    config = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard"})
    client = boto3.client("dynamodb", config=config)
    return EchoFunction(DynamoEchoSecrets(client, os.environ[CONFIG_TABLE_VARIABLE]).get)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return deployed().handle(event)


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    deployed()  # in Lambda's init phase, which runs with a full CPU
