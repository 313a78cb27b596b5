"""From accepted files to one series: dedupe, pick the series, check it hangs together, sort.

Slices are ordered by their position along the slice normal (ImagePositionPatient
projected on row x column direction of ImageOrientationPatient), never by
InstanceNumber alone; InstanceNumber only breaks ties or stands in when the
headers carry no geometry (with a warning).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from reader_study.ingest.report import DUPLICATE, REJECTED, SKIPPED, FileResult, refuse
from reader_study.ingest.validate import Checked

SAME_POSITION_MM = 0.01
GAP_FACTOR = 1.5


@dataclass
class SeriesPlan:
    """The files that will form the case's series, in reading order, and what was said."""

    series_instance_uid: str
    files: list[Checked]
    slice_positions: list[float | None]
    results: list[FileResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def plan(checked: list[Checked], chosen_series: str | None = None) -> SeriesPlan:
    results: list[FileResult] = []
    unique = _dedupe(checked, results)
    groups: dict[str, list[Checked]] = defaultdict(list)
    for item in unique:
        groups[item.series_instance_uid].append(item)
    series_uid = _choose_series(groups, chosen_series, results)
    members = _consistent(groups[series_uid], results)
    ordered, positions, warnings = _sort(members)
    warnings += _spacing_warnings(ordered, positions)
    return SeriesPlan(series_uid, ordered, positions, results, warnings)


def _dedupe(checked: list[Checked], results: list[FileResult]) -> list[Checked]:
    first_by_uid: dict[str, Checked] = {}
    unique = []
    for item in checked:
        earlier = first_by_uid.get(item.sop_instance_uid)
        if earlier is not None:
            results.append(
                FileResult(
                    item.source.name,
                    DUPLICATE,
                    f"same SOPInstanceUID as {earlier.source.name}; stored once",
                )
            )
            continue
        first_by_uid[item.sop_instance_uid] = item
        unique.append(item)
    return unique


def series_choices(groups: dict[str, list[Checked]]) -> list[dict]:
    return [
        {
            "series_instance_uid": uid,
            "description": items[0].series_description,
            "files": len(items),
            "size": f"{items[0].rows}x{items[0].columns}",
        }
        for uid, items in sorted(groups.items(), key=lambda kv: -len(kv[1]))
    ]


def _choose_series(groups, chosen: str | None, results: list[FileResult]) -> str:
    if chosen:
        if chosen not in groups:
            raise refuse(
                422,
                f"series {chosen} is not among the accepted files of this upload",
                results,
                series_choices=series_choices(groups),
            )
    elif len(groups) > 1:
        listed = "; ".join(
            f"{c['description'] or 'no description'} ({c['files']} files, {c['size']})"
            for c in series_choices(groups)
        )
        raise refuse(
            422,
            f"{len(groups)} series in one upload where one is expected: {listed}. "
            "Choose the series to ingest, or upload each series as its own case.",
            results,
            series_choices=series_choices(groups),
        )
    else:
        chosen = next(iter(groups))
    for uid, items in groups.items():
        if uid != chosen:
            results.extend(
                FileResult(i.source.name, SKIPPED, "belongs to another series than the chosen one")
                for i in items
            )
    return chosen


def _consistent(items: list[Checked], results: list[FileResult]) -> list[Checked]:
    """Keeps the files that agree with the series' majority study, size and orientation."""
    study = Counter(i.study_instance_uid for i in items).most_common(1)[0][0]
    size = Counter((i.rows, i.columns) for i in items).most_common(1)[0][0]
    orientation = Counter(_rounded(i.orientation) for i in items).most_common(1)[0][0]
    kept = []
    for item in items:
        if (item.rows, item.columns) != size:
            reason = (
                f"image size {item.rows}x{item.columns} differs from the series' "
                f"{size[0]}x{size[1]}"
            )
        elif _rounded(item.orientation) != orientation:
            reason = "ImageOrientationPatient differs from the rest of the series"
        elif item.study_instance_uid != study:
            # A series belongs to one study (DICOM information model); the case key
            # and the de-identified UIDs derive from it.
            reason = "StudyInstanceUID differs from the rest of the series"
        else:
            kept.append(item)
            continue
        results.append(FileResult(item.source.name, REJECTED, reason, 0xA900))
    return kept


def _rounded(orientation):
    return None if orientation is None else tuple(round(v, 3) for v in orientation)


def _normal(items: list[Checked]) -> np.ndarray | None:
    orientation = items[0].orientation if items else None
    if orientation is None:
        return None
    normal = np.cross(np.array(orientation[:3]), np.array(orientation[3:]))
    length = np.linalg.norm(normal)
    return normal / length if length > 0 else None


def _sort(items: list[Checked]):
    normal = _normal(items)
    if normal is None or any(not i.positions for i in items):
        items = sorted(items, key=lambda i: (i.instance_number is None, i.instance_number or 0))
        warning = (
            "some files have no ImagePositionPatient/ImageOrientationPatient: slices are ordered "
            "by InstanceNumber"
        )
        return items, [None] * len(items), [warning] if items else []

    def key(item: Checked):
        return float(np.dot(item.positions[0], normal)), item.instance_number or 0

    ordered = sorted(items, key=key)
    return ordered, [key(i)[0] for i in ordered], []


def frame_positions(ordered: list[Checked]) -> list[tuple[float, str]]:
    normal = _normal(ordered)
    out = []
    for item in ordered:
        out.extend((float(np.dot(p, normal)), item.source.name) for p in item.positions)
    return sorted(out)


def _spacing_warnings(ordered: list[Checked], positions: list[float | None]) -> list[str]:
    if not ordered or positions[0] is None:
        return []
    points = frame_positions(ordered)
    if len(points) < 3:
        return []
    steps = np.diff([p for p, _ in points])
    warnings = []
    for (z0, name0), (_, name1), step in zip(points, points[1:], steps, strict=False):
        if step < SAME_POSITION_MM:
            warnings.append(
                f"{name0} and {name1} are at the same slice position ({z0:.2f} mm): "
                "a duplicated slice?"
            )
    moving = steps[steps >= SAME_POSITION_MM]
    if not len(moving):
        return warnings
    spacing = float(np.median(moving))
    for (z0, name0), (z1, name1), step in zip(points, points[1:], steps, strict=False):
        if step > GAP_FACTOR * spacing:
            missing = round(step / spacing) - 1
            warnings.append(
                f"gap of {step:.2f} mm between {name0} ({z0:.2f} mm) and {name1} ({z1:.2f} mm) "
                f"where the slice spacing is {spacing:.2f} mm: about {missing} slice(s) missing"
            )
    return warnings
