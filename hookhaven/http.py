"""HTTP responses in the shape every hookhaven API error takes."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types


def json_response(status_code: int, body: dict[str, Any]) -> Response[str]:
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
    )


def error_response(status_code: int, error: str, message: str) -> Response[str]:
    """``{"error": code, "message": text}``: the body of every error the API returns."""
    return json_response(status_code, {"error": error, "message": message})
