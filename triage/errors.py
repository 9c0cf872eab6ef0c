"""Errors of the triage package (incidents, playbooks, workflow, users, notifications).

TriageError                 base of everything below
├── PlaybookError           a playbook file is invalid; `.problems` names file, rule, field
├── TransitionError         a state change the workflow does not allow (names the allowed)
├── IncidentInputError      bad input for an incident (unknown posts, empty reason); `.field`
├── UserError               unknown or duplicate user, bad role, weak password; `.field`
└── AuthError               wrong credentials, bad/expired/revoked token, disabled user
"""

from __future__ import annotations

from dataclasses import dataclass


class TriageError(Exception):
    """Base of all triage errors."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a playbook: where (file, rule, field) and what."""

    file: str
    rule: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.rule:
            where.append(self.rule)
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{': '.join(where)}: {self.message}"


class PlaybookError(TriageError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        head = str(problems[0]) if problems else "invalid playbook"
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(head + more)


class TransitionError(TriageError):
    def __init__(
        self,
        incident_id: str,
        current: str,
        target: str,
        allowed: list[str],
        *,
        why: str | None = None,
    ) -> None:
        self.incident_id = incident_id
        self.current = current
        self.target = target
        self.allowed = allowed
        super().__init__(
            f"incident {incident_id!r} cannot go from {current!r} to {target!r}"
            + (f": {why}" if why else "")
            + f"; allowed: {', '.join(allowed) or 'none'}"
        )


class IncidentInputError(TriageError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UserError(TriageError):
    """`kind`: invalid (bad input), exists (duplicate), missing (no such user/token)."""

    def __init__(self, message: str, *, field: str | None = None, kind: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.kind = kind


class AuthError(TriageError):
    """Authentication failed. The message is safe to show (never says which part was wrong)."""
