"""Patches of moto's SQS: no whole-queue scans per message, and long polls that give way.

Replaces, in ``moto.sqs.models``:

- ``Message.visible`` and ``Message.delayed``: one clock read, no datetimes;
- ``Queue.messages``, ``Queue.approximate_number_of_messages``,
  ``Queue.approximate_number_of_messages_delayed`` and
  ``Queue.approximate_number_of_messages_not_visible``: counted only when a caller reads
  them (inside ``SQSBackend.send_message`` and ``SQSBackend.receive_message``, which are
  wrapped to say so, they read 0: moto builds every attribute there to read others);
- ``SQSBackend.is_message_valid_based_on_retention_period`` and
  ``Queue.pending_message_groups``: without building every queue attribute, and without
  message groups for a standard queue;
- ``Message.mark_received``, ``Queue.delete_message`` and
  ``SQSBackend.change_message_visibility``: receipt handles looked up in an index (copies
  of moto's code otherwise); and a message's 12 hours of visibility counted from its
  latest receive, as SQS counts them, where moto counts from the send (which refuses
  what AWS allows a message retried hours after it was sent);
- ``Queue.wait_for_messages``: a long poll waits without the server's lock, and ends
  once a message becomes visible again, as SQS's does.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from hookhaven import quotas
from hookhaven.local.emulator.compat import Incompatible, Patches

#: What this module replaces or relies on (checked before anything is patched).
REPLACES = (
    "moto.sqs.models:Message.visible",
    "moto.sqs.models:Message.delayed",
    "moto.sqs.models:Message.mark_received",
    "moto.sqs.models:Message.change_visibility",
    "moto.sqs.models:Queue.messages",
    "moto.sqs.models:Queue.approximate_number_of_messages",
    "moto.sqs.models:Queue.approximate_number_of_messages_delayed",
    "moto.sqs.models:Queue.approximate_number_of_messages_not_visible",
    "moto.sqs.models:Queue.pending_message_groups",
    "moto.sqs.models:Queue.delete_message",
    "moto.sqs.models:Queue.wait_for_messages",
    "moto.sqs.models:SQSBackend.send_message",
    "moto.sqs.models:SQSBackend.receive_message",
    "moto.sqs.models:SQSBackend.is_message_valid_based_on_retention_period",
    "moto.sqs.models:SQSBackend.change_message_visibility",
    "moto.sqs.models:SQSBackend.get_queue",
    "moto.sqs.exceptions:InvalidParameterValue",
    "moto.sqs.exceptions:ReceiptHandleIsInvalid",
)

#: Set while moto sends or receives: the queue counts are not wanted there.
_quick = threading.local()


def _now_ms() -> float:
    return time.time() * 1000.0


def install(patches: Patches, give_way: Callable[[Callable[[], Any]], Any]) -> None:
    """Patch moto's SQS; a long poll waits through ``give_way(wait)``, which runs ``wait``
    without the server's one-request-at-a-time lock."""
    from moto.sqs import models
    from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid

    message_class, queue_class, backend_class = models.Message, models.Queue, models.SQSBackend
    if message_class.__eq__ is not object.__eq__:
        raise Incompatible("moto.sqs.models:Message.__eq__")  # `in` and `remove` go by identity

    # What moto computes, with one clock read per scan instead of two datetimes per message.
    def visible(self: Any) -> bool:
        return bool(_now_ms() > self.visible_at)

    def delayed(self: Any) -> bool:
        return bool(_now_ms() < self.delayed_until)

    patches.set(message_class, "visible", property(visible))
    patches.set(message_class, "delayed", property(delayed))

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

    patches.set(queue_class, "messages", property(messages))
    patches.set(
        queue_class, "approximate_number_of_messages", property(approximate_number_of_messages)
    )
    patches.set(
        queue_class,
        "approximate_number_of_messages_delayed",
        property(approximate_number_of_messages_delayed),
    )
    patches.set(
        queue_class,
        "approximate_number_of_messages_not_visible",
        property(approximate_number_of_messages_not_visible),
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

    patches.set(backend_class, "send_message", quick(backend_class.send_message))
    patches.set(backend_class, "receive_message", quick(backend_class.receive_message))

    # For each message it receives, moto built every queue attribute (three times) to read
    # the retention period; and the message groups in flight, which only FIFO queues have.
    def is_message_valid_based_on_retention_period(
        self: Any, queue_name: str, message: Any
    ) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period
        return bool(retention_period + message.sent_timestamp / 1000 > time.time())

    patches.set(
        backend_class,
        "is_message_valid_based_on_retention_period",
        is_message_valid_based_on_retention_period,
    )
    pending_message_groups: Any = queue_class.pending_message_groups

    def pending_groups(self: Any) -> set[str]:
        return set(pending_message_groups.fget(self)) if self.fifo_queue else set()

    patches.set(queue_class, "pending_message_groups", property(pending_groups))

    # Receipt handle -> message, instead of asking every message of the queue in turn.
    by_handle: dict[str, Any] = {}
    mark_received = message_class.mark_received

    def mark_received_indexed(self: Any, visibility_timeout: int | None = None) -> None:
        mark_received(self, visibility_timeout)
        by_handle[self.receipt_handle] = self
        # SQS counts a message's 12 hours of visibility from this receive (moto: from the send).
        self.hookhaven_received_ms = _now_ms()

    patches.set(message_class, "mark_received", mark_received_indexed)

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

    patches.set(queue_class, "delete_message", delete_message)

    def change_message_visibility(
        self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int
    ) -> None:
        queue = self.get_queue(queue_name)
        message = holding(queue, receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid
        visibility_timeout_msec = int(visibility_timeout) * 1000
        received_ms = getattr(message, "hookhaven_received_ms", message.sent_timestamp)
        ceiling_ms = quotas.SQS_VISIBILITY_MAX.value * 1000
        if _now_ms() + visibility_timeout_msec - received_ms > ceiling_ms:
            # As SQS refuses it: it does not shorten the timeout to what is left.
            raise InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. "
                "Reason: Total VisibilityTimeout for the message is beyond the limit "
                f"[{quotas.SQS_VISIBILITY_MAX.value} seconds]"
            )
        message.change_visibility(visibility_timeout)
        if message.visible and message in queue.pending_messages:
            queue.pending_messages.remove(message)

    patches.set(backend_class, "change_message_visibility", change_message_visibility)

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

        give_way(waiting)

    patches.set(queue_class, "wait_for_messages", wait_for_messages)
