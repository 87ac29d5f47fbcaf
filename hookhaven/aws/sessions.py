"""boto3 sessions that share botocore's loaded data within a process.

Every ``boto3.Session()`` starts with an empty loader, so its first client parses
botocore's endpoint rules and the service's model from JSON again: about 0.1 s for a
DynamoDB and an SQS client. One process that makes many sessions (the local stack, a
Lambda environment per poller, a test suite invoking the CLI hundreds of times) paid it
every time. Sessions made here share one loader; its data is read-only once loaded,
which is how one session already shares it among its clients.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session


class _SharedLoader(botocore.loaders.Loader):
    """A loader whose search paths are fixed when it is made: ``boto3.Session`` appends
    its own data directory to its loader's paths, which on a shared loader would add one
    more copy of it for every session. It appends to a copy here."""

    @property
    def search_paths(self) -> list[str]:
        return list(super().search_paths)


@functools.cache
def _loader(data_path: str | None) -> _SharedLoader:
    paths = botocore.loaders.create_loader(data_path).search_paths  # botocore's own order
    boto3_data = str(Path(boto3.__file__).parent / "data")  # as boto3 adds it
    return _SharedLoader(
        extra_search_paths=[*paths, boto3_data], include_default_search_paths=False
    )


def new_session(**kwargs: Any) -> boto3.Session:
    """``boto3.Session(**kwargs)``, with the process's shared loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader(core.get_config_variable("data_path")))
    return boto3.Session(botocore_session=core, **kwargs)
