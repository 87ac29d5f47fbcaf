"""The functions' IAM policies, written from ``hookhaven.permissions`` and nothing else.

No ``grant_read_write_data`` and the like: those grant whole tables, Scan, DeleteItem
and BatchWriteItem, which no code path here calls. Each grant of the list becomes one
statement on one resource, with the conditions that keep it to its items and attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

from hookhaven import permissions
from hookhaven.permissions import NARROW_RETURN_VALUES, Grant, Role, Target
from hookhaven.resources import BODY_PREFIX


@dataclass(frozen=True)
class GrantTargets:
    """The stack's resources, as the grants name them."""

    config_table: dynamodb.ITable
    events_table: dynamodb.ITable
    deliveries_queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue
    bodies_bucket: s3.IBucket
    #: None when the config table is under the AWS-managed key.
    config_key: kms.IKey | None
    #: The name of the bus operational events go to; None when they are off.
    operational_events_bus: str | None = None

    def arn(self, target: Target) -> str:
        if target is Target.CONFIG_KEY:
            if self.config_key is None:
                raise ValueError("the config table has no customer-managed key to grant")
            return self.config_key.key_arn
        if target is Target.OPERATIONAL_EVENTS_BUS:
            if self.operational_events_bus is None:
                raise ValueError("operational events are off: there is no bus to grant")
            # arn:<partition>:events:<region>:<account>:event-bus/<name> (this account's).
            return Stack.of(self.config_table).format_arn(
                service="events", resource="event-bus", resource_name=self.operational_events_bus
            )
        return {
            Target.CONFIG_TABLE: lambda: self.config_table.table_arn,
            Target.EVENTS_TABLE: lambda: self.events_table.table_arn,
            Target.DELIVERIES_QUEUE: lambda: self.deliveries_queue.queue_arn,
            Target.DEAD_LETTER_QUEUE: lambda: self.dead_letter_queue.queue_arn,
            Target.BODIES: lambda: self.bodies_bucket.arn_for_objects(f"{BODY_PREFIX}*"),
        }[target]()


def conditions(grant: Grant) -> dict[str, dict[str, Any]]:
    """IAM conditions that hold the grant to its partitions and attributes.

    As AWS documents them (``hookhaven.quotas.DYNAMODB_LEADING_KEYS`` and
    ``DYNAMODB_ATTRIBUTES``): LeadingKeys with ForAllValues (StringLike for a prefix);
    Attributes with ForAllValues, and Select and ReturnValues "IfExists" so a request can
    neither ask for every attribute nor have the rest returned.
    """
    result: dict[str, dict[str, Any]] = {}
    if grant.leading_keys:
        operator = (
            "ForAllValues:StringLike"
            if any("*" in key for key in grant.leading_keys)
            else "ForAllValues:StringEquals"
        )
        result.setdefault(operator, {})["dynamodb:LeadingKeys"] = list(grant.leading_keys)
    if grant.attributes:
        result.setdefault("ForAllValues:StringEquals", {})["dynamodb:Attributes"] = list(
            grant.attributes
        )
        result["StringEqualsIfExists"] = {
            "dynamodb:Select": "SPECIFIC_ATTRIBUTES",
            "dynamodb:ReturnValues": list(NARROW_RETURN_VALUES),
        }
    return result


def grant_role(principal: iam.IGrantable, role: Role, targets: GrantTargets) -> None:
    """Give ``principal`` exactly what ``role`` may do."""
    for grant in permissions.grants(
        role,
        customer_managed_key=targets.config_key is not None,
        operational_events=targets.operational_events_bus is not None,
    ):
        iam.Grant.add_to_principal(
            grantee=principal,
            actions=list(grant.actions),
            resource_arns=[targets.arn(grant.target)],
            conditions=conditions(grant) or None,
        )
