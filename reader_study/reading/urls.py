from django.urls import path

import reader_study.inputs  # noqa: F401  (registers the <id:...> converter)
from reader_study.reading import api, views

urlpatterns = [
    path("worklist/", views.worklist, name="worklist"),
    path("reading/studies/<id:pk>/start/", views.start, name="reading-start"),
    path("reading/studies/<id:pk>/done/", views.done, name="reading-done"),
    path("reading/<str:token>/", views.read, name="reading-page"),
    path("reading/images/<str:token>/<int:index>", api.image, name="reading-image"),
    path("api/reading/<str:token>/answers/", api.save_answers, name="api-reading-answers"),
    path("api/reading/<str:token>/submit/", api.submit, name="api-reading-submit"),
    path("api/reading/<str:token>/log/", api.log_events, name="api-reading-log"),
]
