"""Case ingestion: DICOM files in, one de-identified Case out, or a clear refusal.

One entry point, `service.ingest`, serves the upload page, STOW-RS and the demo
seed alike, so every way in gets the same checks. The steps are modules named
for their concern: zips (hostile archives), validate (one file), grouping (one
series, sorted along the slice normal, consistency), deid (PS3.15 Annex E),
storage (Django storage, checksums, cleanup on rollback), facts (what the case
page shows).
"""
