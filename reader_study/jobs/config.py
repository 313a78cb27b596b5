"""Timings of the job machinery, read from the environment (README, "Workers and jobs").

The heartbeat proves an attempt is alive; the sweeper treats a running job whose
heartbeat is older than STALE_SECONDS as lost. STALE_SECONDS must be several
heartbeats long, so a busy database never makes a live attempt look dead.
"""

from __future__ import annotations

from ldct_web import env

HEARTBEAT_SECONDS = env.integer("LDCT_JOB_HEARTBEAT_SECONDS", 10, minimum=1)
STALE_SECONDS = env.integer("LDCT_JOB_STALE_SECONDS", 120, minimum=2)
# A queued job whose message is no longer in the broker after this long is sent again.
QUEUED_GRACE_SECONDS = env.integer("LDCT_JOB_QUEUED_GRACE_SECONDS", 300, minimum=1)
SWEEP_SECONDS = env.integer("LDCT_JOB_SWEEP_SECONDS", 60, minimum=1)


def test_batch_delay() -> float:
    """Test-only: seconds to sleep after each denoised batch, so a test can kill a worker
    mid-job deterministically. Never set in production."""
    import os

    try:
        return float(os.environ.get("LDCT_TEST_BATCH_DELAY_SECONDS", "0") or 0)
    except ValueError:
        return 0.0
