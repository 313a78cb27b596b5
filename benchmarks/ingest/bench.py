"""Upload + ingest and retrieval throughput: LDCT Reader Studio vs Orthanc vs a plain file copy.

    .venv/bin/python benchmarks/ingest/bench.py [--slices 300] [--size 512] [--parallel 4]

Everything runs on loopback inside a private network namespace (`unshare -n`): Orthanc
1.10 cannot choose its listen address and binds 0.0.0.0, so the namespace keeps it
private. Both servers get the same 300-slice 512x512 CT series (uncompressed, 150 MB)
written by `denoiser.dicom_io.write_series`, the same client machine and the same
parallelism, in the same run:

- ours: gunicorn (one worker per CPU) on the embedded default (SQLite, local media); the upload
  API exactly as the browser drives it (files of one chunk 8 to a request, larger files in
  8 MiB chunks, `--parallel` requests at a time, SHA-256 Content-Digest) then one ingest
  call; and STOW-RS of the whole series in one request.
- Orthanc (Debian package `orthanc` + `orthanc-dicomweb`): REST `POST /instances` per file,
  `--parallel` at a time; and STOW-RS of the whole series in one request.
- floor: copying the files on the same disk (what storage alone costs).

Retrieval: WADO-RS of the whole series (multipart/related, as stored) and WADO-URI per
instance (`--parallel` at a time), bytes counted, not parsed.
Results print as a Markdown table and go to benchmarks/ingest/results.json.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "trust" / "load"))  # as run_fuzz.py imports it

from run_load import free_port  # noqa: E402

PY = sys.executable
ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def wait_until_up(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up")


def make_series(out: Path, slices: int, size: int, seed: str = "bench-ingest") -> list[Path]:
    from denoiser.dicom.write import write_series
    from denoiser.phantoms import abdominal_phantom

    rng = np.random.default_rng(0)
    base = abdominal_phantom(size, 7).hu
    volume = base[None] + rng.normal(0, 25, (slices, size, size)).astype(np.float32)
    return write_series(volume, out, seed=seed, exposure_mas=50, ctdivol=3.0)


def mb(n: int) -> float:
    return n / 1e6


def row(system: str, task: str, seconds: float, nbytes: int, note: str = "") -> dict:
    return {
        "system": system,
        "task": task,
        "seconds": round(seconds, 2),
        "MB": round(mb(nbytes), 1),
        "MB/s": round(mb(nbytes) / seconds, 1),
        "note": note,
    }


def multipart_body(files: list[Path]) -> tuple[bytes, str]:
    boundary = f"bench-{uuid.uuid4().hex}"
    parts = []
    for path in files:
        parts.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        parts.append(path.read_bytes())
        parts.append(b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f'multipart/related; type="application/dicom"; boundary={boundary}'


_local = threading.local()


def session(headers: dict) -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
        _local.session.headers.update(headers)
    return _local.session


# --- the floor -------------------------------------------------------------------------------


def bench_copy(files: list[Path], work: Path) -> dict:
    target = work / "copy"
    target.mkdir()
    total = sum(p.stat().st_size for p in files)
    start = time.perf_counter()
    for path in files:
        shutil.copyfile(path, target / path.name)
    os.sync()
    return row("file copy (floor)", "store", time.perf_counter() - start, total)


# --- LDCT Reader Studio ------------------------------------------------------------------------


@contextmanager
def our_server(work: Path, workers: int):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(LDCT_VAR_DIR=str(work / "var"), LDCT_INSECURE_HTTP="1", LOG_LEVEL="WARNING")
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    script = (
        "from django.contrib.auth.models import User\n"
        "from rest_framework.authtoken.models import Token\n"
        "from reader_study.access import assign_role\n"
        "for name in ('bench1', 'bench2', 'warmup'):\n"
        "    u = User.objects.create_user(name, password='bench-password-1')\n"
        "    assign_role(u, 'researcher')\n"
        "    print(Token.objects.create(user=u).key)\n"
    )
    made = subprocess.run(
        [PY, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True, capture_output=True
    )
    tokens = made.stdout.decode().split()[-3:]
    port = free_port()
    server = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            "ldct_web.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "900",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/api/me/")  # 401: up, no static files needed
        yield f"http://127.0.0.1:{port}", tokens
    finally:
        server.terminate()
        server.wait(30)


def upload_like_the_browser(
    url: str, token: str, files: list[Path], parallel: int, label: str = "bench"
) -> tuple[float, float, dict]:
    headers = {"Authorization": f"Token {token}"}
    api = requests.Session()
    api.headers.update(headers)
    start = time.perf_counter()
    upload = api.post(f"{url}/api/uploads/", json={"label": label})
    if upload.status_code != 201:
        raise RuntimeError(f"upload start: {upload.status_code} {upload.text[:300]}")
    upload = upload.json()
    announced = api.post(
        f"{url}/api/uploads/{upload['id']}/files/",
        json={"files": [{"name": p.name, "size": p.stat().st_size} for p in files]},
    ).json()["files"]
    by_name = {p.name: p for p in files}

    def put(path: str, data: bytes) -> None:
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        response = session(headers).put(
            f"{url}/api/uploads/{upload['id']}/{path}",
            data=data,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Digest": f"sha-256=:{digest}:",
            },
        )
        response.raise_for_status()

    def send(task):
        if isinstance(task, list):  # whole one-chunk files, one request
            ids = ",".join(str(info["id"]) for info in task)
            put(f"batch/?files={ids}", b"".join(by_name[i["name"]].read_bytes() for i in task))
            return
        info, index = task
        with open(by_name[info["name"]], "rb") as fh:
            fh.seek(index * info["chunk_bytes"])
            put(f"files/{info['id']}/chunks/{index}", fh.read(info["chunk_bytes"]))

    small = [info for info in announced if info["chunks"] == 1]
    tasks = batches(small, parallel)
    tasks += [(info, i) for info in announced if info["chunks"] > 1 for i in range(info["chunks"])]
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(send, tasks))
    uploaded = time.perf_counter()
    response = api.post(f"{url}/api/uploads/{upload['id']}/ingest/", json={})
    response.raise_for_status()
    done = time.perf_counter()
    return uploaded - start, done - uploaded, response.json()


def batches(small: list[dict], parallel: int, most: int = 8) -> list[list[dict]]:
    """Groups one-chunk files as the upload page does (frontend/src/upload.ts `batches`)."""
    most = max(1, min(most, -(-len(small) // parallel)))
    out: list[list[dict]] = []
    for info in small:
        fits = out and sum(i["size"] for i in out[-1]) + info["size"] <= info["chunk_bytes"]
        if fits and len(out[-1]) < most:
            out[-1].append(info)
        else:
            out.append([info])
    return out


def stow(url: str, headers: dict, files: list[Path]) -> float:
    body, content_type = multipart_body(files)
    start = time.perf_counter()
    response = requests.post(url, data=body, headers=headers | {"Content-Type": content_type})
    elapsed = time.perf_counter() - start
    if response.status_code not in (200, 202):
        raise RuntimeError(f"STOW to {url}: {response.status_code} {response.text[:300]}")
    return elapsed


def wado_rs_series(url: str, headers: dict) -> tuple[float, int]:
    start = time.perf_counter()
    total = 0
    with requests.get(url, headers=headers | {"Accept": AS_STORED}, stream=True) as response:
        response.raise_for_status()
        for block in response.iter_content(1024 * 1024):
            total += len(block)
    return time.perf_counter() - start, total


def wado_uri_all(urls: list[str], headers: dict, parallel: int) -> tuple[float, int]:
    def get(url: str) -> int:
        response = session(headers).get(url)
        response.raise_for_status()
        return len(response.content)

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        total = sum(pool.map(get, urls))
    return time.perf_counter() - start, total


def warm_up(url: str, tokens: list[str], work: Path, workers: int) -> None:
    """Small new cases first, so every gunicorn worker has made one: the first case of a
    process imports the job code's torch (seconds), a once-per-process cost."""

    def one(number: int):
        tiny = make_series(work / f"warm-{number}", 1, 32, seed=f"warm-{number}")
        upload_like_the_browser(url, tokens[2], tiny, 1, label=f"warm-{number}")

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(workers * 2)))


def bench_ours(url: str, tokens: list[str], files: list[Path], parallel: int) -> list[dict]:
    total = sum(p.stat().st_size for p in files)
    up, ingest_s, report = upload_like_the_browser(url, tokens[0], files, parallel)
    rows = [
        row(
            "LDCT Reader Studio",
            "upload API (batches, chunks) + ingest",
            up + ingest_s,
            total,
            f"upload {up:.2f} s (each file checked, de-identified and stored as it "
            f"arrives) + ingest {ingest_s:.2f} s (group, sort, move into the case)",
        ),
    ]
    headers = {"Authorization": f"Token {tokens[1]}"}
    rows.append(
        row(
            "LDCT Reader Studio",
            "STOW-RS, one request",
            stow(f"{url}/dicomweb/studies?label=stow", headers, files),
            total,
        )
    )
    headers = {"Authorization": f"Token {tokens[0]}"}
    study = report["case"]["study_instance_uid"]
    series = requests.get(f"{url}/dicomweb/studies/{study}/series", headers=headers).json()
    series_uid = series[0]["0020000E"]["Value"][0]
    seconds, nbytes = wado_rs_series(f"{url}/dicomweb/studies/{study}/series/{series_uid}", headers)
    rows.append(row("LDCT Reader Studio", "WADO-RS series (as stored)", seconds, nbytes))
    instances = requests.get(
        f"{url}/dicomweb/studies/{study}/series/{series_uid}/instances", headers=headers
    ).json()
    urls = [
        f"{url}/dicomweb/wado?requestType=WADO&studyUID={study}&seriesUID={series_uid}"
        f"&objectUID={i['00080018']['Value'][0]}&contentType=application/dicom"
        for i in instances
    ]
    seconds, nbytes = wado_uri_all(urls, headers, parallel)
    rows.append(
        row("LDCT Reader Studio", f"WADO-URI per instance ({parallel} parallel)", seconds, nbytes)
    )
    return rows


# --- Orthanc -----------------------------------------------------------------------------------


@contextmanager
def orthanc(work: Path):
    port = free_port()
    folder = work / "orthanc"
    (folder / "db").mkdir(parents=True)
    config = {
        "Name": "bench",
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "DicomServerEnabled": False,
        "HttpPort": port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "StorageCompression": False,
        "Plugins": [DICOMWEB_PLUGIN],
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": True,
            "WadoRoot": "/wado",
            "Host": "127.0.0.1",
            "Ssl": False,
        },
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    with open(folder / "orthanc.log", "wb") as log:
        server = subprocess.Popen(
            [ORTHANC, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/system")
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(30)


def bench_orthanc(url: str, files: list[Path], parallel: int, work: Path) -> list[dict]:
    import pydicom

    total = sum(p.stat().st_size for p in files)

    def post(path: Path) -> None:
        response = session({}).post(f"{url}/instances", data=path.read_bytes())
        response.raise_for_status()

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(post, files))
    rows = [
        row(
            "Orthanc 1.10",
            f"REST POST /instances ({parallel} parallel)",
            time.perf_counter() - start,
            total,
        )
    ]
    # STOW into an empty Orthanc, so it stores rather than answers "already stored".
    with orthanc(work / "second") as fresh:
        rows.append(
            row(
                "Orthanc 1.10",
                "STOW-RS, one request",
                stow(f"{fresh}/dicom-web/studies", {}, files),
                total,
            )
        )
    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    study, series = first.StudyInstanceUID, first.SeriesInstanceUID
    seconds, nbytes = wado_rs_series(f"{url}/dicom-web/studies/{study}/series/{series}", {})
    rows.append(row("Orthanc 1.10", "WADO-RS series (as stored)", seconds, nbytes))
    urls = []
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        urls.append(
            f"{url}/wado?requestType=WADO&studyUID={study}&seriesUID={series}"
            f"&objectUID={ds.SOPInstanceUID}&contentType=application/dicom"
        )
    seconds, nbytes = wado_uri_all(urls, {}, parallel)
    rows.append(
        row("Orthanc 1.10", f"WADO-URI per instance ({parallel} parallel)", seconds, nbytes)
    )
    return rows


# --- main --------------------------------------------------------------------------------------


def in_private_namespace() -> None:
    """Re-runs this script in a network namespace that only has loopback."""
    if os.environ.get("LDCT_BENCH_NETNS") or not shutil.which("unshare"):
        return
    command = " ".join([PY, *map(str, sys.argv)])
    result = subprocess.run(
        ["unshare", "-n", "bash", "-c", f"ip link set lo up && LDCT_BENCH_NETNS=1 exec {command}"]
    )
    sys.exit(result.returncode)


def table(rows: list[dict]) -> str:
    lines = ["| system | task | seconds | MB | MB/s | note |", "|---|---|---:|---:|---:|---|"]
    lines += [
        f"| {r['system']} | {r['task']} | {r['seconds']} | {r['MB']} | {r['MB/s']} | {r['note']} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="gunicorn workers (default: one per CPU; the per-file checks are CPU-bound)",
    )
    args = parser.parse_args()
    in_private_namespace()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ldct_web.settings")
    work = Path(tempfile.mkdtemp(prefix="ldct-bench-"))
    try:
        print(f"writing a {args.slices}-slice {args.size}x{args.size} series...", flush=True)
        files = make_series(work / "series", args.slices, args.size)
        rows = [bench_copy(files, work)]
        print("LDCT Reader Studio...", flush=True)
        with our_server(work, args.workers) as (url, tokens):
            warm_up(url, tokens, work, args.workers)
            rows += bench_ours(url, tokens, files, args.parallel)
        if Path(ORTHANC).exists() and Path(DICOMWEB_PLUGIN).exists():
            print("Orthanc...", flush=True)
            with orthanc(work) as url:
                rows += bench_orthanc(url, files, args.parallel, work)
        else:
            print("Orthanc is not installed (apt-get install orthanc orthanc-dicomweb): floor only")
        print(table(rows))
        out = Path(__file__).with_name("results.json")
        out.write_text(
            json.dumps({"args": vars(args), "cpus": os.cpu_count(), "rows": rows}, indent=2)
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
