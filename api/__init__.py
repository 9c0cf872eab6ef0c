"""HTTP API (FastAPI): ingest, search, topics, incidents, drafts, digests. Versioned `/api/v1`."""
