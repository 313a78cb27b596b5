from django.urls import path

import reader_study.inputs  # noqa: F401  (registers the <id:...> converter)
from reader_study.studies import api, views
from reader_study.studies.analysis import views as analysis_views

urlpatterns = [
    path("studies/", views.study_list, name="study-list"),
    path("studies/new/", views.study_new, name="study-new"),
    path("studies/<id:pk>/", views.study_detail, name="study-detail"),
    path("studies/<id:pk>/edit/", views.study_edit, name="study-edit"),
    path("studies/<id:pk>/criteria/", views.study_criteria, name="study-criteria"),
    path("studies/<id:pk>/open/", views.study_open, name="study-open"),
    path("studies/<id:pk>/close/", views.study_close, name="study-close"),
    path("studies/<id:pk>/analysis/", analysis_views.analysis, name="study-analysis"),
    path("studies/<id:pk>/report.html", analysis_views.report, name="study-report"),
    path(
        "studies/<id:pk>/figures/<slug:criterion>/<slug:kind>.png",
        analysis_views.figure,
        name="study-figure",
    ),
    path("api/studies/", api.studies, name="api-studies"),
    path("api/studies/<id:pk>/", api.study_detail, name="api-study"),
    path("api/studies/<id:pk>/criteria/", api.study_criteria, name="api-study-criteria"),
    path("api/studies/<id:pk>/cases/", api.study_cases, name="api-study-cases"),
    path("api/studies/<id:pk>/readers/", api.study_readers, name="api-study-readers"),
    path("api/studies/<id:pk>/open/", api.study_open, name="api-study-open"),
    path("api/studies/<id:pk>/close/", api.study_close, name="api-study-close"),
    path("api/studies/<id:pk>/progress/", api.study_progress, name="api-study-progress"),
    path("api/studies/<id:pk>/analysis/", analysis_views.analysis_api, name="api-study-analysis"),
    path("api/studies/<id:pk>/export.csv", api.export_csv, name="api-study-export-csv"),
    path("api/studies/<id:pk>/export.json", api.export_json, name="api-study-export-json"),
    path(
        "api/studies/<id:pk>/description.json",
        api.export_description,
        name="api-study-export-description",
    ),
]
