"""Deletes abandoned uploads: open sessions untouched for a while, and their chunks.

An upload that was never finished keeps its chunks in storage so it can resume;
run this from cron (e.g. daily) so forgotten ones do not fill the disk.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from reader_study.models import UploadSession
from reader_study.uploads.chunks import discard_session


class Command(BaseCommand):
    help = "Delete unfinished uploads not touched for --hours (default 72) and their chunks."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--hours", type=int, default=72)

    def handle(self, *args, **options) -> None:
        cutoff = timezone.now() - timedelta(hours=options["hours"])
        stale = UploadSession.objects.filter(
            status=UploadSession.Status.OPEN, updated_at__lt=cutoff
        )
        count = 0
        for session in stale:
            discard_session(session)
            session.delete()
            count += 1
        self.stdout.write(f"deleted {count} abandoned upload(s) older than {options['hours']} h")
