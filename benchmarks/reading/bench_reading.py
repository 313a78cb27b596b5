"""Reading-page latency in headless Chromium, and the reading page's bundle size.

    .venv/bin/python benchmarks/reading/bench_reading.py [--slices 100] [--size 512] [--cases 4]

Builds a scratch deployment (embedded SQLite and media in a temporary folder): `--cases`
simulated low-dose cases of `--slices` slices of `--size`^2 pixels, ingested like uploads,
denoised in-process with the shipped model, one open study with one reader. Serves it with
the product's gunicorn configuration on loopback and drives Debian's Chromium (Playwright):
for each case after the first, the reader scores it, waits while the next case is
prefetched, and clicks "Submit and next"; measured from the click until both viewports
show the next pair's first slice (canvas drawn), and until both stacks are loaded (the
loading bars full). Prints JSON lines and a summary; RESULTS.md records them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# The load test's scripts (benchmarks/trust/load), imported as run_fuzz.py does: gunicorn
# from its run_load.py, the cases' phantom stacks from its seed.py, imported after
# django.setup() below, since importing it sets Django up in the environment this script
# has made.
sys.path.insert(0, str(ROOT / "benchmarks" / "trust" / "load"))
VAR = Path(tempfile.mkdtemp(prefix="ldct-bench-reading-"))
os.environ.update(LDCT_VAR_DIR=str(VAR), LDCT_INSECURE_HTTP="1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ldct_web.settings")
for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "MEDIA_ROOT"):
    os.environ.pop(name, None)

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from run_load import serve  # noqa: E402
from seed import noisy_volume  # noqa: E402

from denoiser.dicom.write import write_series  # noqa: E402
from reader_study.access import READER, RESEARCHER, assign_role  # noqa: E402
from reader_study.ingest.report import SourceFile  # noqa: E402
from reader_study.ingest.service import ingest  # noqa: E402
from reader_study.models import Case  # noqa: E402
from reader_study.registry.service import register_default_model  # noqa: E402
from reader_study.studies.demo import seed_demo_study  # noqa: E402

PASSWORD = "bench-reading-password-1"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--enable-unsafe-swiftshader",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip
DRAWN = """(name) => {
  const canvas = document.querySelector(`[aria-label="${name}"] canvas`);
  if (!canvas || !canvas.width) return false;
  const probe = document.createElement('canvas');
  probe.width = canvas.width; probe.height = canvas.height;
  const ctx = probe.getContext('2d'); ctx.drawImage(canvas, 0, 0);
  const d = ctx.getImageData(0, 0, probe.width, probe.height).data;
  let lo = 255, hi = 0;
  for (let i = 0; i < d.length; i += 64) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
  return hi - lo > 20;
}"""
LOADED = """(name) => {
  const bar = document.querySelector(`[aria-label="${name}"] [role=progressbar]`);
  return !!bar && bar.getAttribute('aria-valuenow') === bar.getAttribute('aria-valuemax')
    && Number(bar.getAttribute('aria-valuemax')) > 0;
}"""


def build(cases: int, slices: int, size: int) -> None:
    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    owner = User.objects.create_user("bench-researcher", password=PASSWORD)
    assign_role(owner, RESEARCHER)
    reader = User.objects.create_user("bench-reader", password=PASSWORD)
    assign_role(reader, READER)
    model = register_default_model()
    labels = []
    for n in range(cases):
        volume, spacing = noisy_volume(100 + n, slices, size)
        folder = VAR / f"case-{n}"
        paths = write_series(volume, folder, pixel_spacing=spacing, slice_thickness=1.0,
                             seed=f"bench-reading-{n}")  # fmt: skip
        sources = [SourceFile(p.name, Path(p), Path(p).stat().st_size) for p in paths]
        ingest(owner=owner, label=f"bench {n}", sources=sources)
        labels.append(f"bench {n}")
    print(seed_demo_study(owner, [reader], model, labels), flush=True)
    assert Case.objects.count() == cases


def score_everything(page) -> None:
    for group in page.get_by_role("radiogroup").all():
        radios = group.get_by_role("radio")
        radios.nth(radios.count() - 2).check()  # a good score; "B" for the preference
    page.wait_for_function("() => document.body.innerText.includes('Saved')")


def measure(url: str, cases: int) -> list[dict]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)  # fmt: skip
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{url}/accounts/login/")
        page.fill("input[name=username]", "bench-reader")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/worklist/")
        started = time.perf_counter()
        page.get_by_role("button", name="Start").click()
        for side in "AB":
            page.wait_for_function(DRAWN, arg=f"Viewport {side}", timeout=120000)
        first = time.perf_counter() - started
        for side in "AB":
            page.wait_for_function(LOADED, arg=f"Viewport {side}", timeout=120000)
        out.append({"case": 1, "prefetched": False, "first_slice_s": round(first, 3),
                    "stack_s": round(time.perf_counter() - started, 3)})  # fmt: skip
        for n in range(2, cases + 1):
            score_everything(page)
            page.wait_for_load_state("networkidle")  # the next case's prefetch has finished
            current = page.url
            started = time.perf_counter()
            page.get_by_role("button", name="Submit and next").click()
            page.wait_for_url(lambda u, c=current: u != c)
            for side in "AB":
                page.wait_for_function(DRAWN, arg=f"Viewport {side}", timeout=120000)
            first = time.perf_counter() - started
            for side in "AB":
                page.wait_for_function(LOADED, arg=f"Viewport {side}", timeout=120000)
            out.append({"case": n, "prefetched": True, "first_slice_s": round(first, 3),
                        "stack_s": round(time.perf_counter() - started, 3)})  # fmt: skip
            print(json.dumps(out[-1]), flush=True)
        browser.close()
    return out


def bundle_sizes() -> dict:
    """Bytes and gzipped bytes of what the reading page loads from the manifest."""
    dist = ROOT / "frontend" / "dist"
    manifest = json.loads((dist / ".vite" / "manifest.json").read_text())
    seen, files = set(), []

    def walk(key):
        if key in seen:
            return
        seen.add(key)
        entry = manifest[key]
        files.append(entry["file"])
        files.extend(entry.get("css", []))
        for child in entry.get("imports", []):
            walk(child)

    walk("src/reading/main.ts")
    raw = sum((dist / f).stat().st_size for f in files)
    gz = sum(len(gzip.compress((dist / f).read_bytes(), 9)) for f in files)
    wasm = sorted(dist.rglob("*.wasm"))
    return {"files": len(files), "bytes": raw, "gzip_bytes": gz,
            "wasm_codecs_bytes_on_demand": sum(p.stat().st_size for p in wasm)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--cases", type=int, default=4)
    args = parser.parse_args()
    build(args.cases, args.slices, args.size)
    process, url = serve(dict(os.environ))
    try:
        rows = measure(url, args.cases)
    finally:
        process.terminate()
        process.wait(timeout=20)
    later = [r for r in rows if r["prefetched"]]
    summary = {
        "slices": args.slices,
        "size": args.size,
        "cold_first_slice_s": rows[0]["first_slice_s"],
        "cold_stack_s": rows[0]["stack_s"],
        "next_first_slice_median_s": statistics.median(r["first_slice_s"] for r in later),
        "next_stack_median_s": statistics.median(r["stack_s"] for r in later),
        "bundle": bundle_sizes(),
    }
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
