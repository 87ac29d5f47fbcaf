"""Storage: the config and events tables and the bucket for large bodies."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from hookhaven.resources import (
    BODY_PREFIX,
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


def table_from_shape(scope: Construct, construct_id: str, shape: TableShape) -> dynamodb.Table:
    """A DynamoDB table built from its shape: on demand, PITR, KMS encryption.

    AWS_MANAGED uses the account's ``aws/dynamodb`` KMS key: encryption with KMS
    and CloudTrail-visible key use, without the monthly cost of a customer key.
    """
    table = dynamodb.Table(
        scope,
        construct_id,
        partition_key=_attribute(shape.partition_key),
        sort_key=_attribute(shape.sort_key) if shape.sort_key else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
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
        self.config_table = table_from_shape(self, "ConfigTable", CONFIG_TABLE)
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
        self, *, deliveries_queue: sqs.IQueue, dead_letter_queue: sqs.IQueue
    ) -> Resources:
        """The names the functions find this stack's state by."""
        return Resources(
            config_table=self.config_table.table_name,
            events_table=self.events_table.table_name,
            deliveries_queue_url=deliveries_queue.queue_url,
            dead_letter_queue_url=dead_letter_queue.queue_url,
            bodies_bucket=self.bodies_bucket.bucket_name,
        )

    def grant_body_writes(self, grantee: iam.IGrantable) -> None:
        """PutObject only, under the body prefix: no wildcard action, nothing else."""
        self._grant_bodies(grantee, "s3:PutObject")

    def grant_body_reads(self, grantee: iam.IGrantable) -> None:
        """GetObject only, under the body prefix."""
        self._grant_bodies(grantee, "s3:GetObject")

    def _grant_bodies(self, grantee: iam.IGrantable, action: str) -> None:
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[action],
            resource_arns=[self.bodies_bucket.arn_for_objects(f"{BODY_PREFIX}*")],
        )
