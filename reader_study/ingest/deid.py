"""De-identification on ingest: DICOM PS3.15 Annex E Basic Application Level Confidentiality
Profile, through the maintained `dicom-anonymizer` package (its Table E.1-1 actions).

Two things are ours, on top of the library:
- UIDs are remapped deterministically per case (`generate_uid` from the case key and the
  old UID), where the library would draw random UIDs into a process-wide dictionary. So the
  same series uploaded twice maps to the same UIDs and is recognised as a duplicate, two
  cases never share a UID, and nothing identifying is kept to do it.
- the researcher's case label becomes PatientName and PatientID, and the dataset states
  what was done (PatientIdentityRemoved, DeidentificationMethod and its code sequence).
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import version

from dicomanonymizer import simpledicomanonymizer as anonymizer
from django.utils.crypto import salted_hmac
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, generate_uid

from reader_study.ingest.elements import remove_private_tags, walk_tags

# DeidentificationMethod is LO (64 characters a value), so one statement per value.
METHOD = [
    "DICOM PS3.15 Annex E Basic Application Confidentiality Profile",
    f"dicom-anonymizer {version('dicom-anonymizer')}",
    "LDCT Reader Studio: UIDs remapped per case",
]
IMPLEMENTATION_VERSION = "LDCT_STUDIO_1"
# The UIDs the profile replaces (U) and sequences of references (X/Z/U*).
_UID_ACTIONS = {anonymizer.replace_UID, anonymizer.delete_or_empty_or_replace_UID}


class DeidentificationFailed(Exception):
    pass


def case_key(owner, study_uid: str, series_uid: str) -> str:
    """Keyed hash of who uploaded which source series: finds a re-upload, reveals nothing."""
    return salted_hmac("ldct.ingest.case", f"{owner.pk}:{study_uid}:{series_uid}").hexdigest()


def map_uid(case_key: str, old_uid: str) -> str:
    return generate_uid(entropy_srcs=[case_key, old_uid])


@cache
def _base_rules() -> dict:
    return anonymizer.initialize_actions()


def _matches(rule: tuple, tag: int) -> bool:
    group, element, group_mask, element_mask = rule
    return (tag >> 16) & group_mask == group & group_mask and (
        tag & 0xFFFF
    ) & element_mask == element & element_mask


def _rules(case_key: str, present: set[int]) -> dict:
    def replace_uid(dataset: Dataset, tag) -> None:
        element = dataset.get(tag)
        if element is None:
            return
        if element.VR == "UI":
            if isinstance(element.value, MultiValue):
                element.value = [map_uid(case_key, str(v)) for v in element.value]
            elif element.value:
                element.value = map_uid(case_key, str(element.value))
        else:
            anonymizer.empty_element(element)

    rules = {}
    for _, tag, action in _applicable(present):
        rules[tag] = replace_uid if action in _UID_ACTIONS else action
    return rules


def _applicable(present: set[int]) -> list[tuple[int, tuple, object]]:
    """The rules that can change anything, in the profile's order. Every action on an
    absent element is a no-op, so a rule is kept only when its element is present
    (anywhere: a superset of the top level that the library acts on). This keeps a few
    dozen of the profile's ~600 rules per file and the output unchanged: a repeating-group
    rule (curves 50xx, overlays 60xx) even walks the whole dataset once per rule."""
    single, meta, ranges = _indexed_rules()
    chosen = [*meta, *(single[tag] for tag in present if tag in single)]
    chosen += [r for r in ranges if any(_matches(r[1], tag) for tag in present)]
    return sorted(chosen, key=lambda r: r[0])


@cache
def _indexed_rules() -> tuple[dict[int, tuple], list[tuple], list[tuple]]:
    """The profile's rules as (position, rule, action): single tags by tag number, the file
    meta ones (group 0002, acted on in `file_meta`: always kept), the repeating groups."""
    single, meta, ranges = {}, [], []
    for position, (rule, action) in enumerate(_base_rules().items()):
        if len(rule) > 2:
            ranges.append((position, rule, action))
        elif rule[0] == 0x0002:
            meta.append((position, rule, action))
        else:
            single[rule[0] << 16 | rule[1]] = (position, rule, action)
    return single, meta, ranges


def _tags_present(ds: Dataset) -> set[int]:
    present: set[int] = set()
    walk_tags(ds, lambda _ds, tag: present.add(int(tag)))
    return present


def deidentify(ds: Dataset, *, case_key: str, label: str) -> None:
    """De-identifies `ds` in place; the file meta is rebuilt to match."""
    try:
        anonymizer.anonymize_dataset(
            ds,
            base_rules_gen=lambda: _rules(case_key, _tags_present(ds)),
            # The profile's rules keep no private tag, so the library's "delete them all,
            # restore those with a rule" is deleting them all; done here without decoding
            # every element (the library walks with Dataset.walk).
            delete_private_tags=False,
        )
        remove_private_tags(ds)
    except (NotImplementedError, ValueError, KeyError, TypeError) as exc:
        raise DeidentificationFailed(f"cannot de-identify: {exc}") from None
    ds.PatientName = label[:64]
    ds.PatientID = label[:64]
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    ds.DeidentificationMethodCodeSequence = Sequence(
        [_code("113100", "Basic Application Confidentiality Profile")]
    )
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    ds.file_meta = _file_meta(ds)
    # 128 free bytes no DICOM reader looks at: they may hold text about the patient, or
    # another format's header (HTML that a browser sniffing the file would run).
    ds.preamble = b"\0" * 128


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def _file_meta(ds: Dataset) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ds.file_meta.TransferSyntaxUID
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    return meta
