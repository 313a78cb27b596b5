from django.contrib import admin

from reader_study import models


@admin.register(models.Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["label", "owner", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["label", "study_instance_uid"]


@admin.register(models.Series)
class SeriesAdmin(admin.ModelAdmin):
    list_display = ["case", "kind", "denoiser_model", "num_instances", "rows", "columns"]
    list_filter = ["kind"]


@admin.register(models.DenoiserModel)
class DenoiserModelAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "is_default", "created_at"]


@admin.register(models.DenoiseJob)
class DenoiseJobAdmin(admin.ModelAdmin):
    list_display = ["case", "denoiser_model", "state", "attempts", "heartbeat_at"]
    list_filter = ["state"]


@admin.register(models.TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "state", "attempts", "created_at"]
    list_filter = ["state"]
