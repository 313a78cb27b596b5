"""End-to-end job benchmark: ingest done -> denoised series stored, through a real worker.

    .venv/bin/python benchmarks/jobs/bench_jobs.py [--slices 100] [--size 512] [--repeats 2]

Measures, for one synthetic CT series (default 100 slices of 512x512):
- direct: `Denoiser.denoise(volume)` called in this process (the model already loaded);
- worker: from the commit of the real ingest (`reader_study.ingest.service.ingest`, whose
  case_ready queues the DenoiseJob) until the job row says succeeded, i.e. the derived
  series is stored and registered; run by a real Celery worker process on the embedded
  broker (filesystem transport, SQLite), as `make run` does. The first worker run
  includes loading the model in the fresh worker process (cold), the next ones reuse
  the per-process model cache (warm).
Overhead = worker time / direct time - 1. Direct and worker runs alternate, so both see
the same background load. Model: the shipped denoiser/weights/default.pt when present,
else a randomly initialised generator of the default architecture (same compute).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
VAR = Path(tempfile.mkdtemp(prefix="ldct-bench-jobs-"))
os.environ.update(LDCT_VAR_DIR=str(VAR), LDCT_INSECURE_HTTP="1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ldct_web.settings")
for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "MEDIA_ROOT"):
    os.environ.pop(name, None)  # always the embedded default, in a scratch folder

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from denoiser import Denoiser  # noqa: E402
from denoiser import checkpoint as ckpt  # noqa: E402
from denoiser.dicom.read import read_series  # noqa: E402
from denoiser.dicom.write import write_series  # noqa: E402
from denoiser.inference import DEFAULT_CHECKPOINT  # noqa: E402
from denoiser.networks import GeneratorSpec, build_generator  # noqa: E402
from denoiser.phantoms import abdominal_phantom  # noqa: E402
from tests.workers import worker_command  # noqa: E402


def model_file() -> tuple[Path, str]:
    if DEFAULT_CHECKPOINT.is_file():
        return DEFAULT_CHECKPOINT, "shipped denoiser/weights/default.pt"
    torch.manual_seed(0)
    spec = GeneratorSpec()
    payload = ckpt.make_payload(
        "generator",
        spec.to_dict(),
        build_generator(spec).state_dict(),
        model_card={"name": "bench-default-arch", "version": "1"},
    )
    path = ckpt.save_checkpoint(payload, VAR / "bench.pt")
    return path, "random weights, default GeneratorSpec architecture (no shipped weights yet)"


def series_files(slices: int, size: int, seed: int) -> list[Path]:
    phantom = abdominal_phantom(size, 7).hu
    rng = np.random.default_rng(seed)
    body = phantom > -500
    volume = np.repeat(phantom[None], slices, 0) + np.where(
        body, rng.normal(0, 30, (slices, size, size)), 0
    )
    folder = VAR / f"series-{seed}"
    return write_series(volume.astype(np.float32), folder, seed=seed, pixel_spacing=0.7)


def start_worker() -> subprocess.Popen:
    log = open(VAR / "worker.log", "wb")  # noqa: SIM115  (lives as long as the worker)
    process = subprocess.Popen(
        worker_command(("default", "gpu"), "bench@%h"),
        cwd=ROOT,
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while " ready." not in (VAR / "worker.log").read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((VAR / "worker.log").read_text(errors="replace"))
        time.sleep(0.2)
    return process


def time_direct(model: Denoiser, files: list[Path]) -> float:
    volume, _ = read_series(files)
    start = time.perf_counter()
    model.denoise(volume)
    return time.perf_counter() - start


def worker_steps(case_id: int) -> dict[str, float]:
    """Seconds per step inside the task, from the worker's log line for this case."""
    for line in (VAR / "worker.log").read_text(errors="replace").splitlines():
        marker = f"denoised case {case_id} with "
        if marker in line:
            steps = line.split(marker, 1)[1].split(": ", 1)[1]
            return {k: float(v.rstrip("s")) for k, v in (p.split() for p in steps.split(", "))}
    return {}


def time_worker(owner, files: list[Path], label: str) -> dict:
    from reader_study.ingest.report import SourceFile
    from reader_study.ingest.service import ingest
    from reader_study.models import Case, DenoiseJob
    from reader_study.signals import case_ready

    committed = {}

    def mark(sender, case, **kwargs):  # "ingest done" = the ingest transaction commits
        transaction.on_commit(lambda: committed.setdefault("at", timezone.now()))

    case_ready.connect(mark, dispatch_uid="bench-mark")
    started = time.perf_counter()
    ingest(
        owner=owner, label=label, sources=[SourceFile(p.name, p, p.stat().st_size) for p in files]
    )
    ingest_seconds = time.perf_counter() - started
    case_ready.disconnect(dispatch_uid="bench-mark")
    case = Case.objects.get(owner=owner, label=label)
    job = case.denoise_jobs.get()
    while job.state in ("queued", "running"):
        time.sleep(0.05)
        job = DenoiseJob.objects.get(pk=job.pk)
    if job.state != "succeeded":
        raise RuntimeError(f"job {job.state}: {job.message}")
    return {
        "steps_s": worker_steps(case.pk),
        "ingest_s": ingest_seconds,
        "end_to_end_s": (job.finished_at - committed["at"]).total_seconds(),
        "queue_wait_s": (job.started_at - committed["at"]).total_seconds(),
        "in_task_s": (job.finished_at - job.started_at).total_seconds(),
        "slices": job.output_series.num_instances,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    from django.contrib.auth.models import User

    from reader_study.access import RESEARCHER, assign_role
    from reader_study.registry import service as registry

    call_command("migrate", verbosity=0)
    owner = User.objects.create_user("bench", password="bench-password-1234")
    assign_role(owner, RESEARCHER)
    path, model_note = model_file()
    with open(path, "rb") as fh:
        registry.register_checkpoint(fh, filename=path.name, make_default=True)
    direct_model = Denoiser.load(path)
    worker = start_worker()
    results = {
        "model": model_note,
        "device": str(direct_model.device),
        "torch_threads": torch.get_num_threads(),
        "slices": args.slices,
        "size": args.size,
        "direct_s": [],
        "worker": [],
    }
    try:
        for repeat in range(args.repeats):
            files = series_files(args.slices, args.size, seed=repeat)
            results["direct_s"].append(time_direct(direct_model, files))
            print(f"direct denoise: {results['direct_s'][-1]:.1f} s", flush=True)
            run = time_worker(owner, files, f"bench-{repeat}")
            run["kind"] = "cold (model loaded by the worker)" if repeat == 0 else "warm"
            results["worker"].append(run)
            print(f"worker {run['kind']}: {json.dumps(run)}", flush=True)
    finally:
        os.kill(worker.pid, signal.SIGTERM)  # warm shutdown of the main process
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    direct = min(results["direct_s"])
    for run in results["worker"]:
        run["overhead_vs_best_direct"] = run["end_to_end_s"] / direct - 1
        # What the worker adds around the model (queue, load, DICOM read/write, database),
        # measured against the same run's own denoise step: immune to background load.
        denoise_s = run["steps_s"].get("denoise")
        if denoise_s:
            run["overhead_vs_own_denoise"] = run["end_to_end_s"] / denoise_s - 1
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
