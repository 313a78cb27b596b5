"""Every URL pattern x every method it serves x every role: who gets in, who is refused.

The patterns come from the URLconf itself, their arguments from one seeded world (the
owner's case, series, jobs, model, upload, study and the reader's presentation), so a new
endpoint is requested automatically; it fails here until RULES says who may use it.

Roles: anonymous, a reader of the owner's study, a reader of another study, the owning
researcher, another researcher (who owns that other study) and staff (`is_staff`, no role).
A refused write must leave every table as it was and send nothing to the broker.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from functools import cache
from http.cookies import SimpleCookie

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.db import connection, transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from reader_study.access import READER, RESEARCHER
from reader_study.jobs import dispatch
from reader_study.jobs.forms import TrainingLaunchForm
from reader_study.jobs.launch import launch_training
from reader_study.models import Presentation, Series, UploadFile, UploadSession
from tests.conftest import make_user
from tests.jobs.conftest import FakeBroker
from tests.jobs.factories import register_tiny
from tests.studies.factories import denoised_cases, make_study

pytestmark = pytest.mark.access

ROLES = ("anonymous", "reader", "other reader", "owner", "other researcher", "staff")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
OK = "ok"  # reached the view: neither refused (401/403/404) nor sent to the login page
LOGIN = "login"  # a redirect to the login page

# --- The rules: one expectation per role, in the order of ROLES -----------------------------

PUBLIC = (OK, OK, OK, OK, OK, OK)
SIGNED_IN_PAGE = (LOGIN, OK, OK, OK, OK, OK)
SIGNED_IN_API = (401, OK, OK, OK, OK, OK)
# Staff without a role get the "ask for a role" page, not a landing page.
HOME = (LOGIN, OK, OK, OK, OK, 403)
RESEARCHER_HOME = (LOGIN, 403, 403, OK, OK, 403)
READER_HOME = (LOGIN, OK, OK, 403, 403, 403)
# Lists and forms of researchers (and staff); another researcher sees only their own rows.
RESEARCH_PAGE = (LOGIN, 403, 403, OK, OK, OK)
RESEARCH_API = (401, 403, 403, OK, OK, OK)
# One of the owner's cases, jobs or training jobs: a reader is refused, anyone else's is 404.
OWNED_PAGE = (LOGIN, 403, 403, OK, 404, OK)
OWNED_API = (401, 403, 403, OK, 404, OK)
# One of the owner's studies: everyone but the owner and staff learns nothing (404).
STUDY_PAGE = (LOGIN, 404, 404, OK, 404, OK)
STUDY_API = (401, 404, 404, OK, 404, OK)
# Upload sessions are their owner's alone, staff included.
UPLOAD_API = (401, 403, 403, OK, 404, 404)
# The reader's own study and presentation: only that reader.
READING_PAGE = (LOGIN, OK, 404, 403, 403, 403)
READING_API = (401, OK, 404, 403, 403, 403)

# url name -> rule, or {method: rule} with "*" for the methods not named.
RULES: dict[str, tuple | dict[str, tuple]] = {
    "login": PUBLIC,
    "logout": SIGNED_IN_PAGE,
    "password_change": SIGNED_IN_PAGE,
    "password_change_done": SIGNED_IN_PAGE,
    "home": HOME,
    "dashboard": RESEARCHER_HOME,
    "api-me": SIGNED_IN_API,
    "api-schema": SIGNED_IN_API,
    "api-docs": SIGNED_IN_API,
    # cases
    "case-list": RESEARCH_PAGE,
    "case-upload": RESEARCH_PAGE,
    "case-detail": OWNED_PAGE,
    "case-preview": OWNED_PAGE,
    "case-slice": OWNED_PAGE,
    "case-difference": OWNED_PAGE,
    "api-cases": RESEARCH_API,
    "api-case": OWNED_API,
    # uploads
    "api-uploads": RESEARCH_API,
    "api-upload": UPLOAD_API,
    "api-upload-files": UPLOAD_API,
    "api-upload-chunk": UPLOAD_API,
    "api-upload-batch": UPLOAD_API,
    "api-upload-ingest": UPLOAD_API,
    # DICOMweb: searches answer everyone's own rows; retrievals hide the others' (404).
    "dicomweb:studies": RESEARCH_API,  # QIDO search and STOW store (one's own new case)
    "dicomweb:all-series": RESEARCH_API,
    "dicomweb:all-instances": RESEARCH_API,
    "dicomweb:wado-uri": OWNED_API,
    "dicomweb:study": {"GET": OWNED_API, "*": RESEARCH_API},  # STOW stores as the caller
    "dicomweb:study-metadata": OWNED_API,
    "dicomweb:study-series": RESEARCH_API,
    "dicomweb:study-instances": RESEARCH_API,
    "dicomweb:series": OWNED_API,
    "dicomweb:series-metadata": OWNED_API,
    "dicomweb:series-instances": RESEARCH_API,
    "dicomweb:instance": OWNED_API,
    "dicomweb:instance-metadata": OWNED_API,
    "dicomweb:frames": OWNED_API,
    "dicomweb:rendered": OWNED_API,
    "dicomweb:frame-rendered": OWNED_API,
    "dicomweb:no-such-resource": (401, 403, 403, 404, 404, 404),
    # denoising and training jobs
    "job-list": RESEARCH_PAGE,
    "job-launch": RESEARCH_PAGE,
    "job-retry": OWNED_PAGE,
    "job-cancel": OWNED_PAGE,
    "training-list": RESEARCH_PAGE,
    "training-launch": RESEARCH_PAGE,
    "training-detail": OWNED_PAGE,
    "training-cancel": OWNED_PAGE,
    "training-retry": OWNED_PAGE,
    "api-jobs": RESEARCH_API,
    "api-jobs-progress": RESEARCH_API,
    "api-job": OWNED_API,
    "api-job-retry": OWNED_API,
    "api-job-cancel": OWNED_API,
    "api-training-jobs": RESEARCH_API,
    "api-training-job": OWNED_API,
    "api-training-job-cancel": OWNED_API,
    "api-training-job-retry": OWNED_API,
    # the model registry: shared by researchers; only staff choose the default
    "model-list": RESEARCH_PAGE,
    "model-upload": RESEARCH_PAGE,
    "model-default": (LOGIN, 403, 403, 302, 302, OK),  # back to the list, refused, unchanged
    "api-models": RESEARCH_API,
    "api-model-default": (401, 403, 403, 403, 403, OK),
    # reading
    "worklist": READER_HOME,
    "reading-start": READING_PAGE,
    "reading-done": READING_PAGE,
    "reading-page": READING_PAGE,
    "reading-image": READING_API,
    "api-reading-answers": READING_API,
    "api-reading-submit": READING_API,
    "api-reading-log": READING_API,
    # studies: set-up, results and exports
    "study-list": RESEARCH_PAGE,
    "study-new": RESEARCH_PAGE,
    "study-detail": STUDY_PAGE,
    "study-edit": STUDY_PAGE,
    "study-criteria": STUDY_PAGE,
    "study-open": STUDY_PAGE,
    "study-close": STUDY_PAGE,
    "study-analysis": STUDY_PAGE,
    "study-report": STUDY_PAGE,
    "study-figure": STUDY_PAGE,
    "api-studies": RESEARCH_API,
    "api-study": STUDY_API,
    "api-study-criteria": STUDY_API,
    "api-study-cases": STUDY_API,
    "api-study-readers": STUDY_API,
    "api-study-open": STUDY_API,
    "api-study-close": STUDY_API,
    "api-study-progress": STUDY_API,
    "api-study-analysis": STUDY_API,
    "api-study-export-csv": STUDY_API,
    "api-study-export-json": STUDY_API,
    "api-study-export-description": STUDY_API,
}


def rule_for(name: str, method: str) -> tuple:
    rule = RULES[name]
    if isinstance(rule, dict):
        rule = rule.get(method, rule["*"])
    assert len(rule) == len(ROLES), name
    return rule


# --- The URLconf, walked -----------------------------------------------------------------------


class Endpoint:
    """One named URL pattern: its full route, its parameters and the methods it declares."""

    def __init__(self, name: str, route: str, view: Callable):
        self.name, self.route, self.view = name, route, view
        self.declared = declared_methods(view)
        self.methods = sorted(self.declared or METHODS, key=METHODS.index)
        # (literal path segment before it, name) of each converter or named group.
        self.parameters = [
            (_last_segment(route[: m.start()]), m.group(1) or m.group(2))
            for m in re.finditer(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route)
        ]


def _last_segment(text: str) -> str:
    text = text.rstrip("/")
    return text.rsplit("/", 1)[-1].lstrip("^") if text else ""


def declared_methods(view: Callable) -> set[str] | None:
    """The methods a view serves, as its class or its require_http_methods declares them;
    None when it declares none (then every method is requested)."""
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        return {
            m.upper()
            for m in view_class.http_method_names
            if m.upper() in METHODS and hasattr(view_class, m)
        }
    seen: set[int] = set()
    function = view
    while function is not None and id(function) not in seen:
        seen.add(id(function))
        for cell in function.__closure__ or ():
            value = cell.cell_contents
            if (
                isinstance(value, list | tuple)
                and value
                and all(isinstance(m, str) and m.upper() in {*METHODS, "HEAD"} for m in value)
            ):
                return {m.upper() for m in value} & set(METHODS)
        function = getattr(function, "__wrapped__", None)
    return None


def project_endpoints() -> list[Endpoint]:
    """Every pattern of the URLconf but the admin's (staff-only, checked below)."""
    found: list[Endpoint] = []

    def walk(patterns, prefix: str, namespace: str | None) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.app_name == "admin":
                    continue
                walk(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace)
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                name = f"{namespace}:{pattern.name}" if namespace and pattern.name else None
                found.append(Endpoint(name or pattern.name or route, route, pattern.callback))

    walk(get_resolver().url_patterns, "", None)
    return found


ENDPOINTS = project_endpoints()
CASES = [(endpoint, method) for endpoint in ENDPOINTS for method in endpoint.methods]


def test_every_pattern_has_a_rule_and_every_rule_a_pattern():
    names = [endpoint.name for endpoint in ENDPOINTS]
    assert len(names) == len(set(names)), "two patterns share a name"
    assert sorted(set(names) - set(RULES)) == [], "patterns without an access rule"
    assert sorted(set(RULES) - set(names)) == [], "rules of patterns that no longer exist"


def test_the_matrix_sees_methods_and_arguments():
    # The walk itself is checked, so a broken introspection cannot empty the matrix.
    by_name = {e.name: e for e in ENDPOINTS}
    assert by_name["api-study"].methods == ["GET", "PATCH", "DELETE"]
    assert by_name["logout"].methods == ["POST"]
    assert by_name["job-retry"].methods == ["POST"]
    assert by_name["study-edit"].methods == ["GET", "POST"]
    assert by_name["dicomweb:studies"].methods == list(METHODS)  # GET searches, POST stores
    assert by_name["case-slice"].parameters == [
        ("cases", "pk"),
        ("series", "series_pk"),
        ("slices", "index"),
    ]
    assert len(CASES) >= len(ENDPOINTS) + 20  # the writes of the GET+POST pages and APIs


# --- The seeded world: built once for the module, inside a transaction rolled back at its end --


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    media = tmp_path_factory.mktemp("media")
    quick = override_settings(
        MEDIA_ROOT=media, PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
    )
    broker = FakeBroker()
    with django_db_blocker.unblock(), quick, pytest.MonkeyPatch.context() as patch:
        patch.setattr(dispatch, "celery_app", lambda: broker)
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield _seed(broker)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def _seed(broker: FakeBroker) -> dict:
    users = {
        "reader": make_user("matrix-reader", READER),
        "other reader": make_user("matrix-other-reader", READER),
        "owner": make_user("matrix-owner", RESEARCHER),
        "other researcher": make_user("matrix-other-researcher", RESEARCHER),
        "staff": make_user("matrix-staff", None),
    }
    users["staff"].is_staff = True
    users["staff"].save()
    owner, other = users["owner"], users["other researcher"]
    cases, model = denoised_cases(owner, 2, prefix="owned-zq7")
    study = make_study(owner, cases, model, [users["reader"]], title="Owned study zq7")
    their_cases, _ = denoised_cases(other, 2, model=model, prefix="theirs-zq7")
    make_study(other, their_cases, model, [users["other reader"]], title="Their study zq7")
    their_draft = make_study(other, [], model, [], open_it=False, title="Their draft zq7")
    second_model = register_tiny("second-zq7", default=False)  # no case is denoised with it
    training = launch_training(owner, "owned-training-zq7", {"epochs": 1}, cases, cases)
    upload = UploadSession.objects.create(
        public_id=uuid.uuid4(), owner=owner, label="owned-upload-zq7"
    )
    upload_file = UploadFile.objects.create(
        session=upload, name="a.dcm", size_bytes=4, chunk_bytes=1024
    )
    case = cases[0]
    original = case.original_series
    instance = original.instances.order_by("instance_number").first()
    presentation = Presentation.objects.filter(reader__user=users["reader"], study=study).first()
    values = {
        ("cases", "pk"): case.pk,
        ("series", "series_pk"): Series.objects.get(case=case, kind=Series.Kind.DENOISED).pk,
        ("jobs", "pk"): case.denoise_jobs.get().pk,
        ("training", "pk"): training.pk,
        ("training-jobs", "pk"): training.pk,
        ("models", "pk"): model.pk,
        ("studies", "pk"): study.pk,
        ("figures", "criterion"): study.criteria.first().key,
        ("reading", "token"): presentation.token,
        ("images", "token"): presentation.token_a,
        ("uploads", "public_id"): upload.public_id,
        ("files", "file_id"): upload_file.pk,
        "kind": "distribution",
        "index": 0,
        "study_uid": case.study_instance_uid,
        "series_uid": original.series_instance_uid,
        "sop_uid": instance.sop_instance_uid,
        "frames": "1",
        "frame": "1",
    }
    queries = {
        "dicomweb:wado-uri": f"requestType=WADO&studyUID={case.study_instance_uid}"
        f"&seriesUID={original.series_instance_uid}&objectUID={instance.sop_instance_uid}"
        "&contentType=application/dicom",
        "api-upload-batch": f"files={upload_file.pk}",
    }
    # Text only the owner and staff may see; a reader also never sees which case or series.
    secrets = [
        case.label.encode(),
        case.study_instance_uid.encode(),
        original.series_instance_uid.encode(),
        training.name.encode(),
        upload.label.encode(),
    ]
    sessions = {}
    for role, user in users.items():
        client = Client()
        client.force_login(user)
        sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {
        "users": users,
        "owned_cases": [c.pk for c in cases],
        "their_cases": [c.pk for c in their_cases],
        "their_draft": their_draft.pk,
        "model": model.pk,
        "second_model": second_model.pk,
        "values": values,
        "queries": queries,
        "secrets": secrets,
        "study_title": study.title.encode(),
        "sessions": sessions,
        "clients": {},
        "broker": broker,
    }


def client_of(world: dict, role: str) -> Client:
    """The browser of `role` with only its session cookie (whatever the last request set,
    a logout included, is forgotten). One client per role: each new one would load the
    middleware again, and whitenoise's scan of the static files dominates a request."""
    client = world["clients"].setdefault(role, Client())
    client.cookies = SimpleCookie()
    if role != "anonymous":
        client.cookies[settings.SESSION_COOKIE_NAME] = world["sessions"][role]
    return client


def url_of(endpoint: Endpoint, world: dict) -> str:
    values = world["values"]
    kwargs = {}
    for segment, parameter in endpoint.parameters:
        key = (segment, parameter) if (segment, parameter) in values else parameter
        if key not in values:
            pytest.fail(
                f"{endpoint.name} ({endpoint.route}): no seeded value for <{parameter}> after "
                f"'{segment}/'; add one to the world of this matrix"
            )
        kwargs[parameter] = values[key]
    url = reverse(endpoint.name, kwargs=kwargs)
    query = world["queries"].get(endpoint.name)
    return f"{url}?{query}" if query else url


def database_state() -> dict[str, list]:
    """Every row of every table that a request could change (sessions and lockout records
    aside: they belong to logging in), read with one plain SELECT per table."""
    with connection.cursor() as cursor:
        state = {}
        for table, sql in _state_queries():
            cursor.execute(sql)
            state[table] = cursor.fetchall()
        return state


@cache
def _state_queries() -> list[tuple[str, str]]:
    quote = connection.ops.quote_name
    queries = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label in ("sessions", "axes", "contenttypes"):
            continue
        table = model._meta.db_table
        columns = [f.column for f in model._meta.concrete_fields if f.column != "last_login"]
        order = quote(model._meta.pk.column)
        select = ", ".join(quote(c) for c in columns)
        queries.append((table, f"SELECT {select} FROM {quote(table)} ORDER BY {order}"))
    return queries


def body_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(
        reverse("login") + "?next="
    )


# --- The matrix --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("endpoint", "method"), CASES, ids=[f"{e.name}-{m}" for e, m in CASES])
def test_access(endpoint, method, world):
    """Every role in turn, each in a savepoint rolled back after it (what one role's allowed
    write changes, the next role does not see)."""
    if endpoint.name not in RULES:
        pytest.fail(f"{endpoint.name} ({endpoint.route}) has no access rule in RULES")
    url = url_of(endpoint, world)
    problems = []
    for role, want in zip(ROLES, rule_for(endpoint.name, method), strict=True):
        with transaction.atomic():
            problems += _check(endpoint, method, url, role, want, world)
            transaction.set_rollback(True)
    assert problems == [], "\n".join(problems)


def _check(endpoint: Endpoint, method: str, url: str, role: str, want, world: dict) -> list:
    refused_write = method in WRITES and want != OK
    if refused_write:
        before, sent = database_state(), len(world["broker"].sent)
    response = client_of(world, role).generic(
        method, url, b"{}" if method != "GET" else b"", content_type="application/json"
    )
    where = f"{role} {method} {url}: expected {want}, got {response.status_code}"
    if want == LOGIN:
        passed = is_login_redirect(response)
    elif want == OK:
        refusals = {401, 403, 404} | (set() if endpoint.declared is None else {405})
        passed = response.status_code not in refusals and not is_login_redirect(response)
    else:
        passed = response.status_code == want
    problems = [] if passed else [f"{where} {body_of(response)[:200]!r}"]
    if refused_write:
        if len(world["broker"].sent) != sent:
            problems.append(f"{where}: a refused write queued a task")
        if database_state() != before:
            problems.append(f"{where}: a refused write changed the database")
    if want == OK and role not in ("owner", "staff"):
        body = body_of(response) + str(response.headers).encode()
        secrets = world["secrets"] + ([] if role == "reader" else [world["study_title"]])
        leaked = [secret.decode() for secret in secrets if secret in body]
        if leaked:
            problems.append(f"{where}: shows the owner's {leaked}")
    return problems


# --- Ids in request bodies: another researcher names the owner's cases --------------------------


# Placeholders, filled from the world: a case of the owner's (or, to prove the body valid,
# of the caller's own), another case of the caller's, the world's model, an unused model.
CASE, MINE, MODEL, UNUSED_MODEL = "<case>", "<mine>", "<model>", "<unused model>"
STUDY_FORM = {
    "title": "Their draft zq7",
    "denoiser_model": MODEL,
    "scale": "absolute",
    "default_preset": "abdomen",
    "washout_days": 0,
    "repeat_fraction": 0,
    "cases": [CASE],
}
TRAINING = {"name": "stolen", "low_dose_cases": [CASE], "normal_dose_cases": [MINE]}
# url name -> (method, form or JSON, body); a URL argument is the caller's own draft study.
BODY_REFERENCES = {
    "api-jobs": ("POST", "json", {"cases": [CASE], "model": UNUSED_MODEL}),
    "job-launch": ("POST", "form", {"cases": [CASE], "model": UNUSED_MODEL}),
    "api-training-jobs": ("POST", "json", TRAINING),
    "training-launch": ("POST", "form", TRAINING),
    "api-study-cases": ("PUT", "json", {"cases": [CASE]}),
    "study-edit": ("POST", "form", STUDY_FORM),
    "study-new": ("POST", "form", STUDY_FORM),
}


def _filled(value, values: dict):
    if isinstance(value, dict):
        return {key: _filled(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, values) for item in value]
    return values.get(value, value) if isinstance(value, str) else value


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(BODY_REFERENCES))
def test_another_researchers_cases_cannot_be_named_in_a_body(name, world):
    method, kind, body = BODY_REFERENCES[name]
    endpoint = next(e for e in ENDPOINTS if e.name == name)
    url = reverse(name, args=[world["their_draft"]] if endpoint.parameters else [])
    client = client_of(world, "other researcher")
    if name == "training-launch":  # the form's other fields at their defaults
        fields = TrainingLaunchForm(None).fields.items()
        body = {**{k: f.initial for k, f in fields if f.initial is not None}, **body}
    owners, mine = world["owned_cases"][0], world["their_cases"]

    def send(case: int):
        values = {CASE: case, MINE: mine[1], MODEL: world["model"]}
        data = _filled(body, {**values, UNUSED_MODEL: world["second_model"]})
        if kind == "json":
            return client.generic(method, url, json.dumps(data), content_type="application/json")
        return client.post(url, data)

    before, sent = database_state(), len(world["broker"].sent)
    response = send(owners)
    where = f"{method} {url} naming the owner's case {owners}: {response.status_code}"
    # Refused: an error, or the form again with its errors (200 or 400).
    assert response.status_code in (200, 400, 404, 409), (where, body_of(response)[:300])
    assert len(world["broker"].sent) == sent, f"{where}: a task was queued"
    assert database_state() == before, f"{where}: the database changed"
    # The same request naming a case of the caller's own goes through: the body is valid.
    response = send(mine[0])
    assert response.status_code in (200, 201, 302), body_of(response)[:300]
    assert database_state() != before, f"{method} {url} naming their own case changed nothing"


# --- The admin: staff only ---------------------------------------------------------------------


def admin_urls() -> list[str]:
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        meta = model._meta
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    return urls


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_admin_is_for_staff_only(role, world):
    client = client_of(world, role)
    for url in admin_urls():
        for method in ("GET", "POST"):
            before = database_state() if method == "POST" else None
            response = client.generic(method, url)
            refused = response.status_code == 302 and response["Location"].startswith(
                (reverse("admin:login"), reverse("login"))
            )
            assert refused == (role != "staff"), (role, method, url, response.status_code)
            if before is not None and role != "staff":
                assert database_state() == before, (role, url)
