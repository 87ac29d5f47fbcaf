"""Storage: the config and events tables and the bucket for large bodies."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from hookhaven.resources import (
    CONFIG_TABLE,
    EVENTS_TABLE,
    Key,
    Resources,
    TableShape,
)
from hookhaven.tunables import Tunables

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


def _attribute(key: Key) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


def table_from_shape(
    scope: Construct, construct_id: str, shape: TableShape, *, key: kms.IKey | None = None
) -> dynamodb.Table:
    """A DynamoDB table built from its shape: on demand, PITR, KMS encryption.

    With ``key``, that customer-managed key; without, the account's ``aws/dynamodb`` key
    (KMS encryption and CloudTrail-visible key use, no monthly cost, but usable through
    DynamoDB by every principal of the account: ``quotas.KMS_AWS_MANAGED_DYNAMODB_KEY``).
    """
    table = dynamodb.Table(
        scope,
        construct_id,
        partition_key=_attribute(shape.partition_key),
        sort_key=_attribute(shape.sort_key) if shape.sort_key else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=(
            dynamodb.TableEncryption.CUSTOMER_MANAGED
            if key is not None
            else dynamodb.TableEncryption.AWS_MANAGED
        ),
        encryption_key=key,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=shape.ttl_attribute,
        removal_policy=RemovalPolicy.RETAIN,
    )
    for index in shape.indexes:
        table.add_global_secondary_index(
            index_name=index.name,
            partition_key=_attribute(index.partition_key),
            sort_key=_attribute(index.sort_key) if index.sort_key else None,
            projection_type=(
                dynamodb.ProjectionType.ALL
                if index.projected is None
                else dynamodb.ProjectionType.INCLUDE
            ),
            non_key_attributes=list(index.projected) if index.projected is not None else None,
        )
    return table


class Storage(Construct):
    """Where configuration, events, attempts, dedupe records and large bodies live."""

    def __init__(self, scope: Construct, construct_id: str, *, tunables: Tunables) -> None:
        super().__init__(scope, construct_id)
        #: The secrets' key: only principals granted it read the config table's items, so
        #: read access to DynamoDB alone (ReadOnlyAccess, say) no longer reveals a secret.
        #: Retained with the table: without it the table and its backups are unreadable.
        self.config_key: kms.Key | None = None
        if tunables.customer_managed_key:
            self.config_key = kms.Key(
                self,
                "ConfigKey",
                description="hookhaven: encrypts the config table (source and subscription "
                "secrets)",
                enable_key_rotation=True,
                removal_policy=RemovalPolicy.RETAIN,
            )
        self.config_table = table_from_shape(self, "ConfigTable", CONFIG_TABLE, key=self.config_key)
        self.events_table = table_from_shape(self, "EventsTable", EVENTS_TABLE)
        self.bodies_bucket = s3.Bucket(
            self,
            "BodiesBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-bodies-with-their-events",
                    expiration=Duration.days(tunables.retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def resources(
        self, *, deliveries_queue: sqs.IQueue, dead_letter_queue: sqs.IQueue | None
    ) -> Resources:
        """The names the functions find this stack's state by (the receiver's without the
        DLQ, which it never uses)."""
        return Resources(
            config_table=self.config_table.table_name,
            events_table=self.events_table.table_name,
            deliveries_queue_url=deliveries_queue.queue_url,
            dead_letter_queue_url=dead_letter_queue.queue_url if dead_letter_queue else None,
            bodies_bucket=self.bodies_bucket.bucket_name,
        )
