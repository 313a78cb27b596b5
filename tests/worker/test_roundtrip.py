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


def test_a_worker_on_default_only_leaves_gpu_work_alone(worker_broker):
    """Light-work machines must never take a GPU job off the queue."""
    client = worker_broker.client()
    with running_worker(worker_broker, queues=("default",)) as worker:
        gpu_job = client.send_task("reader_study.ping", args=["gpu"], queue="gpu")
        light = client.send_task("reader_study.ping", args=["light"], queue="default")
        assert light.get(timeout=60)["payload"] == "light"
        assert gpu_job.state == "PENDING"
        assert "'gpu'" not in worker.log()
    with running_worker(worker_broker, queues=("gpu",)):
        assert gpu_job.get(timeout=60)["payload"] == "gpu"
