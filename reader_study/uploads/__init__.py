"""Chunked, resumable browser uploads: sessions, files, chunks, then one ingest."""
