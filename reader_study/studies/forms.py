"""The study set-up form and the criteria form of the researcher's pages."""

from __future__ import annotations

from django import forms

from reader_study.access import visible_cases
from reader_study.imaging import PRESETS
from reader_study.models import Case, DenoiserModel, ReaderStudy
from reader_study.studies.setup import OPTION_FIELDS


class CaseChoices(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Case) -> str:
        return obj.label


class StudyForm(forms.ModelForm):
    """Everything of a draft study on one page; readers as usernames or e-mails, one a line."""

    cases = CaseChoices(queryset=Case.objects.none(), required=False)
    training_cases = CaseChoices(
        queryset=Case.objects.none(),
        required=False,
        help_text="Shown first to every reader for practice; left out of exports and results.",
    )
    readers_text = forms.CharField(
        label="Readers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Reader accounts by username or e-mail, one per line.",
    )
    # The same bounds as the API's (StudySerializer).
    washout_days = forms.IntegerField(min_value=0, max_value=3650, initial=0)
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    repeat_fraction = forms.FloatField(min_value=0, max_value=1, initial=0)
    default_preset = forms.ChoiceField(
        choices=[(k, f"{v[0]} (W {v[1]} / L {v[2]})") for k, v in PRESETS.items()]
    )

    class Meta:
        model = ReaderStudy
        fields = list(OPTION_FIELDS)
        labels = {
            "denoiser_model": "Model",
            "comparison_model": "Compare with model (empty: the original images)",
            "ask_preference": "Ask which image the reader prefers",
            "ask_comment": "Ask for a comment",
            "allow_revise": "Readers may go back and revise answers",
            "allow_window_change": "Readers may change the window",
            "repeat_fraction": "Share of cases read a second time (0 to 1)",
            "washout_days": "Washout before the second reading (days)",
        }
        widgets = {"instructions": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        ready = visible_cases(user).filter(status=Case.Status.READY).order_by("label")
        self.fields["cases"].queryset = ready
        self.fields["training_cases"].queryset = ready
        models = DenoiserModel.objects.order_by("name", "-created_at")
        self.fields["denoiser_model"].queryset = models
        self.fields["comparison_model"].queryset = models
        self.fields["comparison_model"].required = False
        self.fields["seed"].required = False
        self.fields["seed"].help_text = "Empty: a random seed, stored and shown."
        if self.instance.pk:
            entries = self.instance.study_cases.all()
            self.initial["cases"] = [e.case_id for e in entries]
            self.initial["training_cases"] = [e.case_id for e in entries if e.is_training]
            self.initial["readers_text"] = "\n".join(
                r.user.username for r in self.instance.readers.select_related("user")
            )

    def clean_seed(self) -> int | None:
        # Empty while editing keeps the stored seed: the model form would otherwise write
        # None into the study before the view can leave the seed out.
        seed = self.cleaned_data.get("seed")
        if seed is None and self.instance.pk:
            return self.instance.seed
        return seed

    def reader_names(self) -> list[str]:
        text = self.cleaned_data.get("readers_text", "")
        return [line.strip() for line in text.splitlines() if line.strip()]


class CriterionForm(forms.Form):
    label = forms.CharField(max_length=100)
    key = forms.SlugField(max_length=40, required=False, help_text="Empty: from the label.")
    required = forms.BooleanField(required=False, initial=True)
    anchor_1 = forms.CharField(max_length=120)
    anchor_2 = forms.CharField(max_length=120)
    anchor_3 = forms.CharField(max_length=120)
    anchor_4 = forms.CharField(max_length=120)
    anchor_5 = forms.CharField(max_length=120)


CriterionFormSet = forms.formset_factory(CriterionForm, extra=1, can_delete=True, max_num=12)
