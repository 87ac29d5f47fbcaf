"""The hookhaven stack: storage, delivery, ingest and monitoring, wired by explicit grants."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_cdk import Acknowledgment, CfnElement, CfnOutput, Stack, Validations
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from hookhaven.permissions import Role
from hookhaven.resources import BODY_PREFIX, Resources
from hookhaven.tunables import Tunables
from infra.constructs.delivery import Delivery
from infra.constructs.echo import EchoSubscriber
from infra.constructs.grants import GrantTargets, grant_role
from infra.constructs.ingest import WEBHOOK_ROUTE, Ingest
from infra.constructs.monitoring import Monitoring
from infra.constructs.storage import Storage

#: Names of the stack outputs; the CLI reads resource names from them.
OUTPUTS = (
    "ApiUrl",
    "WebhookUrlTemplate",
    "DeliveriesQueueUrl",
    "DeadLetterQueueUrl",
    "ConfigTableName",
    "EventsTableName",
    "BodiesBucketName",
    "DashboardName",
    "AlarmTopicArn",
    "ReceiverFunctionName",
    "DispatcherFunctionName",
)
#: The echo subscriber's URL, for `hookhaven smoke`: only with echo_subscriber on.
ECHO_URL_OUTPUT = "EchoSubscriberUrl"
#: The config table's KMS key, for operators' IAM policies: only with customer_managed_key.
CONFIG_KEY_OUTPUT = "ConfigKeyArn"


class HookHavenStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tunables: Tunables,
        code: lambda_.Code,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="hookhaven: serverless webhook relay (ingest, delivery, storage, alarms)",
            **kwargs,
        )
        self.storage = Storage(self, "Storage", tunables=tunables)
        self.delivery = Delivery(
            self, "Delivery", tunables=tunables, code=code, storage=self.storage
        )
        self.ingest = Ingest(
            self,
            "Ingest",
            tunables=tunables,
            code=code,
            storage=self.storage,
            deliveries_queue=self.delivery.deliveries_queue,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            tunables=tunables,
            api=self.ingest.api,
            deliveries_queue=self.delivery.deliveries_queue,
            dead_letter_queue=self.delivery.dead_letter_queue,
            functions={"Receiver": self.ingest.receiver, "Dispatcher": self.delivery.dispatcher},
        )

        resources = self.storage.resources(
            deliveries_queue=self.delivery.deliveries_queue,
            dead_letter_queue=self.delivery.dead_letter_queue,
        )
        outputs = {
            "ApiUrl": self.ingest.endpoint,
            "WebhookUrlTemplate": self.ingest.endpoint + WEBHOOK_ROUTE,
            **{Resources.OUTPUTS[name]: value for name, value in asdict(resources).items()},
            "DashboardName": self.monitoring.dashboard.dashboard_name,
            "AlarmTopicArn": self.monitoring.alarm_topic.topic_arn,
            "ReceiverFunctionName": self.ingest.receiver.function_name,
            "DispatcherFunctionName": self.delivery.dispatcher.function_name,
        }
        assert set(outputs) == set(OUTPUTS)
        for name in OUTPUTS:
            CfnOutput(self, name, value=outputs[name])

        self.echo: EchoSubscriber | None = None
        if tunables.echo_subscriber:
            self.echo = EchoSubscriber(
                self,
                "Echo",
                tunables=tunables,
                code=code,
                config_table=self.storage.config_table,
            )
            CfnOutput(self, ECHO_URL_OUTPUT, value=self.echo.url.url)

        # Each function gets exactly what hookhaven.permissions lists for it, nothing else.
        targets = GrantTargets(
            config_table=self.storage.config_table,
            events_table=self.storage.events_table,
            deliveries_queue=self.delivery.deliveries_queue,
            dead_letter_queue=self.delivery.dead_letter_queue,
            bodies_bucket=self.storage.bodies_bucket,
            config_key=self.storage.config_key,
            operational_events_bus=tunables.operational_events_bus_name,
        )
        grant_role(self.ingest.receiver, Role.RECEIVER, targets)
        grant_role(self.delivery.dispatcher, Role.DISPATCHER, targets)
        if self.echo is not None:
            grant_role(self.echo.function, Role.ECHO, targets)
        if self.storage.config_key is not None:
            CfnOutput(
                self,
                CONFIG_KEY_OUTPUT,
                value=self.storage.config_key.key_arn,
                description="The KMS key of the config table: operators running the "
                "hookhaven CLI need kms:Decrypt, kms:Encrypt and kms:GenerateDataKey* on it",
            )

        self._acknowledge_nag_findings()

    def _acknowledge_nag_findings(self) -> None:
        """Every cdk-nag finding we accept, each with the reason a reviewer needs."""
        functions = [self.ingest.receiver, self.delivery.dispatcher]
        if self.echo is not None:
            functions.append(self.echo.function)
        for function in functions:
            _acknowledge(
                function,
                "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                "AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch "
                "Logs; it is AWS's minimal execution policy for Lambda.",
            )
            _acknowledge(
                function,
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level "
                "permissions, so AWS documents Resource * for them.",
            )
        bucket = self._logical_id(self.storage.bodies_bucket)
        _acknowledge(
            self.ingest.receiver,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{bucket}.Arn>/{BODY_PREFIX}*]",
            "The receiver writes large bodies as new objects under keys it generates; "
            "s3:PutObject on this stack's own bucket's body prefix is the narrowest grant.",
        )
        _acknowledge(
            self.delivery.dispatcher,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{bucket}.Arn>/{BODY_PREFIX}*]",
            "The dispatcher reads large bodies by the key the queue message carries; "
            "s3:GetObject on this stack's own bucket's body prefix is the narrowest grant.",
        )
        _acknowledge(
            self.storage.bodies_bucket,
            "AwsSolutions::AwsSolutions-S1",
            "The bucket only holds webhook bodies too large for the queue, written and read "
            "by this stack's two functions and expired with their events; a second logging "
            "bucket would add cost without an audit need. Enable CloudTrail S3 data events "
            "where object-level audit is required.",
        )
        _acknowledge(
            self.ingest.api,
            "AwsSolutions::AwsSolutions-APIG4",
            "Webhook providers cannot send IAM, JWT or Lambda-authorizer credentials; every "
            "request is authenticated by its provider signature (HMAC over the raw body), "
            "which only the receiver can check. The HEAD route (Trello's check of its "
            "callback URL) only says whether a source exists, as a POST's 404 already does.",
        )
        _acknowledge(
            self.monitoring.alarm_topic,
            "AwsSolutions::AwsSolutions-SNS2",
            "Alarm notifications carry no event data. CloudWatch cannot publish to a topic "
            "encrypted with the AWS-managed aws/sns key, and a customer-managed key would "
            "add idle cost; TLS is enforced (SNS3).",
        )

    def _logical_id(self, construct: Construct) -> str:
        default_child = construct.node.default_child
        assert isinstance(default_child, CfnElement)
        return str(self.resolve(self.get_logical_id(default_child)))


def _acknowledge(construct: Construct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))
