"""URLs of cases: pages, API, preview and the pair viewer."""

from django.urls import path

import reader_study.inputs  # noqa: F401  (registers the <id:...> converter)
from reader_study.cases import api as case_api
from reader_study.cases import viewer as case_viewer
from reader_study.cases import views as case_views

page_urls = [
    path("cases/", case_views.case_list, name="case-list"),
    path("cases/upload/", case_views.upload_page, name="case-upload"),
    path("cases/<id:pk>/", case_views.case_detail, name="case-detail"),
    path("cases/<id:pk>/preview.png", case_views.case_preview, name="case-preview"),
    path(
        "cases/<id:pk>/series/<id:series_pk>/slices/<int:index>",
        case_viewer.slice_file,
        name="case-slice",
    ),
    path(
        "cases/<id:pk>/series/<id:series_pk>/difference/<int:index>",
        case_viewer.difference_file,
        name="case-difference",
    ),
]

api_urls = [
    path("api/cases/", case_api.case_list, name="api-cases"),
    path("api/cases/<id:pk>/", case_api.case_detail, name="api-case"),
]

urlpatterns = page_urls + api_urls
