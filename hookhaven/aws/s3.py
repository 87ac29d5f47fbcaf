"""S3 adapter: bodies too large to travel inside a queue message."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from hookhaven.models import BodyPointer
from hookhaven.ports import StorageUnavailable
from hookhaven.resources import BODY_PREFIX

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3BodyStore:
    """Takes a factory for its client, called on first use: most events never need S3."""

    def __init__(self, client: Callable[[], S3Client], bucket: str) -> None:
        self._make_client = client
        self._bucket = bucket

    @functools.cached_property
    def _client(self) -> S3Client:
        return self._make_client()

    def put(self, key: str, body: bytes, content_type: str) -> BodyPointer:
        full_key = BODY_PREFIX + key
        try:
            self._client.put_object(
                Bucket=self._bucket, Key=full_key, Body=body, ContentType=content_type
            )
        except (ClientError, BotoCoreError) as error:
            raise StorageUnavailable("storing the body failed") from error
        return BodyPointer(bucket=self._bucket, key=full_key)

    def get(self, pointer: BodyPointer) -> bytes:
        try:
            response = self._client.get_object(Bucket=pointer.bucket, Key=pointer.key)
            return response["Body"].read()
        except (ClientError, BotoCoreError) as error:
            raise StorageUnavailable("reading the body failed") from error
