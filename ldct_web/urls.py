from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("reader_study.urls")),
]

handler400 = "reader_study.accounts.views.bad_request"
handler403 = "reader_study.accounts.views.permission_denied"
handler404 = "reader_study.accounts.views.not_found"
handler500 = "reader_study.server_errors.server_error"
