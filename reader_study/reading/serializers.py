"""The JSON shapes of the reading page's API (documentation: `reading.api` answers dicts and
`reading.answers` checks what comes in)."""

from __future__ import annotations

from rest_framework import serializers

from reader_study.reading.answers import MAX_COMMENT, MAX_EVENTS


class ScoreInputSerializer(serializers.Serializer):
    side = serializers.CharField(help_text="`A` or `B` (only `B` in relative scoring).")
    criterion = serializers.CharField(help_text="The criterion's key.")
    value = serializers.IntegerField(help_text="A level of the criterion's scale.")


class AnswersInputSerializer(serializers.Serializer):
    """The whole answer set of the presentation, sent again with every change."""

    scores = ScoreInputSerializer(many=True, required=False)
    preference = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="`A`, `B` or `none` (when the study asks).",
    )
    comment = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=MAX_COMMENT
    )
    seconds = serializers.FloatField(
        required=False, min_value=0, help_text="Focused reading time so far."
    )


class AnswersSavedSerializer(serializers.Serializer):
    saved = serializers.BooleanField()
    complete = serializers.BooleanField(help_text="Every required question is answered.")
    missing = serializers.ListField(
        child=serializers.CharField(), help_text="The questions still to answer."
    )


class SubmitInputSerializer(serializers.Serializer):
    seconds = serializers.FloatField(
        required=False, allow_null=True, help_text="Focused reading time, if known."
    )


class SubmittedSerializer(serializers.Serializer):
    next_url = serializers.CharField(help_text="The next unanswered case, or the done page.")


class SubmitRefusalSerializer(serializers.Serializer):
    detail = serializers.CharField()
    missing = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="The questions still to answer (absent when `seconds` was refused).",
    )


class EventsInputSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField(), min_length=1),
        help_text="Interaction events, each `[milliseconds, kind, ...]` (at most 6 values; "
        f"at most {MAX_EVENTS} kept per presentation).",
    )
