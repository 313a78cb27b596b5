"""The life of a job row: queue, claim, heartbeat, finish, fail, cancel, retry.

States: queued -> running -> succeeded | failed | cancelled; a lost attempt goes
back to queued (sweeper) until max_attempts. The row, not the broker message, is
the truth: every transition is a conditional update, and an attempt's number
(`attempts` at claim time) fences it, so a worker that lost its claim can never
finish, fail or overwrite the job another attempt now owns.

`heartbeat_at` means "last sign of life": the worker's heartbeat while running,
the time of (re)queueing while queued, which the sweeper's grace period uses.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import OperationalError, close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from reader_study.jobs import config, dispatch
from reader_study.models import ACTIVE_STATES, JobState

log = logging.getLogger(__name__)


class AttemptLost(Exception):
    """This attempt no longer owns its job (cancelled, re-queued by the sweeper, or taken)."""


def locked(model, pk: int, **conditions):
    """The job row, locked for this transaction (None if it does not match `conditions`).

    The first statement is a write (a no-op update): on SQLite without IMMEDIATE
    transactions a transaction that reads first and writes later fails at once with
    "database is locked" when another connection writes meanwhile; a write first waits
    for the lock instead. On Postgres it is a row lock like SELECT ... FOR UPDATE.
    """
    rows = model.objects.filter(pk=pk, **conditions)
    if rows.update(heartbeat_at=F("heartbeat_at")) == 0:
        return None
    return rows.select_for_update().first()


# --- queueing ----------------------------------------------------------------------------------


def enqueue_on_commit(job) -> None:
    """Send the job's message once the surrounding transaction commits (never for a rollback)."""
    transaction.on_commit(lambda: send_now(type(job), job.pk))


def send_now(model, pk: int) -> None:
    """Publishes a message for a queued job and records its task id and time."""
    job = model.objects.filter(pk=pk, state=JobState.QUEUED).first()
    if job is None:
        return  # cancelled or already taken before the message went out
    try:
        task_id = dispatch.send(job)
    except Exception:  # broker unreachable: the row stays queued and the sweeper resends it
        log.exception("could not send %s %s; the sweeper will send it again", model.__name__, pk)
        return
    model.objects.filter(pk=pk, state=JobState.QUEUED).update(
        celery_task_id=task_id, heartbeat_at=timezone.now()
    )


def requeue(job, message: str) -> None:
    """Back to queued (same row, attempts kept) and a fresh message once committed."""
    type(job).objects.filter(pk=job.pk).update(
        state=JobState.QUEUED, message=message, worker="", heartbeat_at=timezone.now()
    )
    enqueue_on_commit(job)


# --- claiming and the running attempt ------------------------------------------------------------


def worker_label(hostname: str | None) -> str:
    return f"{hostname or 'worker'}#{os.getpid()}"


def _holder_died_here(job, hostname: str | None) -> bool:
    """True when this worker node's earlier pool process held the job and is gone.

    Celery re-delivers the message of a killed pool process at once (reject_on_worker_lost);
    recognising the dead holder lets the new process resume without waiting for the sweeper.
    """
    node, _, pid = job.worker.rpartition("#")
    if not hostname or node != hostname or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim(model, pk: int, *, hostname: str | None = None, task_id: str = "") -> Attempt | None:
    """Atomically moves a queued job to running and counts the attempt; None if not ours to run."""
    with transaction.atomic():
        job = locked(model, pk)
        if job is None:
            log.info("%s %s no longer exists; message dropped", model.__name__, pk)
            return None
        resumable = job.state == JobState.RUNNING and _holder_died_here(job, hostname)
        if job.state != JobState.QUEUED and not resumable:
            log.info("%s %s is %s; message dropped", model.__name__, pk, job.state)
            return None
        if job.attempts >= job.max_attempts:
            _close(job, JobState.FAILED, out_of_attempts_message(job))
            return None
        now = timezone.now()
        updated = model.objects.filter(pk=pk, state=job.state, attempts=job.attempts).update(
            state=JobState.RUNNING,
            attempts=F("attempts") + 1,
            worker=worker_label(hostname),
            celery_task_id=task_id or job.celery_task_id,
            heartbeat_at=now,
            started_at=now,
            finished_at=None,
            message="",
            progress_done=0,
        )
        if updated != 1:
            return None
        job.refresh_from_db()
    log.info("claimed %s %s, attempt %s of %s", model.__name__, pk, job.attempts, job.max_attempts)
    return Attempt(job=job, number=job.attempts)


def out_of_attempts_message(job) -> str:
    return (
        f"Stopped after {job.attempts} attempts: the worker running it stopped responding "
        f"each time (last: {job.worker or 'unknown'}). This often means it ran out of memory. "
        "Retry it, or use a machine with more memory."
    )


@dataclass
class Attempt:
    """One worker's claim on a job: heartbeat, progress and the fence for finishing."""

    job: object
    number: int
    done: int = 0
    total: int = 0
    extra: dict = field(default_factory=dict)  # more fields the heartbeat writes (history)
    lost: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def model(self):
        return type(self.job)

    def _mine(self):
        return self.model.objects.filter(
            pk=self.job.pk, state=JobState.RUNNING, attempts=self.number
        )

    def beat(self, **extra) -> bool:
        """Records liveness and progress; sets `lost` when the job is no longer ours."""
        try:
            fields = {
                "heartbeat_at": timezone.now(),
                "progress_done": self.done,
                **self.extra,
                **extra,
            }
            if self.total:
                fields["progress_total"] = self.total
            if self._mine().update(**fields) == 0:
                self.lost.set()
        except OperationalError:  # a locked or briefly unreachable database: try next beat
            log.warning("heartbeat of %s %s failed; retrying", self.model.__name__, self.job.pk)
        return not self.lost.is_set()

    def progress(self, done: int, total: int) -> None:
        """Progress callback for long loops: raises AttemptLost once the claim is gone."""
        self.done, self.total = done, total
        delay = config.test_batch_delay()
        if delay:
            time.sleep(delay)
        self.check()

    def check(self) -> None:
        if self.lost.is_set():
            raise AttemptLost(f"{self.model.__name__} {self.job.pk} attempt {self.number}")

    @contextmanager
    def beating(self) -> Iterator[Attempt]:
        """Runs a heartbeat thread (its own DB connection) for the duration of the work."""
        thread = threading.Thread(target=self._beat_loop, name="job-heartbeat", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=config.HEARTBEAT_SECONDS + 5)

    def _beat_loop(self) -> None:
        try:
            while not self._stop.wait(config.HEARTBEAT_SECONDS):
                self.beat()
        finally:
            connection.close()

    @contextmanager
    def fenced(self) -> Iterator[object]:
        """A transaction holding the job row locked, entered only while this attempt owns it."""
        with transaction.atomic():
            job = locked(self.model, self.job.pk, state=JobState.RUNNING, attempts=self.number)
            if job is None:
                self.lost.set()
                raise AttemptLost(f"{self.model.__name__} {self.job.pk} attempt {self.number}")
            yield job


# --- ends --------------------------------------------------------------------------------------


def _close(job, state: str, message: str = "", **fields) -> None:
    job.state = state
    job.message = message
    job.finished_at = timezone.now()
    for key, value in fields.items():
        setattr(job, key, value)
    job.save(update_fields=["state", "message", "finished_at", *fields])


def succeed(attempt: Attempt, message: str = "", **fields) -> None:
    with attempt.fenced() as job:
        if job.progress_total:
            fields.setdefault("progress_done", job.progress_total)
        _close(job, JobState.SUCCEEDED, message, heartbeat_at=timezone.now(), **fields)


def fail(attempt: Attempt, message: str) -> None:
    """Ends the job as failed with a message for the researcher (if the attempt still owns it)."""
    try:
        with attempt.fenced() as job:
            _close(job, JobState.FAILED, message)
    except AttemptLost:
        log.info(
            "not failing %s %s: attempt no longer owns it", attempt.model.__name__, attempt.job.pk
        )


def fail_or_retry(attempt: Attempt, message: str) -> None:
    """An unexpected error: try again while attempts remain, else fail with the message."""
    try:
        with attempt.fenced() as job:
            if job.attempts < job.max_attempts:
                requeue(job, f"Attempt {job.attempts} failed ({message}); trying again.")
            else:
                _close(job, JobState.FAILED, message)
    except AttemptLost:
        pass


def finish_cancelled(attempt: Attempt) -> None:
    """Nothing to do: cancel() already wrote the state; this only logs for the worker."""
    log.info("%s %s attempt %s stopped", attempt.model.__name__, attempt.job.pk, attempt.number)


# --- the researcher's actions -------------------------------------------------------------------


class JobActionError(ValueError):
    """A retry or cancel that does not apply to the job's state; the message says why."""


def cancel(job, by: str = "") -> None:
    with transaction.atomic():
        job = locked(type(job), job.pk)
        if job.state not in ACTIVE_STATES:
            raise JobActionError(f"This job is already {job.get_state_display().lower()}.")
        who = f" by {by}" if by else ""
        _close(job, JobState.CANCELLED, f"Cancelled{who}.")


def retry(job) -> None:
    """A failed or cancelled job starts over with a fresh attempt budget."""
    with transaction.atomic():
        job = locked(type(job), job.pk)
        if not job.can_retry:
            raise JobActionError(
                f"Only failed or cancelled jobs can be retried; this one is "
                f"{job.get_state_display().lower()}."
            )
        type(job).objects.filter(pk=job.pk).update(
            state=JobState.QUEUED,
            message="",
            attempts=0,
            progress_done=0,
            worker="",
            started_at=None,
            finished_at=None,
            heartbeat_at=timezone.now(),
        )
        enqueue_on_commit(job)


def refresh_connections() -> None:
    """Before a task: drop database connections that outlived their age or broke."""
    close_old_connections()
