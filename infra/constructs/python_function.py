"""The settings every hookhaven function shares."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from hookhaven import telemetry
from hookhaven.tunables import Tunables

#: The newest Python runtime aws-cdk-lib offers; cdk-nag's L1 rule checks it stays so.
RUNTIME = lambda_.Runtime.PYTHON_3_14


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    code: lambda_.Code,
    handler: str,
    tunables: Tunables,
    timeout_seconds: int,
    memory_mb: int,
    environment: Mapping[str, str],
    description: str,
    reserved_concurrency: int | None = None,
) -> lambda_.Function:
    """A function on arm64 with Powertools configured, X-Ray active and logs kept for a while.

    ``environment``: where its resources are (``Resources.to_env``), only those it uses.
    """
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=log_retention(tunables.log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    return lambda_.Function(
        scope,
        construct_id,
        runtime=RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        code=code,
        handler=handler,
        description=description,
        timeout=Duration.seconds(timeout_seconds),
        memory_size=memory_mb,
        tracing=lambda_.Tracing.ACTIVE,
        reserved_concurrent_executions=reserved_concurrency,
        log_group=log_group,
        environment={
            "POWERTOOLS_SERVICE_NAME": tunables.service_name,
            "POWERTOOLS_METRICS_NAMESPACE": telemetry.NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": tunables.log_level,
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
            # hookhaven uses no pydantic plugins: skip scanning every installed distribution.
            "PYDANTIC_DISABLE_PLUGINS": "__all__",
            **tunables.function_environment(),
            **environment,
        },
    )


def log_retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs retention for ``days`` (one of the values Tunables accepts)."""
    names = {
        1: "ONE_DAY",
        3: "THREE_DAYS",
        5: "FIVE_DAYS",
        7: "ONE_WEEK",
        14: "TWO_WEEKS",
        30: "ONE_MONTH",
        60: "TWO_MONTHS",
        90: "THREE_MONTHS",
        120: "FOUR_MONTHS",
        150: "FIVE_MONTHS",
        180: "SIX_MONTHS",
        365: "ONE_YEAR",
        400: "THIRTEEN_MONTHS",
        545: "EIGHTEEN_MONTHS",
        731: "TWO_YEARS",
        1827: "FIVE_YEARS",
        3653: "TEN_YEARS",
    }
    return logs.RetentionDays[names[days]]
