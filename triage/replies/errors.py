"""Errors of the replies package (drafts, templates, grounding, approval, LLM rewriting).

ReplyError                  base of everything below
├── TemplateError           a reply template is missing or broken; `.problems` names the
│                           template, line and variable (raised at `playbook check` time)
├── DraftStateError         the action is not allowed in the draft's (or incident's) state;
│                           names the state and what is allowed (API: 409)
├── FourEyesError           the approver edited a revision of the draft (API: 403)
├── GroundingError          sentences without a supplied source, facts (numbers, places,
│                           dates) absent from the cited sources, or editor notes left in;
│                           `.problems` lists them by sentence (API: 409)
├── DraftInputError         bad input (empty text, unknown export format); `.field`
└── LlmUnavailable          rewriting is not configured (API: 409). A failed or rejected
                            rewrite is not an error: the draft stands with the reason.
"""

from __future__ import annotations


class ReplyError(Exception):
    """Base of all reply errors."""


class TemplateError(ReplyError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        head = problems[0] if problems else "invalid reply template"
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(head + more)


class DraftStateError(ReplyError):
    def __init__(self, message: str, *, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state


class FourEyesError(ReplyError):
    """Four-eyes principle: whoever edited any revision of a draft cannot approve it."""


class GroundingError(ReplyError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        head = problems[0] if problems else "the text is not grounded in its sources"
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(head + more)


class DraftInputError(ReplyError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class LlmUnavailable(ReplyError):
    """No LLM endpoint is configured (TINGFENG_LLM_URL / TINGFENG_LLM_MODEL)."""
