from __future__ import annotations

import pytest

from reader_study.jobs import dispatch
from tests.worker.conftest import worker_broker  # noqa: F401  (both brokers)

# Short job timings for the worker processes the tests start: heartbeat every second,
# a job silent for 4 s counts as lost.
FAST_JOBS = {
    "LDCT_JOB_HEARTBEAT_SECONDS": "1",
    "LDCT_JOB_STALE_SECONDS": "4",
    "LDCT_JOB_QUEUED_GRACE_SECONDS": "2",
    "OMP_NUM_THREADS": "1",
}


@pytest.fixture
def jobs_env(worker_broker, settings, tmp_path, monkeypatch):  # noqa: F811
    """Media in a fresh folder, and this test process sending jobs to the test's broker."""
    settings.MEDIA_ROOT = tmp_path / "media"
    client = worker_broker.client()
    monkeypatch.setattr(dispatch, "celery_app", lambda: client)
    return worker_broker
