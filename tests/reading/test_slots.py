"""Slice builds wait their turn: a few at a time, a case's first slice ahead of the rest."""

from __future__ import annotations

import threading
import time

from reader_study.reading.slots import Slots


def _queue_up(slots: Slots, name: str, first: bool, order: list):
    def run():
        with slots.slot(first=first):
            order.append(name)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.05)  # queued in this order
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
    for thread in threads:
        thread.join(5)
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

    threads = [threading.Thread(target=run) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert most[0] == 2
    with slots.slot(first=False), slots.slot(first=True):
        pass  # both slots free again


def test_a_build_that_fails_gives_its_slot_back():
    slots = Slots(1)
    try:
        with slots.slot(first=True):
            raise ValueError("damaged file")
    except ValueError:
        pass
    with slots.slot(first=False):
        pass
