"""URLs of cases, uploads and DICOMweb (issue 4), included by reader_study/urls.py."""

from django.urls import include, path

import reader_study.inputs  # noqa: F401  (registers the <id:...> converter)
from reader_study import case_api, case_views
from reader_study.cases import viewer as case_viewer
from reader_study.uploads import api as upload_api

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
    path("api/uploads/", upload_api.sessions, name="api-uploads"),
    path("api/uploads/<uuid:public_id>/", upload_api.session_detail, name="api-upload"),
    path("api/uploads/<uuid:public_id>/files/", upload_api.announce_files, name="api-upload-files"),
    path(
        "api/uploads/<uuid:public_id>/files/<id:file_id>/chunks/<int:index>",
        upload_api.put_chunk,
        name="api-upload-chunk",
    ),
    path("api/uploads/<uuid:public_id>/batch/", upload_api.put_batch, name="api-upload-batch"),
    path(
        "api/uploads/<uuid:public_id>/ingest/", upload_api.ingest_session, name="api-upload-ingest"
    ),
]

urlpatterns = page_urls + api_urls + [path("dicomweb/", include("reader_study.dicomweb.urls"))]
