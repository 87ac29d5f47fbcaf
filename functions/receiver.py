"""Receiver Lambda: ``POST /webhooks/{source}`` (and ``HEAD``) behind the HTTP API.

Thin by design: decode the request, hand it to ``hookhaven.ingest.Receiver``,
map its outcome or error to the status table of the receiver contract.

``ReceiverFunction`` is the handler around a given receiver: the tests and the local
stack build theirs through ``hookhaven.wiring``. In Lambda, ``handler`` builds one
from the function's environment, once per execution environment.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gc
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from hookhaven import telemetry, wiring
from hookhaven.http import error_response, json_response
from hookhaven.ingest import (
    CLAIM_LEASE_MARGIN_SECONDS,
    Accepted,
    Challenge,
    Duplicate,
    InProgress,
    InvalidSignature,
    MalformedPayload,
    PayloadTooLarge,
    Receiver,
    Unavailable,
    UnknownSource,
)
from hookhaven.verification import Answer, InboundRequest

logger = Logger(service=telemetry.service_name())
metrics = Metrics(namespace=telemetry.NAMESPACE, service=telemetry.service_name())
# Only botocore: patching every supported library costs ~80 ms of cold start in Lambda,
# and the relay's other HTTP (deliveries, from worker threads) is measured by attempt records.
tracer = Tracer(patch_modules=("botocore",))
telemetry.route_library_logs(logger)


class BadRequest(Exception):
    pass


class ReceiverFunction:
    """The Lambda handler (``handler``) around one receiver: routes, and the status table."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.app = app = APIGatewayHttpResolver()
        app.post("/webhooks/<source>")(self._receive)
        app.head("/webhooks/<source>")(self._head)
        for error, reply in (
            (UnknownSource, _unknown_source),
            (InvalidSignature, _invalid_signature),
            (PayloadTooLarge, _too_large),
            (MalformedPayload, _bad_request),
            (BadRequest, _bad_request),
            (InProgress, _in_progress),
            (Unavailable, _unavailable),
            (Exception, _bug),
        ):
            app.exception_handler(error)(reply)
        app.not_found(self._not_found)

        @logger.inject_lambda_context(clear_state=True)
        @metrics.log_metrics(capture_cold_start_metric=True)
        @tracer.capture_lambda_handler(capture_response=False)
        def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            return app.resolve(event, context)

        self.handler: Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

        self.handler = handler

    def _receive(self, source: str) -> Response[str]:
        event = self.app.current_event
        telemetry.count(metrics, telemetry.EVENTS_RECEIVED)
        # The raw mapping: the data class's case-insensitive view costs more than lowering once.
        raw = event.raw_event
        raw_headers: dict[str, str] = raw.get("headers") or {}
        headers = {k.lower(): v for k, v in raw_headers.items()}
        # The claim on this event lapses once this invocation can no longer be running.
        remaining = self.app.lambda_context.get_remaining_time_in_millis() / 1000
        outcome = self.receiver.receive(
            source,
            InboundRequest(
                headers=headers,
                body=_raw_body(event.body, bool(event.is_base64_encoded)),
                method="POST",  # the only method this route serves (HubSpot signs it)
            ),
            lease_seconds=remaining + CLAIM_LEASE_MARGIN_SECONDS,
            # Built only for a kind that signs it: the others pay nothing for it.
            url=lambda: public_url(raw, headers, self.receiver.public_base_url),
        )
        if isinstance(outcome, Challenge):
            return _answer(outcome.answer)
        if isinstance(outcome, Duplicate):
            logger.set_correlation_id(outcome.event_id)
            telemetry.count(metrics, telemetry.EVENTS_DUPLICATE)
            logger.info("duplicate event", extra={"event_id": outcome.event_id, "source": source})
            if outcome.reply is not None:
                return _answer(outcome.reply)
            if outcome.empty_answer:
                return Response(200, content_types.TEXT_PLAIN, "")
            return json_response(200, {"id": outcome.event_id, "duplicate": True})
        assert isinstance(outcome, Accepted)
        logger.set_correlation_id(outcome.event_id)
        telemetry.count(metrics, telemetry.EVENTS_ACCEPTED)
        telemetry.count(metrics, telemetry.FAN_OUT_SIZE, outcome.fan_out)
        if outcome.filter_errors:
            telemetry.count(metrics, telemetry.FILTER_ERRORS, len(outcome.filter_errors))
        for failed in outcome.filter_errors:
            # The kind of error only: JMESPath's own message quotes values from the body.
            logger.warning(
                "subscription filter failed; the event was not queued for it",
                extra={"subscription_id": failed.subscription_id, "error": failed.error},
            )
        # The event table, the access log and the metrics already account for every accepted
        # event; a line per event at INFO would cost a fifth of the handler's time.
        logger.debug(
            "event accepted",
            extra={"source": source, "event_type": outcome.event_type, "fan_out": outcome.fan_out},
        )
        if outcome.reply is not None:
            return _answer(outcome.reply)
        if outcome.empty_answer:
            # Slack shows a slash command's answer to the user: an empty 200 acknowledges.
            return Response(200, content_types.TEXT_PLAIN, "")
        return json_response(202, {"id": outcome.event_id})

    def _head(self, source: str) -> Response[str]:
        """200 and no body for a configured source, whatever its kind: Trello checks its
        callback URL with a HEAD when a webhook is created, and keeps it only on a 200."""
        if not self.receiver.has_source(source):
            raise UnknownSource(source)
        return Response(200, content_types.TEXT_PLAIN, "")

    def _not_found(self, _: Exception) -> Response[str]:
        event = self.app.current_event
        parts = event.path.strip("/").split("/")
        webhook = len(parts) == 2 and parts[0] == "webhooks"
        if webhook and event.http_method not in ("POST", "HEAD"):
            response = error_response(405, "method_not_allowed", "webhooks are delivered with POST")
            response.headers["Allow"] = "HEAD, POST"
            return response
        return error_response(404, "not_found", "only POST /webhooks/{source} is served here")


def public_url(event: dict[str, Any], headers: dict[str, str], base: str) -> str:
    """The URL the provider called, as it signed it (Twilio, Square, HubSpot, Trello).

    ``base`` (the ``public_base_url`` tunable) replaces scheme, host and any path before
    ``/webhooks/``: set it when a custom domain maps the API under a path, or sits behind
    a proxy. Otherwise the HTTP API's own domain and path are used; API Gateway always
    serves HTTPS, and says so in ``x-forwarded-proto`` (the local stack says http).
    """
    query = event.get("rawQueryString") or ""
    suffix = f"?{query}" if query else ""
    path: str = event.get("rawPath") or ""
    if base:
        webhooks = path.find("/webhooks/")
        return base.rstrip("/") + (path[webhooks:] if webhooks >= 0 else path) + suffix
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    host = (event.get("requestContext") or {}).get("domainName") or headers.get("host", "")
    return f"{scheme}://{host}{path}{suffix}"


def _answer(answer: Answer) -> Response[str]:
    return Response(answer.status, answer.content_type, answer.body)


def _raw_body(body: str | None, is_base64_encoded: bool) -> bytes:
    if not is_base64_encoded:
        return (body or "").encode("utf-8")
    try:
        return base64.b64decode(body or "", validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadRequest("the body is flagged base64 but is not") from error


def _reject(status: int, error: str, message: str) -> Response[str]:
    telemetry.count_rejection(metrics, error)
    logger.info("request rejected", extra={"status": status, "error": error})
    return error_response(status, error, message)


def _unknown_source(_: UnknownSource) -> Response[str]:
    return _reject(404, "unknown_source", "no source with that name is configured")


def _invalid_signature(_: InvalidSignature) -> Response[str]:
    return _reject(401, "invalid_signature", "the signature is missing, invalid or expired")


def _too_large(error: PayloadTooLarge) -> Response[str]:
    return _reject(413, "payload_too_large", str(error))


def _bad_request(error: Exception) -> Response[str]:
    return _reject(400, "bad_request", str(error))


def _in_progress(_: InProgress) -> Response[str]:
    return _reject(409, "in_progress", "this event is being processed by another request; retry")


def _unavailable(error: Unavailable) -> Response[str]:
    logger.warning("event not accepted: storage unavailable", extra={"reason": str(error)})
    return _reject(503, "unavailable", "the event could not be stored; retry later")


def _bug(error: Exception) -> Response[str]:
    # Every input a client can send maps to a 4xx above; reaching this is our bug.
    telemetry.count_rejection(metrics, "internal_error")
    logger.exception("unexpected error", extra={"error_type": type(error).__name__})
    return error_response(500, "internal_error", "unexpected error; the event was not accepted")


@functools.cache
def deployed() -> ReceiverFunction:
    """The receiver of this execution environment, built from its environment."""
    settings = wiring.FunctionSettings.from_environ()  # a bad variable fails the cold start
    clients = wiring.AwsClients.create(wiring.RECEIVER_CLIENT_CONFIG)
    return ReceiverFunction(wiring.build_receiver(settings, clients))


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return deployed().handler(event, context)


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    # Build during Lambda's init phase (which runs with a full CPU), not in the first
    # request; keep what it built out of the collector's sweeps, so a request never pays
    # for scanning the imported modules.
    deployed()
    gc.freeze()
