"""The local stack's AWS emulator: moto's server, patched for speed and for atomic requests.

moto answers the same API as AWS, but several of its paths cost time in proportion
to everything it holds, which made a surge slower with every event already kept, and
its server spent more on each request than the request itself:

- DynamoDB ``TransactWriteItems`` backed up every table it touches (``copy.deepcopy``)
  to roll back on failure. Here it keeps copies of just the items it touches, and a
  failed transaction puts back exactly those.
- SQS scanned the whole queue several times per message sent and received (to count
  messages for attributes nobody asked for), scanned it again per receipt handle to
  delete a message or change its visibility, and read the clock through two datetime
  conversions per message and scan. Here the counts are made only when a caller reads
  them (GetQueueAttributes), receipt handles are looked up in an index, and the clock
  is ``time.time()`` (what moto computes, the long way).
- werkzeug's development server closed the connection after every response, so each
  call paid for a new connection and a new thread; here connections stay open.
- Every DynamoDB Query page listed and sorted the whole table to pick out a few items;
  here a query on the table's key reads its partition, one on an index skips the sort.
- Every request listed moto's package directory, tried hundreds of URL patterns to
  find its service, and listed its handler's methods; the answers never change, so
  they are kept. Item results (plain DynamoDB JSON) are written as JSON directly
  rather than through moto's shape-walking serializer. Nothing is logged per request.

moto's threaded server has no locking of its own: two requests could interleave a
conditional write's check and its write, two receives could take the same message,
and a transaction's rollback could undo a concurrent write. AWS makes each request
atomic, and so does this server: one request at a time runs in moto (a long-polling
ReceiveMessage gives way while it waits, and ends, as SQS's does, when a message
becomes visible again). The emulator is bound by one core anyway: this costs about 5%
of its throughput.

tests/e2e/test_emulator.py checks that it answers as stock moto does.

Run as ``python -m hookhaven.local.emulator -H 127.0.0.1 -p 4566``.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import copy as _copy
import functools
import io
import json
import os
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from types import SimpleNamespace
from typing import Any

#: Set to a file path: the emulator writes its time per AWS operation there when it exits
#: (bench/local_stack.py --profile).
PROFILE_ENVIRONMENT = "HOOKHAVEN_EMULATOR_PROFILE"
#: Set (to anything): every DynamoDB response written the quick way is also written moto's
#: way, and a difference fails the request (tests/e2e/test_emulator.py).
VERIFY_ENVIRONMENT = "HOOKHAVEN_EMULATOR_VERIFY"
#: The DynamoDB operations whose results are plain DynamoDB JSON, written as JSON directly.
PLAIN_JSON_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class _Serial:
    """The one lock every state-changing request holds; a long poll lets go while it waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()

    def __enter__(self) -> None:
        self._lock.acquire()
        self._local.held = True

    def __exit__(self, *exc: object) -> None:
        self._local.held = False
        self._lock.release()

    def held(self) -> bool:
        return bool(getattr(self._local, "held", False))

    def waiting(self, wait: Callable[[], Any]) -> Any:
        """Run ``wait`` (a blocking wait) without the lock, if this thread holds it."""
        if not self.held():
            return wait()
        self.__exit__()
        try:
            return wait()
        finally:
            self.__enter__()


SERIAL = _Serial()
_quick = threading.local()


def _now_ms() -> float:
    return time.time() * 1000.0


def _install_clock() -> None:
    """moto's ``unix_time()`` is ``time.time()`` computed through datetimes; use it directly."""
    from moto.core import utils

    slow_unix_time = utils.unix_time

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else float(slow_unix_time(dt))

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    slow_millis = utils.unix_time_millis
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "") or ""
        if not (name == "moto" or name.startswith("moto.")):
            continue
        if getattr(module, "unix_time", None) is slow_unix_time:
            setattr(module, "unix_time", unix_time)  # noqa: B010
        if getattr(module, "unix_time_millis", None) is slow_millis:
            setattr(module, "unix_time_millis", unix_time_millis)  # noqa: B010


def _install_dispatch() -> None:
    """Keep what moto works out anew on every request, with the same answer every time:
    the service a host name maps to, the action methods of a response class, and the
    snake_case name of an action or attribute."""
    from moto import backends
    from moto.core import responses, utils
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    snake_case = functools.lru_cache(maxsize=4096)(utils.camelcase_to_underscores)
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "") or ""
        if (name == "moto" or name.startswith("moto.")) and getattr(
            module, "camelcase_to_underscores", None
        ) is utils.camelcase_to_underscores:
            setattr(module, "camelcase_to_underscores", snake_case)  # noqa: B010

    method_names = functools.cache(utils.method_names_from_class)
    responses.method_names_from_class = method_names  # type: ignore[attr-defined]

    modules = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    find_backend = DomainDispatcherApplication.get_backend_for_host
    unknown = object()

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        cache: dict[str | None, Any] = self.__dict__.setdefault("_hookhaven_backends", {})
        backend = cache.get(host, unknown)
        if backend is unknown:
            backend = cache[host] = find_backend(self, host)
        return backend

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _install_sqs() -> None:
    from moto.sqs import models
    from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid

    message_class, queue_class, backend_class = models.Message, models.Queue, models.SQSBackend
    assert message_class.__eq__ is object.__eq__  # `in` and `remove` on queues go by identity

    # What moto computes, with one clock read per scan instead of two datetimes per message.
    def visible(self: Any) -> bool:
        return bool(_now_ms() > self.visible_at)

    def delayed(self: Any) -> bool:
        return bool(_now_ms() < self.delayed_until)

    message_class.visible = property(visible)  # type: ignore[assignment,method-assign]
    message_class.delayed = property(delayed)  # type: ignore[assignment,method-assign]

    def messages(self: Any) -> list[Any]:
        now = _now_ms()
        return [m for m in self._messages if now > m.visible_at and now >= m.delayed_until]

    # Counting scans the queue: only a caller that reads the counts pays for it. Inside
    # SendMessage and ReceiveMessage moto builds every attribute to read one that is not
    # a count (ContentBasedDeduplication, MessageRetentionPeriod).
    def approximate_number_of_messages(self: Any) -> int:
        return 0 if getattr(_quick, "on", False) else len(self.messages)

    def approximate_number_of_messages_delayed(self: Any) -> int:
        if getattr(_quick, "on", False):
            return 0
        now = _now_ms()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def approximate_number_of_messages_not_visible(self: Any) -> int:
        if getattr(_quick, "on", False):
            return 0
        now = _now_ms()
        return sum(1 for m in self._messages if not now > m.visible_at)

    queue_class.messages = property(messages)  # type: ignore[assignment,method-assign]
    queue_class.approximate_number_of_messages = property(approximate_number_of_messages)  # type: ignore[assignment,method-assign]
    queue_class.approximate_number_of_messages_delayed = property(  # type: ignore[assignment,method-assign]
        approximate_number_of_messages_delayed
    )
    queue_class.approximate_number_of_messages_not_visible = property(  # type: ignore[assignment,method-assign]
        approximate_number_of_messages_not_visible
    )

    def quick(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            outer = getattr(_quick, "on", False)
            _quick.on = True
            try:
                return method(*args, **kwargs)
            finally:
                _quick.on = outer

        return wrapper

    backend_class.send_message = quick(backend_class.send_message)  # type: ignore[method-assign]
    backend_class.receive_message = quick(backend_class.receive_message)  # type: ignore[method-assign]

    # For each message it receives, moto built every queue attribute (three times) to read
    # the retention period; and the message groups in flight, which only FIFO queues have.
    def is_message_valid_based_on_retention_period(
        self: Any, queue_name: str, message: Any
    ) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period
        return bool(retention_period + message.sent_timestamp / 1000 > time.time())

    backend_class.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )
    pending_message_groups: Any = queue_class.pending_message_groups

    def pending_groups(self: Any) -> set[str]:
        return set(pending_message_groups.fget(self)) if self.fifo_queue else set()

    queue_class.pending_message_groups = property(pending_groups)  # type: ignore[assignment,method-assign]

    # Receipt handle -> message, instead of asking every message of the queue in turn.
    by_handle: dict[str, Any] = {}
    mark_received = message_class.mark_received

    def mark_received_indexed(self: Any, visibility_timeout: int | None = None) -> None:
        mark_received(self, visibility_timeout)
        by_handle[self.receipt_handle] = self

    message_class.mark_received = mark_received_indexed  # type: ignore[method-assign]

    def holding(queue: Any, receipt_handle: str) -> Any:
        message = by_handle.get(receipt_handle)
        return message if message is not None and message in queue._messages else None

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: deleting again succeeds
        message = holding(self, receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid()
        self._messages.remove(message)
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)
        for handle in message.all_receipt_handles:
            by_handle.pop(handle, None)

    queue_class.delete_message = delete_message  # type: ignore[method-assign]

    def change_message_visibility(
        self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int
    ) -> None:
        queue = self.get_queue(queue_name)
        message = holding(queue, receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid
        visibility_timeout_msec = int(visibility_timeout) * 1000
        if _now_ms() + visibility_timeout_msec - message.sent_timestamp > 43200 * 1000:
            raise InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. "
                "Reason: Total VisibilityTimeout for the message is beyond the limit "
                "[43200 seconds]"
            )
        message.change_visibility(visibility_timeout)
        if message.visible and message in queue.pending_messages:
            queue.pending_messages.remove(message)

    backend_class.change_message_visibility = change_message_visibility  # type: ignore[method-assign]

    # A long poll waits for a message without holding up everyone else, and, as SQS's
    # does, ends once a message becomes visible again (moto only wakes it for new ones).
    def wait_for_messages(self: Any, timeout: int) -> None:
        now = _now_ms()
        due = min(
            (max(m.visible_at, m.delayed_until) for m in self._messages), default=float("inf")
        )
        wait = max(0.001, min(float(timeout), (due - now) / 1000 + 0.001))

        def waiting() -> None:
            with self._messages_lock:
                self._messages_lock.wait_for(lambda: self.messages, timeout=wait)

        SERIAL.waiting(waiting)

    queue_class.wait_for_messages = wait_for_messages  # type: ignore[method-assign]


def _install_dynamodb() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    # TransactWriteItems backs up each table it writes (copy.deepcopy) and puts the
    # backups back if any part fails. Here the backup is the table itself, untouched,
    # and the transaction keeps copies of the items it is about to write instead.
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            return value
        return _copy.deepcopy(value, memo)

    models.copy = SimpleNamespace(deepcopy=deepcopy, copy=_copy.copy)  # type: ignore[attr-defined,assignment]

    backend_class = models.DynamoDBBackend
    transact = backend_class.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        before = []
        for entry in transact_items:
            try:
                (op_type, op), *_ = entry.items()
                table = self.tables[op["TableName"]]
                if op_type == "Put":
                    attrs = op["Item"]
                    key = {
                        name: attrs[name]
                        for name in (table.hash_key_attr, table.range_key_attr)
                        if name is not None
                    }
                else:
                    key = op["Key"]
                hash_key, range_key = self.get_keys_value(table, key)
                item = table.get_item(hash_key, range_key)
            except Exception:  # noqa: S112 (moto itself refuses what is malformed)
                continue
            before.append((table, hash_key, range_key, _copy.deepcopy(item)))
        try:
            transact(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in reversed(before):
                _restore(table, hash_key, range_key, item)
            raise

    backend_class.transact_write_items = transact_write_items  # type: ignore[method-assign]

    # Every Query page listed and sorted every item of the table (DynamoType comparisons
    # in Python) before picking out its partition. A query on the table's own key gets
    # its partition; one on an index, the items whose index key matches, unsorted: moto
    # sorts those by index and table key, a total order, so what it returns is the same.
    query = Table.query

    def query_partition(self: Any, *args: Any, **kwargs: Any) -> Any:
        hash_key = args[0] if args else kwargs.get("hash_key")
        index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
        if index_name is None:
            if hash_key is None:
                return query(self, *args, **kwargs)
            bucket = self.items.get(hash_key)
            if bucket is None:
                candidates = []
            elif self.range_key_attr:
                candidates = list(bucket.values())
            else:
                candidates = [bucket]
        else:
            conditions = kwargs.get("hash_key_conditions") or []
            candidates = [
                item
                for item in _every_item(self)
                if all(_equal(item.attrs.get(name), value) for name, value in conditions)
            ]
        self.all_items = lambda: list(candidates)  # only while this request holds the lock
        try:
            return query(self, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query_partition  # type: ignore[method-assign]


def _install_dynamodb_responses() -> None:
    """Write item results as the JSON they already are.

    moto walks the botocore output shape member by member, looking each one up under
    six kinds of alias, to write what is, for item operations, a dict of DynamoDB JSON:
    a fifth of the emulator's time went there. Here the same walk is a plain one over
    the dict: members the shape does not have and ``None`` values are left out, as
    moto leaves them out, and binary values are base64, as moto writes them. A result
    holding anything else (a datetime, an object) and every other operation and error
    still go moto's way.
    """
    from moto.core.responses import ActionResult
    from moto.core.utils import get_service_model
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    slow = DynamoHandler.serialized
    envelopes: dict[str, tuple[int, dict[str, str]]] = {}
    verify = bool(os.environ.get(VERIFY_ENVIRONMENT))

    def serialized(self: Any, action_result: Any) -> Any:
        action = self._get_action()
        if action not in PLAIN_JSON_OPERATIONS or type(action_result) not in (
            ActionResult,
            DynamoResult,
        ):
            return slow(self, action_result)
        shape = get_service_model(self.boto3_service_name).operation_model(action).output_shape
        try:
            body = json.dumps(_plain(action_result.result, shape))
        except _NotPlain:
            return slow(self, action_result)
        if action not in envelopes:  # status and content type, as moto writes them
            status, headers, _ = slow(self, ActionResult({}))
            envelopes[action] = (
                status,
                {k: v for k, v in headers.items() if k not in self.response_headers},
            )
        status, headers = envelopes[action]
        headers = {**headers, **self.response_headers}
        if verify:
            expected = slow(self, action_result)
            mine = (status, headers, json.loads(body))
            theirs = (expected[0], expected[1], json.loads(expected[2]))
            if mine != theirs:
                raise AssertionError(f"{action}: wrote {mine!r}, moto writes {theirs!r}")
        return status, headers, body

    DynamoHandler.serialized = serialized  # type: ignore[method-assign]


class _NotPlain(Exception):
    """A value the plain walk does not write: moto's serializer will."""


def _plain(value: Any, shape: Any) -> Any:
    """``value`` as JSON for ``shape``, as moto's JSON serializer writes a plain dict."""
    kind = shape.type_name
    if kind == "structure":
        if type(value) is not dict:
            raise _NotPlain
        members = shape.members
        written = {}
        for name, member in value.items():
            if member is None or name not in members:
                continue  # moto writes only the shape's members, and no nulls
            member_shape = members[name]
            if "name" in member_shape.serialization:
                raise _NotPlain  # serialized under another name
            written[name] = _plain(member, member_shape)
        return written
    if kind == "map":
        if type(value) is not dict:
            raise _NotPlain
        return {k: _plain(v, shape.value) for k, v in value.items()}
    if kind == "list":
        if type(value) is not list:
            raise _NotPlain
        return [_plain(v, shape.member) for v in value]
    if kind == "string" and type(value) is str:
        return value
    if kind == "boolean" and type(value) is bool:
        return value
    if kind in ("integer", "long") and type(value) is int:
        return value
    if kind in ("double", "float") and type(value) in (int, float):
        return value
    if kind == "blob" and type(value) is bytes:  # a binary attribute's value
        return base64.b64encode(value).decode()
    raise _NotPlain  # None in a map or list, timestamps, anything unexpected


def _equal(attribute: Any, value: Any) -> bool:
    return attribute is not None and bool(attribute == value)


def _every_item(table: Any) -> Iterator[Any]:
    for bucket in table.items.values():
        if table.range_key_attr:
            yield from bucket.values()
        else:
            yield bucket


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    if item is None:
        table.items[hash_key].pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def _install() -> None:
    # Import the models first, so the clock is replaced wherever they imported it.
    import moto.dynamodb.models
    import moto.s3.models
    import moto.sqs.models  # noqa: F401

    _install_clock()
    _install_dispatch()
    _install_sqs()
    _install_dynamodb()
    _install_dynamodb_responses()


def _serialized(app: WsgiApp) -> WsgiApp:
    """``app`` with one request at a time, its response body read before the next."""

    def serial(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with SERIAL:
            result = app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return serial


def _operation(environ: dict[str, Any]) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target)
    return f"{environ.get('REQUEST_METHOD')} {environ.get('HTTP_HOST', '').split(':')[0]}"


def _profiled(app: WsgiApp, path: str) -> WsgiApp:
    """``app`` timing each request, by operation; the totals go to ``path`` at exit.

    Inside the lock, this is each request's own time (a long poll's wait included).
    """
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    lock = threading.Lock()

    def timed(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        began = time.perf_counter()
        try:
            return list(app(environ, start_response))
        finally:
            elapsed = time.perf_counter() - began
            with lock:
                row = totals[_operation(environ)]
                row[0] += 1
                row[1] += elapsed

    def dump() -> None:
        with lock:
            rows = {k: {"calls": int(c), "seconds": s} for k, (c, s) in totals.items()}
        with open(path, "w") as out:
            json.dump(rows, out)

    atexit.register(dump)
    return timed


def application() -> WsgiApp:
    """moto's WSGI application, patched, one request at a time."""
    _install()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    dispatcher = DomainDispatcherApplication(create_backend_app)
    profile = os.environ.get(PROFILE_ENVIRONMENT)
    return _serialized(_profiled(dispatcher, profile) if profile else dispatcher)


def _handler_class() -> type[Any]:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAliveHandler(MotoRequestHandler):
        """werkzeug's handler, answering each request on a connection that stays open.

        werkzeug's development server closes every connection after one response (and
        lingers 10 ms reading what is left), so each AWS call paid for a new connection
        and a new thread. Here the request body is read whole before the application
        runs (so no socket is read while the lock is held, and nothing of it is left
        for the next request), the response goes out in one write with its length, and
        the next request comes on the same connection, as botocore expects.
        """

        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def run_wsgi(self) -> None:
            if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.environ = environ = self.make_environ()
            if environ.get("wsgi.input_terminated"):  # chunked: werkzeug decodes it
                body = environ["wsgi.input"].read()
            else:
                try:
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                except ValueError:
                    length = -1
                if length < 0:
                    self.close_connection = True
                    self.send_error(400, "Bad Content-Length")
                    return
                body = self.rfile.read(length) if length else b""
                if len(body) < length:  # the client went away mid-body
                    self.close_connection = True
                    return
            environ["wsgi.input"] = io.BytesIO(body)
            environ["wsgi.input_terminated"] = True
            state: dict[str, Any] = {"status": "500 INTERNAL SERVER ERROR", "headers": []}
            parts: list[bytes] = []

            def start_response(
                status: str, headers: list[tuple[str, str]], exc_info: Any = None
            ) -> Any:
                state["status"], state["headers"] = status, list(headers)
                return parts.append

            try:
                result = self.server.app(environ, start_response)
                try:
                    parts.extend(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            except Exception as error:
                self.server.log("error", f"Error on request: {error!r}")
                state.update(status="500 INTERNAL SERVER ERROR", headers=[])
                parts[:] = [b"Internal Server Error"]
                self.close_connection = True
            code, _, reason = str(state["status"]).partition(" ")
            status = int(code)
            payload = b"".join(parts)
            self.send_response(status, reason)
            no_body = self.command == "HEAD" or status < 200 or status in (204, 304)
            for name, value in state["headers"]:
                lowered = name.lower()
                if lowered in ("connection", "transfer-encoding"):
                    continue
                if lowered == "content-length" and not no_body:
                    continue  # set below, from what is sent
                self.send_header(name, value)
            if not no_body:
                self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            # Status line, headers and body in one write.
            self._headers_buffer.append(b"\r\n")
            if not no_body:
                self._headers_buffer.append(payload)
            self.flush_headers()

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return

    return KeepAliveHandler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hookhaven.local.emulator")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = application()

    from werkzeug.serving import make_server

    def stop(signum: int, frame: Any) -> None:
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=_handler_class())
    server.serve_forever()


if __name__ == "__main__":
    main()
