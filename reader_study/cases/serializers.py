"""The JSON shape of a case and its series (documentation: `cases.api` builds the dicts)."""

from __future__ import annotations

from rest_framework import serializers

from reader_study.jobs.serializers import DenoiseJobSerializer


class SeriesSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="`original` or `denoised`.")
    denoiser_model = serializers.CharField(
        allow_null=True, help_text="The model that made a denoised series; null for the original."
    )
    series_instance_uid = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    rows = serializers.IntegerField()
    columns = serializers.IntegerField()
    instances = serializers.IntegerField(help_text="Number of DICOM instances.")
    facts = serializers.DictField(
        help_text="Acquisition facts from the headers (pixel spacing, slice thickness, kVp...)."
    )


class CaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    owner = serializers.CharField(help_text="The owner's username.")
    status = serializers.CharField(help_text="`ingesting`, `ready` or `failed`.")
    status_message = serializers.CharField(allow_blank=True)
    study_instance_uid = serializers.CharField()
    created_at = serializers.DateTimeField()
    url = serializers.CharField(help_text="The case's page.")
    dicomweb = serializers.CharField(help_text="The case's study in the DICOMweb service.")


class CaseDetailSerializer(CaseSerializer):
    series = SeriesSerializer(many=True)
    jobs = DenoiseJobSerializer(many=True)
    preview = serializers.CharField(help_text="URL of the case's preview image.")
