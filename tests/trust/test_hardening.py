"""Hardening: production settings and headers, session lifetime and ending sessions, what a
browser may do with the files users uploaded, and no secret in the repository or a log line.

Already covered elsewhere and not repeated here: `check --deploy` with the production
variables (tests/platform/test_settings.py), the CSP and cache headers of pages
(tests/security/test_headers.py), login lockout (tests/security/test_login_lockout.py) and
the CSP in a real browser (tests/e2e/test_csp.py).
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
from pathlib import Path

import pydicom
import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from reader_study.models import Case, Instance
from tests.conftest import PASSWORD, make_user
from tests.ingest import upload_client as uc
from tests.ingest.dicom_files import dataset_bytes, write_ct_series
from tests.platform.test_settings import django_start
from tests.studies.conftest import fake_broker, world  # noqa: F401  (fixtures)
from tests.trust.test_blinding_audit import server_log  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.security]

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DEBUG": "false",
    "ALLOWED_HOSTS": "ldct.example.org",
}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


# --- Production settings --------------------------------------------------------------------

PROBE = """
import json
from django.conf import settings as s
from django.test import Client
client = Client(HTTP_HOST="ldct.example.org")
secure = client.get("/accounts/login/", secure=True)
plain = client.get("/accounts/login/")
print(json.dumps({
    "status": secure.status_code,
    "headers": dict(secure.headers),
    "cookies": {name: dict(m) for name, m in secure.cookies.items()},
    "plain": [plain.status_code, plain.get("Location")],
    "settings": {name: getattr(s, name) for name in (
        "DEBUG", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_AGE", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
    )},
}))
"""


def test_production_answers_carry_every_security_header(tmp_path):
    """The settings a server runs with (no LDCT_INSECURE_HTTP, DEBUG off), as a browser
    meets them: HTTPS enforced, HSTS, no sniffing, no framing, no referrer to other
    sites, a window of its own, secure cookies, a login that lasts a working day."""
    env = {**PRODUCTION, "STATIC_ROOT": str(settings.STATIC_ROOT)}  # this run's collected files
    result = django_start(env, tmp_path, "shell", "--no-imports", "-c", PROBE)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["status"] == 200
    headers = seen["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    csrf = seen["cookies"]["csrftoken"]
    assert csrf["secure"] is True and csrf["samesite"] == "Lax"
    assert seen["plain"] == [301, "https://ldct.example.org/accounts/login/"]
    assert seen["settings"] == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_AGE": 12 * 3600,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
    }


def test_demo_accounts_are_refused_on_a_server(tmp_path):
    """The demo logins' passwords are public (they are in the source): a server in
    production settings refuses to create them."""
    result = django_start(PRODUCTION, tmp_path, "seed_demo")
    assert result.returncode != 0
    assert "passwords are public" in result.stderr and "createsuperuser" in result.stderr
    assert "reader1-demo" not in result.stdout + result.stderr


@pytest.mark.django_db
def test_every_kind_of_answer_carries_the_security_headers(researcher, reader, client_for):
    """Pages, JSON, DICOMweb, errors and the login page alike, not only the pages."""
    answers = [
        client_for(None).get(reverse("login")),
        client_for(researcher).get(reverse("dashboard")),
        client_for(researcher).get(reverse("api-cases")),
        client_for(researcher).get(reverse("dicomweb:studies")),
        client_for(researcher).get("/no/such/page/"),
        client_for(reader).get(reverse("reading-image", args=["nope", 0])),
        client_for(reader).get(reverse("dashboard")),  # 403
        client_for(None).get(reverse("api-me")),  # 401
    ]
    for response in answers:
        assert response["X-Content-Type-Options"] == "nosniff", response
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


# --- Sessions -------------------------------------------------------------------------------


def _login(username: str, password: str = PASSWORD) -> Client:
    """A browser that logged in through the login form (a real session row)."""
    client = Client()
    response = client.post(reverse("login"), {"username": username, "password": password})
    assert response.status_code == 302, response.content
    return client


def _signed_in(client: Client) -> bool:
    page = client.get(reverse("worklist"))
    api = client.get(reverse("api-me"))
    if page.status_code == 200 and api.status_code == 200:
        return True
    assert page.status_code == 302 and page["Location"].startswith(reverse("login"))
    assert api.status_code in (401, 403)
    return False


def _replay(client: Client) -> Client:
    """Another browser holding the same session cookie (a copied or stolen cookie)."""
    other = Client()
    other.cookies[settings.SESSION_COOKIE_NAME] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return other


@pytest.mark.django_db
def test_a_login_lasts_a_working_day(reader):
    client = _login(reader.username)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    assert int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE
    row = Session.objects.get(session_key=cookie.value)
    left = (row.expire_date - timezone.now()).total_seconds()
    assert settings.SESSION_COOKIE_AGE - 60 < left <= settings.SESSION_COOKIE_AGE


@pytest.mark.django_db
def test_an_expired_session_goes_to_login_and_the_api_refuses_it(reader, settings):
    settings.SESSION_COOKIE_AGE = 2
    client = _login(reader.username)
    assert _signed_in(client)
    time.sleep(2.5)  # the browser would have dropped the cookie; this one still sends it
    assert not _signed_in(client)


@pytest.mark.django_db
def test_logout_ends_the_session_on_the_server_not_only_in_the_browser(reader):
    client = _login(reader.username)
    copy = _replay(client)
    assert _signed_in(copy)
    assert client.post(reverse("logout")).status_code == 302
    assert not _signed_in(copy)


@pytest.mark.django_db
def test_changing_the_password_signs_out_every_other_browser(reader):
    here, elsewhere = _login(reader.username), _login(reader.username)
    new = "an-entirely-new-passphrase-77"
    changed = here.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert changed.status_code == 302
    assert _signed_in(here)  # the browser that changed it stays in
    assert not _signed_in(elsewhere)


@pytest.mark.django_db
def test_log_out_everywhere_ends_every_session_of_that_user_only(reader):
    colleague = make_user("rhea", "reader")
    here, elsewhere, theirs = _login(reader.username), _login(reader.username), _login("rhea")
    page = here.get(reverse("password_change")).content.decode()
    assert 'name="everywhere"' in page and "Log out everywhere" in page
    assert here.post(reverse("logout"), {"everywhere": "1"}).status_code == 302
    assert not _signed_in(here) and not _signed_in(elsewhere)
    assert _signed_in(theirs)
    assert Session.objects.count() == 1
    assert colleague.is_active


# --- Files users uploaded, as the server gives them back ------------------------------------

INERT = {
    "application/dicom",
    "application/dicom+json",
    "application/json",
    "image/png",
    "image/jpeg",
    "text/csv",
}
HOSTILE = b"<html><script>alert(document.cookie)</script><svg onload=alert(1)>"


def _hostile_series(folder: Path) -> list[tuple[str, bytes]]:
    """Valid CT slices named and filled to look like web content: an HTML preamble, a
    script in a description, file names ending .html, .svg and .js."""
    files = []
    for path, name in zip(
        write_ct_series(folder, slices=3, size=32), ("a.html", "b.svg", "c.js"), strict=True
    ):
        ds = pydicom.dcmread(path)
        ds.preamble = HOSTILE.ljust(128, b" ")[:128]
        ds.SeriesDescription = "<script>alert(1)</script>"
        files.append((name, dataset_bytes(ds)))
    return files


def _inert(response, *, download: bool = False) -> None:
    kind = response["Content-Type"].split(";")[0].strip()
    assert kind in INERT or kind == "multipart/related", response["Content-Type"]
    if kind == "multipart/related":
        assert 'type="application/dicom"' in response["Content-Type"]
    assert response["X-Content-Type-Options"] == "nosniff"
    if download:
        assert response["Content-Disposition"].startswith("attachment;")


@pytest.mark.django_db
def test_uploaded_files_come_back_only_as_types_a_browser_never_runs(
    researcher,
    client_for,
    tmp_path,
    fake_broker,  # noqa: F811
):
    api = APIClient()
    api.force_authenticate(researcher)
    uploaded = uc.upload(api, "hostile", _hostile_series(tmp_path / "in"))
    assert uploaded.status_code == 201, uploaded.content
    case = Case.objects.get(label="hostile")
    series = case.original_series
    instances = list(series.instances.order_by("instance_number"))
    for instance in instances:
        assert re.fullmatch(r"cases/\d+/series/\d+/[0-9.]+\.dcm", instance.file.name)
        with instance.file.open("rb") as fh:
            assert HOSTILE[:20] not in fh.read(132)  # the preamble a browser would sniff

    browser = client_for(researcher)
    study, ser, sop = (
        case.study_instance_uid,
        series.series_instance_uid,
        instances[0].sop_instance_uid,
    )
    base = f"/dicomweb/studies/{study}/series/{ser}"
    wado = (
        f"{reverse('dicomweb:wado-uri')}?requestType=WADO&studyUID={study}"
        f"&seriesUID={ser}&objectUID={sop}"
    )
    served = {
        "WADO-URI DICOM": browser.get(wado + "&contentType=application/dicom"),
        "WADO-URI default": browser.get(wado),
        "WADO-RS instance": browser.get(f"{base}/instances/{sop}"),
        "WADO-RS series": browser.get(base),
        "metadata": browser.get(f"{base}/metadata"),
        "rendered": browser.get(f"{base}/instances/{sop}/rendered", HTTP_ACCEPT="image/png"),
        "preview": browser.get(reverse("case-preview", args=[case.pk])),
        "viewer slice": browser.get(reverse("case-slice", args=[case.pk, series.pk, 0])),
    }
    for what, response in served.items():
        assert response.status_code == 200, (what, response.content[:200])
        _inert(response)
        if what == "WADO-URI DICOM":
            assert response["Content-Disposition"] == f'attachment; filename="{sop}.dcm"'
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert HOSTILE[:20] not in body, what
    # Asking for a type a browser would run is refused, never honoured.
    for refused in (
        browser.get(wado + "&contentType=text/html"),
        browser.get(wado + "&contentType=image/svg+xml"),
        browser.get(f"{base}/instances/{sop}/rendered", HTTP_ACCEPT="text/html"),
        browser.get(f"{base}/instances/{sop}/rendered", HTTP_ACCEPT="image/svg+xml"),
    ):
        assert refused.status_code == 406
        _inert(refused)

    # A file that is web content, not DICOM, is refused with JSON naming it.
    page = ("page.html", b"<!doctype html><script>alert(1)</script>" * 20)
    refused = uc.upload(api, "not-dicom", [page])
    assert 400 <= refused.status_code < 500
    _inert(refused)
    assert "page.html" in refused.content.decode()
    assert Instance.objects.filter(file__endswith=".html").count() == 0


@pytest.mark.django_db
def test_exports_are_downloads_of_inert_types(world, client_for, researcher):  # noqa: F811
    study = world["study"]
    study.title = "<script>alert(1)</script>"
    study.save(update_fields=["title"])
    client = client_for(researcher)
    criterion = study.criteria.first().key
    for name in ("api-study-export-csv", "api-study-export-json", "api-study-export-description"):
        response = client.get(reverse(name, args=[study.pk]))
        assert response.status_code == 200, name
        _inert(response, download=True)
    report = client.get(reverse("study-report", args=[study.pk]))
    # The report is an HTML document by design: a download, never shown in the site's
    # origin, and the user's text in it escaped.
    assert report["Content-Disposition"].startswith("attachment;")
    assert report["X-Content-Type-Options"] == "nosniff"
    assert b"<script>alert(1)" not in report.content
    figure = client.get(reverse("study-figure", args=[study.pk, criterion, "distribution"]))
    assert figure.status_code == 200
    _inert(figure)


# --- Secrets --------------------------------------------------------------------------------

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Stripe key": re.compile(r"\b[rs]k_live_[0-9A-Za-z]{16,}"),
    "Django generated key": re.compile(r"django" r"-insecure-"),  # split: not a match itself
    "secret-looking assignment": re.compile(
        r"""(?ix)\b[\w.]*(secret|passw(or)?d|passwd|api_?key|access_?key|private_?key|
        auth_?token)\w*["']?\s*[:=]\s*[bru]?["']([^"'\s{}<>$%]{8,})["']"""
    ),
    "credentials in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^/\s@'\"]{3,})@"),
}
# What the scan finds on purpose, each with why it is no secret. Test fixtures are listed
# file by file, so a new credential anywhere else (in tests too) fails the scan.
KNOWN = {
    ("tests/conftest.py", "correct-horse-battery-staple"): "test users' password",
    ("tests/trust/test_hardening.py", "an-entirely-new-passphrase-77"): "test password",
    ("tests/platform/test_auth.py", "a-brand-new-passphrase-42"): "test password",
    ("tests/platform/test_auth.py", "reader2-demo"): "the public demo login (seed_demo)",
    ("tests/e2e/viewer_harness/server.py", "harness-csrf-token-0123456789abcdef"): "harness",
    ("benchmarks/ingest/bench.py", "bench-password-1"): "benchmark user",
    ("benchmarks/ingest/qido_bench.py", "bench-qido-password-1"): "benchmark user",
    ("benchmarks/jobs/bench_jobs.py", "bench-password-1234"): "benchmark user",
    ("benchmarks/reading/bench_reading.py", "bench-reading-password-1"): "benchmark user",
    ("benchmarks/trust/load/seed.py", "load-test-password-1"): "load-test users",
    ("README.md", "PASSWORD"): "placeholder in a URL",
    ("README.md", "SECRET"): "placeholder in a URL",
    ("ldct_web/env.py", "PASSWORD"): "placeholder in a URL",
}


def _tracked_text_files():
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, names):
        path = ROOT / name.decode()
        if not path.is_file() or path.stat().st_size > 5 * 1024**2:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # weights, images
        yield name.decode(), data.decode("utf-8", errors="replace")


def test_no_secret_is_committed():
    found = []
    for name, text in _tracked_text_files():
        for what, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                value = match.group(match.lastindex) if match.lastindex else match.group(0)
                if (name, value) not in KNOWN:
                    line = text.count("\n", 0, match.start()) + 1
                    found.append(f"{name}:{line}: {what}: {match.group(0)[:80]}")
    assert found == []
    # The scan sees what it is meant to (else it could pass by reading nothing).
    assert SECRET_PATTERNS["private key"].search("-----BEGIN RSA " + "PRIVATE KEY-----")
    # Built from parts, so this file's own source holds no secret-looking assignment.
    sample = "AWS_SECRET_ACCESS_KEY" + ' = "' + "abc123def456" + '"'
    assert SECRET_PATTERNS["secret-looking assignment"].search(sample)
    assert any(name == "tests/conftest.py" for name, _ in _tracked_text_files())


@pytest.mark.django_db
def test_no_secret_reaches_a_log_line(reader, server_log, settings):  # noqa: F811
    """Everything logged at DEBUG while someone fails to log in, logs in, uses a token,
    changes the password and logs out: no password, session id, CSRF or API token, and
    not the SECRET_KEY."""
    wrong = "wrong-guess-" + secrets.token_hex(6)
    new = "new-passphrase-" + secrets.token_hex(6)
    client = Client(enforce_csrf_checks=True)
    assert client.get(reverse("login")).status_code == 200
    csrf = client.cookies["csrftoken"].value
    for _ in range(2):
        failed = client.post(
            reverse("login"),
            {"username": reader.username, "password": wrong, "csrfmiddlewaretoken": csrf},
        )
        assert failed.status_code == 200  # the form again, with its error
    assert (
        client.post(
            reverse("login"),
            {"username": reader.username, "password": PASSWORD, "csrfmiddlewaretoken": csrf},
        ).status_code
        == 302
    )
    session_ids = {client.cookies[settings.SESSION_COOKIE_NAME].value}
    csrf = client.cookies["csrftoken"].value
    assert client.get(reverse("worklist")).status_code == 200
    changed = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": new,
            "new_password2": new,
            "csrfmiddlewaretoken": csrf,
        },
    )
    assert changed.status_code == 302
    session_ids.add(client.cookies[settings.SESSION_COOKIE_NAME].value)
    token = Token.objects.create(user=reader).key
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert script.get(reverse("api-me")).status_code == 200
    script.credentials(HTTP_AUTHORIZATION=f"Token {token[:-4]}abcd")
    assert script.get(reverse("api-me")).status_code == 401
    client.post(reverse("logout"), {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})

    lines = server_log.take()
    assert any("login failed" in line.lower() for line in lines)  # the capture works
    never = {
        "SECRET_KEY": settings.SECRET_KEY,
        "password": PASSWORD,
        "wrong password": wrong,
        "new password": new,
        "API token": token,
        "CSRF token": csrf,
        **{f"session id {n}": value for n, value in enumerate(session_ids)},
    }
    leaked = [(what, line) for line in lines for what, value in never.items() if value in line]
    assert leaked == []
