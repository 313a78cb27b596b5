"""URLs of the model registry."""

from django.urls import path

import reader_study.inputs  # noqa: F401  (registers the <id:...> converter)
from reader_study.registry import api, views

urlpatterns = [
    path("models/", views.model_list, name="model-list"),
    path("models/upload/", views.model_upload, name="model-upload"),
    path("models/<id:pk>/default/", views.model_set_default, name="model-default"),
    path("api/models/", api.models, name="api-models"),
    path("api/models/<id:pk>/default/", api.model_set_default, name="api-model-default"),
]
