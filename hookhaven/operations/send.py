"""A correctly signed test request for a standard or hmac source, POSTed to its endpoint."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hookhaven import catalog
from hookhaven.ids import new_subscription_id
from hookhaven.models import EVENT_TYPE_PATTERN, Source, SourceKind
from hookhaven.operations import OperationError
from hookhaven.operations.config import get_source
from hookhaven.ports import ConfigStore
from hookhaven.signatures import hmac_digest, standard_signature_header

#: ``post(url, body, headers) -> (status, response body)``; OSError when unreachable.
Post = Callable[[str, bytes, dict[str, str]], tuple[int, bytes]]


def http_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(  # noqa: S310 (the operator's own endpoint)
        url, data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass(frozen=True)
class SendResult:
    status: int
    response: dict[str, Any]  # the endpoint's JSON answer (or {"body": text})

    @property
    def accepted(self) -> bool:
        return self.status < 300

    @property
    def event_id(self) -> Any:
        return self.response.get("id")


def signed_request(
    source: Source, event_type: str, data: Any, now: float
) -> tuple[bytes, dict[str, str]]:
    """The body and headers a provider would send, signed with the source's newest secret."""
    secrets = source.active_secrets(now)
    if not secrets:
        raise OperationError(f"source {source.name} has no active secret")
    message_id = "msg_" + new_subscription_id(now).removeprefix("sub_")
    if catalog.is_standard(source.kind):
        body = json.dumps(
            {
                "type": event_type,
                "timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
                "data": data,
            }
        ).encode()
        return body, {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": standard_signature_header(
                secrets[-1:], message_id, int(now), body
            ),
        }
    options = source.hmac
    assert options is not None  # Source gives every hmac source its options
    payload = dict(data) if isinstance(data, dict) else {"data": data}
    headers = {"content-type": "application/json"}
    for ref, value in ((options.type_from, event_type), (options.id_from, message_id)):
        if ref is None:
            continue
        if ref.location == "header":
            headers[ref.name] = value
        else:
            payload.setdefault(ref.name, value)
    body = json.dumps(payload).encode()
    digest = hmac_digest(secrets[-1].encode(), body, options.algorithm)
    encoded = digest.hex() if options.encoding == "hex" else base64.b64encode(digest).decode()
    headers[options.header] = options.prefix + encoded
    return body, headers


def send_test_event(
    config: ConfigStore,
    *,
    source_name: str,
    event_type: str,
    data: Any,
    base_url: str | None,
    now: float,
    post: Post = http_post,
) -> SendResult:
    """POST a signed test event to ``<base_url>/webhooks/<source>``; the answer, whatever it is."""
    if not EVENT_TYPE_PATTERN.match(event_type) or "*" in event_type:
        raise OperationError(f"bad --type {event_type!r}")
    source = get_source(config, source_name)
    if not catalog.is_standard(source.kind) and source.kind != SourceKind.HMAC:
        raise OperationError(
            f"send signs for standard and hmac sources (and Standard Webhooks senders); "
            f"{source.name} is {source.kind}, "
            "whose provider must sign its own requests"
        )
    if not base_url:
        raise OperationError("no API URL: give --url (the stack has no ApiUrl output)")
    body, headers = signed_request(source, event_type, data, now)
    try:
        status, reply = post(f"{base_url.rstrip('/')}/webhooks/{source.name}", body, headers)
    except OSError as error:  # URLError is one
        reason = getattr(error, "reason", error)
        raise OperationError(f"cannot reach {base_url}: {reason}") from None
    try:
        answer = json.loads(reply)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {"body": reply.decode("utf-8", "replace")}
    return SendResult(status, answer)
