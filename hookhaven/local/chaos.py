"""Fault injection for the local stack, for chaos runs: AWS calls that fail at random.

``FlakyClient`` wraps a boto3 client at the adapter boundary: each API call fails,
with the given probability, with the throttling error AWS itself returns, before
it reaches the emulator; a ``send_message_batch`` may instead fail some of its
entries, as SQS does. The adapters then handle them exactly as they handle AWS.
It is switched on only by the local stack's ``aws_failure_rate`` setting
(``hookhaven dev --chaos-aws-failure-rate``), never in Lambda.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

#: What each service answers when it throttles.
THROTTLING = {
    "dynamodb": ("ProvisionedThroughputExceededException", 400),
    "sqs": ("RequestThrottled", 403),
    "s3": ("SlowDown", 503),
}
PASS_THROUGH = {"meta", "exceptions", "can_paginate", "get_paginator", "get_waiter", "close"}


class FlakyClient:
    def __init__(self, client: Any, rate: float, *, seed: int | None = None) -> None:
        if not 0 <= rate < 1:
            raise ValueError(f"a failure rate is in [0, 1): {rate}")
        self._client = client
        self._rate = rate
        self._random = random.Random(seed)  # noqa: S311 (chaos, not a secret)
        self._lock = threading.Lock()
        self._service = client.meta.service_model.service_name
        self.injected = 0

    def _fails(self) -> bool:
        with self._lock:
            fails = self._random.random() < self._rate
            self.injected += fails
            return fails

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name in PASS_THROUGH or name.startswith("_") or not callable(attribute):
            return attribute
        if name == "send_message_batch":
            return self._send_message_batch
        return self._flaky(name, attribute)

    def _flaky(self, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def flaky(*args: Any, **kwargs: Any) -> Any:
            if self._fails():
                raise self._throttled(name)
            return call(*args, **kwargs)

        return flaky

    def _throttled(self, name: str) -> ClientError:
        code, status = THROTTLING.get(self._service, ("ThrottlingException", 400))
        operation = "".join(part.title() for part in name.split("_"))
        response: Any = {
            "Error": {"Code": code, "Message": "injected by the local stack (chaos)"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return ClientError(response, operation)

    def _send_message_batch(self, **kwargs: Any) -> Any:
        if self._fails():
            raise self._throttled("send_message_batch")
        entries = kwargs["Entries"]
        failing = [e for e in entries if self._fails()]
        kept = [e for e in entries if e not in failing]
        response: dict[str, Any] = {"Successful": [], "Failed": []}
        if kept:
            response = dict(self._client.send_message_batch(**{**kwargs, "Entries": kept}))
        response["Failed"] = list(response.get("Failed", [])) + [
            {
                "Id": e["Id"],
                "SenderFault": False,
                "Code": "InternalError",
                "Message": "injected by the local stack (chaos)",
            }
            for e in failing
        ]
        return response
