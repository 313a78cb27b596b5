"""The frontend's copy of the OpenAPI schema (frontend/openapi.json) is the current one.

The frontend's TypeScript types of the REST API are generated from that file at build
time (`npm run types`), so a serializer change that is not carried into it would leave the
browser code typed against an API that no longer exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "frontend" / "openapi.json"
REFRESH = "make schema"


def _generate(target: Path) -> str:
    # The same command as `make schema`, in a process of its own: some integer bounds of
    # the schema come from the database backend (Django's integer_field_range), and the
    # committed file is the embedded SQLite's view whatever database this suite runs on.
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["LDCT_INSECURE_HTTP"] = "1"
    command = [sys.executable, "manage.py", "spectacular", "--format", "openapi-json"]
    done = subprocess.run(
        [*command, "--file", str(target)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return target.read_text()


def _differences(old: dict, new: dict) -> list[str]:
    """The paths and component schemas that differ, for the failure message."""
    found = []
    for section, table in (
        ("paths", lambda d: d.get("paths", {})),
        ("components/schemas", lambda d: d.get("components", {}).get("schemas", {})),
    ):
        before, after = table(old), table(new)
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                state = "new" if name not in before else "gone" if name not in after else "changed"
                found.append(f"{section} {name} ({state})")
    rest = {k for k in set(old) | set(new) if k not in ("paths", "components")}
    found += [f"{k} (changed)" for k in sorted(rest) if old.get(k) != new.get(k)]
    return found or ["formatting or key order only"]


def test_committed_schema_is_current(tmp_path):
    assert COMMITTED.exists(), f"frontend/openapi.json is missing: run `{REFRESH}`."
    current = _generate(tmp_path / "openapi.json")
    committed = COMMITTED.read_text()
    if committed.strip() != current.strip():
        changed = _differences(json.loads(committed), json.loads(current))
        listed = "\n  ".join(changed[:30]) + ("\n  ..." if len(changed) > 30 else "")
        raise AssertionError(
            "frontend/openapi.json is not the API's current schema; refresh it with "
            f"`{REFRESH}` (from the repository root) and commit it with the change.\n"
            f"Differs in:\n  {listed}"
        )
