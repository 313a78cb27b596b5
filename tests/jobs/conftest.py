from __future__ import annotations

import os

import pytest

from reader_study.jobs import dispatch
from tests.workers import WorkerBroker, broker_for_test


def job_brokers() -> list[str]:
    """The brokers the job worker tests run on.

    CI runs the suite twice, on Postgres + Redis and on the embedded default, so each
    pass tests the job workers on its own broker and both are covered without doubling
    the slowest tests. LDCT_TEST_BOTH_BROKERS=1 runs both in one pass.
    """
    if os.environ.get("LDCT_TEST_BOTH_BROKERS") == "1":
        return ["embedded", "redis"]
    return (
        ["redis"] if os.environ.get("CELERY_BROKER_URL", "").startswith("redis") else ["embedded"]
    )


@pytest.fixture(params=job_brokers())
def worker_broker(request, tmp_path, monkeypatch) -> WorkerBroker:
    return broker_for_test(request, tmp_path, monkeypatch)


# Short job timings for the worker processes the tests start: heartbeat every second,
# a job silent for 4 s counts as lost.
FAST_JOBS = {
    "LDCT_JOB_HEARTBEAT_SECONDS": "1",
    "LDCT_JOB_STALE_SECONDS": "4",
    "LDCT_JOB_QUEUED_GRACE_SECONDS": "2",
    "OMP_NUM_THREADS": "1",
}


@pytest.fixture
def jobs_env(worker_broker, settings, tmp_path, monkeypatch):
    """Media in a fresh folder, and this test process sending jobs to the test's broker."""
    settings.MEDIA_ROOT = tmp_path / "media"
    client = worker_broker.client()
    monkeypatch.setattr(dispatch, "celery_app", lambda: client)
    return worker_broker


class FakeBroker:
    """Records the messages the code would publish (for tests without a worker)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list, str]] = []
        self.conf = type("Conf", (), {"broker_url": "memory://", "broker_transport_options": {}})

    def send_task(self, name, args=None, queue=None, **kwargs):
        self.sent.append((name, list(args or []), queue))
        return type("Result", (), {"id": f"task-{len(self.sent)}"})()

    def job_ids(self) -> list[int]:
        return [args[0] for _, args, _ in self.sent]


@pytest.fixture
def fake_broker(monkeypatch, settings, tmp_path) -> FakeBroker:
    settings.MEDIA_ROOT = tmp_path / "media"
    broker = FakeBroker()
    monkeypatch.setattr(dispatch, "celery_app", lambda: broker)
    return broker
