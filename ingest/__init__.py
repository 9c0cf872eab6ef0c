"""Ingest stage: raw input (JSONL, ingest API, crawlers) -> validated, pseudonymized,
normalized `Post` records."""
