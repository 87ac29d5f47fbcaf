"""Receiver Lambda: ``POST /webhooks/{source}`` behind the HTTP API.

MINIMAL HANDLER (issue #2). It validates its settings at cold start, routes the
request through Powertools' HTTP API resolver and answers ``501
{"error": "not_implemented", ...}`` for every webhook. Nothing is accepted, so
nothing can be lost: a provider sees a failure and retries later. Signature
verification, dedupe, storage and fan-out arrive with the receiver issue (#3).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from hookhaven.http import error_response
from hookhaven.tunables import FunctionSettings

settings = FunctionSettings()  # read from the environment; a gap fails the cold start
logger = Logger()
metrics = Metrics()
tracer = Tracer()
app = APIGatewayHttpResolver()


@app.post("/webhooks/<source>")
def receive(source: str) -> Response[str]:
    return error_response(
        501, "not_implemented", "the receiver does not accept webhooks yet; retry later"
    )


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return error_response(404, "not_found", "only POST /webhooks/{source} is served here")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
