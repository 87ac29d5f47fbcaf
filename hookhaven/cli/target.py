"""Which hookhaven the CLI talks to: a deployed stack, or an emulator (the local stack)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from hookhaven.aws.sessions import new_session
from hookhaven.local.provision import LocalNames
from hookhaven.local.stack import LOCAL_REGION
from hookhaven.resources import Resources

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

LOCAL_ENDPOINT = "http://127.0.0.1:4566"
LOCAL_API = "http://127.0.0.1:3000"
DEFAULT_STACK = "HookHaven"
#: The stack output naming the ingest API, which the CLI needs besides the resources.
API_URL_OUTPUT = "ApiUrl"
#: The stack output naming the echo subscriber, which `smoke` delivers to (only when the
#: stack was deployed with echo_subscriber on).
ECHO_URL_OUTPUT = "EchoSubscriberUrl"
ACCOUNT_ID = re.compile(r"\d{12}")
_CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=20, retries={"mode": "standard"})


class CliError(Exception):
    """A user-facing problem: printed as one line on stderr, exit status 1."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hookhaven"


def read_cached_outputs(path: Path) -> dict[str, str] | None:
    """A stack's outputs as cached by an earlier run; None when there is no cache, or one
    this version cannot use (an older format, a damaged file): then they are read again."""
    try:
        outputs = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(outputs, dict) or any(
        not isinstance(outputs.get(name), str) for name in Resources.OUTPUTS.values()
    ):
        return None
    return outputs


def write_cached_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    wanted = (*Resources.OUTPUTS.values(), API_URL_OUTPUT, ECHO_URL_OUTPUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: v for k, v in outputs.items() if k in wanted}))


def explain(error: Exception, *, where: str) -> CliError:
    """Turn an AWS client failure into one line a person can act on."""
    if isinstance(error, EndpointConnectionError):
        if where.startswith("http://127.0.0.1") or where.startswith("http://localhost"):
            return CliError(
                f"cannot reach the AWS emulator at {where}: is the local stack running? "
                "(start it with `make dev`)"
            )
        return CliError(f"cannot reach {where}: {error}")
    if isinstance(error, NoCredentialsError):
        return CliError(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "(or use --local for the local stack)"
        )
    if isinstance(error, NoRegionError):
        return CliError("no AWS region configured: set AWS_REGION or AWS_DEFAULT_REGION")
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return CliError(
            f"AWS refused the request ({details.get('Code')}): {details.get('Message')}"
        )
    if isinstance(error, BotoCoreError):
        return CliError(f"AWS call failed: {error}")
    return CliError(str(error))


class Target:
    """Clients and resource names for one hookhaven; everything is resolved on first use."""

    def __init__(
        self,
        *,
        stack: str | None,
        endpoint_url: str | None,
        local: bool,
        refresh: bool = False,
    ) -> None:
        self.local = local
        self.endpoint_url = LOCAL_ENDPOINT if local and not endpoint_url else endpoint_url
        self.stack = stack if not local else None
        if not self.stack and not self.endpoint_url:
            self.stack = DEFAULT_STACK
        self.emulated = self.endpoint_url is not None
        self._refresh = refresh
        self._resolved: tuple[Resources, str | None] | None = None
        self._outputs: dict[str, str] = {}
        self._clients: dict[str, Any] = {}
        if self.emulated:
            # Emulators accept any credentials; use stand-ins so none are needed.
            self._session = new_session(
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "hookhaven-local"),
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "hookhaven-local"),
                region_name=LOCAL_REGION if local else (_region() or LOCAL_REGION),
            )
        else:
            self._session = new_session()

    @property
    def where(self) -> str:
        return self.endpoint_url or f"AWS ({self._session.region_name or 'no region'})"

    @property
    def allow_loopback(self) -> bool:
        """Local and emulated targets may deliver to loopback over http; AWS never."""
        return self.emulated

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.new_client(service)
        return self._clients[service]

    def new_client(self, service: str) -> Any:
        """A client of its own (``client`` shares one per service)."""
        try:
            return self._session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.endpoint_url,
                config=_CLIENT_CONFIG,
            )
        except (BotoCoreError, ClientError) as error:
            raise explain(error, where=self.where) from None

    def dynamodb(self) -> DynamoDBClient:
        return self.client("dynamodb")  # type: ignore[no-any-return]

    def sqs(self) -> SQSClient:
        return self.client("sqs")  # type: ignore[no-any-return]

    def cloudwatch(self) -> CloudWatchClient:
        return self.client("cloudwatch")  # type: ignore[no-any-return]

    @property
    def resources(self) -> Resources:
        return self._resolve()[0]

    @property
    def api_url(self) -> str | None:
        """The ingest API's base URL, when known (a stack's ApiUrl output, or --local)."""
        return self._resolve()[1]

    def refresh(self) -> None:
        """Read the stack's outputs again on next use, not from the cache (--refresh-outputs)."""
        self._refresh, self._resolved = True, None

    def stack_output(self, name: str) -> str | None:
        """One of the stack's outputs; None without a stack (an emulator alone) or when the
        stack has no such output."""
        if not self.stack:
            return None
        self._resolve()
        return self._outputs.get(name)

    def _resolve(self) -> tuple[Resources, str | None]:
        if self._resolved is None:
            try:
                self._resolved = self._stack_resources() if self.stack else self._local_resources()
            except CliError:
                raise
            except Exception as error:
                raise explain(error, where=self.where) from None
        return self._resolved

    def _local_resources(self) -> tuple[Resources, str | None]:
        names = LocalNames()
        sqs = self.sqs()
        try:
            deliveries = sqs.get_queue_url(QueueName=names.deliveries_queue)["QueueUrl"]
            dlq = sqs.get_queue_url(QueueName=names.dead_letter_queue)["QueueUrl"]
        except ClientError as error:
            if "NonExistentQueue" in str(error) or "QueueDoesNotExist" in str(error):
                raise CliError(
                    f"the emulator at {self.endpoint_url} has no hookhaven resources: "
                    "start the local stack with `make dev`"
                ) from None
            raise
        resources = Resources(
            config_table=names.config_table,
            events_table=names.events_table,
            deliveries_queue_url=deliveries,
            dead_letter_queue_url=dlq,
            bodies_bucket=names.bodies_bucket,
        )
        return resources, LOCAL_API if self.local else None

    def _stack_resources(self) -> tuple[Resources, str | None]:
        assert self.stack is not None
        region = self._session.region_name or "no-region"
        outputs = None
        cached: Path | None = None
        if not self.emulated:
            # Keyed by account: another account's credentials must never be pointed at this
            # account's tables and queues (the same stack name is common to both).
            cached = cache_dir() / "stacks" / f"{self._account()}-{region}-{self.stack}.json"
            if not self._refresh:
                outputs = read_cached_outputs(cached)
        if outputs is None:
            outputs = self._stack_outputs(region)
            if cached is not None:
                write_cached_outputs(cached, outputs)
        self._outputs = outputs
        return Resources.from_outputs(outputs), outputs.get(API_URL_OUTPUT)

    def _account(self) -> str:
        """The credentials' account: asked of STS once per access key, then remembered
        (an access key belongs to one account for life; temporary keys are asked anew)."""
        credentials = self._session.get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        access_key = credentials.get_frozen_credentials().access_key or ""
        remembered = cache_dir() / "accounts" / hashlib.sha256(access_key.encode()).hexdigest()
        try:
            account = remembered.read_text().strip()
        except OSError:
            account = ""
        if not ACCOUNT_ID.fullmatch(account):
            account = self.client("sts").get_caller_identity()["Account"]
            remembered.parent.mkdir(parents=True, exist_ok=True)
            remembered.write_text(account)
        return account

    def _stack_outputs(self, region: str) -> dict[str, str]:
        cloudformation = self.client("cloudformation")
        try:
            stacks = cloudformation.describe_stacks(StackName=self.stack)["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                raise CliError(
                    f"stack {self.stack} not found in {region}: deploy it with `make deploy`, "
                    "or pick another with --stack / HOOKHAVEN_STACK"
                ) from None
            raise
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        missing = [name for name in Resources.OUTPUTS.values() if name not in outputs]
        if missing:
            raise CliError(f"stack {self.stack} is not a hookhaven stack (no {', '.join(missing)})")
        return outputs


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
