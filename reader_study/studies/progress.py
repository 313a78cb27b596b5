"""The progress dashboard: per reader and per case, from the stored presentations."""

from __future__ import annotations

import statistics
from collections import defaultdict

from django.db.models import Max

from reader_study.models import ReaderStudy


def progress(study: ReaderStudy) -> dict:
    readers = []
    presentations = list(
        study.presentations.select_related("reader__user", "study_case__case").order_by(
            "reader__index", "session", "position"
        )
    )
    by_reader = defaultdict(list)
    for p in presentations:
        by_reader[p.reader_id].append(p)
    for member in study.readers.select_related("user").order_by("index"):
        rows = by_reader.get(member.pk, [])
        answered = [p for p in rows if p.answered_at is not None]
        seconds = [p.seconds for p in answered]
        last = max((p.updated_at for p in rows if p.updated_at), default=None)
        readers.append(
            {
                "pseudonym": member.pseudonym,
                "username": member.user.username,
                "done": len(answered),
                "total": len(rows),
                "median_seconds": round(statistics.median(seconds), 1) if seconds else None,
                "total_seconds": round(sum(seconds), 1),
                "last_activity": last,
                "started": any(p.started_at for p in rows),
            }
        )
    cases = []
    reader_count = study.readers.count()
    done_per_case = defaultdict(set)
    for p in presentations:
        if p.answered_at is not None and p.session == 1:
            done_per_case[p.study_case_id].add(p.reader_id)
    for entry in study.study_cases.select_related("case").order_by("position"):
        cases.append(
            {
                "case": entry.case.label,
                "is_training": entry.is_training,
                "readers_done": len(done_per_case.get(entry.pk, ())),
                "readers": reader_count,
            }
        )
    return {
        "state": study.state,
        "done": sum(r["done"] for r in readers),
        "total": sum(r["total"] for r in readers),
        "readers": readers,
        "cases": cases,
        "last_activity": study.presentations.aggregate(last=Max("updated_at"))["last"],
    }
