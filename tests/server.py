"""The product's own web server (gunicorn with ldct_web/gunicorn_conf.py) as a fixture."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.workers import ROOT, test_database_url


@pytest.fixture
def gunicorn_url(settings, tmp_path) -> Iterator[str]:
    """The product's own web server (gunicorn, as `make run` starts it) on the test database.

    Django's test server reads no chunked request body; gunicorn de-chunks it, so what a
    client sends chunked is proven against the server that will receive it.
    """
    env = server_env(test_database_url(), settings.MEDIA_ROOT, tmp_path / "gunicorn-var")
    with running_gunicorn(env, tmp_path / "gunicorn.log") as url:
        yield url


def server_env(database_url: str, media_root: Path, var_dir: Path, **more: str) -> dict[str, str]:
    """The environment of a server a test starts: this process's, on the given database and
    media folder, with the static files the test command collected.

    The test run's CELERY_* settings are left out, so the server uses only the broker given
    in ``more``, else its own embedded one under ``var_dir``.
    """
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    env.update(
        DATABASE_URL=database_url,
        MEDIA_ROOT=str(media_root),
        STATIC_ROOT=str(settings.STATIC_ROOT),
        LDCT_VAR_DIR=str(var_dir),
        LDCT_INSECURE_HTTP="1",
        **more,
    )
    return env


@contextlib.contextmanager
def running_gunicorn(env: dict, log_path: Path) -> Iterator[str]:
    """gunicorn with the product's config, one worker, on ``env``'s services; its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))  # bound here and handed over: no other process takes it
    listener.listen(16)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    cmd = [sys.executable, "-m", "gunicorn", "-c", "ldct_web/gunicorn_conf.py"]
    cmd += ["ldct_web.wsgi:application", "--workers", "1"]
    cmd += ["--bind", f"fd://{listener.fileno()}", "--graceful-timeout", "5"]
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=[listener.fileno()],
            )
    finally:
        listener.close()  # gunicorn holds its own copy
    try:
        _wait_until_serving(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{url}/accounts/login/", timeout=2)
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not start: {log.read_text(errors='replace')}")
        time.sleep(0.2)
