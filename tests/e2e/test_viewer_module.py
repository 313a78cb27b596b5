"""The reading page and case viewer bundles in real (headless) Chromium, outside Django.

A small standard-library server (viewer_harness) stands in for the Django pages: it serves
the built frontend/dist the way django-vite links it, the page contract's json_script config,
real DICOM files and stub reading APIs, under the product's Content-Security-Policy. Run
`npm run build` in frontend/ first; the tests skip when the build lacks the entries.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.viewer_harness.series import write_pair
from tests.e2e.viewer_harness.server import CSRF_TOKEN, Harness, HarnessServer, reading_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DIST = Path(__file__).resolve().parents[2] / "frontend" / "dist"
ENTRIES = ("src/reading/main.ts", "src/case_viewer/main.ts")
# Both WebGL versions off: Cornerstone must fall back to CPU rendering by itself.
NO_WEBGL_ARGS = [*CHROMIUM_ARGS, "--disable-webgl", "--disable-webgl2", "--disable-3d-apis"]
SLICES = 20


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return "no Chromium at /usr/bin/chromium (apt install chromium)"
    manifest = DIST / ".vite" / "manifest.json"
    if not manifest.exists():
        return "frontend is not built: run `npm run build` in frontend/"
    missing = [entry for entry in ENTRIES if entry not in json.loads(manifest.read_text())]
    if missing:
        return f"frontend build lacks {', '.join(missing)}: run `npm run build` in frontend/"
    return None


@pytest.fixture(scope="module", autouse=True)
def _requirements():
    reason = _missing()
    if reason and not CHROMIUM.exists() and os.environ.get("CI"):
        pytest.fail(f"CI must run the viewer checks: {reason}")
    if reason:
        pytest.skip(reason)


# Pixel statistics of every viewport canvas: (non-black pixels, sum of red values).
CANVAS_STATS = """() => [...document.querySelectorAll('[role=region] canvas')].map((canvas) => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let lit = 0, sum = 0;
  for (let i = 0; i < data.length; i += 4) { if (data[i] > 8) lit++; sum += data[i]; }
  return [lit, sum];
})"""


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return write_pair(tmp_path_factory.mktemp("series"), slices=SLICES, size=128)


@pytest.fixture(scope="module")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def harness(series):
    harness = Harness(dist=DIST, images=series)
    urls = {side: harness.image_urls(side) for side in "ABD"}
    harness.config = reading_config(urls)
    harness.case_config = {
        "sides": [
            {"label": "Original", "images": urls["A"]},
            {"label": "Denoised — model harness-net 1.0", "images": urls["B"]},
        ],
        "difference": {"label": "Difference (denoised − original)", "images": urls["D"]},
        "window": harness.config["window"],
    }
    with HarnessServer(harness) as server:
        harness.url = server.url
        yield harness


class Page:
    """One browser page on the harness, with the page's console problems collected."""

    def __init__(self, browser, harness):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.harness = harness
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on(
            "console",
            lambda message: (
                message.type == "error"
                and "favicon" not in (message.location or {}).get("url", "")
                and self.problems.append(message.text)
            ),
        )

    def open(self, path: str) -> None:
        self.page.goto(self.harness.url + path)

    def overlay(self, side: str) -> str:
        return (
            self.page.get_by_role("region", name=f"Viewport {side}")
            .locator(".viewport-overlay")
            .inner_text()
        )

    def slice_of(self, side: str) -> str:
        return (
            self.page.get_by_role("region", name=f"Viewport {side}")
            .locator("[data-slice]")
            .inner_text()
        )

    def window_of(self, side: str) -> str:
        return (
            self.page.get_by_role("region", name=f"Viewport {side}")
            .locator("[data-window]")
            .inner_text()
        )

    def wait_until(self, condition, message: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out: {message}; problems: {self.problems}")
            self.page.wait_for_timeout(50)

    def wait_loaded(self, sides=("A", "B")) -> None:
        """Both stacks in the cache and the first slice drawn in the default window."""

        def ready() -> bool:
            bars = self.page.locator(".overlay-progress")
            return (
                bars.count() == len(sides)
                and all(bars.nth(i).is_hidden() for i in range(len(sides)))
                and all(self.window_of(side) for side in sides)
            )

        self.wait_until(ready, "stacks loaded")

    def canvas_stats(self) -> list[list[int]]:
        return self.page.evaluate(CANVAS_STATS)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(browser, harness):
    pages: list[Page] = []

    def factory(path: str, on=None) -> Page:
        page = Page(on or browser, harness)
        pages.append(page)
        page.open(path)
        return page

    yield factory
    for page in pages:
        page.close()


def answer_every_criterion(page, criteria) -> None:
    """Give criterion i the score i + 2 on both sides, through the radios' visible labels."""
    for side in "AB":
        for index, criterion in enumerate(criteria):
            group = page.get_by_role("radiogroup", name=f"{criterion['label']}, {side}")
            group.get_by_label(f"{index + 2} {criterion['levels'][index + 1]['anchor']}").check()


def test_reading_page_shows_links_and_scores(open_page, harness):
    view = open_page("/reading/")
    view.wait_loaded()
    page = view.page

    # Both images drawn, and they differ (B is the noisier copy).
    stats = view.canvas_stats()
    assert len(stats) == 2 and all(lit > 1000 for lit, _ in stats), stats
    assert stats[0] != stats[1]
    # The study's default window, not either header's (they differ on purpose).
    assert view.window_of("A") == view.window_of("B") == "W 400 L 40"
    assert view.slice_of("A") == view.slice_of("B") == f"1 / {SLICES}"
    assert view.overlay("A").startswith("A") and view.overlay("B").startswith("B")
    # Blinding: the page shows no file names or image URLs.
    text = page.inner_text("body")
    assert "CT0001" not in text and "/images/" not in text

    # Linked scrolling: the wheel on A moves B too; keys as well.
    box = page.get_by_role("region", name="Viewport A").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 120)
    view.wait_until(lambda: view.slice_of("A") != f"1 / {SLICES}", "wheel scrolls A")
    view.wait_until(lambda: view.slice_of("B") == view.slice_of("A"), "B follows A's wheel")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # keys go to A
    page.keyboard.press("End")
    view.wait_until(
        lambda: view.slice_of("B") == f"{SLICES} / {SLICES}", "End reaches the last slice on B"
    )
    page.keyboard.press("PageUp")
    view.wait_until(
        lambda: view.slice_of("B") == f"{SLICES - 10} / {SLICES}", "PageUp moves 10 on B"
    )
    page.keyboard.press("ArrowUp")
    view.wait_until(lambda: view.slice_of("B") == f"{SLICES - 11} / {SLICES}", "ArrowUp moves B")

    # A preset key windows both viewports; the drawn pixels change with it.
    before = view.canvas_stats()
    page.keyboard.press("5")
    view.wait_until(
        lambda: view.window_of("A") == view.window_of("B") == "W 1500 L -600", "lung preset"
    )
    assert page.get_by_role("button", name="Lung").get_attribute("aria-pressed") == "true"
    view.wait_until(lambda: view.canvas_stats() != before, "the lung window redraws")

    # Left drag on A changes the window of both.
    page.mouse.move(box["x"] + 200, box["y"] + 300)
    page.mouse.down()
    page.mouse.move(box["x"] + 260, box["y"] + 340, steps=5)
    page.mouse.up()
    view.wait_until(lambda: view.window_of("A") != "W 1500 L -600", "W/L drag on A")
    view.wait_until(lambda: view.window_of("B") == view.window_of("A"), "B takes A's window")
    assert page.get_by_role("button", name="Lung").get_attribute("aria-pressed") == "false"

    # Unlinked, A moves alone; L links again and B catches up.
    link = page.get_by_role("button", name="Link viewports")
    assert link.get_attribute("aria-pressed") == "true"
    link.click()
    assert link.get_attribute("aria-pressed") == "false"
    page.get_by_role("region", name="Viewport A").focus()
    b_slice = view.slice_of("B")
    page.keyboard.press("Home")
    view.wait_until(lambda: view.slice_of("A") == f"1 / {SLICES}", "Home on A")
    page.wait_for_timeout(300)
    assert view.slice_of("B") == b_slice
    page.keyboard.press("l")
    assert link.get_attribute("aria-pressed") == "true"
    view.wait_until(lambda: view.slice_of("B") == f"1 / {SLICES}", "relinking aligns B")

    # Reset brings back the default window on both.
    page.keyboard.press("r")
    view.wait_until(
        lambda: view.window_of("A") == view.window_of("B") == "W 400 L 40", "reset window"
    )

    # Typing in the comment does not drive the viewer.
    page.get_by_label("Comment").fill("")
    page.get_by_label("Comment").press_sequentially("l r 5 ")
    page.get_by_label("Comment").press("ArrowDown")
    assert link.get_attribute("aria-pressed") == "true"
    assert view.window_of("A") == "W 400 L 40" and view.slice_of("A") == f"1 / {SLICES}"

    # Scoring: Submit waits for every required answer; each answer is saved as given.
    submit = page.get_by_role("button", name="Submit and next")
    assert submit.is_disabled()
    criteria = harness.config["criteria"]
    for side in "AB":
        for index, criterion in enumerate(criteria):
            group = page.get_by_role("radiogroup", name=f"{criterion['label']}, {side}")
            group.get_by_label(f"{index + 2} {criterion['levels'][index + 1]['anchor']}").check()
    assert submit.is_disabled()  # the preference is still open
    page.get_by_role("radiogroup", name="Which image do you prefer?").get_by_label(
        "No preference"
    ).check()
    assert submit.is_enabled()
    status = page.get_by_role("status").filter(has_text=re.compile("Sav"))
    view.wait_until(lambda: status.count() and status.inner_text() == "Saved", "Saved shown")
    puts = harness.api_calls("/api/answers/")
    assert puts and all(put["csrf"] == CSRF_TOKEN for put in puts)
    # Debounced: seven quick answers are fewer requests, the last one carries them all.
    assert len(puts) < 7
    last = puts[-1]["json"]
    assert sorted((s["side"], s["criterion"], s["value"]) for s in last["scores"]) == sorted(
        (side, c["key"], i + 2) for side in "AB" for i, c in enumerate(criteria)
    )
    assert last["preference"] == "none" and last["comment"] == "l r 5 "
    assert isinstance(last["seconds"], int)

    submit.click()
    page.wait_for_url(harness.url + "/next/")
    view.wait_until(lambda: harness.api_calls("/api/log/"), "log sent on submit")
    submits = harness.api_calls("/api/submit/")
    assert len(submits) == 1 and submits[0]["csrf"] == CSRF_TOKEN
    assert isinstance(submits[0]["json"]["seconds"], int)
    events = [event for call in harness.api_calls("/api/log/") for event in call["json"]["events"]]
    kinds = {event[1] for event in events}
    assert {"slice", "preset", "voi", "link", "reset"} <= kinds, events
    assert ["preset", "lung"] in [event[1:] for event in events]
    assert all(isinstance(event[0], int) for event in events)
    assert all(
        event[2] == "A" for event in events if event[1] == "slice"
    )  # B's echoes are not logged
    assert "/images/" not in json.dumps(events)
    assert not [p for p in view.problems if "Content Security Policy" in p], view.problems


def test_saving_retries_and_shows_refusals(open_page, harness):
    harness.fail_puts = 2
    view = open_page("/reading/")
    page = view.page
    group = page.get_by_role("radiogroup", name="Image noise, A")
    status = page.locator(".save-status")
    seen: set[str] = set()
    group.get_by_label("3 Acceptable").check()

    def saved() -> bool:
        seen.add(status.inner_text())
        return "Saved" in seen

    view.wait_until(saved, "saved after retries")
    assert "Not saved, retrying…" in seen
    assert len(harness.api_calls("/api/answers/")) == 3

    harness.refuse_puts = "This reading is closed."
    group.get_by_label("4 Good").check()
    view.wait_until(
        lambda: status.inner_text() == "This reading is closed.", "the server's message shown"
    )


def test_read_only_relative_scale_fixed_window(open_page, harness):
    harness.config["window"] = {**harness.config["window"], "change_allowed": False}
    harness.config.update(
        read_only=True,
        scale="relative",
        answers={
            "scores": [{"side": "B", "criterion": "noise", "value": 1}],
            "preference": "B",
            "comment": "x",
        },
    )
    for criterion in harness.config["criteria"]:
        criterion["levels"] = [
            {"value": value, "anchor": anchor}
            for value, anchor in zip(
                range(-2, 3), ["Much worse", "Worse", "Equal", "Better", "Much better"], strict=True
            )
        ]
    view = open_page("/reading/")
    page = view.page
    group = page.get_by_role("radiogroup", name="Image noise, B compared with A")
    assert group.get_by_label("1 Better").is_checked()
    assert group.get_by_label("-2 Much worse").is_disabled()
    assert page.get_by_role("radiogroup", name="Image noise, A").count() == 0
    assert page.get_by_label("Comment").is_disabled()
    assert page.get_by_role("button", name="Submit and next").is_disabled()
    assert "closed" in page.locator(".save-status").inner_text()
    view.wait_loaded()
    # A window fixed by the study: no preset buttons, and the preset keys do nothing.
    assert page.get_by_role("button", name="Lung").count() == 0
    assert "Abdomen (set by the study)" in page.inner_text("body")
    page.get_by_role("region", name="Viewport A").focus()
    page.keyboard.press("5")
    page.keyboard.press("ArrowDown")
    view.wait_until(lambda: view.slice_of("B") == f"2 / {SLICES}", "scrolling still works")
    assert view.window_of("A") == view.window_of("B") == "W 400 L 40"
    page.wait_for_timeout(500)
    assert not harness.api_calls("/api/answers/") and not harness.api_calls("/api/log/")


def test_case_viewer_difference(open_page):
    view = open_page("/case/")
    view.wait_loaded(("Original", "Denoised"))
    page = view.page
    assert view.overlay("Denoised").startswith("Denoised — model harness-net 1.0")
    assert view.window_of("Original") == view.window_of("Denoised") == "W 400 L 40"
    toggle = page.get_by_role("button", name="Show difference")
    view.wait_until(toggle.is_enabled, "difference toggle enabled")
    page.get_by_role("region", name="Viewport Original").focus()
    page.keyboard.press("ArrowDown")
    view.wait_until(lambda: view.slice_of("Denoised") == f"2 / {SLICES}", "linked scroll")
    toggle.click()
    view.wait_until(lambda: view.window_of("Denoised") == "W 200 L 0", "difference window")
    assert toggle.get_attribute("aria-pressed") == "true"
    assert view.overlay("Denoised").startswith("Difference (denoised − original)")
    assert view.slice_of("Denoised") == f"2 / {SLICES}"
    assert view.window_of("Original") == "W 400 L 40"
    page.keyboard.press("4")  # bone: the original changes, the difference keeps its window
    view.wait_until(lambda: view.window_of("Original") == "W 1800 L 400", "bone preset")
    assert view.window_of("Denoised") == "W 200 L 0"
    toggle.click()
    view.wait_until(
        lambda: view.window_of("Denoised") == "W 1800 L 400", "back to the denoised series"
    )
    assert view.overlay("Denoised").startswith("Denoised")
    assert not view.problems, view.problems


def test_cpu_rendering_without_webgl(playwright_instance, open_page):
    browser = playwright_instance.chromium.launch(executable_path=str(CHROMIUM), args=NO_WEBGL_ARGS)
    try:
        view = open_page("/reading/", on=browser)
        assert view.page.evaluate(
            "['webgl', 'webgl2']"
            ".every((kind) => !document.createElement('canvas').getContext(kind))"
        )
        view.wait_loaded()
        stats = view.canvas_stats()
        assert all(lit > 1000 for lit, _ in stats) and stats[0] != stats[1], stats
        view.page.get_by_role("region", name="Viewport A").focus()
        view.page.keyboard.press("ArrowDown")
        view.wait_until(lambda: view.slice_of("B") == f"2 / {SLICES}", "linked scroll on CPU")
    finally:
        browser.close()
