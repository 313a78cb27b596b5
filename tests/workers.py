"""Starts real Celery worker processes for tests, on the embedded or the Redis broker.

Each test gets its own broker space (a fresh folder for the embedded broker, a
unique key prefix on Redis), so test runs side by side, or a developer's
`make run`, never take each other's messages.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from celery import Celery
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_available(url: str = REDIS_URL) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
        return True
    return False


def test_database_url() -> str:
    """The URL of the database the test run uses, so a worker sees the test data."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class WorkerBroker:
    """Where a test worker and the test's client meet: broker, results, queue names."""

    kind: str  # "embedded" or "redis"
    var_dir: Path
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def key_prefix(self) -> str:
        return f"ldct-test-{self.suffix}:"

    @property
    def broker_url(self) -> str:
        return "filesystem://" if self.kind == "embedded" else REDIS_URL

    @property
    def result_backend(self) -> str:
        if self.kind == "embedded":
            return f"file://{(self.var_dir / 'celery-results').as_posix()}"
        return REDIS_URL

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            LDCT_VAR_DIR=str(self.var_dir),
            CELERY_BROKER_URL=self.broker_url,
            CELERY_RESULT_BACKEND=self.result_backend,
            DATABASE_URL=test_database_url(),
            MEDIA_ROOT=str(settings.MEDIA_ROOT),
            CELERY_BROKER_KEY_PREFIX=self.key_prefix,
            PYTHONUNBUFFERED="1",
        )
        return env

    def client(self) -> Celery:
        """A Celery client configured exactly like the worker, as a web process would be.

        Celery lets CELERY_BROKER_URL / CELERY_RESULT_BACKEND in the environment
        override explicit arguments, so callers set them (see worker_broker fixture).
        """
        app = Celery("test-client", broker=self.broker_url, backend=self.result_backend)
        app.conf.broker_transport_options = {"global_keyprefix": self.key_prefix}
        if self.kind == "embedded":
            folder = self.var_dir / "broker"
            app.conf.broker_transport_options = {
                "data_folder_in": str(folder / "queue"),
                "data_folder_out": str(folder / "queue"),
                "processed_folder": str(folder / "processed"),
                "control_folder": str(folder / "control"),
            }
            for sub in ("queue", "processed", "control", "../celery-results"):
                (folder / sub).resolve().mkdir(parents=True, exist_ok=True)
        return app


@dataclass
class WorkerProcess:
    broker: WorkerBroker
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kills the whole worker (main process and its pool children)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        """Warm shutdown as an operator does it: SIGTERM to the main process only.

        SIGTERM to the whole group can kill a pool child while it holds billiard's
        result-queue lock, and the main process then hangs in shutdown; the group
        is SIGKILLed only if the worker has not stopped after `timeout`.
        """
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # pool children left behind, if any


def worker_command(queues, hostname: str) -> list[str]:
    """A real one-process Celery worker of this project (tests and benchmarks)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "ldct_web",
        "worker",
        "-Q",
        ",".join(queues),
        "--concurrency",
        "1",
        "--hostname",
        hostname,
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
    ]


def start_worker(
    broker: WorkerBroker, queues=("default", "gpu"), name="w", extra_env: dict | None = None
) -> WorkerProcess:
    """`extra_env` adds variables for this worker only (e.g. short job timings in tests)."""
    log_path = broker.var_dir / f"worker-{name}-{uuid.uuid4().hex[:6]}.log"
    command = worker_command(queues, f"{name}-{broker.suffix}@%h")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**broker.env(), **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches the children
        )
    worker = WorkerProcess(broker, process, log_path)
    wait_until_ready(worker)
    return worker


def wait_until_ready(worker: WorkerProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{worker.log()}")
        if " ready." in worker.log():
            return
        time.sleep(0.2)
    raise TimeoutError(f"worker not ready after {timeout}s:\n{worker.log()}")


@contextlib.contextmanager
def running_worker(broker: WorkerBroker, **kwargs) -> Iterator[WorkerProcess]:
    worker = start_worker(broker, **kwargs)
    try:
        yield worker
    finally:
        if worker.process.poll() is None:
            worker.stop()


def broker_for_test(request, tmp_path: Path, monkeypatch) -> WorkerBroker:
    """The broker a parametrised worker test runs on (request.param: embedded | redis)."""
    import pytest

    if request.param == "redis" and not redis_available():
        if request.config.getoption("--require-services"):
            pytest.fail("Redis is required (--require-services) but not reachable")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    broker = WorkerBroker(kind=request.param, var_dir=tmp_path)
    # Celery reads these from the environment over explicit settings; point them here.
    monkeypatch.setenv("CELERY_BROKER_URL", broker.broker_url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", broker.result_backend)
    return broker
