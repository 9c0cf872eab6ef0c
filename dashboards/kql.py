"""Contradictions between KQL expressions, for the build-time check of metric panels.

Lens ANDs a panel's query with each metric's filter, so a metric whose filter excludes every
document the panel query admits always shows 0 (`not dup_of : *` with `dup_of : *`,
`state : "closed"` with `state : "dismissed"`). This reads the simple KQL our dashboards use:
clauses `field : value`, `field : ("a" or "b")`, `field : *`, each optionally `not`, joined by
`and`. Anything else (`or` between clauses, ranges, wildcards in values, nesting) is left
alone: the check only reports what it can prove.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CLAUSE = re.compile(
    r"""^\s*(?P<neg>not\s+)?(?P<field>[A-Za-z_][\w.]*)\s*:\s*
        (?:(?P<star>\*)|\((?P<group>[^()]*)\)|(?P<value>"(?:[^"\\]|\\.)*"|[^\s()"*]+))\s*$""",
    re.X | re.I,
)
_AND = re.compile(r"\s+and\s+", re.I)
_OR = re.compile(r"\s+or\s+", re.I)


@dataclass(frozen=True)
class Clause:
    """`field` exists (values None) or equals one of `values`; `negated` flips it."""

    field: str
    values: frozenset[str] | None
    negated: bool

    def __str__(self) -> str:
        what = "*" if self.values is None else " or ".join(sorted(self.values))
        return f"{'not ' if self.negated else ''}{self.field} : {what}"


def _value(text: str) -> str | None:
    text = text.strip()
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return text[1:-1]
    return None if "*" in text or not text else text


def clauses(query: str) -> list[Clause] | None:
    """The `and`-joined clauses of `query`, or None if it is not that simple."""
    query = query.strip()
    if not query:
        return []
    out = []
    for part in _AND.split(query):
        m = _CLAUSE.match(part)
        if m is None:
            return None
        if m.group("star"):
            values = None
        else:
            raw = (
                _OR.split(m.group("group")) if m.group("group") is not None else [m.group("value")]
            )
            parsed = [_value(v) for v in raw]
            if any(v is None for v in parsed):
                return None
            values = frozenset(v for v in parsed if v is not None)
        out.append(Clause(m.group("field"), values, bool(m.group("neg"))))
    return out


def _disjoint(a: Clause, b: Clause) -> bool:
    """No document satisfies both clauses (same field)."""
    if a.field != b.field:
        return False
    if a.values is None and b.values is None:
        return a.negated != b.negated  # exists vs missing
    if a.values is None or b.values is None:
        star, other = (a, b) if a.values is None else (b, a)
        return star.negated and not other.negated  # missing vs equals a value
    if not a.negated and not b.negated:
        return not (a.values & b.values)
    if a.negated and b.negated:
        return False
    pos, neg = (a, b) if not a.negated else (b, a)
    assert pos.values is not None and neg.values is not None
    return pos.values <= neg.values


def contradiction(query: str, other: str) -> tuple[Clause, Clause] | None:
    """A clause of `query` and one of `other` that no document satisfies together, if the two
    expressions are simple enough to tell; None otherwise."""
    left, right = clauses(query), clauses(other)
    if left is None or right is None:
        return None
    for a in left:
        for b in right:
            if _disjoint(a, b):
                return a, b
    return None
