"""The viewer under the product's real Content-Security-Policy, in real Chromium.

The reading page and the researcher's case viewer are served by Django (live_server) with
django-csp's header, as in production. Cornerstone decodes in web workers and, for
compressed images, in WebAssembly codecs; a policy that blocked either would leave the
viewports blank. Each test listens for violations in the page (a securitypolicyviolation
listener added before any script runs) and in the console, and proves that images were
decoded and drawn.
"""

from __future__ import annotations

import io
import re

import pydicom
import pytest
from django.test import Client
from django.urls import reverse
from pydicom.uid import JPEG2000Lossless

from reader_study.models import Presentation
from tests.e2e.test_reading import CANVAS_STATS, DRAWN, _login
from tests.jobs.conftest import fake_broker  # noqa: F401  (a fixture)
from tests.studies.factories import denoised_cases, make_study

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.security,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Before any of the page's scripts: every violation the page sees, kept for the test.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
VIOLATIONS = "() => window.__violations"
# Drawn, or blocked: a violation ends the wait at once (the test then names it).
DRAWN_OR_BLOCKED = f"(name) => window.__violations.length > 0 || ({DRAWN})(name)"


@pytest.fixture
def study(fake_broker, researcher, reader, settings, tmp_path):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path / "media"
    cases, model = denoised_cases(researcher, 1)
    return make_study(researcher, cases, model, [reader])


class Watched:
    """A logged-in page with its CSP reports, console problems, workers and wasm fetches."""

    def __init__(self, browser, live_server, user):
        self.page = _login(browser, live_server, user)
        self.page.context.add_init_script(script=WATCH_VIOLATIONS)
        self.console: list[str] = []
        self.workers: list[str] = []
        self.wasm: list[tuple[str, int, str]] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.console.append(f"page error: {error}"))
        self.page.on("worker", lambda worker: self.workers.append(worker.url))
        self.page.context.on("response", self._response)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or message.type == "error":
            self.console.append(message.text)

    def _response(self, response) -> None:
        if response.url.split("?")[0].endswith(".wasm"):
            kind = response.headers.get("content-type", "")
            self.wasm.append((response.url.rsplit("/", 1)[-1], response.status, kind))

    def open(self, url: str) -> str:
        """Opens `url`; returns its Content-Security-Policy header."""
        response = self.page.goto(url)
        assert response.status == 200
        return response.headers["content-security-policy"]

    def assert_clean(self) -> None:
        assert self.page.evaluate(VIOLATIONS) == []
        assert [m for m in self.console if "Content Security Policy" in m] == []
        assert self.console == []


def _real_policy(policy: str) -> None:
    assert "script-src 'self' 'wasm-unsafe-eval'" in policy
    assert "worker-src 'self' blob:" in policy
    assert "'unsafe-eval'" not in policy.replace("'wasm-unsafe-eval'", "")
    assert "'unsafe-inline'" not in policy


def _as_jpeg2000(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.compress(JPEG2000Lossless)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_reading_page_decodes_in_workers_and_wasm_under_the_policy(
    browser, live_server, static_from_finders, study, reader
):
    """Side A's slices travel JPEG 2000 compressed, so its viewport can only be drawn by
    the openjpeg WebAssembly codec in a decode worker; side B's are the served files."""
    presentation = Presentation.objects.get(reader__user=reader, position=1)
    client = Client()
    client.force_login(reader)
    compressed = {}
    for index in range(8):
        url = reverse("reading-image", args=[presentation.token_a, index])
        served = client.get(url)
        assert served.status_code == 200
        compressed[url] = _as_jpeg2000(served.content)

    watched = Watched(browser, live_server, reader)
    pattern = re.compile(rf"/reading/images/{re.escape(presentation.token_a)}/\d+$")
    watched.page.route(
        pattern,
        lambda route: route.fulfill(
            status=200,
            content_type="application/dicom",
            body=compressed[route.request.url.removeprefix(live_server.url)],
        ),
    )
    policy = watched.open(f"{live_server.url}/reading/{presentation.token}/")
    _real_policy(policy)
    for name in ("Viewport A", "Viewport B"):
        watched.page.wait_for_function(DRAWN_OR_BLOCKED, arg=name, timeout=60000)
    watched.assert_clean()
    drawn = [watched.page.evaluate(CANVAS_STATS, name) for name in ("Viewport A", "Viewport B")]
    assert all(stats["sd"] > 2 for stats in drawn), drawn

    assert any("decodeImageFrameWorker" in url for url in watched.workers), watched.workers
    codecs = [(name, status, kind) for name, status, kind in watched.wasm if "openjpeg" in name]
    assert codecs and all(s == 200 and k == "application/wasm" for _, s, k in codecs), watched.wasm
    watched.assert_clean()


def test_case_viewer_draws_both_series_under_the_policy(
    browser, live_server, static_from_finders, study, researcher
):
    case = study.study_cases.first().case
    watched = Watched(browser, live_server, researcher)
    _real_policy(watched.open(f"{live_server.url}/cases/{case.pk}/"))
    for name in ("Viewport Original", "Viewport Denoised"):
        watched.page.wait_for_function(DRAWN_OR_BLOCKED, arg=name, timeout=60000)
    watched.assert_clean()
    assert any("decodeImageFrameWorker" in url for url in watched.workers), watched.workers
    before = watched.page.evaluate(CANVAS_STATS, "Viewport Denoised")["hash"]
    watched.page.get_by_role("button", name="Show difference").click()
    redrawn = f"([name, before]) => ({CANVAS_STATS})(name).hash !== before"
    watched.page.wait_for_function(redrawn, arg=["Viewport Denoised", before], timeout=60000)
    watched.assert_clean()
