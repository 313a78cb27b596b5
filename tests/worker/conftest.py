from __future__ import annotations

import pytest

from tests.workers import WorkerBroker, redis_available

BROKERS = ["embedded", "redis"]


@pytest.fixture(params=BROKERS)
def worker_broker(request, tmp_path, monkeypatch) -> WorkerBroker:
    """Each worker test runs on the embedded filesystem broker and on real Redis."""
    if request.param == "redis" and not redis_available():
        if request.config.getoption("--require-services"):
            pytest.fail("Redis is required (--require-services) but not reachable")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    broker = WorkerBroker(kind=request.param, var_dir=tmp_path)
    # Celery reads these from the environment over explicit settings; point them here.
    monkeypatch.setenv("CELERY_BROKER_URL", broker.broker_url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", broker.result_backend)
    return broker
