"""Setting a study up: its fields, cases and readers, checked with messages that name them.

Pages and the REST API both go through these functions, so a rule is written once.
"""

from __future__ import annotations

import secrets

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q

from reader_study.access import is_reader, visible_cases
from reader_study.imaging import PRESETS
from reader_study.inputs import BadInput, clean_text, row_id
from reader_study.models import Case, ReaderStudy
from reader_study.studies import criteria, lifecycle
from reader_study.studies.lifecycle import StudyError

# What may change after opening: nothing readers' answers depend on.
EDITABLE_WHEN_OPEN = {"title"}
OPTION_FIELDS = (
    "title",
    "instructions",
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
)


def new_seed() -> int:
    return secrets.randbelow(2**31)


def create_study(owner, fields: dict) -> ReaderStudy:
    """A draft study with the default criteria for its scale."""
    fields = dict(fields)
    fields.setdefault("seed", new_seed())
    _check_fields(fields, ReaderStudy(owner=owner))
    with transaction.atomic():
        study = ReaderStudy.objects.create(owner=owner, **fields)
        criteria.replace_criteria(study, criteria.default_specs(study.scale))
    return study


def update_study(study: ReaderStudy, fields: dict) -> ReaderStudy:
    locked = set(fields) - EDITABLE_WHEN_OPEN
    if locked and not study.is_draft:
        lifecycle.require_draft(study, ", ".join(sorted(locked)))
    _check_fields(fields, study)
    scale_changed = "scale" in fields and fields["scale"] != study.scale
    with transaction.atomic():
        for name, value in fields.items():
            setattr(study, name, value)
        study.save()
        if scale_changed:  # the anchors of the other scale no longer fit
            criteria.replace_criteria(study, criteria.default_specs(study.scale))
    return study


def _check_fields(fields: dict, study: ReaderStudy) -> None:
    """StudyError for a value no study may hold, judged with the study's other values."""
    for name in ("title", "instructions"):
        if name in fields:
            try:
                # Instructions are Markdown: line breaks are their text, other controls not.
                text = fields[name].replace("\r\n", "\n").replace("\n", " ").replace("\t", " ")
                clean_text(text if name == "instructions" else fields[name], name)
            except BadInput as exc:
                raise StudyError(str(exc)) from None
    if "default_preset" in fields and fields["default_preset"] not in PRESETS:
        raise StudyError(f"default_preset: one of {', '.join(PRESETS)}.")
    fraction = fields.get("repeat_fraction", 0)
    if not 0 <= fraction <= 1:
        raise StudyError("repeat_fraction: a share of the cases, from 0 to 1.")
    model = fields.get("denoiser_model", getattr(study, "denoiser_model", None))
    other = fields.get("comparison_model", study.comparison_model)
    if model is not None and other is not None and model == other:
        raise StudyError("comparison_model: choose a different model than denoiser_model.")


def set_criteria(study: ReaderStudy, specs) -> None:
    lifecycle.require_draft(study, "The criteria")
    try:
        cleaned = criteria.clean_specs(specs, study.scale)
    except criteria.CriteriaError as exc:
        raise StudyError(str(exc)) from None
    with transaction.atomic():
        criteria.replace_criteria(study, cleaned)


def set_cases(user, study: ReaderStudy, case_ids, training_ids=(), slice_ranges=None) -> None:
    """The study's cases (the user's ready cases), named in any error."""
    lifecycle.require_draft(study, "The cases")
    owned = {c.pk: c for c in visible_cases(user).filter(pk__in=list(case_ids))}
    unknown = [str(pk) for pk in case_ids if pk not in owned]
    if unknown:
        raise StudyError(f"cases: no case of yours with id {', '.join(unknown)}.")
    not_ready = [c.label for c in owned.values() if c.status != Case.Status.READY]
    if not_ready:
        raise StudyError(f"cases: {', '.join(not_ready)} not ready (still ingesting or failed).")
    if set(training_ids) - set(owned):
        raise StudyError("training: training cases must be among the study's cases.")
    ranges = _checked_ranges(slice_ranges or {}, owned)
    cases = [owned[pk] for pk in dict.fromkeys(case_ids)]
    lifecycle.set_cases(study, cases, [owned[pk] for pk in training_ids], ranges)


def _checked_ranges(raw: dict, owned: dict) -> dict:
    out = {}
    for key, value in raw.items():
        try:
            pk = row_id(key, f"slice_ranges[{key}]")
        except BadInput as exc:
            raise StudyError(str(exc)) from None
        case = owned.get(pk)
        ok = isinstance(value, list | tuple) and len(value) == 2
        if case is None or not ok or not all(isinstance(v, int) and v >= 0 for v in value):
            raise StudyError(f"slice_ranges[{key}]: [first, stop] slice numbers of a study case.")
        if value[0] >= value[1]:
            raise StudyError(f"slice_ranges[{key}]: the first slice must come before the stop.")
        out[pk] = (value[0], value[1])
    return out


def find_reader(text: str, study: ReaderStudy) -> User:
    """A reader account by username or e-mail; StudyError naming the text otherwise."""
    text = (text or "").strip()
    found = User.objects.filter(is_active=True).filter(Q(username=text) | Q(email__iexact=text))
    by_name = [u for u in found if u.username == text]
    users = by_name or list(found)
    if not text or not users:
        raise StudyError(f"readers: no account with username or e-mail {text!r}.")
    if len(users) > 1:
        names = ", ".join(sorted(u.username for u in users))
        raise StudyError(f"readers: the e-mail {text!r} belongs to {names}; give a username.")
    user = users[0]
    if not is_reader(user):
        raise StudyError(f"readers: {user.username} is not a reader account.")
    # Whoever can see the study's exports must not read it blind.
    if user.pk == study.owner_id or user.is_staff or user.is_superuser:
        raise StudyError(f"readers: {user.username} sees this study unblinded (owner or staff).")
    return user


def add_readers(study: ReaderStudy, names) -> list:
    users = [find_reader(name, study) for name in names]  # all checked before any is added
    return [lifecycle.add_reader(study, user) for user in users]
