"""The blinded reading flow in real Chromium: worklist, two linked viewports, scoring."""

from __future__ import annotations

import pytest

from reader_study.models import Presentation, Score
from tests.conftest import PASSWORD
from tests.jobs.conftest import fake_broker  # noqa: F401  (a fixture)
from tests.studies.factories import denoised_cases, make_study, readers

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# Mean and spread of the canvas pixels of one viewport, read in the page.
CANVAS_STATS = """(name) => {
  const region = document.querySelector(`[aria-label="${name}"]`);
  const canvas = region.querySelector('canvas');
  const probe = document.createElement('canvas');
  probe.width = canvas.width; probe.height = canvas.height;
  const ctx = probe.getContext('2d');
  ctx.drawImage(canvas, 0, 0);
  const data = ctx.getImageData(0, 0, probe.width, probe.height).data;
  let sum = 0, sq = 0, n = 0, hash = 0;
  for (let i = 0; i < data.length; i += 4) {
    sum += data[i]; sq += data[i] * data[i]; n++;
    hash = (hash * 31 + data[i]) >>> 0;
  }
  const mean = sum / n;
  return {mean, sd: Math.sqrt(sq / n - mean * mean), hash};
}"""


@pytest.fixture
def study(fake_broker, researcher, reader, settings, tmp_path):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path / "media"
    cases, model = denoised_cases(researcher, 2)
    return make_study(researcher, cases, model, [reader])


def _login(browser, live_server, user):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def _score(page, level: int) -> None:
    """Answers every criterion of A and B with the level at `level` (0-based)."""
    for label in ("Image noise", "Sharpness", "Diagnostic confidence"):
        for side in "AB":
            group = page.get_by_role("radiogroup", name=f"{label}, {side}")
            group.get_by_role("radio").nth(level).check()


def _counter(page, side: str) -> str:
    return page.get_by_role("region", name=f"Viewport {side}").inner_text()


# Functions, never expression strings: the page's CSP forbids eval, which Playwright would
# use for an expression.
DRAWN = f"(name) => ({CANVAS_STATS})(name).sd > 2"


def _wait_drawn(page, names=("Viewport A", "Viewport B")):
    for name in names:
        page.wait_for_function(DRAWN, arg=name, timeout=30000)


def test_reader_scores_a_study_in_the_browser(
    browser, live_server, static_from_finders, study, reader
):
    page = _login(browser, live_server, reader)
    page.goto(f"{live_server.url}/worklist/")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url("**/reading/**")
    _wait_drawn(page)
    a = page.evaluate(CANVAS_STATS, "Viewport A")
    b = page.evaluate(CANVAS_STATS, "Viewport B")
    assert a["sd"] > 2 and b["sd"] > 2  # CT pixels, not a blank canvas
    assert a["hash"] != b["hash"]  # the two conditions differ

    # Scrolling A moves B the same way (linked by default).
    before = _counter(page, "B")
    page.get_by_role("region", name="Viewport A").hover()
    page.mouse.wheel(0, 300)
    page.wait_for_function(
        "(b) => document.querySelector('[aria-label=\"Viewport B\"]').innerText !== b", arg=before
    )
    # A preset key sets both windows.
    page.keyboard.press("5")  # lung
    page.wait_for_function(
        "() => ['A', 'B'].every((s) => document.querySelector(`[aria-label=\"Viewport ${s}\"]`)"
        ".innerText.includes('W 1500'))"
    )

    submit = page.get_by_role("button", name="Submit and next")
    assert submit.is_disabled()
    _score(page, 3)
    assert submit.is_disabled()  # the preference question is asked, and not yet answered
    page.get_by_role("radio", name="No preference").check()
    page.wait_for_function("() => document.body.innerText.includes('Saved')")
    assert submit.is_enabled()

    first = Presentation.objects.get(reader__user=reader, position=1)
    page.reload()  # a reload keeps the answers
    _wait_drawn(page)
    assert (
        page.get_by_role("radiogroup", name="Image noise, A")
        .get_by_role("radio")
        .nth(3)
        .is_checked()
    )
    assert Score.objects.filter(presentation=first).count() == 6

    page.get_by_role("button", name="Submit and next").click()
    second = Presentation.objects.get(reader__user=reader, position=2)
    page.wait_for_url(f"**/reading/{second.token}/")
    _wait_drawn(page)
    _score(page, 2)
    page.get_by_role("radio", name="No preference").check()
    page.get_by_role("button", name="Submit and next").click()
    page.wait_for_url("**/done/")
    assert "You have read all 2 cases" in page.inner_text("main")


def test_a_reader_of_another_study_gets_404(browser, live_server, static_from_finders, study):
    outsider = readers(1, prefix="outsider")[0]
    token = Presentation.objects.first().token
    page = _login(browser, live_server, outsider)
    response = page.goto(f"{live_server.url}/reading/{token}/")
    assert response.status == 404


def test_the_researchers_case_page_shows_both_series_linked(
    browser, live_server, static_from_finders, study, researcher
):
    case = study.study_cases.first().case
    page = _login(browser, live_server, researcher)
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    for name in ("Viewport Original", "Viewport Denoised"):
        page.wait_for_function(DRAWN, arg=name, timeout=30000)
    assert page.get_by_role("button", name="Link viewports").get_attribute("aria-pressed") == "true"
    page.get_by_role("button", name="Show difference").click()
    assert (
        page.get_by_role("button", name="Show difference").get_attribute("aria-pressed") == "true"
    )
