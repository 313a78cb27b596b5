"""URLs of the browser's chunked, resumable uploads."""

from django.urls import path

import reader_study.inputs  # noqa: F401  (registers the <id:...> converter)
from reader_study.uploads import api as upload_api

urlpatterns = [
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
