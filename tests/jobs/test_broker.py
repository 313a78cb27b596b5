"""The sweeper's view into the real brokers: which task messages are still waiting."""

from __future__ import annotations

from reader_study.jobs import broker


def test_waiting_task_ids_sees_an_unconsumed_message(worker_broker):
    client = worker_broker.client()
    result = client.send_task("reader_study.ping", args=["x"], queue="gpu")
    assert result.id in broker.waiting_task_ids(client, "gpu")
    assert result.id not in (broker.waiting_task_ids(client, "default") or set())
