"""Faults with the real services: each test breaks one real part and checks that nothing is lost.

- Redis lost (killed with its queue, or restarted cleanly) while jobs wait and run: every
  job still runs exactly once, and readers score on without it.
- Postgres restarted while a reader's page autosaves: clear 503 answers while it is down,
  every answer acknowledged as saved is in the database afterwards, none twice.
- The media disk full during an upload and during a job: a clear error, no half-written
  file, and the same upload or job succeeds once there is room.
- A damaged stored DICOM file of an open study's case: a clear, blinded error for that
  image, and the rest of the study reads and scores on.

The services a test breaks are its own (a private Redis, a private Postgres cluster, a
small tmpfs), never the machine's: the rest of the suite may be using those. A killed
worker mid-job is tests/jobs/test_worker_denoise.py (test_sigkilled_worker_...).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from celery import Celery
from django.urls import reverse

from reader_study.jobs import broker as job_broker
from reader_study.jobs import dispatch
from reader_study.models import Case, DenoiseJob, JobState, Presentation, Score, Series
from tests.conftest import PASSWORD
from tests.ingest import upload_client
from tests.ingest.dicom_files import write_ct_series
from tests.jobs.conftest import FAST_JOBS, fake_broker, jobs_env, worker_broker  # noqa: F401
from tests.jobs.factories import (
    SLICES,
    denoised_series,
    ingest_case,
    job_for,
    register_tiny,
    wait_for,
    wait_until,
)
from tests.server import running_gunicorn, server_env
from tests.studies.conftest import world  # noqa: F401  (a fixture)
from tests.studies.factories import all_scores
from tests.workers import ROOT, WorkerBroker, running_worker

pytestmark = [pytest.mark.faults]

TRANSACTIONAL = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _need(binary: str, request) -> str:
    found = shutil.which(binary) or next(
        iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{binary}"), reverse=True)), None
    )
    if found is None:
        if request.config.getoption("--require-services"):
            pytest.fail(f"{binary} is required (--require-services) but not installed")
        pytest.skip(f"{binary} is not installed")
    return str(found)


# --- a private Redis ------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of this test only, on its own port and folder; `persist` keeps an RDB
    snapshot across a clean shutdown (as a packaged Redis does), else nothing survives."""

    def __init__(self, binary: str, folder: Path, persist: bool):
        self.binary, self.folder, self.persist = binary, folder, persist
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self.folder), "--appendonly", "no"]
        command += ["--save", "3600 1" if self.persist else ""]
        with open(self.folder / "redis.log", "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.answers, timeout=20, what=f"redis on port {self.port}")

    def answers(self) -> bool:
        import redis

        with contextlib.suppress(redis.RedisError):
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        return False

    def kill(self) -> None:
        """SIGKILL: what a crash or an out-of-memory kill does; an unsaved queue is gone."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)

    def shutdown(self) -> None:
        """A clean stop (`systemctl restart redis`): SHUTDOWN writes the snapshot first."""
        import redis

        with contextlib.suppress(redis.ConnectionError):  # it closes the connection
            redis.Redis(port=self.port).shutdown(save=self.persist, nosave=not self.persist)
        self.process.wait(timeout=20)


@contextlib.contextmanager
def private_redis(request, folder: Path, persist: bool = False):
    server = PrivateRedis(_need("redis-server", request), folder, persist)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass
class PrivateRedisBroker(WorkerBroker):
    """The suite's worker plumbing (tests/workers.py) on a private Redis."""

    url: str = ""

    @property
    def broker_url(self) -> str:
        return self.url

    @property
    def result_backend(self) -> str:
        return self.url


def _send_jobs_through(
    redis_server: PrivateRedis, tmp_path: Path, monkeypatch
) -> tuple[PrivateRedisBroker, Celery]:
    """This test process sends its jobs through the private Redis (as jobs_env does through
    the suite's broker); the broker is for the test's workers, the client for its checks."""
    broker = PrivateRedisBroker(kind="redis", var_dir=tmp_path, url=redis_server.url)
    # Celery reads these from the environment over explicit settings; point them here.
    monkeypatch.setenv("CELERY_BROKER_URL", broker.broker_url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", broker.result_backend)
    client = broker.client()
    monkeypatch.setattr(dispatch, "celery_app", lambda: client)
    return broker, client


def _sweep(broker: WorkerBroker) -> dict:
    """What celery beat does every LDCT_JOB_SWEEP_SECONDS, through the broker to a worker."""
    return broker.client().send_task(dispatch.SWEEP_TASK, queue="default").get(timeout=60)


def _one_series_each(cases, model) -> None:
    for case in cases:
        (series,) = denoised_series(case, model)
        assert series.instances.count() == SLICES


@pytest.mark.worker
@pytest.mark.slow
@TRANSACTIONAL
def test_redis_killed_with_its_queue_loses_no_job(
    request, settings, tmp_path, monkeypatch, researcher
):
    """Redis dies (SIGKILL, no persistence) while one job runs and one waits; a case arrives
    while it is down. Once Redis is back empty, the sweeper resends from the job rows and
    every job ends succeeded, with exactly one denoised series per case."""
    settings.MEDIA_ROOT = tmp_path / "media"
    model = register_tiny()
    with private_redis(request, tmp_path / "redis") as redis_server:
        broker, client = _send_jobs_through(redis_server, tmp_path, monkeypatch)
        slow = {**FAST_JOBS, "LDCT_TEST_BATCH_DELAY_SECONDS": "1"}
        with running_worker(broker, name="through", extra_env=slow) as worker:
            running = ingest_case(researcher, "running", seed=0)
            waiting = ingest_case(researcher, "waiting", seed=1)
            wait_until(
                lambda: DenoiseJob.objects.filter(
                    case=running, state=JobState.RUNNING, progress_done__gt=0
                ).exists(),
                what="the first job to be half done",
                workers=[worker],
            )
            queued = job_for(waiting, model)
            assert queued.state == JobState.QUEUED
            assert queued.celery_task_id in job_broker.waiting_task_ids(client, "gpu")

            redis_server.kill()
            started = time.monotonic()
            late = ingest_case(researcher, "arrived-during-outage", seed=2)
            outage_ingest_s = time.monotonic() - started
            late_job = job_for(late, model)
            # The upload is not held up by the broker: the case is kept, its job row queued.
            assert late.status == Case.Status.READY and late_job.state == JobState.QUEUED
            assert late_job.celery_task_id == "" and outage_ingest_s < 15, outage_ingest_s

            redis_server.start()
            assert job_broker.waiting_task_ids(client, "gpu") == set()  # every message gone
            cases = [running, waiting, late]

            def all_done() -> bool:
                _sweep(broker)
                return not DenoiseJob.objects.exclude(state=JobState.SUCCEEDED).exists()

            wait_until(all_done, timeout=240, what="every job to succeed", workers=[worker])
            # Replacing the pool process killed on the connection loss must not stall it.
            assert "Timed out waiting for UP message" not in worker.log()
    jobs = [job_for(c, model) for c in cases]
    assert [j.state for j in jobs] == [JobState.SUCCEEDED] * 3, [j.message for j in jobs]
    _one_series_each(cases, model)
    print(f"\nredis kill: ingest during outage {outage_ingest_s:.2f}s, attempts", end=" ")
    print([j.attempts for j in jobs])


def test_a_new_pool_process_has_time_to_get_ready():
    """After a lost broker connection Celery replaces the pool process, which imports torch
    before it reports for work; a replacement slower than worker_proc_alive_timeout is
    killed and replaced again, forever. The limit must leave room for a busy machine."""
    from ldct_web.celery import app

    code = "import time; t = time.monotonic(); import denoiser.inference, denoiser.dicom.derive"
    code += "; print(time.monotonic() - t)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    seconds = float(done.stdout.strip().splitlines()[-1])
    assert app.conf.worker_proc_alive_timeout >= 4 * seconds, seconds


@pytest.mark.worker
@pytest.mark.slow
@TRANSACTIONAL
def test_redis_clean_restart_keeps_queued_jobs(
    request, settings, tmp_path, monkeypatch, researcher
):
    """A clean Redis restart (snapshot on shutdown) keeps the waiting messages: the jobs run
    once a worker comes, first attempt, without the sweeper."""
    settings.MEDIA_ROOT = tmp_path / "media"
    model = register_tiny()
    with private_redis(request, tmp_path / "redis", persist=True) as redis_server:
        broker, client = _send_jobs_through(redis_server, tmp_path, monkeypatch)
        cases = [ingest_case(researcher, f"queued-{n}", seed=n) for n in range(2)]
        task_ids = {job_for(c, model).celery_task_id for c in cases}
        assert task_ids <= job_broker.waiting_task_ids(client, "gpu")
        redis_server.shutdown()
        redis_server.start()
        assert task_ids <= job_broker.waiting_task_ids(client, "gpu")
        # No sweeper here: the grace period is an hour, so only the kept messages can run them.
        patient = {**FAST_JOBS, "LDCT_JOB_QUEUED_GRACE_SECONDS": "3600"}
        with running_worker(broker, name="after-restart", extra_env=patient) as worker:
            jobs = [wait_for(DenoiseJob, job_for(c, model).pk, workers=[worker]) for c in cases]
    assert [(j.state, j.attempts) for j in jobs] == [(JobState.SUCCEEDED, 1)] * 2
    _one_series_each(cases, model)


# --- the media disk full ----------------------------------------------------------------------


class SmallDisk:
    """A tmpfs of a few megabytes as MEDIA_ROOT, filled to the last byte on demand."""

    FILLER = ".filler"

    def __init__(self, root: Path):
        self.root = root

    def fill(self) -> None:
        with open(self.root / self.FILLER, "ab", buffering=0) as out:
            for block in (1 << 16, 1 << 10, 1):
                with contextlib.suppress(OSError):
                    while True:
                        out.write(b"\0" * block)

    def free(self) -> None:
        (self.root / self.FILLER).unlink()

    def files(self) -> dict[str, str]:
        """Every file but the filler, with its sha256."""
        return {
            str(p.relative_to(self.root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and p.name != self.FILLER
        }


@pytest.fixture
def small_media_disk(settings, tmp_path):
    """MEDIA_ROOT on a 4 MB tmpfs (root only: skipped where mounting is not allowed)."""
    mount = tmp_path / "media"
    mount.mkdir(exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs as the media disk: {done.stderr.strip()}")
    settings.MEDIA_ROOT = mount
    try:
        yield SmallDisk(mount)
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)


def _phantom_files(folder: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in write_ct_series(folder, slices=SLICES)]


@pytest.mark.django_db
def test_full_media_disk_during_upload(small_media_disk, researcher, token_client, tmp_path):
    """A chunk that finds the disk full gets a 507 naming the file; nothing of it is left on
    the disk; once there is room the same upload resumes and becomes a complete case."""
    api = token_client(researcher)
    files = _phantom_files(tmp_path / "upload")
    session = upload_client.start(api, "disk-full")
    infos = upload_client.announce(api, session, files).json()["files"]
    first = upload_client.put_chunk(api, session["id"], infos[0], files[0][1], 0)
    assert first.status_code == 200, first.content

    small_media_disk.fill()
    before = small_media_disk.files()
    refused = upload_client.put_chunk(api, session["id"], infos[1], files[1][1], 0)
    assert refused.status_code == 507, refused.content
    assert refused["Content-Type"] == "application/json"
    detail = refused.json()["detail"]
    assert detail.startswith(f"{files[1][0]}, chunk 0: not stored")
    assert "no space left on device" in detail
    assert small_media_disk.files() == before  # no half-written file under any name
    progress = api.get(reverse("api-upload", args=[session["id"]])).json()
    assert [len(f["received"]) for f in progress["files"]][:2] == [1, 0]

    small_media_disk.free()
    upload_client.send_missing(api, session, files)
    done = upload_client.finish(api, session)
    assert done.status_code == 201, done.content
    case = Case.objects.get(owner=researcher)
    assert case.status == Case.Status.READY
    instances = list(case.original_series.instances.all())
    assert len(instances) == SLICES
    for instance in instances:  # every stored file is whole: its checksum is the recorded one
        assert hashlib.sha256(instance.file.open("rb").read()).hexdigest() == instance.sha256


@pytest.mark.worker
@pytest.mark.slow
@TRANSACTIONAL
def test_full_media_disk_during_a_job(
    small_media_disk,
    jobs_env,  # noqa: F811
    researcher,
    client_for,
):
    """A denoising job that finds the disk full fails at once with a message that says so,
    leaves no file of its own, and the case's original series is untouched; Retry after
    freeing space gives exactly one complete denoised series."""
    model = register_tiny()
    case = ingest_case(researcher, "full-disk-job")
    job = job_for(case, model)
    original = small_media_disk.files()
    small_media_disk.fill()
    with running_worker(jobs_env, name="full", extra_env=FAST_JOBS) as worker:
        failed = wait_for(DenoiseJob, job.pk, workers=[worker])
        assert failed.state == JobState.FAILED, failed.message
        assert failed.attempts == 1  # no retries burnt on a full disk
        assert "media storage is full" in failed.message, failed.message
        assert small_media_disk.files() == original  # nothing half-written, nothing lost
        assert not denoised_series(case, model).exists()

        small_media_disk.free()
        retried = client_for(researcher).post(reverse("api-job-retry", args=[job.pk]))
        assert retried.status_code == 202, retried.content
        done = wait_for(DenoiseJob, job.pk, workers=[worker])
    assert done.state == JobState.SUCCEEDED, done.message
    _one_series_each([case], model)


# --- a damaged stored DICOM file -------------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _overwrite(path: Path) -> None:
    path.write_bytes(b"\0" * path.stat().st_size)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "series_kind, damage",
    [(Series.Kind.ORIGINAL, _truncate), (Series.Kind.DENOISED, _overwrite)],
    ids=["original-truncated", "denoised-overwritten"],
)
def test_damaged_stored_image_is_a_clear_blinded_error(
    world,  # noqa: F811
    client_for,
    series_kind,
    damage,
):
    """The reader's request for the damaged slice gets a JSON error naming the image (the
    same for A and B, so the damage tells no condition); the other slices, the other
    cases and the scoring of the damaged case go on."""
    from reader_study.imaging import slices

    reader = world["readers"][0]
    client = client_for(reader)
    mine = list(Presentation.objects.filter(reader__user=reader).order_by("position"))
    hit, spared = mine[0], mine[1]
    series = hit.study_case.case.series.get(kind=series_kind)
    index = 2
    victim = slices(series, hit.study_case)[index].instance
    damage(Path(victim.file.path))

    def image(presentation, side, n):
        token = presentation.token_a if side == "A" else presentation.token_b
        return client.get(reverse("reading-image", args=[token, n]))

    answers = {side: image(hit, side, index) for side in "AB"}
    for response in answers.values():
        assert response.status_code == 500 and response["Content-Type"] == "application/json"
        detail = response.json()["detail"]
        assert detail.startswith(f"Image {index + 1} of this case cannot be shown")
        assert victim.file.name not in detail and "denoised" not in detail.lower()
    assert answers["A"].content == answers["B"].content
    for side in "AB":
        assert image(hit, side, index + 1).status_code == 200
        assert image(spared, side, index).status_code == 200
    assert client.get(reverse("reading-page", args=[hit.token])).status_code == 200

    saved = client.put(
        reverse("api-reading-answers", args=[hit.token]),
        {"scores": all_scores(3), "preference": "none"},
        content_type="application/json",
    )
    assert saved.status_code == 200 and saved.json()["complete"] is True, saved.content
    submitted = client.post(
        reverse("api-reading-submit", args=[hit.token]), {}, content_type="application/json"
    )
    assert submitted.status_code == 200, submitted.content
    assert Score.objects.filter(presentation=hit).count() == 6


# --- Postgres restarted while a reader scores ------------------------------------------------


class PrivatePostgres:
    """A Postgres cluster of this test only (initdb into a temporary folder, its own port),
    so stopping it can never touch the database the rest of the suite runs on."""

    def __init__(self, bin_dir: Path):
        # Not tmp_path: the server runs as `postgres` when we are root, and must reach it.
        self.folder = Path(tempfile.mkdtemp(prefix="ldct-faults-pg-"))
        self.bin_dir, self.data, self.port = bin_dir, self.folder / "data", _free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self.as_postgres:
            shutil.chown(self.folder, "postgres")

    def url(self, name: str = "ldct") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        with self.connect("postgres") as db:
            db.execute("CREATE DATABASE ldct")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        """`immediate`: no clean shutdown, as a crash or a killed container; committed
        transactions come back from the write-ahead log at the next start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def connect(self, name: str = "ldct"):
        import psycopg

        return psycopg.connect(
            self.url(name).replace("postgres://", "postgresql://"), autocommit=True
        )

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def private_postgres(request):
    server = PrivatePostgres(Path(_need("pg_ctl", request)).parent)
    try:
        server.init()
        yield server
    finally:
        server.remove()


SEED = """
import json
from reader_study.models import Presentation
from tests.conftest import make_user
from tests.studies.factories import denoised_cases, make_study
researcher, reader = make_user("rita", "researcher"), make_user("rex", "reader")
cases, model = denoised_cases(researcher, 2)
make_study(researcher, cases, model, [reader])
first = Presentation.objects.filter(reader__user=reader).order_by("position").first()
print(json.dumps({"pk": first.pk, "token": first.token, "token_a": first.token_a}))
"""


def answer_set(n: int) -> dict:
    """The whole answer set the page would send after its n-th change (values vary with n)."""
    scores = [{**score, "value": 1 + (n + i) % 5} for i, score in enumerate(all_scores())]
    return {"scores": scores, "preference": "none", "seconds": float(n)}


class Autosave(threading.Thread):
    """The reading page's autosave: a new whole answer set after every change, one request
    at a time, each retried until the server says it is saved (as frontend/src/reading)."""

    def __init__(self, session: requests.Session, url: str, headers: dict):
        super().__init__(daemon=True)
        self.session, self.url, self.headers = session, url, headers
        self.acknowledged = 0  # the newest answer set the server said it saved
        self.answers: list[tuple] = []  # (status or None, content type, body) of every try
        self.done = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.done.is_set():
            n += 1
            while True:
                try:
                    r = self.session.put(
                        self.url, json=answer_set(n), headers=self.headers, timeout=60
                    )
                except requests.RequestException as exc:
                    self.answers.append((None, "", repr(exc)[:200]))
                else:
                    self.answers.append((r.status_code, r.headers.get("Content-Type", ""), r.text))
                    if r.status_code == 200:
                        self.acknowledged = n
                        break
                    if r.status_code != 503:
                        return  # not an outage: the assertions below show it
                time.sleep(0.2)
            time.sleep(0.05)

    def wait_for_acks(self, more: int, timeout: float = 60) -> None:
        target = self.acknowledged + more
        wait_until(lambda: self.acknowledged >= target or not self.is_alive(), timeout=timeout)
        assert self.acknowledged >= target, self.answers[-5:]


@pytest.mark.server
@pytest.mark.slow
def test_postgres_and_redis_restart_while_a_reader_scores(request, tmp_path):
    """The web server on a private Postgres and a private Redis. Redis down: scoring goes on
    (it needs only the database). Postgres stopped hard mid-autosave: every request answers
    503 JSON with a message (pages: a 503 page), the page retries, and once Postgres is back
    the newest acknowledged answers are in the database, one row per question."""
    started = time.monotonic()
    with (
        private_redis(request, tmp_path / "redis") as redis_server,
        private_postgres(request) as pg,
    ):
        env = server_env(
            pg.url(),
            tmp_path / "media",
            tmp_path / "var",
            CELERY_BROKER_URL=redis_server.url,
            # While Postgres is down a request waits this long for a pooled connection
            # before its 503 (the shipped default, 30 s, is in benchmarks/trust/RESULTS.md).
            DATABASE_POOL_TIMEOUT="5",
        )
        manage = [sys.executable, "manage.py"]
        for step in (["migrate", "-v0"], ["shell", "-c", SEED]):
            done = subprocess.run(
                manage + step, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, done.stderr[-3000:]
        seeded = json.loads(done.stdout.strip().splitlines()[-1])
        setup_s = time.monotonic() - started
        with running_gunicorn(env, tmp_path / "gunicorn.log") as url:
            browser = requests.Session()
            browser.get(f"{url}/accounts/login/", timeout=10)
            login = {
                "username": "rex",
                "password": PASSWORD,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            }
            browser.post(f"{url}/accounts/login/", data=login, timeout=10)
            assert "sessionid" in browser.cookies
            headers = {"X-CSRFToken": browser.cookies["csrftoken"]}
            answers_url = f"{url}{reverse('api-reading-answers', args=[seeded['token']])}"
            page_url = f"{url}{reverse('reading-page', args=[seeded['token']])}"
            image_url = f"{url}{reverse('reading-image', args=[seeded['token_a'], 0])}"

            redis_server.kill()  # the broker and result store: scoring needs neither
            put = browser.put(answers_url, json=answer_set(0), headers=headers, timeout=10)
            assert put.status_code == 200, put.text
            assert browser.get(page_url, timeout=10).status_code == 200

            autosave = Autosave(browser, answers_url, headers)
            autosave.start()
            autosave.wait_for_acks(3)
            pg.stop("immediate")
            outage_started = time.monotonic()
            try:
                wait_until(lambda: sum(a[0] == 503 for a in autosave.answers) >= 2, timeout=60)
                page = browser.get(page_url, timeout=10)
                image = browser.get(image_url, timeout=10)
            finally:
                pg.start()
            outage_s = time.monotonic() - outage_started
            autosave.wait_for_acks(3)
            autosave.done.set()
            autosave.join(timeout=30)
            final = autosave.acknowledged
            submit = browser.post(
                f"{url}{reverse('api-reading-submit', args=[seeded['token']])}",
                json={"seconds": 30},
                headers=headers,
                timeout=10,
            )
        statuses = sorted({a[0] for a in autosave.answers}, key=str)
        refusals = [a for a in autosave.answers if a[0] != 200]
        assert statuses == [200, 503] or statuses == [200, 503, None], statuses
        for code, content_type, body in refusals:
            if code == 503:
                assert content_type == "application/json"
                assert "database is not reachable" in json.loads(body)["detail"]
        assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html")
        assert "database is not reachable" in page.text and page.headers["Retry-After"]
        assert image.status_code == 503 and "database" in image.json()["detail"]
        assert submit.status_code == 200, submit.text

        with pg.connect() as db:
            rows = db.execute(
                "SELECT s.side, c.key, s.value FROM reader_study_score s "
                "JOIN reader_study_criterion c ON c.id = s.criterion_id "
                "WHERE s.presentation_id = %s",
                [seeded["pk"]],
            ).fetchall()
            answered = db.execute(
                "SELECT answered_at IS NOT NULL FROM reader_study_presentation WHERE id = %s",
                [seeded["pk"]],
            ).fetchone()[0]
        expected = {(s["side"], s["criterion"]): s["value"] for s in answer_set(final)["scores"]}
        assert len(rows) == len(expected) == 6  # one row per question: none duplicated
        assert {(side, key): value for side, key, value in rows} == expected  # none lost
        assert answered
        print(
            f"\npostgres outage {outage_s:.1f}s: {len(refusals)} refused saves "
            f"({statuses}), {final} answer sets acknowledged; setup {setup_s:.1f}s"
        )
