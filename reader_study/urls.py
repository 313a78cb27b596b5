from django.contrib.auth import views as auth_views
from django.urls import include, path

from reader_study import api, views

account_urls = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]

page_urls = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
]

api_urls = [
    path("api/me/", api.me, name="api-me"),
]

urlpatterns = (
    account_urls
    + page_urls
    + api_urls
    + [
        path("", include("reader_study.urls_cases")),
        path("", include("reader_study.urls_jobs")),
        path("", include("reader_study.reading.urls")),
        path("", include("reader_study.studies.urls")),
    ]
)
