"""The questions a study asks by default, and the checks every set of criteria passes."""

from __future__ import annotations

from django.utils.text import slugify

from reader_study.inputs import CONTROL_CHARACTERS
from reader_study.models import Criterion, ReaderStudy

ABSOLUTE_VALUES = [1, 2, 3, 4, 5]
RELATIVE_VALUES = [-2, -1, 0, 1, 2]

# Anchors in the wording of visual grading studies: every level says what it means.
DEFAULT_CRITERIA = [
    {
        "key": "noise",
        "label": "Image noise",
        "anchors": [
            "Unacceptable noise",
            "Noise impairs the reading",
            "Noise acceptable for diagnosis",
            "Little noise",
            "No perceptible noise",
        ],
    },
    {
        "key": "sharpness",
        "label": "Sharpness",
        "anchors": [
            "Unacceptably blurred",
            "Blur impairs the reading",
            "Acceptable sharpness",
            "Sharp",
            "Excellent sharpness",
        ],
    },
    {
        "key": "confidence",
        "label": "Diagnostic confidence",
        "anchors": [
            "Non-diagnostic",
            "Low confidence",
            "Moderate confidence",
            "High confidence",
            "Full confidence",
        ],
    },
]
RELATIVE_ANCHORS = [
    "B much worse than A",
    "B slightly worse than A",
    "No difference",
    "B slightly better than A",
    "B much better than A",
]


class CriteriaError(ValueError):
    """A set of criteria that cannot be used; the message names the criterion and field."""


def levels(values: list[int], anchors: list[str]) -> list[dict]:
    return [{"value": v, "anchor": a} for v, a in zip(values, anchors, strict=True)]


def default_specs(scale: str) -> list[dict]:
    """The default criteria as specs (key, label, required, levels) for `scale`."""
    relative = scale == ReaderStudy.Scale.RELATIVE
    return [
        {
            "key": c["key"],
            "label": c["label"],
            "required": True,
            "levels": levels(
                RELATIVE_VALUES if relative else ABSOLUTE_VALUES,
                RELATIVE_ANCHORS if relative else c["anchors"],
            ),
        }
        for c in DEFAULT_CRITERIA
    ]


def clean_specs(specs, scale: str) -> list[dict]:
    """Checked criteria specs: unique keys, labels, and one anchor for every scale level."""
    if not isinstance(specs, list) or not specs:
        raise CriteriaError("criteria: give at least one criterion.")
    expected = RELATIVE_VALUES if scale == ReaderStudy.Scale.RELATIVE else ABSOLUTE_VALUES
    out, keys = [], set()
    for n, spec in enumerate(specs, start=1):
        if not isinstance(spec, dict):
            raise CriteriaError(f"criteria[{n}]: expected an object with key, label and levels.")
        label = str(spec.get("label") or "").strip()
        if not label or len(label) > 100:
            raise CriteriaError(f"criteria[{n}].label: 1 to 100 characters.")
        key = slugify(str(spec.get("key") or label))[:40]
        if not key or key in keys:
            raise CriteriaError(f"criteria[{n}].key: {key!r} is empty or used twice.")
        keys.add(key)
        raw = spec.get("levels")
        if not isinstance(raw, list):
            raise CriteriaError(f"criteria[{n}].levels: a list of {{value, anchor}}.")
        try:
            values = [int(level["value"]) for level in raw]
            anchors = [str(level.get("anchor") or "").strip() for level in raw]
        except (KeyError, TypeError, ValueError, OverflowError):
            raise CriteriaError(f"criteria[{n}].levels: each needs a whole-number value.") from None
        if any(_has_controls(a) for a in [label, *anchors]):
            raise CriteriaError(f"criteria[{n}]: labels and anchors must be printable text.")
        if values != expected:
            raise CriteriaError(
                f"criteria[{n}].levels: values must be {expected} for {scale} scoring."
            )
        if not all(anchors) or any(len(a) > 120 for a in anchors):
            raise CriteriaError(f"criteria[{n}].levels: every level needs an anchor text.")
        out.append(
            {
                "key": key,
                "label": label,
                "required": bool(spec.get("required", True)),
                "levels": levels(values, anchors),
            }
        )
    return out


def replace_criteria(study: ReaderStudy, specs: list[dict]) -> None:
    study.criteria.all().delete()
    Criterion.objects.bulk_create(
        Criterion(study=study, position=n, **spec) for n, spec in enumerate(specs)
    )


def _has_controls(text: str) -> bool:
    return bool(CONTROL_CHARACTERS.search(text))
