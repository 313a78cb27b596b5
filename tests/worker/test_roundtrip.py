"""A real task through a real worker process and back, on both brokers."""

from __future__ import annotations

import os

import pytest

from tests.workers import running_worker

pytestmark = pytest.mark.worker


def test_task_round_trip_through_a_real_worker(worker_broker):
    client = worker_broker.client()
    with running_worker(worker_broker) as worker:
        result = client.send_task("reader_study.ping", args=["hello"], queue="default")
        reply = result.get(timeout=60)
    assert reply["payload"] == "hello"
    # The reply names the pid that ran it: a worker process, not this test process.
    assert not reply["worker"].endswith(f":{os.getpid()}")
    assert "reader_study.ping" in worker.log()


def test_gpu_queue_is_consumed(worker_broker):
    client = worker_broker.client()
    with running_worker(worker_broker, queues=("gpu",)):
        result = client.send_task("reader_study.ping", args=["g"], queue="gpu")
        assert result.get(timeout=60)["payload"] == "g"
