"""The load test: a fresh deployment, seeded, served by gunicorn, loaded by locust, checked.

    .venv/bin/python benchmarks/trust/load/run_load.py [--run-time 150] [--out DIR]
        [--think 10,20] [--click 1,3] [seed.py options: --cases 8 --slices 24 --size 256 ...]

1. Makes the database (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/ldct_load)
   afresh, empties the Redis database (CELERY_BROKER_URL, default redis://127.0.0.1:6379/13)
   and the media folder (LDCT_VAR_DIR, default /tmp/ldct-load), migrates and seeds it
   (seed.py);
2. serves it with the product's gunicorn configuration (ldct_web/gunicorn_conf.py, as
   scripts/run.sh starts it) on a loopback port; no Celery worker runs, so the uploads'
   denoising jobs wait in Redis and take no CPU from the web server;
3. runs locust headless (locustfile.py: 50 readers, 5 uploading researchers) for
   `--run-time` seconds, users started 5 a second;
4. stops gunicorn, checks the database (check.py), and writes `summary.json` and
   `summary.md` (p50/p95/p99 per endpoint, errors, goals) to `--out`.

Percentiles are exact (every request's time, from locust's request event) and cover the
steady state: from the moment every user has started to the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PY = sys.executable
HIDDEN = ("owner", "readers", "uploaders", "password", "criteria", "sessions")
GOALS = {"answers (autosave)": 200.0, "image: first of a presentation": 500.0}


def env_for(base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ldct_load")
    env.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/13")
    env.setdefault("LDCT_VAR_DIR", "/tmp/ldct-load")
    # Outside the var folder, which each run empties: collecting (and compressing) the
    # bundle takes minutes on this machine and its result does not change between runs.
    env.setdefault("STATIC_ROOT", "/tmp/ldct-load-static")
    env["LDCT_INSECURE_HTTP"] = "1"
    env["LOG_LEVEL"] = "WARNING"
    return env


def fresh_deployment(env: dict) -> None:
    import psycopg
    import redis

    url = urlparse(env["DATABASE_URL"])
    name = url.path.lstrip("/")
    admin = env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    subprocess.run(["rm", "-rf", env["LDCT_VAR_DIR"]], check=True)
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    # The pages name the bundle's hashed files through the static files' manifest.
    manifest = Path(env["STATIC_ROOT"]) / "staticfiles.json"
    bundle = ROOT / "frontend" / "dist" / ".vite" / "manifest.json"
    if not manifest.exists() or manifest.stat().st_mtime < bundle.stat().st_mtime:
        subprocess.run(
            [PY, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
        )


def free_port() -> int:
    """A loopback port free now (the other benchmarks' servers take theirs from here too)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(env: dict, out: Path | None = None) -> tuple[subprocess.Popen, str]:
    """gunicorn with the product's configuration on a free loopback port, once it accepts
    connections: the process (in a session of its own, so os.killpg stops its workers too)
    and its URL. Its access log and output go to `out`, or nowhere when `out` is None (the
    reading benchmark, which measures in the browser)."""
    port = free_port()
    access_log = str(out / "access.log") if out else os.devnull
    server_env = dict(env, LDCT_BIND=f"127.0.0.1:{port}", LDCT_ACCESS_LOG=access_log)
    log_path = out / "gunicorn.log" if out else os.devnull
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [PY, "-m", "gunicorn", "-c", "ldct_web/gunicorn_conf.py", "ldct_web.wsgi:application"],
            cwd=ROOT,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("gunicorn did not start" + ("; see gunicorn.log" if out else ""))


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its children (the gunicorn workers)."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def postgres_cpu(env: dict) -> float:
    """CPU seconds of the Postgres backends connected to this run's database."""
    import psutil
    import psycopg

    name = urlparse(env["DATABASE_URL"]).path.lstrip("/")
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )]  # fmt: skip
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all processes, all cores)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def watch_load(stop: threading.Event, rows: list) -> None:
    while not stop.wait(5):
        rows.append(float(Path("/proc/loadavg").read_text().split()[0]))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 100)))
    return ordered[rank - 1]


def endpoint_stats(rows: list, duration: float) -> dict:
    per: dict[str, dict] = {}
    for _, method, name, ms, status, ok in rows:
        row = per.setdefault(name, {"method": method, "times": [], "errors": {}})
        row["times"].append(ms)
        if not ok:
            row["errors"][str(status)] = row["errors"].get(str(status), 0) + 1
    out = {}
    for name, row in sorted(per.items()):
        times = row["times"]
        out[name] = {
            "method": row["method"],
            "requests": len(times),
            "per_second": round(len(times) / max(duration, 1), 2),
            "p50_ms": round(percentile(times, 50), 1),
            "p95_ms": round(percentile(times, 95), 1),
            "p99_ms": round(percentile(times, 99), 1),
            "max_ms": round(max(times), 1),
            "errors": row["errors"],
        }
    return out


def summarise(out: Path) -> dict:
    """Per endpoint, in the steady state (every user started) and in the ramp before it."""
    lines = (out / "samples.jsonl").read_text().splitlines()
    marks = json.loads(lines[0])
    rows = [json.loads(line) for line in lines[1:]]
    if not rows:
        raise SystemExit("locust recorded no request")
    first, last = marks["start"] or rows[0][0], rows[-1][0]
    steady = marks["steady"] or first
    endpoints = endpoint_stats([r for r in rows if r[0] >= steady], last - steady)
    ramp = endpoint_stats([r for r in rows if r[0] < steady], steady - first)
    goals = {
        name: {
            "goal_p95_ms": goal,
            "p95_ms": endpoints.get(name, {}).get("p95_ms"),
            "met": name in endpoints and endpoints[name]["p95_ms"] < goal,
        }
        for name, goal in GOALS.items()
    }
    return {
        "endpoints": endpoints,
        "ramp_endpoints": ramp,
        "goals": goals,
        "steady_seconds": round(last - steady, 1),
        "ramp_seconds": round(steady - first, 1),
    }


def markdown(endpoints: dict) -> str:
    rows = [
        "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, e in endpoints.items():
        errors = ", ".join(f"{k}: {v}" for k, v in e["errors"].items()) or "0"
        rows.append(
            f"| {e['method']} {name} | {e['requests']} | {e['per_second']} | {e['p50_ms']} | "
            f"{e['p95_ms']} | {e['p99_ms']} | {e['max_ms']} | {errors} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-time", type=int, default=150, help="seconds (at most 180)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/ldct-load-results"))
    parser.add_argument("--think", default="10,20", help="seconds a reader looks before scoring")
    parser.add_argument("--click", default="1,3", help="seconds between two answers")
    parser.add_argument("--readers", type=int, default=50, help="reading users (at most 50)")
    parser.add_argument("--uploaders", type=int, default=5, help="uploading users (at most 5)")
    parser.add_argument("--skip-seed", action="store_true", help="reuse the seeded deployment")
    args, seed_args = parser.parse_known_args()
    if not 0 < args.run_time <= 180:
        parser.error("--run-time: 1 to 180 seconds")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    env = env_for()
    plan = Path(env["LDCT_VAR_DIR"]) / "plan.json"
    if not args.skip_seed:
        fresh_deployment(env)
        subprocess.run(
            [PY, str(HERE / "seed.py"), "--plan", str(plan), *seed_args],
            cwd=ROOT,
            env=env,
            check=True,
        )
    server, url = serve(env, out)
    load: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=watch_load, args=(stop, load), daemon=True)
    watcher.start()
    started = datetime.now(UTC)
    cpu_before = {"server": tree_cpu(server.pid), "machine": machine_busy(), "wall": time.time()}
    children_before = os.times().children_user + os.times().children_system
    locust_env = dict(
        env,
        LOAD_PLAN=str(plan),
        LOAD_OUT=str(out),
        LOAD_THINK=args.think,
        LOAD_CLICK=args.click,
        LOAD_READERS=str(args.readers),
        LOAD_UPLOADERS=str(args.uploaders),
    )
    command = [
        str(Path(PY).parent / "locust"),
        "-f", str(HERE / "locustfile.py"),
        "--headless", "--host", url,
        "-u", str(args.readers + args.uploaders), "-r", "5", "-t", f"{args.run_time}s",
        "--stop-timeout", "10", "--only-summary",
        "--csv", str(out / "locust"),
    ]  # fmt: skip
    try:
        subprocess.run(command, cwd=ROOT, env=locust_env, timeout=args.run_time + 120)
        wall = time.time() - cpu_before["wall"]
        used = {
            "server_gunicorn": tree_cpu(server.pid) - cpu_before["server"],
            "postgres_backends": postgres_cpu(env),
            "load_generator_locust": os.times().children_user
            + os.times().children_system
            - children_before,
            "whole_machine": machine_busy() - cpu_before["machine"],
        }
        cpu = {"wall_seconds": round(wall, 1)}
        cpu.update({f"{k}_cores": round(v / wall, 2) for k, v in used.items()})
        cpu["everything_else_cores"] = round(
            cpu["whole_machine_cores"]
            - cpu["server_gunicorn_cores"]
            - cpu["postgres_backends_cores"]
            - cpu["load_generator_locust_cores"],
            2,
        )
    finally:
        stop.set()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    check = subprocess.run(
        [PY, str(HERE / "check.py"), "--answers", str(out / "answers.json"),
         "--json", str(out / "check.json")],
        cwd=ROOT, env=env,
    )  # fmt: skip
    summary = summarise(out)
    summary.update(
        date=started.strftime("%Y-%m-%d %H:%M UTC"),
        machine=f"{platform.node()}: {os.cpu_count()} cores, {platform.platform()}",
        plan={k: v for k, v in json.loads(plan.read_text()).items() if k not in HIDDEN},
        users={"readers": args.readers, "uploaders": args.uploaders},
        think=args.think,
        click=args.click,
        run_time=args.run_time,
        cpu=cpu,
        load_average={"mean": round(sum(load) / max(len(load), 1), 2), "max": max(load, default=0)},
        check=json.loads((out / "check.json").read_text()),
        check_passed=check.returncode == 0,
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    text = f"steady state, {summary['steady_seconds']} s:\n{markdown(summary['endpoints'])}\n\n"
    text += f"ramp, {summary['ramp_seconds']} s:\n{markdown(summary['ramp_endpoints'])}"
    (out / "summary.md").write_text(text + "\n")
    print(text)
    keys = ("goals", "cpu", "load_average", "check_passed")
    print(json.dumps({k: summary[k] for k in keys}, indent=1))


if __name__ == "__main__":
    main()
