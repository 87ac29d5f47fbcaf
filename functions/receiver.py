"""Receiver Lambda: ``POST /webhooks/{source}`` behind the HTTP API.

Thin by design: decode the request, hand it to ``hookhaven.ingest.Receiver``,
map its outcome or error to the status table of the receiver contract.
"""

from __future__ import annotations

import base64
import binascii
import gc
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from hookhaven import telemetry
from hookhaven.aws import clients
from hookhaven.aws.dynamodb import DynamoConfigStore, DynamoEventStore
from hookhaven.aws.s3 import S3BodyStore
from hookhaven.aws.sqs import SqsDeliveryQueue
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
    SourceDirectory,
    Unavailable,
    UnknownSource,
)
from hookhaven.tunables import FunctionSettings
from hookhaven.verification import InboundRequest

settings = FunctionSettings.from_environ()  # a missing or bad variable fails the cold start
logger = Logger()
metrics = Metrics()
# Only botocore: patching every supported library costs ~80 ms of cold start in Lambda,
# and the relay's other HTTP (deliveries, from worker threads) is measured by attempt records.
tracer = Tracer(patch_modules=("botocore",))
app = APIGatewayHttpResolver()
telemetry.route_library_logs(logger)

_dynamodb = clients.dynamodb()
receiver = Receiver(
    directory=SourceDirectory(
        DynamoConfigStore(_dynamodb, settings.config_table), ttl=settings.source_cache_seconds
    ),
    events=DynamoEventStore(_dynamodb, settings.events_table),
    bodies=S3BodyStore(clients.s3, settings.bodies_bucket),
    queue=SqsDeliveryQueue(clients.sqs(), settings.deliveries_queue_url),
    settings=settings,
)


class BadRequest(Exception):
    pass


def _raw_body() -> bytes:
    event = app.current_event
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadRequest("the body is flagged base64 but is not") from error


@app.post("/webhooks/<source>")
def receive(source: str) -> Response[str]:
    telemetry.count(metrics, telemetry.EVENTS_RECEIVED)
    # The raw mapping: the data class's case-insensitive view costs more than lowering once.
    raw_headers: dict[str, str] = app.current_event.raw_event.get("headers") or {}
    headers = {k.lower(): v for k, v in raw_headers.items()}
    # The claim on this event lapses once this invocation can no longer be running.
    lease = app.lambda_context.get_remaining_time_in_millis() / 1000 + CLAIM_LEASE_MARGIN_SECONDS
    outcome = receiver.receive(
        source, InboundRequest(headers=headers, body=_raw_body()), lease_seconds=lease
    )
    if isinstance(outcome, Challenge):
        return Response(200, content_types.TEXT_PLAIN, outcome.challenge)
    if isinstance(outcome, Duplicate):
        logger.set_correlation_id(outcome.event_id)
        telemetry.count(metrics, telemetry.EVENTS_DUPLICATE)
        logger.info("duplicate event", extra={"event_id": outcome.event_id, "source": source})
        return json_response(200, {"id": outcome.event_id, "duplicate": True})
    assert isinstance(outcome, Accepted)
    logger.set_correlation_id(outcome.event_id)
    telemetry.count(metrics, telemetry.EVENTS_ACCEPTED)
    telemetry.count(metrics, telemetry.FAN_OUT_SIZE, outcome.fan_out)
    # The event table, the access log and the metrics already account for every accepted
    # event; a line per event at INFO would cost a fifth of the handler's time.
    logger.debug(
        "event accepted",
        extra={"source": source, "event_type": outcome.event_type, "fan_out": outcome.fan_out},
    )
    return json_response(202, {"id": outcome.event_id})


def _reject(status: int, error: str, message: str) -> Response[str]:
    telemetry.count_rejection(metrics, error)
    logger.info("request rejected", extra={"status": status, "error": error})
    return error_response(status, error, message)


@app.exception_handler(UnknownSource)
def _unknown_source(_: UnknownSource) -> Response[str]:
    return _reject(404, "unknown_source", "no source with that name is configured")


@app.exception_handler(InvalidSignature)
def _invalid_signature(_: InvalidSignature) -> Response[str]:
    return _reject(401, "invalid_signature", "the signature is missing, invalid or expired")


@app.exception_handler(PayloadTooLarge)
def _too_large(error: PayloadTooLarge) -> Response[str]:
    return _reject(413, "payload_too_large", str(error))


@app.exception_handler(MalformedPayload)
@app.exception_handler(BadRequest)
def _bad_request(error: Exception) -> Response[str]:
    return _reject(400, "bad_request", str(error))


@app.exception_handler(InProgress)
def _in_progress(_: InProgress) -> Response[str]:
    return _reject(409, "in_progress", "this event is being processed by another request; retry")


@app.exception_handler(Unavailable)
def _unavailable(error: Unavailable) -> Response[str]:
    logger.warning("event not accepted: storage unavailable", extra={"reason": str(error)})
    return _reject(503, "unavailable", "the event could not be stored; retry later")


@app.not_found
def _not_found(_: Exception) -> Response[str]:
    parts = app.current_event.path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "webhooks" and app.current_event.http_method != "POST":
        response = error_response(405, "method_not_allowed", "webhooks are delivered with POST")
        response.headers["Allow"] = "POST"
        return response
    return error_response(404, "not_found", "only POST /webhooks/{source} is served here")


@app.exception_handler(Exception)
def _bug(error: Exception) -> Response[str]:
    # Every input a client can send maps to a 4xx above; reaching this is our bug.
    telemetry.count_rejection(metrics, "internal_error")
    logger.exception("unexpected error", extra={"error_type": type(error).__name__})
    return error_response(500, "internal_error", "unexpected error; the event was not accepted")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


# Everything built at init lives as long as the container: keep it out of the collector's
# sweeps, so a request never pays for scanning the imported modules.
gc.freeze()
