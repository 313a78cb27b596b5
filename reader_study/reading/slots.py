"""A few slices built at a time per web worker, a case's first slice ahead of the rest.

Building a blinded slice is CPU work without a pause (read, decode both sides, encode),
and a gevent worker runs one greenlet at a time: while readers' stacks load (six requests
each), every other request of the worker, a reader's autosave among them, would wait
behind all of them at each of its database round trips, and each waiting request would
hold a pooled database connection. Requests wait here instead, without a connection, and
are served in order, the first slice of a case before the others: a case shows as soon as
its first pair is built, and answers are saved in between two slices.

The order depends on the slice's index only, never on its side: A and B wait alike.
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager

from django.db import connections

# Per worker process. More than one, so that a build that waits for the database (the
# first of a presentation, which lists its stacks) does not stop all the others.
BUILDS_AT_ONCE = 2


class Slots:
    """At most `size` holders at a time; waiters in two FIFO queues, `first` ones first."""

    def __init__(self, size: int):
        self._lock = threading.Lock()
        self._free = size
        self._queues: tuple[deque, deque] = (deque(), deque())

    @contextmanager
    def slot(self, first: bool):
        with self._lock:
            turn = None
            if self._free > 0:
                self._free -= 1
            else:
                turn = threading.Event()
                queue = self._queues[0 if first else 1]
                queue.append(turn)
        if turn is not None:
            # No database connection is held while waiting (the pool's are few).
            connections.close_all()
            try:
                turn.wait()
            except BaseException:
                with self._lock:
                    if turn in queue:
                        queue.remove(turn)
                    else:  # a slot was handed over just now: pass it on
                        self._release()
                raise
        try:
            yield
        finally:
            with self._lock:
                self._release()

    def _release(self) -> None:
        """Hands the slot to the next waiter, or frees it (the lock is held)."""
        for queue in self._queues:
            if queue:
                queue.popleft().set()
                return
        self._free += 1


builds = Slots(BUILDS_AT_ONCE)
