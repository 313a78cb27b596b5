"""Blinding audit: whatever a reader's browser fetches, and whatever the server logs while a
reader works, is the same whichever side shows the denoised series, except the pixels.

tests/reading/test_blinding.py checks one image pair's bytes and headers and the tokens; this
audit walks every presentation of a study (three cases, two readers) through everything a
reader can do, good requests and bad, and checks it three ways: the two sides of one
presentation answer alike, swapping a presentation's sides changes nothing but which pixels
come back, and no identity of the case, series, model or condition shows anywhere (pages,
JSON, DICOM, headers, cookies, log lines). Time is audited too: serving a side whose series
is stored compressed must not take measurably longer than serving the other.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import statistics
import tempfile
import time
from pathlib import Path

import pydicom
import pytest
from django.core.cache import cache
from django.urls import reverse
from pydicom.uid import JPEG2000Lossless

from denoiser.dicom.write import write_series
from ldct_web.logs import BoundedFormatter
from reader_study.jobs.launch import request_denoise, run_here
from reader_study.models import Case, Instance, Presentation, Series
from reader_study.studies import lifecycle
from tests.conftest import make_user
from tests.jobs.factories import phantom_volume
from tests.studies.conftest import fake_broker, media_root, world  # noqa: F401  (fixtures)
from tests.studies.factories import make_study

pytestmark = [pytest.mark.django_db, pytest.mark.blinding]

# Words naming a condition or the assignment (word-bounded: "preference" is no "reference").
CONDITION_WORDS = (r"denois", r"\boriginal", r"\bderived\b", r"test_on_a", r"\breference\b")
CSRF_VALUE = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+(")')


# --- What the server logs ------------------------------------------------------------------


class ServerLog(logging.Handler):
    """Every record of every logger, at DEBUG, formatted as the product formats them
    (tracebacks included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(BoundedFormatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def take(self) -> list[str]:
        taken, self.lines = self.lines, []
        return taken


@pytest.fixture
def server_log():
    handler = ServerLog()
    named = ["", "django", "django.request", "django.security", "axes", "reader_study"]
    levels = {name: logging.getLogger(name).level for name in named}
    # Loggers that do not pass records up to the root get the handler themselves.
    attached = [logging.getLogger()] + [
        found
        for found in logging.root.manager.loggerDict.values()
        if isinstance(found, logging.Logger) and not found.propagate
    ]
    for name in named:
        logging.getLogger(name).setLevel(logging.DEBUG)
    for target in attached:
        target.addHandler(handler)
    yield handler
    for target in attached:
        target.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


# --- What the browser gets ------------------------------------------------------------------


def _pixels_split(data: bytes) -> tuple[bytes, str]:
    """(the file without its pixel bytes, a digest of the pixel bytes)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    start = data.rindex(ds.PixelData)
    return data[:start], hashlib.sha256(data[start:]).hexdigest()


def snapshot(response) -> dict:
    """A response as the browser sees it: status, headers, cookies and body; a DICOM body
    as its bytes without the pixels plus the pixels' digest; random CSRF values masked."""
    body = getattr(response, "content", b"") if not response.streaming else b""
    kind = response.headers.get("Content-Type", "")
    shot = {
        "status": response.status_code,
        "headers": dict(response.headers.items()),
        "cookies": {
            name: {"value": "<random>" if name in ("csrftoken", "sessionid") else morsel.value}
            | {k: v for k, v in morsel.items() if v}
            for name, morsel in response.cookies.items()
        },
    }
    if kind == "application/dicom" and body:
        shot["dicom"], shot["pixels"] = _pixels_split(body)
    else:
        shot["text"] = CSRF_VALUE.sub(r"\1<csrf>\2", body.decode("utf-8"))
    return shot


def page_config(response) -> dict:
    match = re.search(
        r'<script id="reading-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the reading page carries its configuration"
    return json.loads(match.group(1))


def observe(client, presentation: Presentation) -> list[tuple[str, dict]]:
    """Everything the reading page makes the browser fetch for one presentation, read-only:
    the page, every slice of both sides, a revalidation, and the autosave of the answers
    the page already holds."""
    seen = []
    page = client.get(reverse("reading-page", args=[presentation.token]))
    assert page.status_code == 200
    seen.append(("page", snapshot(page)))
    config = page_config(page)
    for side in config["sides"]:
        for url in side["images"]:
            response = client.get(url)
            assert response.status_code == 200
            seen.append((f"{side['label']} {url}", snapshot(response)))
        tag = dict(seen)[f"{side['label']} {side['images'][0]}"]["headers"]["ETag"]
        again = client.get(side["images"][0], HTTP_IF_NONE_MATCH=tag)
        assert again.status_code == 304
        seen.append((f"{side['label']} revalidate", snapshot(again)))
    saved = client.put(config["api"]["answers"], config["answers"], content_type="application/json")
    seen.append(("autosave", snapshot(saved)))
    return seen


# --- What must never show -------------------------------------------------------------------


def identities(study) -> dict[str, str]:
    """Every string that would tell a reader (or a log reader holding a token) which case,
    series, model or condition is behind a token: value -> what it is."""
    found: dict[str, str] = {}
    for model in filter(None, (study.denoiser_model, study.comparison_model)):
        found[model.name] = "model name"
        found[model.sha256] = "model digest"
        found[model.checkpoint.name] = "checkpoint file"
        found[f"{model.name} {model.version}"] = "model and version"
    for entry in study.study_cases.select_related("case"):
        case = entry.case
        found[case.label] = "case label"
        found[case.study_instance_uid] = "stored study UID"
        for series in case.series.all():
            found[series.series_instance_uid] = f"{series.kind} series UID"
            for instance in series.instances.all():
                found[instance.sop_instance_uid] = f"{series.kind} instance UID"
                found[instance.file.name] = f"{series.kind} stored file"
                found[instance.sha256] = f"{series.kind} file digest"
    return found


ID_PATTERNS = [
    re.compile(r"/cases/\d+"),
    re.compile(r"/series/\d+"),
    re.compile(r"\b(case|series|instance|model)(_?(id|pk))?[ =:#]+\d+", re.I),
    re.compile(r"\b(case|series)_?(id|pk)\b", re.I),
]


def leaks(text: str, secrets: dict[str, str], words=CONDITION_WORDS) -> list[str]:
    lowered = text.lower()
    found = [f"{what}: {value!r}" for value, what in secrets.items() if value in text]
    found += [f"condition word {w!r}" for w in words if re.search(w, lowered)]
    found += [f"id pattern {m.group(0)!r}" for p in ID_PATTERNS for m in p.finditer(text)]
    return found


def shot_leaks(shot: dict, secrets: dict[str, str]) -> list[str]:
    """What a snapshot gives away: in its headers, cookies and text, or in its DICOM header
    bytes (where both sides' ImageType is ORIGINAL, so only a derivation word counts)."""
    text = "\n".join(
        [json.dumps(shot["headers"]), json.dumps(shot["cookies"]), shot.get("text", "")]
    )
    found = leaks(text, secrets)
    if "dicom" in shot:
        found += leaks(shot["dicom"].decode("latin-1"), secrets, words=(r"denois", r"\bderived\b"))
    return found


def without_pixels(seen: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    return [(what, {k: v for k, v in shot.items() if k != "pixels"}) for what, shot in seen]


def pixels_by_side(seen) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"A": [], "B": []}
    for what, shot in seen:
        if "pixels" in shot:
            found[what[0]].append(shot["pixels"])
    return found


def side_alike(shot_a: dict, shot_b: dict, tokens: tuple[str, str]) -> None:
    """Two answers for sides A and B: equal, but for the side's own token (and the ETag
    derived from it) and the pixels."""

    def blind(shot):
        text = json.dumps({k: v for k, v in shot.items() if k not in ("pixels", "dicom")})
        for token in tokens:
            text = text.replace(token, "<side-token>")
        text = re.sub(r'\\"[0-9a-f]{32}\\"', "<etag>", text)
        return text, shot.get("dicom")

    assert blind(shot_a) == blind(shot_b)


# --- The audit ------------------------------------------------------------------------------


def test_swapping_sides_changes_nothing_but_the_pixels(world, client_for, server_log):  # noqa: F811
    """The counterfactual: for every presentation, everything the reader fetches is
    recorded, its A/B assignment is swapped, and everything is fetched again. Equal answers
    (the pixels aside) mean nothing but the pixels depends on which side is denoised."""
    study = world["study"]
    secrets = identities(study)
    presentations = list(Presentation.objects.select_related("reader__user").order_by("pk"))
    assert {p.test_on_a for p in presentations} == {True, False}  # both assignments occur
    assert len({p.reader_id for p in presentations}) == 2
    for presentation in presentations:
        client = client_for(presentation.reader.user)
        server_log.take()
        before = observe(client, presentation)
        logged_before = server_log.take()

        Presentation.objects.filter(pk=presentation.pk).update(test_on_a=not presentation.test_on_a)
        cache.clear()  # nothing served before the swap may answer after it
        after = observe(client, presentation)
        logged_after = server_log.take()
        Presentation.objects.filter(pk=presentation.pk).update(test_on_a=presentation.test_on_a)
        cache.clear()

        assert without_pixels(after) == without_pixels(before)
        assert logged_after == logged_before
        assert [line for line in logged_before if leaks(line, secrets)] == []
        swapped, original = pixels_by_side(after), pixels_by_side(before)
        assert swapped["A"] == original["B"] and swapped["B"] == original["A"]
        assert original["A"] != original["B"]  # real images: the conditions do differ

        # Within one presentation, each answer for A is the answer for B but for its token.
        by_what = dict(before)
        tokens = (presentation.token_a, presentation.token_b)
        images = [w for w in by_what if w.startswith("A /")]
        for what in images:
            twin = what.replace(presentation.token_a, presentation.token_b).replace("A /", "B /")
            side_alike(by_what[what], by_what[twin], tokens)
        side_alike(by_what["A revalidate"], by_what["B revalidate"], tokens)

        for what, shot in before:
            assert shot_leaks(shot, secrets) == [], what


def _bad_requests(client, presentation, side: str, count: int, criterion: str) -> list:
    """Every kind of refused request a reader can make about one side; (what, response)."""
    token = presentation.token_a if side == "A" else presentation.token_b
    answers = reverse("api-reading-answers", args=[presentation.token])
    image = reverse("reading-image", args=[token, count])
    return [
        ("slice past the end", client.get(image)),
        ("a huge slice index", client.get(reverse("reading-image", args=[token, 10**12]))),
        ("a token with a suffix", client.get(reverse("reading-image", args=[token + "x", 0]))),
        ("POST to an image", client.post(reverse("reading-image", args=[token, 0]))),
        (
            "a value off the scale",
            client.put(
                answers,
                {"scores": [{"side": side, "criterion": criterion, "value": 99}]},
                content_type="application/json",
            ),
        ),
        (
            "an unknown criterion",
            client.put(
                answers,
                {"scores": [{"side": side, "criterion": "nope", "value": 1}]},
                content_type="application/json",
            ),
        ),
    ]


def _put(client, url, body):
    return client.put(url, body, content_type="application/json")


def test_log_lines_a_reader_triggers_never_map_a_token_to_its_condition(
    world,  # noqa: F811
    client_for,
    server_log,
):
    """A reader scores everything, makes every kind of bad request on each side, and keeps
    going after the study closes. Every log line this causes is free of any identity of the
    case, series, model or condition, and the lines for side A are those for side B."""
    study = world["study"]
    secrets = identities(study)
    criteria = list(study.criteria.all())
    other_study_token = "x" * 43
    for reader in world["readers"]:
        client = client_for(reader)
        presentations = list(Presentation.objects.filter(reader__user=reader).order_by("position"))
        assert client.get(reverse("worklist")).status_code == 200
        assert client.get(reverse("reading-start", args=[study.pk])).status_code == 302
        for presentation in presentations:
            config = page_config(client.get(reverse("reading-page", args=[presentation.token])))
            count = len(config["sides"][0]["images"])
            server_log.take()
            by_side = {}
            for side in "AB":
                answered = _bad_requests(client, presentation, side, count, criteria[0].key)
                lines = server_log.take()
                assert all(r.status_code in (400, 404, 405) for _, r in answered), [
                    (what, r.status_code) for what, r in answered
                ]
                token = presentation.token_a if side == "A" else presentation.token_b
                by_side[side] = (
                    [line.replace(token, "<side-token>") for line in lines],
                    [
                        (w, r.status_code, r.content.replace(token.encode(), b"T"))
                        for w, r in answered
                    ],
                )
            assert by_side["A"][0], "refused requests are logged (else this audit is empty)"
            assert by_side["A"][0] == by_side["B"][0]
            assert by_side["A"][1] == by_side["B"][1]

            # Good requests: the whole answer, the interaction log, submit.
            scores = [
                {"side": side, "criterion": c.key, "value": 3}
                for c in criteria
                for side in config["score_sides"]
            ]
            body = {"scores": scores, "preference": "none", "seconds": 12.5}
            assert _put(client, config["api"]["answers"], body).status_code == 200
            events = {"events": [[10, "slice", "A", 3], [20, "window", "B", "lung"]]}
            assert (
                client.post(
                    config["api"]["log"], events, content_type="application/json"
                ).status_code
                == 204
            )
            assert (
                client.post(
                    config["api"]["log"], {"events": "no"}, content_type="application/json"
                ).status_code
                == 400
            )
            assert _put(client, config["api"]["answers"], "{not json").status_code == 400
            submitted = client.post(
                config["api"]["submit"], {"seconds": 13}, content_type="application/json"
            )
            assert submitted.status_code == 200
        assert client.get(reverse("reading-done", args=[study.pk])).status_code == 200
        # Wrong tokens: made up, and another reader's.
        assert client.get(reverse("reading-page", args=[other_study_token])).status_code == 404
        theirs = Presentation.objects.exclude(reader__user=reader).first()
        assert client.get(reverse("reading-page", args=[theirs.token])).status_code == 404
        assert client.get(reverse("reading-image", args=[theirs.token_b, 0])).status_code == 404

    lifecycle.close_study(study)
    for reader in world["readers"]:
        client = client_for(reader)
        presentation = Presentation.objects.filter(reader__user=reader).first()
        config = page_config(client.get(reverse("reading-page", args=[presentation.token])))
        assert config["read_only"] is True
        refused = _put(client, config["api"]["answers"], {"scores": []})
        assert refused.status_code == 409
        assert (
            client.post(config["api"]["submit"], {}, content_type="application/json").status_code
            == 409
        )
    anonymous = client_for(None)
    assert anonymous.get(reverse("reading-image", args=[presentation.token_a, 0])).status_code in (
        401,
        403,
    )

    lines = server_log.take()
    assert any("Conflict" in line for line in lines)  # the closed study's refusals
    leaked = {line: leaks(line, secrets) for line in lines if leaks(line, secrets)}
    assert leaked == {}


# --- Time -----------------------------------------------------------------------------------


def _compressed_case(owner, label: str, seed: int, size: int) -> Case:
    """A case uploaded as JPEG 2000 (as scanners and PACS often send CT), through the real
    ingest; its denoised series is written uncompressed, as every model output is."""
    from reader_study.ingest.report import SourceFile
    from reader_study.ingest.service import ingest

    volume, _ = phantom_volume(seed, 40.0, slices=8, size=size)
    folder = Path(tempfile.mkdtemp(prefix="ldct-j2k-"))
    sources = []
    for path in write_series(volume, folder, pixel_spacing=1.5, slice_thickness=2.5, seed=seed):
        ds = pydicom.dcmread(path)
        ds.compress(JPEG2000Lossless)
        ds.save_as(path)
        sources.append(SourceFile(name=path.name, path=path, size=path.stat().st_size))
    ingest(owner=owner, label=label, sources=sources)
    return Case.objects.filter(owner=owner, label=label).get()


@pytest.fixture
def compressed_study(fake_broker, researcher, reader):  # noqa: F811
    from tests.jobs.factories import register_tiny

    logging.getLogger("openjpeg").setLevel(logging.WARNING)  # its encoder chats per tile
    model = register_tiny()
    cases = []
    for n in range(2):
        case = _compressed_case(researcher, f"j2k-{n}", seed=n, size=256)
        job, _ = request_denoise(case, model, researcher)
        assert run_here(job).state == "succeeded"
        cases.append(case)
    other = make_user("rhea0", "reader")
    return make_study(researcher, cases, model, [reader, other])


def _timed_pairs(client, presentation: Presentation) -> list[tuple[float, float]]:
    """(seconds for the denoised side's slice, seconds for the original's), for every slice
    twice, A then B and B then A alternately so that neither side is always served second."""
    config = page_config(client.get(reverse("reading-page", args=[presentation.token])))
    urls = dict(zip("AB", (side["images"] for side in config["sides"]), strict=True))
    for side in "AB":
        assert client.get(urls[side][0]).status_code == 200  # first use fills the caches
    denoised = "A" if presentation.test_on_a else "B"
    pairs = []
    for rounds in range(2):
        for index in range(len(urls["A"])):
            took = {}
            for side in "AB" if (index + rounds) % 2 == 0 else "BA":
                start = time.perf_counter()
                response = client.get(urls[side][index])
                took[side] = time.perf_counter() - start
                assert response.status_code == 200
            pairs.append((took[denoised], took["B" if denoised == "A" else "A"]))
    return pairs


def test_both_sides_take_the_same_time_when_the_original_is_stored_compressed(
    compressed_study, client_for
):
    """Decoding a JPEG 2000 slice costs more than reading an uncompressed one; if only the
    shown series were decoded, the original's side would answer later, slice after slice,
    and the browser's network timings would name it. Each presentation is timed in both of
    its assignments (the swap of the first test), so that any cost of side A or B as such
    falls on both conditions alike; the machine's load falls on both sides of a pair alike.
    """
    originals = Instance.objects.filter(series__kind=Series.Kind.ORIGINAL)
    assert set(originals.values_list("transfer_syntax_uid", flat=True)) == {JPEG2000Lossless}
    denoised = Instance.objects.filter(series__kind=Series.Kind.DENOISED)
    assert JPEG2000Lossless not in set(denoised.values_list("transfer_syntax_uid", flat=True))

    pairs = []
    for presentation in Presentation.objects.select_related("reader__user"):
        client = client_for(presentation.reader.user)
        for assignment in (not presentation.test_on_a, presentation.test_on_a):
            Presentation.objects.filter(pk=presentation.pk).update(test_on_a=assignment)
            presentation.test_on_a = assignment
            cache.clear()
            pairs += _timed_pairs(client, presentation)

    # With no systematic difference the original's side is the slower one in about half
    # the pairs (128 pairs: 0.5 +- 0.045); decoding only the shown side makes it nearly all.
    slower = sum(original > denoised for denoised, original in pairs) / len(pairs)
    typical = statistics.median(t for pair in pairs for t in pair)
    difference = statistics.median(original - denoised for denoised, original in pairs)
    assert 0.3 <= slower <= 0.7, (slower, typical, difference)
