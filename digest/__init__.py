"""Supervisors' digests (daily, weekly) and after-action reports per incident.

    collect  store -> Digest (numbers vs previous day/week, top topics, decisions, replies,
             coverage gaps), through the Store's public API only, so both backends work
    charts   Digest -> PNG charts (matplotlib, with an installed CJK font; no tofu)
    render   Digest -> HTML (email-safe inline styles), Markdown, plain text, PDF (WeasyPrint)
    deliver  saved under <data_dir>/digests/, SMTP email (HTML + text, PDF attached), webhook
    report   one incident's after-action report (timeline, time metrics, drafts, approvals)

Exceptions (see `digest.errors`):

    DigestError
     ├── FontMissing
     ├── DigestNotFound
     ├── VocabError
     └── DeliveryError
"""

from __future__ import annotations

from digest.errors import DeliveryError, DigestError, DigestNotFound, FontMissing, VocabError

__all__ = ["DeliveryError", "DigestError", "DigestNotFound", "FontMissing", "VocabError"]
