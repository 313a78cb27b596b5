"""The JSON shapes of the upload API (documentation: `uploads.api` builds the dicts)."""

from __future__ import annotations

from rest_framework import serializers


class FileCheckSerializer(serializers.Serializer):
    """What the browser may see of a file's check on arrival (`arrived.public`)."""

    status = serializers.CharField(help_text="`accepted`, `duplicate`, `skipped` or `rejected`.")
    reason = serializers.CharField(allow_blank=True)


class UploadFileSerializer(serializers.Serializer):
    """An announced file and the chunks received (`_file_json`)."""

    id = serializers.IntegerField()
    name = serializers.CharField(help_text="The path the user dropped.")
    size = serializers.IntegerField(help_text="Bytes.")
    chunk_bytes = serializers.IntegerField()
    chunks = serializers.IntegerField(help_text="Number of chunks the file is sent in.")
    received = serializers.ListField(
        child=serializers.IntegerField(), help_text="Indexes of the chunks stored so far."
    )
    check = FileCheckSerializer(allow_null=True, help_text="Null until the file is whole.")


class UploadLimitsSerializer(serializers.Serializer):
    max_upload_bytes = serializers.IntegerField()
    max_files = serializers.IntegerField()


class UploadSessionSummarySerializer(serializers.Serializer):
    """An upload as the list of unfinished ones shows it (`_session_json`, no files)."""

    id = serializers.UUIDField()
    label = serializers.CharField()
    status = serializers.CharField(help_text="`open`, `ingested` or `failed`.")
    created_at = serializers.DateTimeField()
    chunk_bytes = serializers.IntegerField(help_text="The chunk size to send files in.")
    limits = UploadLimitsSerializer()
    file_count = serializers.IntegerField()
    bytes_total = serializers.IntegerField()
    bytes_received = serializers.IntegerField()
    report = serializers.DictField(
        help_text="The last ingest attempt's report (an IngestReport); empty before the first."
    )
    case = serializers.IntegerField(allow_null=True, help_text="The case it became.")


class UploadSessionSerializer(UploadSessionSummarySerializer):
    """One upload, with its files (`_session_json`)."""

    files = UploadFileSerializer(many=True)


class UploadSessionInputSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="Your own name for the case.")


class AnnouncedFileSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=500)
    size = serializers.IntegerField(min_value=0, help_text="Bytes.")


class AnnounceFilesInputSerializer(serializers.Serializer):
    files = AnnouncedFileSerializer(many=True)


class UploadFileListSerializer(serializers.Serializer):
    files = UploadFileSerializer(many=True)


class ChunkReceiptSerializer(serializers.Serializer):
    file = serializers.IntegerField()
    chunk = serializers.IntegerField()
    stored = serializers.BooleanField()
    check = FileCheckSerializer(allow_null=True, help_text="Null until the file is whole.")


class ChunkReceiptListSerializer(serializers.Serializer):
    files = ChunkReceiptSerializer(many=True)


class IngestInputSerializer(serializers.Serializer):
    series_instance_uid = serializers.CharField(
        required=False, allow_blank=True, help_text="The series to ingest, if it holds several."
    )
    strict = serializers.BooleanField(required=False, default=False)


class IngestedFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.CharField(help_text="`accepted`, `duplicate`, `skipped` or `rejected`.")
    reason = serializers.CharField(allow_blank=True)
    code = serializers.IntegerField(help_text="The DICOM failure reason of a refused file, or 0.")


class IngestCountsSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    skipped = serializers.IntegerField()
    rejected = serializers.IntegerField()


class IngestedCaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    status = serializers.CharField()
    study_instance_uid = serializers.CharField()
    url = serializers.CharField()
    created = serializers.BooleanField(required=False, help_text="False: it existed already.")
    slices = serializers.IntegerField(required=False, allow_null=True)
    size = serializers.CharField(required=False, help_text="Rows x columns, as `512x512`.")


class SeriesChoiceSerializer(serializers.Serializer):
    series_instance_uid = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    files = serializers.IntegerField()
    size = serializers.CharField()


class IngestReportSerializer(serializers.Serializer):
    """What ingest did: one line per file, the case it made, or why not (`IngestReport`)."""

    ok = serializers.BooleanField()
    message = serializers.CharField()
    files = IngestedFileSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())
    case = IngestedCaseSerializer(allow_null=True)
    series_choices = SeriesChoiceSerializer(
        many=True, help_text="When the upload holds several series: the ones to choose from."
    )
    counts = IngestCountsSerializer()


class IngestRefusalSerializer(IngestReportSerializer):
    """Nothing was stored: the report and why."""

    detail = serializers.CharField()
