"""Schema fuzzing: schemathesis against the published OpenAPI schema, as two users.

    .venv/bin/python benchmarks/trust/fuzz/run_fuzz.py [--max-examples 25] [--out DIR]
        [--seed 17] [--roles researcher,reader]

1. Makes a fresh deployment (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
   ldct_fuzz; CELERY_BROKER_URL, default redis://127.0.0.1:6379/13; LDCT_VAR_DIR, default
   /tmp/ldct-fuzz), seeded by ../load/seed.py with small cases: a researcher who owns an
   open study of two denoised cases, its readers, an upload of the researcher's;
2. serves it with the product's gunicorn configuration on a loopback port;
3. logs in through Django's login form as the owning researcher and as a reader, and
   fetches the schema the server publishes at /api/schema/ (it needs a login);
4. runs `schemathesis run` twice per user with that session (the `sessionid` cookie as
   the schema's cookieAuth, and the CSRF cookie and `X-CSRFToken` header that Django's
   check wants, hooks.py): every check, the examples, coverage and fuzzing phases, at most
   `--max-examples` cases an operation, a fixed seed. The positive run sends valid data,
   its path parameters naming the seeded objects (so requests reach real resources, not
   only 404s): the study, a case, a job, the model, the upload, the reader's presentation
   token; the negative run sends invalid data, no parameter fixed (a fixed value would
   replace the invalid one generated);
5. stops the server, counts the 5xx answers in its log, and writes `summary.json` and
   each run's output and JUnit report to `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent / "load"))

import run_load as deployment  # noqa: E402

PY = sys.executable
SCHEMATHESIS = str(Path(PY).parent / "schemathesis")


def env_for() -> dict:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ldct_fuzz")
    env.setdefault("LDCT_VAR_DIR", "/tmp/ldct-fuzz")
    return deployment.env_for(env)


def login(url: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{url}/accounts/login/").raise_for_status()
    response = session.post(
        f"{url}/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{url}/accounts/login/"},
        allow_redirects=False,
    )
    if response.status_code != 302:
        raise SystemExit(f"login of {username}: HTTP {response.status_code}")
    return session


def first_id(session: requests.Session, url: str) -> int | None:
    response = session.get(url)
    response.raise_for_status()
    items = response.json()
    items = items.get("results", items) if isinstance(items, dict) else items
    return items[0]["id"] if items else None


def researcher_parameters(session: requests.Session, url: str, plan: dict) -> dict:
    """The seeded objects for the researcher's path parameters, per path prefix."""
    upload = session.post(
        f"{url}/api/uploads/",
        json={"label": "fuzz upload"},
        headers={"X-CSRFToken": session.cookies["csrftoken"]},
    )
    upload.raise_for_status()
    public_id = upload.json()["id"]
    announced = session.post(
        f"{url}/api/uploads/{public_id}/files/",
        json={"files": [{"name": "slice.dcm", "size": 1000}]},
        headers={"X-CSRFToken": session.cookies["csrftoken"]},
    )
    announced.raise_for_status()
    return {
        "^/api/studies/": {"pk": plan["study"]},
        "^/api/cases/": {"pk": first_id(session, f"{url}/api/cases/")},
        "^/api/jobs/": {"pk": first_id(session, f"{url}/api/jobs/")},
        "^/api/models/": {"pk": first_id(session, f"{url}/api/models/")},
        "^/api/uploads/": {
            "public_id": public_id,
            "file_id": announced.json()["files"][0]["id"],
        },
    }


def reader_parameters(session: requests.Session, url: str, plan: dict) -> dict:
    response = session.get(f"{url}/reading/studies/{plan['study']}/start/", allow_redirects=False)
    token = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    return {"^/api/reading/": {"token": token}, "^/api/studies/": {"pk": plan["study"]}}


def config_text(parameters: dict) -> str:
    """schemathesis.toml: the session as the schema's cookieAuth, and fixed path parameters
    for the operations under each prefix."""
    lines = ["[auth.openapi.cookieAuth]", 'api_key = "${LDCT_FUZZ_SESSION}"', ""]
    for prefix, values in parameters.items():
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            continue
        lines.append("[[operations]]")
        lines.append(f"include-path-regex = {json.dumps(prefix)}")
        pairs = ", ".join(f"{json.dumps('path.' + k)} = {json.dumps(v)}" for k, v in values.items())
        lines.append(f"parameters = {{ {pairs} }}")
        lines.append("")
    return "\n".join(lines)


MODES = ("positive", "negative")


def fuzz(role: str, session: requests.Session, url: str, parameters: dict, args) -> list[dict]:
    """Two runs: valid data with the path parameters naming seeded objects, then invalid
    data with none fixed (a fixed value would replace the invalid one generated)."""
    schema = session.get(f"{url}/api/schema/", params={"format": "json"})
    schema.raise_for_status()
    return [
        fuzz_mode(
            role, mode, session, url, schema.text, parameters if mode == "positive" else {}, args
        )
        for mode in MODES
    ]


def fuzz_mode(role, mode, session, url, schema: str, parameters: dict, args) -> dict:
    out = args.out / role / mode
    out.mkdir(parents=True, exist_ok=True)
    (out / "openapi.json").write_text(schema)
    (out / "schemathesis.toml").write_text(config_text(parameters))
    csrf = session.cookies["csrftoken"]
    command = [
        SCHEMATHESIS, "--config-file", str(out / "schemathesis.toml"),
        "run", str(out / "openapi.json"), "--url", url,
        "-H", f"X-CSRFToken: {csrf}",
        "--mode", mode,
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(args.max_examples),
        "--seed", str(args.seed),
        "--workers", "1",
        "--request-timeout", "60",
        "--continue-on-failure",
        "--suppress-health-check", "all",
        "--report", "junit", "--report-dir", str(out),
        "--output-sanitize", "true",
    ]  # fmt: skip
    started = time.monotonic()
    run_env = dict(
        os.environ,
        SCHEMATHESIS_HOOKS=str(HERE / "hooks.py"),
        LDCT_FUZZ_SESSION=session.cookies["sessionid"],
        LDCT_FUZZ_CSRF=csrf,
    )
    run = subprocess.run(command, cwd=out, capture_output=True, text=True, env=run_env)
    output = run.stdout + run.stderr
    (out / "output.txt").write_text(output)
    shown = " ".join(c if c.startswith("-") or " " not in c else repr(c) for c in command)
    return {
        "role": role,
        "mode": mode,
        "exit_code": run.returncode,
        "seconds": round(time.monotonic() - started),
        "summary": summary_lines(output),
        "command": shown.replace(csrf, "$CSRF"),
    }


def summary_lines(output: str) -> list[str]:
    """The run's closing summary (from its SUMMARY banner on)."""
    lines = output.splitlines()
    for n, line in enumerate(lines):
        if "SUMMARY" in line:
            return [x for x in lines[n:] if x.strip()][:60]
    return lines[-40:]


def server_errors(log: Path) -> list[str]:
    text = log.read_text(errors="replace")
    return re.findall(r"ERROR django\.request: Internal Server Error: \S+", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--roles", default="researcher,reader")
    parser.add_argument("--out", type=Path, default=Path("/tmp/ldct-fuzz-results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = env_for()
    plan_path = Path(env["LDCT_VAR_DIR"]) / "plan.json"
    deployment.fresh_deployment(env)
    subprocess.run(
        [PY, str(HERE.parent / "load" / "seed.py"), "--plan", str(plan_path),
         "--readers", "2", "--cases", "2", "--slices", "6", "--size", "64",
         "--uploaders", "1", "--upload-sets", "0"],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    plan = json.loads(plan_path.read_text())
    server, url = deployment.serve(env, args.out)
    started = datetime.now(UTC)
    results = []
    try:
        # The logins seed.py made, from its plan: seed.py alone names them.
        users = {"researcher": plan["owner"], "reader": plan["readers"][0]}
        for role in args.roles.split(","):
            session = login(url, users[role], plan["password"])
            make = researcher_parameters if role == "researcher" else reader_parameters
            results.extend(fuzz(role, session, url, make(session, url, plan), args))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    errors = server_errors(args.out / "gunicorn.log")
    summary = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "max_examples": args.max_examples,
        "seed": args.seed,
        "runs": results,
        "server_5xx_logged": len(errors),
        "server_5xx_paths": sorted(set(errors))[:30],
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    for run in results:
        print(f"== {run['role']}, {run['mode']}: exit {run['exit_code']}, {run['seconds']} s")
        print("\n".join(run["summary"]))
    print(f"server 5xx logged: {len(errors)}")
    sys.exit(0 if all(r["exit_code"] == 0 for r in results) and not errors else 1)


if __name__ == "__main__":
    main()
