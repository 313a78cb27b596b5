from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("reader_study.urls")),
]

handler403 = "reader_study.accounts.views.permission_denied"
