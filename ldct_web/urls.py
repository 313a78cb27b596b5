from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("reader_study.urls")),
]

handler403 = "reader_study.accounts.views.permission_denied"
handler500 = "reader_study.server_errors.server_error"
