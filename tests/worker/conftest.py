from __future__ import annotations

import pytest

from tests.workers import WorkerBroker, broker_for_test


@pytest.fixture(params=["embedded", "redis"])
def worker_broker(request, tmp_path, monkeypatch) -> WorkerBroker:
    """Each round-trip test runs on the embedded filesystem broker and on real Redis."""
    return broker_for_test(request, tmp_path, monkeypatch)
