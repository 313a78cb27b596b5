"""Signals between the concerns of the app, so ingest never imports the job code.

case_ready: sent by ingest, inside the transaction, when a case's original series
has been stored completely (sender=Case, case=the Case). Receivers that enqueue
work must use transaction.on_commit so a rolled-back ingest never starts a job.
"""

from django.dispatch import Signal

case_ready = Signal()
