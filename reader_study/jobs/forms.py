"""Forms of the job, model and training pages (validation shared with the API)."""

from __future__ import annotations

from django import forms

from reader_study.access import visible_cases
from reader_study.jobs.training import TrainingOptions
from reader_study.models import Case, DenoiserModel


def ready_cases(user):
    return visible_cases(user).filter(status=Case.Status.READY).order_by("label")


class CaseChoices(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Case) -> str:
        return obj.label


class DenoiseLaunchForm(forms.Form):
    cases = CaseChoices(queryset=Case.objects.none(), help_text="Ready cases you own.")
    model = forms.ModelChoiceField(
        queryset=DenoiserModel.objects.all(), empty_label=None, label="Model"
    )

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cases"].queryset = ready_cases(user)
        default = DenoiserModel.objects.filter(is_default=True).first()
        if default:
            self.fields["model"].initial = default.pk


class TrainingLaunchForm(forms.Form):
    name = forms.SlugField(max_length=64, help_text="Name of the model it will register.")
    low_dose_cases = CaseChoices(queryset=Case.objects.none(), label="Low-dose cases")
    normal_dose_cases = CaseChoices(queryset=Case.objects.none(), label="Normal-dose cases")
    epochs = forms.IntegerField(min_value=1, max_value=500, initial=TrainingOptions.epochs)
    iters_per_epoch = forms.IntegerField(
        min_value=1, max_value=100_000, initial=TrainingOptions.iters_per_epoch
    )
    batch_size = forms.IntegerField(min_value=1, max_value=64, initial=TrainingOptions.batch_size)
    patch_size = forms.IntegerField(min_value=16, max_value=512, initial=TrainingOptions.patch_size)
    lr = forms.FloatField(
        min_value=1e-6, max_value=1e-2, initial=TrainingOptions.lr, label="Learning rate"
    )
    base_width = forms.IntegerField(
        min_value=4, max_value=128, initial=TrainingOptions.base_width, label="Generator width"
    )
    val_slices = forms.IntegerField(
        min_value=0, max_value=64, initial=TrainingOptions.val_slices, label="Validation slices"
    )
    perceptual = forms.BooleanField(
        required=False, initial=True, label="Perceptual loss (CT encoder)"
    )
    warm_start_iters = forms.IntegerField(
        min_value=0,
        max_value=100_000,
        initial=TrainingOptions.warm_start_iters,
        label="Warm-start iterations",
        help_text="Self-supervised start of the denoiser on the normal-dose cases (0: off).",
    )

    self_supervised_weight = forms.FloatField(
        min_value=0,
        max_value=1000,
        initial=TrainingOptions.self_supervised_weight,
        label="Self-supervised weight",
        help_text="Learn from the low-dose cases' own noise (Recorrupted-to-Recorrupted; "
        "0: off, the default until its effect is measured).",
    )

    OPTION_FIELDS = (
        "epochs",
        "iters_per_epoch",
        "batch_size",
        "patch_size",
        "lr",
        "base_width",
        "val_slices",
        "perceptual",
        "warm_start_iters",
        "self_supervised_weight",
    )

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["low_dose_cases"].queryset = ready_cases(user)
        self.fields["normal_dose_cases"].queryset = ready_cases(user)

    def clean(self):
        data = super().clean()
        low, normal = data.get("low_dose_cases"), data.get("normal_dose_cases")
        if low and normal and set(low) & set(normal):
            raise forms.ValidationError(
                "A case cannot be both low-dose and normal-dose: the two sets must differ."
            )
        return data

    def options(self) -> dict:
        return {key: self.cleaned_data[key] for key in self.OPTION_FIELDS}
