"""The local stack's emulator answers exactly as moto does, and makes each request atomic.

The emulator patches moto for speed (hookhaven/local/emulator/). The same scenario of
SQS and DynamoDB calls runs against it and against stock moto in process; both
transcripts must match. Then what stock moto's threaded server could get wrong under
concurrency must hold: one conditional write wins, a failed transaction undoes only
its own writes, and no message is received twice while it is invisible.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from hookhaven import quotas
from hookhaven.local.emulator import VERIFY_ENVIRONMENT, compat
from hookhaven.local.provision import LocalNames, provision
from hookhaven.local.stack import local_session, project_tunables
from tests.emulator import emulator

pytestmark = pytest.mark.xdist_group("e2e")

#: Receives before SQS's redrive moves the poison message of the SQS scenario.
POISON_RECEIVES = 3


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    # With versions other than compat.PINNED the emulator runs stock moto, and comparing
    # it with stock moto proves nothing. After an upgrade, set PINNED to the new versions
    # and make this file pass before committing them.
    compatibility = compat.check()
    assert compatibility.ok, compatibility.message
    # Every item result it writes the quick way is checked against moto's way.
    with emulator({VERIFY_ENVIRONMENT: "1"}) as url:
        yield url


class Aws:
    """Clients for one emulator (an endpoint URL) or for moto in process (None), and a
    fresh set of the stack's tables, queues and bucket."""

    serial = itertools.count()

    def __init__(self, endpoint: str | None) -> None:
        n = next(self.serial)
        session = local_session()
        self.dynamodb: Any = session.client("dynamodb", endpoint_url=endpoint)
        self.sqs: Any = session.client("sqs", endpoint_url=endpoint)
        self.s3: Any = session.client("s3", endpoint_url=endpoint)
        self.resources = provision(
            dynamodb=self.dynamodb,
            sqs=self.sqs,
            s3=self.s3,
            tunables=project_tunables(fast_retries=True),
            names=LocalNames(
                config_table=f"config-{n}",
                events_table=f"events-{n}",
                deliveries_queue=f"deliveries-{n}",
                dead_letter_queue=f"dlq-{n}",
                bodies_bucket=f"bodies-{n}",
            ),
        )


def error(call: Callable[[], Any]) -> dict[str, Any]:
    """What a refused call answers: its error code and, for transactions, the reasons."""
    with pytest.raises(ClientError) as refused:
        call()
    response = refused.value.response
    reasons = [r.get("Code") for r in response.get("CancellationReasons", [])]
    old = [r.get("Item") for r in response.get("CancellationReasons", [])]
    return {"code": response["Error"]["Code"], "reasons": reasons, "old": old,
            "item": response.get("Item")}  # fmt: skip


def plain(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k not in ("ResponseMetadata", "ConsumedCapacity")}


def sqs_scenario(aws: Aws) -> list[Any]:
    sqs, queue, dlq = (
        aws.sqs,
        aws.resources.deliveries_queue_url,
        aws.resources.require_dead_letter_queue(),
    )
    out: list[Any] = []

    def counts(url: str) -> dict[str, str]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]  # fmt: skip
        return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"])

    def receive(url: str, **options: Any) -> list[dict[str, Any]]:
        options = {"MaxNumberOfMessages": 10, "AttributeNames": ["All"], "WaitTimeSeconds": 0,
                   **options}  # fmt: skip
        messages = sqs.receive_message(QueueUrl=url, **options).get("Messages", [])
        return sorted(messages, key=lambda m: m["Body"])

    def seen(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in messages]

    sent = sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)],
    )
    out.append(sorted(e["Id"] for e in sent["Successful"]))
    out.append(counts(queue))
    first = receive(queue, VisibilityTimeout=30)
    out.append(seen(first))
    out.append(receive(queue, VisibilityTimeout=30))  # all in flight: nothing
    out.append(counts(queue))

    # Visibility 0 makes one visible again; it comes back with a new receipt handle.
    m0, m1, m2 = first
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=m0["ReceiptHandle"],
                                  VisibilityTimeout=0)  # fmt: skip
    again = receive(queue, VisibilityTimeout=30)
    out.append(seen(again))
    out.append(counts(queue))

    # Deleting: the newest handle, a batch with one good and one bogus handle, twice.
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=again[0]["ReceiptHandle"])
    deleted = sqs.delete_message_batch(
        QueueUrl=queue,
        Entries=[
            {"Id": "good", "ReceiptHandle": m1["ReceiptHandle"]},
            {"Id": "bogus", "ReceiptHandle": "not-a-receipt-handle"},
        ],
    )
    out.append(sorted(e["Id"] for e in deleted["Successful"]))
    out.append(sorted((e["Id"], e["Code"]) for e in deleted.get("Failed", [])))
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=m1["ReceiptHandle"])  # again: fine
    out.append(
        error(lambda: sqs.change_message_visibility(
            QueueUrl=queue, ReceiptHandle="not-a-receipt-handle", VisibilityTimeout=0))
    )  # fmt: skip
    out.append(
        error(lambda: sqs.change_message_visibility(
            QueueUrl=queue, ReceiptHandle=m1["ReceiptHandle"], VisibilityTimeout=0))
    )  # fmt: skip
    out.append(counts(queue))
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=m2["ReceiptHandle"])
    out.append(counts(queue))

    # A long poll returns a message once its visibility runs out within the wait.
    sqs.send_message(QueueUrl=queue, MessageBody="later")
    (later,) = receive(queue, VisibilityTimeout=1)
    out.append(seen(receive(queue, VisibilityTimeout=30, WaitTimeSeconds=5)))
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=later["ReceiptHandle"])

    # Redrive: received maxReceiveCount times, the next receive moves it to the DLQ. The
    # stack's backstop is SQS's maximum (1,000 receives); a few show the same rule.
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": POISON_RECEIVES}
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"RedrivePolicy": json.dumps(redrive)})
    sqs.send_message(QueueUrl=queue, MessageBody="poison")
    for _ in range(POISON_RECEIVES):
        out.append(seen(receive(queue, VisibilityTimeout=0)))
    out.append(receive(queue, VisibilityTimeout=0))
    out.append(counts(dlq))
    parked = receive(dlq, VisibilityTimeout=30)
    out.append([m["Body"] for m in parked])
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=parked[0]["ReceiptHandle"])
    out.append(counts(dlq))

    # Delayed messages are counted apart and not received.
    sqs.send_message(QueueUrl=queue, MessageBody="delayed", DelaySeconds=60)
    out.append(counts(queue))
    out.append(receive(queue))
    return out


def dynamodb_scenario(aws: Aws) -> list[Any]:
    db, table = aws.dynamodb, aws.resources.events_table
    out: list[Any] = []

    def key(pk: str, sk: str = "EVENT") -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def get(pk: str, sk: str = "EVENT") -> Any:
        return db.get_item(TableName=table, Key=key(pk, sk), ConsistentRead=True).get("Item")

    def put(pk: str, **attributes: str) -> dict[str, Any]:
        item = {**key(pk), **{k: {"S": v} for k, v in attributes.items()}}
        return {"Put": {"TableName": table, "Item": item}}

    def update(pk: str, status: str, expected: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": table,
                "Key": key(pk),
                "UpdateExpression": "SET #s = :new REMOVE lease",
                "ConditionExpression": "#s = :old",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":new": {"S": status}, ":old": {"S": expected}},
            }
        }

    db.put_item(
        TableName=table,
        Item={
            **key("A"),
            "status": {"S": "new"},
            "lease": {"N": "5"},
            "body": {"B": b"\x00\xffbinary"},
            "nested": {"M": {"l": {"L": [{"N": "1"}, {"NULL": True}]}, "ok": {"BOOL": True}}},
        },
    )
    out.append(
        error(lambda: db.put_item(
            TableName=table, Item={**key("A"), "status": {"S": "other"}},
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD"))
    )  # fmt: skip
    out.append(get("A"))

    # A failed transaction leaves nothing of itself, and everything else, behind.
    out.append(
        error(
            lambda: db.transact_write_items(
                TransactItems=[put("B", status="x"), update("A", "done", expected="wrong")]
            )
        )
    )
    out.append([get("A"), get("B")])
    out.append(
        error(
            lambda: db.transact_write_items(
                TransactItems=[
                    update("A", "done", expected="new"),
                    put("C", v="1"),
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": key("Z"),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                ]
            )
        )
    )
    out.append([get("A"), get("C")])
    out.append(
        error(lambda: db.transact_write_items(TransactItems=[put("D", v="1"), put("D", v="2")]))
    )
    out.append(get("D"))
    out.append(
        error(
            lambda: db.transact_write_items(
                TransactItems=[
                    {"Delete": {"TableName": table, "Key": key("A")}},
                    {"Put": {**put("E")["Put"], "ConditionExpression": "attribute_exists(pk)"}},
                ]
            )
        )
    )
    out.append([get("A"), get("E")])

    # A transaction that succeeds writes all of it.
    out.append(
        plain(
            db.transact_write_items(
                TransactItems=[put("B", status="x"), update("A", "done", expected="new")]
            )
        )
    )
    out.append([get("A"), get("B")])

    db.put_item(TableName=table, Item={**key("A", "ATTEMPT#1"), "n": {"N": "1"}})
    db.put_item(TableName=table, Item={**key("A", "ATTEMPT#2"), "n": {"N": "2"}})
    out.append(
        plain(
            db.query(
                TableName=table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                ExpressionAttributeValues={":pk": {"S": "A"}, ":p": {"S": "ATTEMPT#"}},
            )
        )
    )
    page = db.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "A"}},
        Limit=1,
        ScanIndexForward=False,
    )
    out.append(plain(page))
    out.append(
        plain(
            db.query(
                TableName=table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "A"}},
                Limit=1,
                ScanIndexForward=False,
                ExclusiveStartKey=page["LastEvaluatedKey"],
            )
        )
    )
    out.append(
        plain(
            db.query(
                TableName=table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "nobody"}},
            )
        )
    )
    for n in range(3):
        db.put_item(
            TableName=table,
            Item={
                **key(f"EVENT#{n}"),
                "gsi1pk": {"S": "SOURCE#shop"},
                "gsi1sk": {"S": f"2026-01-0{n + 1}#{n}"},
            },
        )

    def index_since(index: str, keys: str, pk: str, start: str, **more: Any) -> Any:
        """An index's items under ``pk`` from ``start`` on (``keys``: "gsiNpk gsiNsk")."""
        pk_name, sk_name = keys.split()
        return plain(
            db.query(
                TableName=table,
                IndexName=index,
                KeyConditionExpression=f"{pk_name} = :pk AND {sk_name} >= :start",
                ExpressionAttributeValues={":pk": {"S": pk}, ":start": {"S": start}},
                **more,
            )
        )

    out.append(
        index_since(
            "by_source", "gsi1pk gsi1sk", "SOURCE#shop", "2026-01-02", ScanIndexForward=False
        )
    )
    # Projections (by_time carries some attributes only; a ProjectionExpression picks
    # some): values of every kind, numbers as written and not, come back as moto's own.
    # No string, number or binary sets: moto hands those back in an order that hangs on
    # the process's hash seed, so two processes never agree on it.
    kinds: list[dict[str, Any]] = [
        {"N": "1.50"},
        {"N": "007"},
        {"N": "1e3"},
        {"N": "-0"},
        {"B": b"\x00\xff"},
        {"NULL": True},
        {"BOOL": False},
        {"L": [{"N": "1"}, {"S": "x"}, {"M": {"z": {"N": "2"}, "a": {"NULL": True}}}]},
        {"M": {"n": {"N": "010"}, "s": {"L": [{"S": "y"}, {"B": b"x"}]}}},
        {"S": "plain"},
    ]
    for n, value in enumerate(kinds):
        db.put_item(
            TableName=table,
            Item={
                **key(f"EVENT#P{n}"),
                "gsi2pk": {"S": "EVENT#2026-01-01#0"},
                "gsi2sk": {"S": f"2026-01-01T00:00:{n:02d}"},
                "subscriptions": value,
                "at": {"N": str(n)},
                "not_listed": {"S": "left out"},
            },
        )
    out.append(index_since("by_time", "gsi2pk gsi2sk", "EVENT#2026-01-01#0", "2026-01-01"))
    for n in range(len(kinds)):
        out.append(
            plain(
                db.query(
                    TableName=table,
                    KeyConditionExpression="pk = :pk",
                    ProjectionExpression="#s, #a, absent_here, sk",
                    ExpressionAttributeNames={"#s": "subscriptions", "#a": "at"},
                    ExpressionAttributeValues={":pk": {"S": f"EVENT#P{n}"}},
                )
            )
        )
    for pk in ("EVENT#P7", "EVENT#P8"):  # paths, not names: moto's way
        out.append(
            plain(
                db.query(
                    TableName=table,
                    KeyConditionExpression="pk = :pk",
                    ProjectionExpression="subscriptions[0], subscriptions.n",
                    ExpressionAttributeValues={":pk": {"S": pk}},
                )
            )
        )
    out.append(
        plain(
            db.update_item(
                TableName=table,
                Key=key("B"),
                UpdateExpression="SET n = :n",
                ExpressionAttributeValues={":n": {"N": "7"}},
                ReturnValues="ALL_NEW",
            )
        )
    )
    out.append(plain(db.delete_item(TableName=table, Key=key("B"), ReturnValues="ALL_OLD")))
    out.append(get("B"))
    return out  # fmt: skip


@pytest.mark.parametrize("scenario", [sqs_scenario, dynamodb_scenario])
def test_the_emulator_answers_as_stock_moto_does(emulator_url, monkeypatch, scenario):
    emulated = scenario(Aws(emulator_url))
    for name in ("AWS_ENDPOINT_URL", "HOOKHAVEN_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        stock = scenario(Aws(None))
    assert emulated == stock


@pytest.fixture
def aws(emulator_url) -> Aws:
    return Aws(emulator_url)


def in_threads(count: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_of_racing_conditional_writes_exactly_one_wins(aws):
    db, table = aws.dynamodb, aws.resources.events_table
    wins: list[tuple[int, int]] = []
    codes: list[str] = []

    def claim(worker: int) -> None:
        for record in range(20):
            try:
                db.put_item(
                    TableName=table,
                    Item={"pk": {"S": f"DEDUPE#{record}"}, "sk": {"S": "DEDUPE"}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as refused:
                codes.append(refused.response["Error"]["Code"])
            else:
                wins.append((record, worker))

    in_threads(8, claim)
    assert sorted(record for record, _ in wins) == list(range(20))
    assert codes == ["ConditionalCheckFailedException"] * (8 * 20 - 20)


def test_a_failing_transaction_undoes_only_its_own_writes(aws):
    db, table = aws.dynamodb, aws.resources.events_table

    def fail(worker: int) -> None:
        for n in range(25):
            with pytest.raises(ClientError):
                db.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": table,
                                 "Item": {"pk": {"S": f"T{worker}-{n}"}, "sk": {"S": "EVENT"}}}},
                        {"ConditionCheck": {"TableName": table,
                                            "Key": {"pk": {"S": "absent"}, "sk": {"S": "EVENT"}},
                                            "ConditionExpression": "attribute_exists(pk)"}},
                    ]
                )  # fmt: skip

    def write(worker: int) -> None:
        for n in range(50):
            db.put_item(TableName=table, Item={"pk": {"S": f"W{worker}-{n}"}, "sk": {"S": "EVENT"}})

    in_threads(6, lambda i: fail(i) if i % 2 else write(i))
    items = db.scan(TableName=table, ConsistentRead=True)["Items"]
    assert sorted(i["pk"]["S"] for i in items) == sorted(
        f"W{w}-{n}" for w in (0, 2, 4) for n in range(50)
    )


def test_no_message_is_received_twice_while_invisible(aws):
    sqs, queue = aws.sqs, aws.resources.deliveries_queue_url
    for start in range(0, 60, 10):
        sqs.send_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)],
        )
    received: list[str] = []

    def take(_: int) -> None:
        while True:
            messages = sqs.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=3, VisibilityTimeout=60
            ).get("Messages", [])
            if not messages:
                return
            received.extend(m["Body"] for m in messages)

    in_threads(6, take)
    assert sorted(received) == sorted(f"m{i}" for i in range(60))


# --- the quotas AWS enforces, enforced here too (hookhaven/quotas.py) ------------------


def test_a_message_over_its_queues_maximum_size_is_refused(aws):
    """hookhaven's queues are created with MaximumMessageSize 256 KiB, as on AWS."""
    url = aws.resources.deliveries_queue_url
    limit = quotas.DELIVERY_MESSAGE_SIZE_MAX
    aws.sqs.send_message(QueueUrl=url, MessageBody="x" * limit)
    refused = error(lambda: aws.sqs.send_message(QueueUrl=url, MessageBody="x" * (limit + 1)))
    assert refused["code"].endswith("InvalidParameterValue")


def test_a_batch_over_the_total_payload_limit_is_refused(aws):
    url = aws.resources.deliveries_queue_url
    entry = "x" * quotas.DELIVERY_MESSAGE_SIZE_MAX
    entries = [{"Id": str(n), "MessageBody": entry} for n in range(5)]  # 1.25 MiB in all
    refused = error(lambda: aws.sqs.send_message_batch(QueueUrl=url, Entries=entries))
    assert refused["code"].endswith("BatchRequestTooLong")


def test_a_batch_of_more_than_ten_entries_is_refused(aws):
    url = aws.resources.deliveries_queue_url
    entries = [
        {"Id": str(n), "MessageBody": "{}"} for n in range(quotas.SQS_BATCH_ENTRIES.value + 1)
    ]
    refused = error(lambda: aws.sqs.send_message_batch(QueueUrl=url, Entries=entries))
    assert refused["code"].endswith("TooManyEntriesInBatchRequest")


def test_an_item_over_400_kb_is_refused(aws):
    table = aws.resources.events_table
    big = "x" * quotas.DYNAMODB_ITEM_SIZE_MAX.value
    refused = error(
        lambda: aws.dynamodb.put_item(
            TableName=table, Item={"pk": {"S": "EVENT#big"}, "sk": {"S": "EVENT"}, "v": {"S": big}}
        )
    )
    assert refused["code"] == "ValidationException"


def test_a_visibility_past_twelve_hours_from_the_receive_is_refused(aws):
    url = aws.resources.deliveries_queue_url
    aws.sqs.send_message(QueueUrl=url, MessageBody="{}")
    (message,) = aws.sqs.receive_message(QueueUrl=url)["Messages"]
    handle = message["ReceiptHandle"]
    time.sleep(1.1)  # now a second of the 12 hours is gone
    refused = error(
        lambda: aws.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=quotas.SQS_VISIBILITY_MAX.value
        )
    )
    assert refused["code"].endswith("InvalidParameterValue")
    aws.sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=quotas.SQS_VISIBILITY_MAX.value - 60
    )
