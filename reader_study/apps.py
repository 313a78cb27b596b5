from django.apps import AppConfig


class ReaderStudyConfig(AppConfig):
    name = "reader_study"
    verbose_name = "Reader studies"
    default_auto_field = "django.db.models.BigAutoField"
