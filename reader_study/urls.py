"""Every domain's URLs, and the accounts' own (login, landing pages, who-am-I)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from reader_study.accounts import api, views

account_urls = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
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
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/schema/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
]

urlpatterns = (
    account_urls
    + page_urls
    + api_urls
    + [
        path("", include("reader_study.cases.urls")),
        path("", include("reader_study.uploads.urls")),
        path("dicomweb/", include("reader_study.dicomweb.urls")),
        path("", include("reader_study.jobs.urls")),
        path("", include("reader_study.registry.urls")),
        path("", include("reader_study.reading.urls")),
        path("", include("reader_study.studies.urls")),
    ]
)
