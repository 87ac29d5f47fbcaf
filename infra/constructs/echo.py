"""The echo subscriber (``echo_subscriber``): a function URL ``hookhaven smoke`` delivers to.

Opt-in, for proving a deployment: the function answers 204 to deliveries signed with the
secret of a running smoke test and 401 to anything else. It may read only the config
table's ``ECHO_SECRET`` partition, where the smoke command puts that secret
(``hookhaven.echo`` explains the design).
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from hookhaven.echo import CONFIG_TABLE_VARIABLE
from hookhaven.tunables import Tunables
from infra.constructs.python_function import python_function

#: Far inside the dispatcher's request timeout: one DynamoDB read and an HMAC.
TIMEOUT_SECONDS = 5
MEMORY_MB = 256


class EchoSubscriber(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tunables: Tunables,
        code: lambda_.Code,
        config_table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = python_function(
            self,
            "Function",
            code=code,
            handler="functions.echo.handler",
            tunables=tunables,
            timeout_seconds=TIMEOUT_SECONDS,
            memory_mb=MEMORY_MB,
            environment={CONFIG_TABLE_VARIABLE: config_table.table_name},
            description="hookhaven echo subscriber: 204 for deliveries signed with the "
            "running smoke test's secret, 401 otherwise",
        )
        # Subscribers are called without AWS credentials: the signature is the authentication.
        self.url = self.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
