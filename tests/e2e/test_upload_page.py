"""The upload page in real (headless) Chromium: a folder goes in, the report comes out."""

from __future__ import annotations

import pytest

from reader_study.models import Case
from tests.conftest import PASSWORD
from tests.ingest.dicom_files import shipped, write_ct_series

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page(live_server, researcher, settings, tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test
    # itself are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.MEDIA_ROOT = tmp_path / "media"
    # live_server serves static files from the finders (frontend/dist), by unhashed names.
    settings.STORAGES = settings.STORAGES | {
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", researcher.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/dashboard/")
        yield page
        browser.close()


def test_folder_upload_shows_the_report(page, live_server, tmp_path):
    folder = tmp_path / "LDCT-case"
    write_ct_series(folder / "series", slices=6, size=64)
    (folder / "notes.txt").write_text("not DICOM")
    (folder / "mr.dcm").write_bytes(shipped("MR_small.dcm").read_bytes())
    batches = []
    page.on("request", lambda r: "/batch/" in r.url and batches.append(r.url))
    page.goto(f"{live_server.url}/cases/upload/")
    page.fill("#case-label", "Browser case")
    assert page.evaluate("() => document.documentElement.dataset.bundle") == "loaded"
    page.set_input_files("[data-pick-folder]", str(folder))
    page.wait_for_selector("[data-start]:not([disabled])")
    assert "8 files selected" in page.inner_text("[data-selection]")
    page.click("[data-start]")
    page.wait_for_selector(".report-ok", timeout=60_000)
    assert "Case 'Browser case' created" in page.inner_text("[data-report-message]")
    rows = page.locator("[data-report-rows] tr")
    assert rows.count() == 8
    text = page.inner_text("[data-report-rows]")
    assert "modality MR, only CT is accepted" in text and "not a DICOM file" in text
    assert page.locator("[data-report-rows] tr.result-accepted").count() == 6
    assert len(batches) == 4  # 8 small files, 2 a request so that 4 requests run at once
    # Each file's check showed in its row as it arrived, before the ingest.
    listed = page.inner_text("[data-file-list]")
    assert "refused: modality MR, only CT is accepted" in listed
    assert listed.count("checked, de-identified") == 6
    case = Case.objects.get()
    assert case.original_series.num_instances == 6
    page.click("text=Open case")
    page.wait_for_selector("h1")
    assert page.inner_text("h1") == "Browser case"
    # Functions, not expressions: polling an expression needs eval, which the CSP forbids.
    page.wait_for_function("() => document.querySelector('figure img').complete")
    assert page.evaluate("() => document.querySelector('figure img').naturalWidth") == 64


def _chunks_on_server() -> int:
    from reader_study.models import UploadFile
    from reader_study.uploads.chunks import refresh_received

    return sum(len(refresh_received(f).received) for f in UploadFile.objects.all())


def test_reloaded_page_resumes_the_upload(page, live_server, tmp_path, settings):
    settings.LDCT_UPLOAD_CHUNK_BYTES = 64 * 1024
    folder = tmp_path / "series"
    write_ct_series(folder, slices=6, size=192)  # 2 chunks a file: 12 chunks
    sent = {"before": 0, "after": 0, "phase": "before"}
    allowed_before_reload = 5

    def count_chunks(route):
        phase = sent["phase"]
        if phase == "down" or (phase == "before" and sent["before"] >= allowed_before_reload):
            route.abort()  # the line drops
            return
        sent[phase] += 1
        route.continue_()

    page.route("**/chunks/*", count_chunks)
    page.goto(f"{live_server.url}/cases/upload/")
    page.fill("#case-label", "Resumed case")
    page.set_input_files("[data-pick-folder]", str(folder))
    page.click("[data-start]")
    for _ in range(100):  # until the server holds what got through
        if _chunks_on_server() == allowed_before_reload:
            break
        page.wait_for_timeout(200)
    assert _chunks_on_server() == allowed_before_reload
    # The old page may retry a chunk while it unloads: the line stays down until the
    # reloaded page is up, so only the reloaded page's chunks count as "after".
    sent["phase"] = "down"
    page.reload()
    offer = page.locator(".resume-offer")
    offer.wait_for()
    sent["phase"] = "after"
    assert "Resumed case" in offer.inner_text()
    offer.locator("text=Continue this upload").click()
    page.set_input_files("[data-pick-folder]", str(folder))
    page.click("[data-start]")
    page.wait_for_selector(".report-ok", timeout=60_000)
    assert sent["after"] == 12 - allowed_before_reload  # only the missing chunks travelled
    assert Case.objects.get().original_series.num_instances == 6


def test_a_refused_batch_is_sent_again_file_by_file(page, live_server, tmp_path):
    folder = tmp_path / "series"
    write_ct_series(folder, slices=3, size=64)
    singles = []
    page.route("**/batch/**", lambda route: route.fulfill(status=400, json={"detail": "no"}))
    page.on("request", lambda r: "/chunks/" in r.url and singles.append(r.url))
    page.goto(f"{live_server.url}/cases/upload/")
    page.fill("#case-label", "Fallback")
    page.set_input_files("[data-pick-folder]", str(folder))
    page.click("[data-start]")
    page.wait_for_selector(".report-ok", timeout=60_000)
    assert len(singles) == 3 and Case.objects.get().original_series.num_instances == 3
