"""The analysis page, its figures and the downloadable report, over a read study."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.studies.test_export import _read_everything

pytestmark = [pytest.mark.django_db, pytest.mark.study]


def test_analysis_page_report_and_figures(world, client_for, researcher, token_client):
    study = world["study"]
    _read_everything(study)
    client = client_for(researcher)
    page = client.get(reverse("study-analysis", args=[study.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    for expected in ("Image noise", "AUC", "Wilcoxon", "Krippendorff", "Preference"):
        assert expected in text
    figure = client.get(reverse("study-figure", args=[study.pk, "noise", "vgc"]))
    assert figure.status_code == 200 and figure.content[:8] == b"\x89PNG\r\n\x1a\n"
    report = client.get(reverse("study-report", args=[study.pk]))
    assert report.status_code == 200 and "attachment" in report["Content-Disposition"]
    assert report.content.count(b"data:image/png;base64,") == 6  # 3 criteria x 2 figures
    results = token_client(researcher).get(reverse("api-study-analysis", args=[study.pk])).json()
    noise = next(c for c in results["criteria"] if c["criterion"] == "noise")
    # Every reader scored the denoised image higher on every case: AUC_VGC is 1.
    assert noise["vgc"]["auc"] == 1.0
    assert results["preference"]["counts"]["test"] == results["preference"]["n_presentations"]
