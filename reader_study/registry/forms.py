"""The checkpoint upload form."""

from __future__ import annotations

from django import forms

from reader_study.registry import service as registry


class ModelUploadForm(forms.Form):
    checkpoint = forms.FileField(help_text="A .pt checkpoint written by the denoiser package.")
    name = forms.SlugField(
        max_length=64, required=False, help_text="Empty: the name in the checkpoint's model card."
    )
    version = forms.CharField(
        max_length=32, required=False, help_text="Empty: the version in the model card."
    )
    make_default = forms.BooleanField(required=False, label="Use it for new cases (default model)")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not registry.may_set_default(user):
            del self.fields["make_default"]  # staff choose the site-wide default
