"""SSRF at delivery time: the dispatcher, as deployed (no loopback allowance), meets
subscriptions whose URLs point inside the network, literally or through DNS answers
that changed after the subscription was checked (rebinding).

Every one must be refused before a connection is made, and recorded as ``ssrf_blocked``.
The suite's socket guard would fail the test on any connection that is not loopback.
"""

from __future__ import annotations

import socket

import boto3
import pytest

from hookhaven.aws.dynamodb import DynamoEventStore
from hookhaven.local.poller import QueuePoller
from hookhaven.models import AttemptOutcome
from hookhaven.sender import Sender
from hookhaven.tunables import Tunables
from tests.integration.helpers import add_subscription, enqueue, queue_depth
from tests.unit.test_ssrf import BLOCKED_URLS

#: Names whose DNS answers are (or include) internal addresses.
REBOUND = {
    "localhost.bookhaven.example": ["127.0.0.1"],
    "metadata.bookhaven.example": ["169.254.169.254"],
    "ecs.bookhaven.example": ["169.254.170.2"],
    "intranet.bookhaven.example": ["10.1.2.3"],
    "mixed.bookhaven.example": ["93.184.215.14", "192.168.0.10"],
    "v6.bookhaven.example": ["2606:4700:4700::1111", "::1"],
    "imds6.bookhaven.example": ["fd00:ec2::254"],
    "mapped.bookhaven.example": ["::ffff:10.0.0.1"],
    "nat64.bookhaven.example": ["64:ff9b::a9fe:a9fe"],
    "cgnat.bookhaven.example": ["100.64.1.1"],
    "zero.bookhaven.example": ["0.0.0.0"],  # noqa: S104 (a DNS answer, not a bind)
}


@pytest.fixture
def tunables() -> Tunables:
    return Tunables.from_context({"retry_schedule": ["0s"], "retry_jitter": 0})


@pytest.fixture
def deployed_dispatcher(make_dispatcher):
    """The dispatcher as in Lambda: no loopback allowance; DNS answers from REBOUND."""

    def resolver(host: str, port: int) -> list[str]:
        if host in REBOUND:
            return REBOUND[host]
        # Literal addresses in every notation, parsed as the system resolver would, no DNS.
        return [str(a[4][0]) for a in socket.getaddrinfo(host, port, flags=socket.AI_NUMERICHOST)]

    return make_dispatcher(
        allow_loopback=False, sender=Sender(timeout_seconds=2, resolver=resolver)
    )


def test_internal_targets_are_refused_at_delivery_and_recorded(aws, deployed_dispatcher):
    urls = BLOCKED_URLS + [f"https://{host}/hooks" for host in REBOUND]
    messages = {}
    for url in urls:
        subscription = add_subscription(aws, url=url)
        messages[enqueue(aws, subscription).event_id] = url
    poller = QueuePoller(
        boto3.client("sqs"), aws.deliveries_queue_url, deployed_dispatcher.handler, wait_seconds=0
    )
    while poller.poll_once().received:
        pass

    store = DynamoEventStore(boto3.client("dynamodb"), aws.events_table)
    for event_id, url in messages.items():
        (attempt,) = store.attempts(event_id)
        assert (attempt.outcome, attempt.error) == (AttemptOutcome.EXHAUSTED, "ssrf_blocked"), url
        assert attempt.status_code is None, url
    assert queue_depth(aws.deliveries_queue_url) == 0
    assert len(messages) >= 45
