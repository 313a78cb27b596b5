from django.apps import AppConfig


class ReaderStudyConfig(AppConfig):
    name = "reader_study"
    verbose_name = "Reader studies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the case_ready receiver that queues denoising of newly ingested cases.
        from reader_study.jobs import receivers  # noqa: F401
