"""boto3 clients tuned for Lambda: short timeouts, standard retries, created once per container."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

#: The receiver answers providers with a 5-10 s budget: fail fast and let them retry.
RECEIVER_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=32,
)


@functools.cache
def _session() -> boto3.Session:
    # One session for every client: botocore then loads its endpoint data once.
    return boto3.Session()


def _kwargs(config: Config) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"config": config}
    # The local stack and tests point every client at an emulator.
    endpoint = os.environ.get("HOOKHAVEN_AWS_ENDPOINT_URL")
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    return kwargs


#: Set only by the local stack's chaos setting (``hookhaven.local.chaos``): every client
#: made meanwhile is wrapped, so faults enter at the adapters' boundary.
_wrapper: Callable[[Any], Any] | None = None


@contextlib.contextmanager
def wrapping(wrapper: Callable[[Any], Any]) -> Iterator[None]:
    global _wrapper
    _wrapper = wrapper
    try:
        yield
    finally:
        _wrapper = None


def _made(client: Any) -> Any:
    return client if _wrapper is None else _wrapper(client)


def dynamodb(config: Config = RECEIVER_CONFIG) -> DynamoDBClient:
    return cast("DynamoDBClient", _made(_session().client("dynamodb", **_kwargs(config))))


def sqs(config: Config = RECEIVER_CONFIG) -> SQSClient:
    return cast("SQSClient", _made(_session().client("sqs", **_kwargs(config))))


def s3(config: Config = RECEIVER_CONFIG) -> S3Client:
    return cast("S3Client", _made(_session().client("s3", **_kwargs(config))))
