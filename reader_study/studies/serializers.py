"""The JSON shape of a study and its parts (one shape per resource)."""

from __future__ import annotations

from rest_framework import serializers

from reader_study.imaging import PRESETS
from reader_study.models import Criterion, DenoiserModel, ReaderStudy, StudyCase, StudyReader
from reader_study.studies.setup import OPTION_FIELDS


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
            "state",
            *OPTION_FIELDS,
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
        child=serializers.ListField(
            child=serializers.IntegerField(min_value=0, max_value=2**31 - 1)
        ),
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


class CriterionInputSerializer(serializers.Serializer):
    """One criterion as set-up sends it (`criteria.clean_specs` checks it)."""

    key = serializers.SlugField(
        max_length=40, required=False, help_text="Derived from the label when absent."
    )
    label = serializers.CharField(max_length=100)
    required = serializers.BooleanField(required=False, default=True)
    levels = LevelSerializer(
        many=True, help_text="Every level of the study's scale, lowest first, with its anchor."
    )


class StudyListSerializer(serializers.Serializer):
    results = StudySerializer(many=True)


class StudyOpenedSerializer(StudySerializer):
    presentations = serializers.IntegerField(read_only=True, help_text="Presentations created.")

    class Meta(StudySerializer.Meta):
        fields = [*StudySerializer.Meta.fields, "presentations"]


class ScoreRowSerializer(serializers.Serializer):
    """One score of the export (`export.COLUMNS`), unblinded."""

    study = serializers.CharField()
    reader = serializers.CharField()
    reader_pseudonym = serializers.CharField()
    session = serializers.IntegerField()
    case = serializers.CharField()
    position = serializers.IntegerField()
    side = serializers.CharField()
    condition = serializers.CharField()
    model = serializers.CharField()
    model_version = serializers.CharField()
    criterion = serializers.CharField()
    value = serializers.IntegerField()
    value_label = serializers.CharField()
    preference = serializers.CharField(help_text="The preferred condition, `none`, or empty.")
    comment = serializers.CharField()
    started_at = serializers.CharField(help_text="ISO 8601, or empty.")
    answered_at = serializers.CharField(help_text="ISO 8601, or empty.")
    seconds = serializers.FloatField()


class ConditionsSerializer(serializers.Serializer):
    reference = serializers.CharField()
    test = serializers.CharField()


class StudyOptionsSerializer(serializers.Serializer):
    ask_preference = serializers.BooleanField()
    ask_comment = serializers.BooleanField()
    allow_revise = serializers.BooleanField()
    default_preset = serializers.CharField()
    allow_window_change = serializers.BooleanField()


class DescribedCaseSerializer(serializers.Serializer):
    case = serializers.CharField(help_text="The case's label.")
    training = serializers.BooleanField()
    slice_start = serializers.IntegerField(allow_null=True)
    slice_stop = serializers.IntegerField(allow_null=True)


class DescribedReaderSerializer(serializers.Serializer):
    reader = serializers.CharField()
    reader_pseudonym = serializers.CharField()


class DescribedModelSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    sha256 = serializers.CharField()
    model_card = serializers.CharField()


class StudyDescriptionSerializer(serializers.Serializer):
    """What a reviewer needs to read the exported table (`export.description`)."""

    study = serializers.CharField(help_text="The study's title.")
    state = serializers.CharField()
    instructions = serializers.CharField()
    conditions = ConditionsSerializer()
    scale = serializers.CharField()
    seed = serializers.IntegerField()
    repeat_fraction = serializers.FloatField()
    washout_days = serializers.IntegerField()
    options = StudyOptionsSerializer()
    criteria = CriterionSerializer(many=True)
    cases = DescribedCaseSerializer(many=True)
    readers = DescribedReaderSerializer(many=True)
    models = DescribedModelSerializer(many=True)
    columns = serializers.ListField(
        child=serializers.CharField(), help_text="The export's columns, in order."
    )
    opened_at = serializers.CharField(help_text="ISO 8601, or empty.")
    closed_at = serializers.CharField(help_text="ISO 8601, or empty.")
