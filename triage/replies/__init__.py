"""Replies: grounded official-reply drafts, 4-eyes approval, publishing and effect tracking.

    incident (playbook names the template)
      -> compose: Jinja2 template + evidence posts + matched debunks -> Draft, every factual
         sentence citing a source as [n]; no authoritative source -> an "evidence needed" draft
      -> drafts: edits with optimistic concurrency, every revision kept; optional LLM rewrite
         (llm), accepted only if grounding still holds
      -> approval: submit -> approve / reject (approver edited no revision) -> publish (channel,
         final text, approver, time; exports) -> knowledge-base entry (origin "office")
      -> effect: matching-post volume, half-life and emotion before/after; propose closing or
         re-escalate

Incident state changes go through `triage.workflow` (audited there); draft actions write their
own audit events (entity_type "draft").
"""
