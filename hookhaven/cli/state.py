"""What one invocation works with, kept in the click context: the target, how to answer,
and the adapters the operations run on (each built on first use)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import typer
from rich.console import Console

from hookhaven.aws.cloudwatch import CloudWatchQueueAge
from hookhaven.aws.control import DynamoControlStore
from hookhaven.aws.dlq import SqsDeadLetterQueue
from hookhaven.aws.dynamodb import DynamoConfigStore, DynamoEventStore
from hookhaven.aws.echo import DynamoEchoSecrets
from hookhaven.aws.sqs import SqsDeliveryQueue, SqsQueueInspector
from hookhaven.cli.target import CliError, Target
from hookhaven.durations import parse_duration

T = TypeVar("T")


class _Deferred:
    def __init__(self, build: Callable[[], object]) -> None:
        self._build = build
        self._adapter: object | None = None

    def __getattr__(self, name: str) -> Any:
        if self._adapter is None:
            self._adapter = self._build()
        return getattr(self._adapter, name)


def deferred(build: Callable[[], T]) -> T:
    """The adapter ``build()`` makes, made when an operation first uses it: operations check
    their input first, and finding a stack's resources costs an AWS call (and credentials)."""
    return cast(T, _Deferred(build))


class State:
    def __init__(self, target: Target, *, as_json: bool, console: Console | None = None) -> None:
        self.target = target
        self.json = as_json
        self.console = console or Console()

    @functools.cached_property
    def config(self) -> DynamoConfigStore:
        return deferred(
            lambda: DynamoConfigStore(self.target.dynamodb(), self.target.resources.config_table)
        )

    @functools.cached_property
    def events(self) -> DynamoEventStore:
        return deferred(
            lambda: DynamoEventStore(self.target.dynamodb(), self.target.resources.events_table)
        )

    @functools.cached_property
    def control(self) -> DynamoControlStore:
        return deferred(
            lambda: DynamoControlStore(self.target.dynamodb(), self.target.resources.events_table)
        )

    @functools.cached_property
    def echo_secrets(self) -> DynamoEchoSecrets:
        return deferred(
            lambda: DynamoEchoSecrets(self.target.dynamodb(), self.target.resources.config_table)
        )

    @functools.cached_property
    def deliveries_queue(self) -> SqsDeliveryQueue:
        return deferred(lambda: SqsDeliveryQueue(self.target.sqs(), self._deliveries_url))

    @functools.cached_property
    def deliveries_depth(self) -> SqsQueueInspector:
        return deferred(lambda: SqsQueueInspector(self.target.sqs(), self._deliveries_url))

    @functools.cached_property
    def dead_letters_depth(self) -> SqsQueueInspector:
        return deferred(lambda: SqsQueueInspector(self.target.sqs(), self._dead_letters_url))

    @functools.cached_property
    def dead_letters(self) -> SqsDeadLetterQueue:
        return deferred(
            lambda: SqsDeadLetterQueue(
                self.target.sqs(),
                dead_letter_queue_url=self._dead_letters_url,
                deliveries_queue_url=self._deliveries_url,
            )
        )

    @functools.cached_property
    def oldest_delivery(self) -> CloudWatchQueueAge:
        return deferred(lambda: CloudWatchQueueAge(self.target.cloudwatch(), self._deliveries_url))

    @property
    def _deliveries_url(self) -> str:
        return self.target.resources.deliveries_queue_url

    @property
    def _dead_letters_url(self) -> str:
        return self.target.resources.require_dead_letter_queue()


def state(ctx: typer.Context) -> State:
    value = ctx.find_root().obj
    assert isinstance(value, State), "the root callback sets the state"
    return value


def seconds(text: str, option: str) -> int:
    """A duration option (``30s``, ``5m``, ``24h``, ``3d``) in seconds."""
    try:
        return parse_duration(text)
    except ValueError as error:
        raise CliError(f"{option}: {error}") from None
