"""The JSON shape of a study and its parts (one shape per resource)."""

from __future__ import annotations

from rest_framework import serializers

from reader_study.models import Criterion, DenoiserModel, ReaderStudy, StudyCase, StudyReader
from reader_study.reading.blinded import PRESETS


class LevelSerializer(serializers.Serializer):
    value = serializers.IntegerField()
    anchor = serializers.CharField(max_length=120)


class CriterionSerializer(serializers.ModelSerializer):
    levels = LevelSerializer(many=True)

    class Meta:
        model = Criterion
        fields = ["key", "label", "required", "levels"]


class StudyCaseSerializer(serializers.ModelSerializer):
    case = serializers.IntegerField(source="case_id")
    label = serializers.CharField(source="case.label")

    class Meta:
        model = StudyCase
        fields = ["case", "label", "position", "is_training", "slice_start", "slice_stop"]


class StudyReaderSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = StudyReader
        fields = ["username", "pseudonym", "added_at"]


class StudySerializer(serializers.ModelSerializer):
    """A study as its owner sees it; write fields are the options of a draft."""

    denoiser_model = serializers.PrimaryKeyRelatedField(queryset=DenoiserModel.objects.all())
    comparison_model = serializers.PrimaryKeyRelatedField(
        queryset=DenoiserModel.objects.all(), allow_null=True, required=False
    )
    default_preset = serializers.ChoiceField(choices=list(PRESETS), required=False)
    repeat_fraction = serializers.FloatField(min_value=0, max_value=1, required=False)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    washout_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    criteria = CriterionSerializer(many=True, read_only=True)
    cases = StudyCaseSerializer(source="study_cases", many=True, read_only=True)
    readers = StudyReaderSerializer(many=True, read_only=True)

    class Meta:
        model = ReaderStudy
        fields = [
            "id",
            "title",
            "instructions",
            "state",
            "denoiser_model",
            "comparison_model",
            "scale",
            "ask_preference",
            "ask_comment",
            "allow_revise",
            "default_preset",
            "allow_window_change",
            "seed",
            "repeat_fraction",
            "washout_days",
            "created_at",
            "opened_at",
            "closed_at",
            "criteria",
            "cases",
            "readers",
        ]
        read_only_fields = ["id", "state", "created_at", "opened_at", "closed_at"]


class CasesInputSerializer(serializers.Serializer):
    cases = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), max_length=5000
    )
    training = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        default=list,
    )
    slice_ranges = serializers.DictField(
        child=serializers.ListField(child=serializers.IntegerField(min_value=0)),
        required=False,
        default=dict,
    )


class ReaderInputSerializer(serializers.Serializer):
    reader = serializers.CharField(max_length=254, help_text="A username or an e-mail address.")


class ReaderProgressSerializer(serializers.Serializer):
    pseudonym = serializers.CharField()
    username = serializers.CharField()
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    total_seconds = serializers.FloatField()
    last_activity = serializers.DateTimeField(allow_null=True)
    started = serializers.BooleanField()


class CaseProgressSerializer(serializers.Serializer):
    case = serializers.CharField()
    is_training = serializers.BooleanField()
    readers_done = serializers.IntegerField()
    readers = serializers.IntegerField()


class ProgressSerializer(serializers.Serializer):
    state = serializers.CharField()
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    readers = ReaderProgressSerializer(many=True)
    cases = CaseProgressSerializer(many=True)
