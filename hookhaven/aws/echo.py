"""The echo subscriber's secrets in the config table: one item per smoke run.

``pk=ECHO_SECRET``, ``sk=<run key>``, the run's secrets and when they stop being honoured
(the config table has no TTL: the smoke command deletes the item, and an item a killed
run left behind is ignored once expired). ``hookhaven.echo`` says why it lives here.

The echo function reads with ``get``; the smoke command writes with ``put`` and ``delete``.
No pydantic, for the function's cold start; AWS failures surface as botocore's errors
(the CLI explains them; in the function, they fail the invocation and the dispatcher
retries).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hookhaven.permissions import ECHO_SECRET_PK

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoEchoSecrets:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, key: str) -> dict[str, dict[str, str]]:
        # The function's role may read only this partition (dynamodb:LeadingKeys).
        return {"pk": {"S": ECHO_SECRET_PK}, "sk": {"S": key}}

    def put(self, key: str, secrets: Sequence[str], *, expires_at: float) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                **self._key(key),
                "secrets": {"L": [{"S": s} for s in secrets]},
                "expires_at": {"N": str(int(expires_at))},
            },
        )

    def get(self, key: str, now: float) -> list[str]:
        """The run's secrets; none when there is no such run or it has expired."""
        item = self._client.get_item(
            TableName=self._table, Key=self._key(key), ConsistentRead=True
        ).get("Item")
        if not item or float(item.get("expires_at", {}).get("N", "0")) <= now:
            return []
        return [v["S"] for v in item.get("secrets", {}).get("L", []) if "S" in v]

    def delete(self, key: str) -> bool:
        """Remove the run's secrets; False when there were none."""
        response = self._client.delete_item(
            TableName=self._table, Key=self._key(key), ReturnValues="ALL_OLD"
        )
        return "Attributes" in response
