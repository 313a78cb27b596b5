"""After the load run: every answer the server acknowledged is in the database, once.

    .venv/bin/python benchmarks/trust/load/check.py --answers OUT/answers.json [--json OUT]

Reads the answer sets locust sent, in order, each marked acknowledged or not, and compares
them with the Score rows and presentations of the deployment its environment names:

- lost: a question (presentation, side, criterion) whose answer was acknowledged has no
  row, or a preference acknowledged is not stored, or an acknowledged submit left the
  presentation unanswered;
- duplicated: more than one row for one question;
- wrong: a row whose value is neither the last acknowledged answer nor one sent after it
  (a request whose answer never came back may still have landed);
- stray: a row for a question locust never answered.

Uploads: every ingest answered 201 made exactly one case with one original series.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ldct_web.settings")

import django  # noqa: E402

django.setup()

from django.db.models import Count  # noqa: E402

from reader_study.models import Case, Presentation, Score, Series, UploadSession  # noqa: E402


def check_answers(log: list[dict]) -> dict:
    by_token: dict[str, list[dict]] = defaultdict(list)
    for entry in log:
        if entry["kind"] in ("answers", "submit"):
            by_token[entry["token"]].append(entry)
    presentations = Presentation.objects.in_bulk(list(by_token), field_name="token")
    rows = defaultdict(list)
    for score in Score.objects.filter(presentation__token__in=list(by_token)).values(
        "presentation__token", "side", "criterion__key", "value"
    ):
        key = (score["side"], score["criterion__key"])
        rows[score["presentation__token"]].append((key, score["value"]))
    out = Counter(lost=0, duplicated=0, wrong=0, stray=0)
    problems: list[str] = []
    for token, entries in by_token.items():
        presentation = presentations[token]
        answers = [e for e in entries if e["kind"] == "answers"]
        acked = [n for n, e in enumerate(answers) if e["acked"]]
        last = acked[-1] if acked else -1
        # What each question may hold: the last acknowledged value, or a later one sent.
        allowed: dict[tuple, set] = defaultdict(set)
        must: set[tuple] = set()
        for n, entry in enumerate(answers):
            for s in entry["body"]["scores"]:
                key = (s["side"], s["criterion"])
                if n >= last:
                    allowed[key].add(s["value"])
                if entry["acked"]:
                    must.add(key)
        stored = Counter(key for key, _ in rows[token])
        values = dict(rows[token])
        out["questions_acknowledged"] += len(must)
        out["answer_sets_acknowledged"] += len(acked)
        out["answer_sets_unacknowledged"] += len(answers) - len(acked)
        for key in must:
            if key not in stored:
                out["lost"] += 1
                problems.append(f"lost: {token} {key}")
        for key, count in stored.items():
            if count > 1:
                out["duplicated"] += count - 1
                problems.append(f"duplicated: {token} {key} x{count}")
            if key not in allowed:
                out["stray"] += 1
                problems.append(f"stray: {token} {key}")
            elif values[key] not in allowed[key]:
                out["wrong"] += 1
                problems.append(f"wrong: {token} {key}={values[key]}, sent {allowed[key]}")
        if last >= 0:
            # None leaves the stored preference as it was: the last one given before.
            given = [e["body"]["preference"] for e in answers[:last] if e["body"]["preference"]]
            before = given[-1] if given else ""
            sent = {e["body"]["preference"] or before for e in answers[last:]}
            if presentation.preference not in sent:
                out["lost"] += 1
                problems.append(f"preference lost: {token} {presentation.preference!r} {sent}")
        for entry in entries:
            if entry["kind"] == "submit" and entry["acked"]:
                out["submits_acknowledged"] += 1
                if presentation.answered_at is None:
                    out["lost"] += 1
                    problems.append(f"submit lost: {token}")
        out["score_rows"] += sum(stored.values())
    untouched = Score.objects.exclude(presentation__token__in=list(by_token)).count()
    out["stray"] += untouched
    out["presentations"] = len(by_token)
    return {**{k: out[k] for k in sorted(out)}, "problems": problems[:50]}


def check_uploads(log: list[dict]) -> dict:
    uploads = [e for e in log if e["kind"] == "upload"]
    created = [e for e in uploads if e["status"] == 201]
    sessions = UploadSession.objects.filter(public_id__in=[e["session"] for e in created])
    case_ids = [s.case_id for s in sessions]
    originals = Counter(
        Series.objects.filter(case_id__in=case_ids, kind=Series.Kind.ORIGINAL).values_list(
            "case_id", flat=True
        )
    )
    bad = [c for c in case_ids if originals[c] != 1]
    per_uploader = (
        Case.objects.filter(owner__username__startswith="load-uploader-")
        .values("owner__username", "label")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    return {
        "ingests": len(uploads),
        "ingests_201": len(created),
        "statuses": dict(Counter(str(e["status"]) for e in uploads)),
        "cases_made": len(set(case_ids)),
        "cases_without_one_original_series": len(bad),
        "duplicate_case_labels": len(per_uploader),
        "seconds_per_upload": sorted(e["seconds"] for e in created),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--json", type=Path, help="write the result here too")
    args = parser.parse_args()
    log = json.loads(args.answers.read_text())
    result = {"answers": check_answers(log), "uploads": check_uploads(log)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    answers = result["answers"]
    ok = (
        answers["lost"] == answers["duplicated"] == answers["wrong"] == answers["stray"] == 0
        and result["uploads"]["cases_without_one_original_series"] == 0
        and result["uploads"]["duplicate_case_labels"] == 0
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
