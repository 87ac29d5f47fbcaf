"""The Lambda context object the local stack hands to the handlers."""

from __future__ import annotations

import time
import uuid


class LambdaContext:
    """The parts of Lambda's context object the Powertools decorators read."""

    function_version = "$LATEST"
    memory_limit_in_mb = 512
    log_group_name = "/local/hookhaven"
    log_stream_name = "local"

    def __init__(self, function_name: str, timeout_seconds: int) -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.aws_request_id = uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
