"""Nothing a reader can fetch tells A from B, except the pixels."""

from __future__ import annotations

import io
import json
import re

import pydicom
import pytest
from django.urls import reverse

from reader_study.models import Presentation

pytestmark = [pytest.mark.django_db, pytest.mark.blinding]


def _without_pixels(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    pixels = ds.PixelData
    start = data.rindex(pixels)  # the pixel bytes are the file's tail
    return data[:start]


def test_a_and_b_files_are_identical_but_for_pixels(world, client_for):
    for presentation in Presentation.objects.select_related("reader__user"):
        client = client_for(presentation.reader.user)
        config = _config(client, presentation)
        images_a, images_b = (side["images"] for side in config["sides"])
        assert len(images_a) == len(images_b) == 8
        differ = 0
        for url_a, url_b in zip(images_a, images_b, strict=True):
            a, b = client.get(url_a), client.get(url_b)
            assert a.status_code == b.status_code == 200
            assert a.content[:-1] != b"" and len(a.content) == len(b.content)
            assert _without_pixels(a.content) == _without_pixels(b.content)
            # Equal headers, but for each URL's own tag (random, from its token).
            tag_a, tag_b = a.headers["ETag"], b.headers["ETag"]
            assert len(tag_a) == len(tag_b) and tag_a != tag_b
            assert {k: v for k, v in a.headers.items() if k != "ETag"} == {
                k: v for k, v in b.headers.items() if k != "ETag"
            }
            differ += a.content != b.content
        assert differ > 0  # the pixels do differ: the reader compares real images


def test_images_revalidate_and_answer_304_to_their_tag(world, client_for):
    presentation = Presentation.objects.first()
    client = client_for(presentation.reader.user)
    url = reverse("reading-image", args=[presentation.token_b, 2])
    first = client.get(url)
    assert first["Cache-Control"] == "private, no-cache"
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""


def test_headers_carry_no_source_identity(world, client_for):
    presentation = Presentation.objects.first()
    client = client_for(presentation.reader.user)
    url = _config(client, presentation)["sides"][0]["images"][0]
    ds = pydicom.dcmread(io.BytesIO(client.get(url).content))
    case = presentation.study_case.case
    stored = {i.sop_instance_uid for s in case.series.all() for i in s.instances.all()}
    assert ds.SOPInstanceUID not in stored
    assert ds.StudyInstanceUID != case.study_instance_uid
    assert "DERIVED" not in ds.ImageType
    for keyword in (
        "SeriesDescription",
        "DerivationDescription",
        "SourceImageSequence",
        "ContributingEquipmentSequence",
        "InstitutionName",
        "Manufacturer",
    ):
        assert keyword not in ds
    assert str(ds.PatientName) == "BLINDED"
    assert (ds.RescaleSlope, ds.RescaleIntercept, ds.PixelRepresentation) == (1, 0, 1)


def test_nothing_on_the_page_or_in_json_names_the_condition(world, client_for):
    presentation = Presentation.objects.first()
    client = client_for(presentation.reader.user)
    page = client.get(reverse("reading-page", args=[presentation.token]))
    text = page.content.decode()
    model = world["model"]
    for secret in (
        "denoised",
        "original",
        model.name + " ",
        model.sha256,
        presentation.study_case.case.label,
        f"/cases/{presentation.study_case.case_id}",
    ):
        assert secret not in text
    assert not re.search(r"/series/\d+", text)
    for cookie in page.cookies.values():
        assert "denois" not in cookie.value
    saved = client.put(
        reverse("api-reading-answers", args=[presentation.token]),
        {"scores": []},
        content_type="application/json",
    )
    assert set(saved.json()) == {"saved", "complete", "missing"}


def test_tokens_are_long_random_and_scoped_to_their_reader(world, client_for):
    mine, theirs = world["readers"]
    presentation = Presentation.objects.filter(reader__user=mine).first()
    for token in (presentation.token, presentation.token_a, presentation.token_b):
        assert len(token) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # >= 128 bits
    assert len({p.token for p in Presentation.objects.all()}) == Presentation.objects.count()
    intruder = client_for(theirs)
    assert intruder.get(reverse("reading-page", args=[presentation.token])).status_code == 404
    image = reverse("reading-image", args=[presentation.token_a, 0])
    assert intruder.get(image).status_code == 404
    answers = reverse("api-reading-answers", args=[presentation.token])
    assert intruder.put(answers, {"scores": []}, content_type="application/json").status_code == 404


def test_a_reader_of_another_study_gets_404(world, client_for, fake_broker, researcher):
    from tests.studies.factories import denoised_cases, make_study, readers

    outsider = readers(1, prefix="outsider")[0]
    cases, model = denoised_cases(researcher, 1, model=world["model"], prefix="other")
    make_study(researcher, cases, model, [outsider])
    presentation = Presentation.objects.filter(reader__user=world["readers"][0]).first()
    client = client_for(outsider)
    assert client.get(reverse("reading-page", args=[presentation.token])).status_code == 404
    assert client.get(reverse("reading-image", args=[presentation.token_b, 0])).status_code == 404
    assert client.get(reverse("reading-start", args=[presentation.study_id])).status_code == 404


def _config(client, presentation) -> dict:
    page = client.get(reverse("reading-page", args=[presentation.token]))
    assert page.status_code == 200
    match = re.search(
        r'<script id="reading-config" type="application/json">(.*?)</script>',
        page.content.decode(),
        re.S,
    )
    return json.loads(match.group(1))
