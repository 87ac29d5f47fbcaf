"""Delivery control's shared state in the events table: ``pk = CONTROL#<subscription id>``,
``sk`` ``RATE``, ``INFLIGHT`` or ``CIRCUIT`` (``hookhaven.control``).

Every change is one atomic or conditional UpdateItem, so concurrent dispatchers never
overwrite each other; no item expires (they are a few hundred bytes per subscription).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from hookhaven.aws.items import from_item, to_value
from hookhaven.control import Circuit
from hookhaven.permissions import CONTROL_PREFIX
from hookhaven.ports import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_CIRCUIT_FIELDS = (
    "failures",
    "failing_since",
    "last_failure",
    "opened_at",
    "probe_at",
    "probe_interval",
    "probe_lease_until",
)
_OPEN = "open"


class _Refused(Exception):
    """The update's condition did not hold."""


class DynamoControlStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, subscription_id: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": CONTROL_PREFIX + subscription_id}, "sk": {"S": sk}}

    def _update(
        self,
        subscription_id: str,
        sk: str,
        expression: str,
        values: dict[str, Any] | None = None,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        returns: str = "NONE",
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(subscription_id, sk),
            "UpdateExpression": expression,
            "ReturnValues": returns,
        }
        if values:
            request["ExpressionAttributeValues"] = {k: to_value(v) for k, v in values.items()}
        if names:
            request["ExpressionAttributeNames"] = names
        if condition:
            request["ConditionExpression"] = condition
        try:
            response = self._client.update_item(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise _Refused from None
            raise StorageUnavailable(f"control state update failed: {code}") from error
        except BotoCoreError as error:
            raise StorageUnavailable("control state update failed") from error
        return from_item(response.get("Attributes", {}))

    def _get(self, subscription_id: str, sk: str, *, consistent: bool) -> dict[str, Any]:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key=self._key(subscription_id, sk),
                ConsistentRead=consistent,
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise StorageUnavailable(f"control state read failed: {code}") from error
        except BotoCoreError as error:
            raise StorageUnavailable("control state read failed") from error
        return from_item(response.get("Item", {}))

    # --- circuit ---------------------------------------------------------------------

    def circuit(self, subscription_id: str) -> Circuit:
        # Eventually consistent (half a read unit): a circuit that has just opened may let
        # a few more deliveries through for a moment; its probe is a conditional write.
        return _circuit(self._get(subscription_id, "CIRCUIT", consistent=False))

    def take_probe(self, subscription_id: str, *, now: float, lease_until: float) -> bool:
        try:
            self._update(
                subscription_id,
                "CIRCUIT",
                "SET probe_lease_until = :lease",
                {":lease": lease_until, ":now": now, ":open": _OPEN},
                condition="#state = :open AND probe_at <= :now AND "
                "(attribute_not_exists(probe_lease_until) OR probe_lease_until < :now)",
                names={"#state": "state"},
            )
        except _Refused:
            return False
        return True

    def record_failure(self, subscription_id: str, *, now: float, failure: str) -> Circuit:
        try:
            new = self._update(
                subscription_id,
                "CIRCUIT",
                "ADD failures :one SET failing_since = if_not_exists(failing_since, :now), "
                "last_failure = :failure",
                {":one": 1, ":now": now, ":failure": failure},
                returns="ALL_NEW",
            )
        except _Refused:  # pragma: no cover - no condition
            raise StorageUnavailable("unexpected condition") from None
        return _circuit(new)

    def open_circuit(
        self, subscription_id: str, *, now: float, probe_at: float, interval: int
    ) -> bool:
        try:
            self._update(
                subscription_id,
                "CIRCUIT",
                "SET #state = :open, opened_at = :now, probe_at = :probe_at, "
                "probe_interval = :interval REMOVE probe_lease_until",
                {":open": _OPEN, ":now": now, ":probe_at": probe_at, ":interval": interval},
                condition="attribute_not_exists(#state)",
                names={"#state": "state"},
            )
        except _Refused:
            return False
        return True

    def next_probe(
        self, subscription_id: str, *, probe_at: float, interval: int, lease_until: float
    ) -> None:
        # Refused: closed meanwhile, or another probe took over after this lease expired.
        with contextlib.suppress(_Refused):
            self._update(
                subscription_id,
                "CIRCUIT",
                "SET probe_at = :probe_at, probe_interval = :interval REMOVE probe_lease_until",
                {":probe_at": probe_at, ":interval": interval, ":lease": lease_until},
                condition="probe_lease_until = :lease",
            )

    def record_success(self, subscription_id: str) -> Circuit | None:
        try:
            old = self._update(
                subscription_id,
                "CIRCUIT",
                "REMOVE #state, failures, failing_since, last_failure, opened_at, probe_at, "
                "probe_interval, probe_lease_until",
                condition="attribute_exists(failures)",
                names={"#state": "state"},
                returns="ALL_OLD",
            )
        except _Refused:
            return None  # nothing to reset: the common case, one write unit
        return _circuit(old)

    def reset(self, subscription_id: str) -> None:
        for sk in ("CIRCUIT", "INFLIGHT", "RATE"):
            try:
                self._client.delete_item(TableName=self._table, Key=self._key(subscription_id, sk))
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                raise StorageUnavailable(f"control state reset failed: {code}") from error
            except BotoCoreError as error:
                raise StorageUnavailable("control state reset failed") from error

    # --- rate ------------------------------------------------------------------------

    def reserve_slot(self, subscription_id: str, now: float, interval: float) -> float:
        """GCRA: the next slot is ``tat`` if it is ahead of now, else now; reserving it moves
        ``tat`` one interval on. Under load ``tat`` is ahead: one atomic update."""
        for _ in range(3):
            try:
                new = self._update(
                    subscription_id,
                    "RATE",
                    "SET tat = tat + :interval",
                    {":interval": interval, ":now": now},
                    condition="tat >= :now",
                    returns="UPDATED_NEW",
                )
                return float(new["tat"]) - interval
            except _Refused:
                pass
            try:
                self._update(
                    subscription_id,
                    "RATE",
                    "SET tat = :next",
                    {":next": now + interval, ":now": now},
                    condition="attribute_not_exists(tat) OR tat < :now",
                )
                return now
            except _Refused:
                continue  # moved ahead of now meanwhile: take the next slot after all
        raise StorageUnavailable("could not reserve a rate slot under contention")

    # --- in flight -------------------------------------------------------------------

    def acquire_lease(
        self, subscription_id: str, lease_id: str, *, now: float, expires_at: float, maximum: int
    ) -> bool:
        for _ in range(3):
            try:
                self._update(
                    subscription_id,
                    "INFLIGHT",
                    "SET leases.#lease = :expires",
                    {":expires": expires_at, ":maximum": maximum},
                    condition="attribute_exists(leases) AND size(leases) < :maximum",
                    names={"#lease": lease_id},
                )
                return True
            except _Refused:
                pass
            item = self._get(subscription_id, "INFLIGHT", consistent=True)
            leases: dict[str, Any] = item.get("leases", {}) if item else {}
            if not item:
                try:
                    self._update(
                        subscription_id,
                        "INFLIGHT",
                        "SET leases = :leases",
                        {":leases": {lease_id: expires_at}},
                        condition="attribute_not_exists(leases)",
                    )
                    return True
                except _Refused:
                    continue
            expired = [lease for lease, until in leases.items() if float(until) <= now]
            if not expired:
                if len(leases) < maximum:
                    continue  # one finished between the refused update and the read
                return False
            # Leases of invocations that died: give them back, then try again.
            names = {f"#e{i}": lease for i, lease in enumerate(expired[:25])}
            values = {f":e{i}": leases[lease] for i, lease in enumerate(expired[:25])}
            with contextlib.suppress(_Refused):
                self._update(
                    subscription_id,
                    "INFLIGHT",
                    "REMOVE " + ", ".join(f"leases.{n}" for n in names),
                    values,
                    condition=" AND ".join(f"leases.#e{i} = :e{i}" for i in range(len(names))),
                    names=names,
                )
        return False

    def release_lease(self, subscription_id: str, lease_id: str) -> None:
        with contextlib.suppress(_Refused):
            self._update(
                subscription_id,
                "INFLIGHT",
                "REMOVE leases.#lease",
                names={"#lease": lease_id},
                condition="attribute_exists(leases)",
            )


def _circuit(item: dict[str, Any]) -> Circuit:
    values = {name: item.get(name) for name in _CIRCUIT_FIELDS}
    if item.get("state") != _OPEN:
        values.update(opened_at=None, probe_at=None, probe_interval=None, probe_lease_until=None)
    return Circuit(
        failures=int(values["failures"] or 0),
        failing_since=_float(values["failing_since"]),
        last_failure=values["last_failure"],
        opened_at=_float(values["opened_at"]),
        probe_at=_float(values["probe_at"]),
        probe_interval=int(values["probe_interval"]) if values["probe_interval"] else None,
        probe_lease_until=_float(values["probe_lease_until"]),
    )


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None
