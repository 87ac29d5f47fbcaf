"""CloudWatch adapter: the age of a queue's oldest message, which SQS reports only there."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

#: How far back a datapoint still counts (SQS publishes one a minute while a queue is used).
LOOKBACK_SECONDS = 900


class CloudWatchQueueAge:
    def __init__(self, client: CloudWatchClient, queue_url: str) -> None:
        self._client = client
        self._queue_name = queue_url.rstrip("/").rsplit("/", 1)[-1]

    def oldest_message_age(self) -> int | None:
        """The latest ``ApproximateAgeOfOldestMessage``; None when there is no datapoint,
        no CloudWatch (an emulator) or no permission to read it: not worth failing for."""
        now = time.time()
        try:
            response = self._client.get_metric_statistics(
                Namespace="AWS/SQS",
                MetricName="ApproximateAgeOfOldestMessage",
                Dimensions=[{"Name": "QueueName", "Value": self._queue_name}],
                StartTime=datetime.fromtimestamp(now - LOOKBACK_SECONDS, UTC),
                EndTime=datetime.fromtimestamp(now, UTC),
                Period=60,
                Statistics=["Maximum"],
            )
        except (ClientError, BotoCoreError):
            return None
        points = sorted(response.get("Datapoints", []), key=lambda p: p["Timestamp"])
        return int(points[-1]["Maximum"]) if points else None
