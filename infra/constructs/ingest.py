"""Ingest: the HTTP API and the receiver behind ``POST /webhooks/{source}`` (and ``HEAD``,
which Trello sends to a callback URL when a webhook is created)."""

from __future__ import annotations

import jsii
from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from hookhaven.tunables import Tunables
from infra.constructs.python_function import log_retention, python_function
from infra.constructs.storage import Storage

WEBHOOK_ROUTE = "/webhooks/{source}"

#: One JSON line per request: enough to trace a provider's call without its body.
_ACCESS_LOG_FORMAT = apigateway.AccessLogFormat.custom(
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"requestTime":"$context.requestTime","method":"$context.httpMethod",'
    '"path":"$context.path","routeKey":"$context.routeKey","status":"$context.status",'
    '"protocol":"$context.protocol","responseLength":"$context.responseLength",'
    '"latencyMs":"$context.responseLatency",'
    '"integrationLatencyMs":"$context.integrationLatency",'
    '"integrationError":"$context.integrationErrorMessage",'
    '"userAgent":"$context.identity.userAgent"}'
)


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return _ACCESS_LOG_FORMAT


class Ingest(Construct):
    """The public endpoint providers call; answers as soon as the event is kept and queued."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tunables: Tunables,
        code: lambda_.Code,
        storage: Storage,
        deliveries_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.receiver = python_function(
            self,
            "Receiver",
            code=code,
            handler="functions.receiver.handler",
            tunables=tunables,
            timeout_seconds=tunables.receiver_timeout_seconds,
            memory_mb=tunables.receiver_memory_mb,
            reserved_concurrency=tunables.receiver_reserved_concurrency,
            description="hookhaven receiver: verifies, keeps and fans out incoming webhooks",
            environment=storage.resources(
                deliveries_queue=deliveries_queue, dead_letter_queue=None
            ).to_env(),
        )

        self.api = apigwv2.HttpApi(
            self,
            "Api",
            description="hookhaven ingest: providers POST webhooks here",
            create_default_stage=False,
        )
        self.api.add_routes(
            path=WEBHOOK_ROUTE,
            # HEAD: Trello keeps a webhook only if its callback URL answers a HEAD with 200.
            methods=[apigwv2.HttpMethod.POST, apigwv2.HttpMethod.HEAD],
            integration=integrations.HttpLambdaIntegration("ReceiverIntegration", self.receiver),
        )
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(tunables.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=tunables.api_throttle_rate,
                burst_limit=tunables.api_throttle_burst,
            ),
            access_log_settings=_AccessLogSettings(self.access_logs),
        )

    @property
    def endpoint(self) -> str:
        """The API's base URL; webhooks go to ``<endpoint>/webhooks/<source>``."""
        return self.api.api_endpoint
