"""Slice builds wait their turn: a few at a time, a case's first slice ahead of the rest."""

from __future__ import annotations

import threading
import time

from reader_study.reading.slots import Slots

# Long enough for a loaded machine; a slot that never comes back fails after it.
TIMEOUT = 5.0


def _started(work) -> threading.Thread:
    # Daemon: a thread stuck waiting for a slot that is never given back must not keep
    # the test process from exiting.
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def _finished(thread: threading.Thread) -> bool:
    thread.join(TIMEOUT)
    return not thread.is_alive()


def _waiting(slots: Slots) -> int:
    # Slots publishes no count of its waiters; its two queues are where they are seen.
    return sum(len(queue) for queue in slots._queues)


def _until_waiting(slots: Slots, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while _waiting(slots) < count:
        assert time.monotonic() < deadline, f"{_waiting(slots)} waiters, expected {count}"
        time.sleep(0.001)


def _queue_up(slots: Slots, name: str, first: bool, order: list) -> threading.Thread:
    def run():
        with slots.slot(first=first):
            order.append(name)

    before = _waiting(slots)
    thread = _started(run)
    _until_waiting(slots, before + 1)  # queued before the next one arrives
    return thread


def test_first_slices_go_ahead_of_the_others_in_arrival_order():
    slots, order = Slots(1), []
    with slots.slot(first=False):
        threads = [
            _queue_up(slots, "slice 3", False, order),
            _queue_up(slots, "first of case 1", True, order),
            _queue_up(slots, "slice 4", False, order),
            _queue_up(slots, "first of case 2", True, order),
        ]
        assert order == []  # all wait while the slot is held
    assert all(_finished(thread) for thread in threads)
    assert order == ["first of case 1", "first of case 2", "slice 3", "slice 4"]


def test_at_most_size_holders_and_every_slot_comes_back():
    slots, inside, most = Slots(2), [0], [0]
    lock = threading.Lock()

    def run():
        with slots.slot(first=False):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.01)
            with lock:
                inside[0] -= 1

    threads = [_started(run) for _ in range(12)]
    assert all(_finished(thread) for thread in threads)
    assert most[0] == 2

    def both():
        with slots.slot(first=False), slots.slot(first=True):
            pass

    assert _finished(_started(both)), "a slot was not given back"


def test_a_build_that_fails_gives_its_slot_back():
    slots = Slots(1)
    try:
        with slots.slot(first=True):
            raise ValueError("damaged file")
    except ValueError:
        pass

    def next_build():
        with slots.slot(first=False):
            pass

    assert _finished(_started(next_build)), "the failed build kept its slot"
