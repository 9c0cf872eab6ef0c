"""Sentence-level grounding: does every sentence cite a supplied source, and does every
number, date and place it states occur in the sources it cites?

    text ──split──> sentences (a trailing [n] belongs to the sentence before it)
         ──per sentence──> cited refs, facts (numbers, dates, places)
         ──compare──> problems: errors block submission and LLM rewrites, warnings are shown

Facts are compared by key, so 三例 matches 3例, 3万 matches 30000, 5月1日 matches
2024年5月1日, 今日 matches 今天, and 武汉市 matches 武汉. Places are found by jieba's place tag
(`ns`) and by name endings (市, 区, 医院, 广场...); a place counts as present when a source
contains it (or it without its administrative suffix). Tuning lists live in `grounding.yaml`.

- error `unknown_source`: cites [n] that is not a supplied source
- error `ungrounded`: a number, date or place absent from the cited sources
- error `uncited_fact`: a sentence states a number, date or place but cites nothing
- error `note`: an editor note (【待核实】...) is still in the text
- warning `uncited`: a sentence cites nothing (and is not a stock phrase or a light rewording
  of one that states no fact)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from analysis.text import normalize
from store.records import DraftSource
from triage.replies.facts import (
    MARKER,
    Fact,
    Rules,
    SourceFacts,
    default_rules,
    extract_facts,
    source_facts,
)

__all__ = [
    "MARKER",
    "Problem",
    "Report",
    "Sentence",
    "check_text",
    "extract_facts",
    "split_sentences",
    "strip_markers",
]

_TERMINALS = "。！？!?"
_CLOSERS = "”’」』）)》\"'"
_OPENING_QUOTES, _CLOSING_QUOTES = "“「『《", "”」』》"
_TRAILING_MARKER = re.compile(r"\s*\[\d{1,3}\]")
# Spaces before a marker, starting only where a space run starts (linear on long runs).
_SPACED_MARKER = re.compile(r"(?<![ \t])[ \t]*\[\d{1,3}\]")

# --------------------------------------------------------------------------------------------
# sentences
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    index: int
    text: str  # as written, markers included
    plain: str  # markers removed
    refs: tuple[int, ...]


def _cut(line: str, *, quotes: bool) -> tuple[list[str], bool]:
    """Pieces of one line, and whether its quotes were balanced."""
    pieces: list[str] = []
    start, i, depth = 0, 0, 0
    while i < len(line):
        if quotes and line[i] in _OPENING_QUOTES:
            depth += 1
        elif quotes and line[i] in _CLOSING_QUOTES:
            depth = max(0, depth - 1)
        elif line[i] in _TERMINALS and depth == 0:
            j = i + 1
            while j < len(line) and line[j] in _CLOSERS + _TERMINALS:
                j += 1
            while m := _TRAILING_MARKER.match(line, j):
                j = m.end()
            pieces.append(line[start:j])
            start, i = j, j
            continue
        i += 1
    pieces.append(line[start:])
    return pieces, depth == 0


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of `text`: cut after 。！？ outside “quotes” and 《titles》 (taking closing
    brackets and the [n] markers that follow) and at line breaks; empty pieces are dropped.
    A line with unbalanced quotes is cut at every 。！？, so no sentence hides in a quote."""
    pieces: list[str] = []
    for line in text.replace("\r", "").split("\n"):
        cut, balanced = _cut(line, quotes=True)
        pieces.extend(cut if balanced else _cut(line, quotes=False)[0])
    sentences: list[Sentence] = []
    for piece in pieces:
        if not piece.strip():
            continue
        plain = MARKER.sub("", piece).strip()
        if not plain and sentences:  # markers alone on a line: they belong to the sentence before
            prev = sentences[-1]
            refs = prev.refs + tuple(int(m) for m in MARKER.findall(piece))
            sentences[-1] = Sentence(prev.index, prev.text + piece, prev.plain, refs)
            continue
        refs = tuple(int(m) for m in MARKER.findall(piece))
        sentences.append(Sentence(len(sentences) + 1, piece.strip(), plain, refs))
    return sentences


def strip_markers(text: str) -> str:
    """The text without citation markers (what gets published)."""
    return _SPACED_MARKER.sub("", text)


# --------------------------------------------------------------------------------------------
# the check
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    sentence: int  # 0 = the title
    text: str
    kind: Literal["unknown_source", "ungrounded", "uncited_fact", "note", "uncited"]
    severity: Literal["error", "warning"]
    message: str

    def __str__(self) -> str:
        where = "title" if self.sentence == 0 else f"sentence {self.sentence}"
        short = self.text if len(self.text) <= 40 else self.text[:39] + "…"
        return f"{where} «{short}»: {self.message}"


@dataclass
class Report:
    sentences: list[Sentence] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def cited(self) -> set[int]:
        return {ref for s in self.sentences for ref in s.refs}

    def messages(self, *, errors_only: bool = False) -> list[str]:
        return [str(p) for p in (self.errors if errors_only else self.problems)]


def _present(fact: Fact, facts: Iterable[SourceFacts]) -> bool:
    for src in facts:
        if fact.kind == "place":
            if any(normalize(key) in src.text for key in fact.keys):
                return True
        elif any(key in src.keys for key in fact.keys):
            return True
    return False


def _describe(fact: Fact) -> str:
    return {"number": "number", "date": "date", "place": "place"}[fact.kind] + f" «{fact.text}»"


def check_text(
    title: str, text: str, sources: Sequence[DraftSource], *, rules: Rules | None = None
) -> Report:
    """Grounding report of a draft's title and text against its sources."""
    rules = rules or default_rules()
    by_ref = {s.ref: s for s in sources}
    facts_of = {s.ref: source_facts(s, rules) for s in sources}
    report = Report(sentences=split_sentences(text))
    for fact in extract_facts(title, rules):
        if not _present(fact, facts_of.values()):
            report.problems.append(
                Problem(0, title, "ungrounded", "error", f"{_describe(fact)} is in no source")
            )
    for sentence in report.sentences:

        def add(kind: Any, severity: Any, message: str, s: Sentence = sentence) -> None:
            report.problems.append(Problem(s.index, s.plain, kind, severity, message))

        if any(sentence.plain.startswith(note) for note in rules.notes):
            add("note", "error", "editor note: resolve it and delete the line before review")
            continue
        unknown = sorted({r for r in sentence.refs if r not in by_ref})
        if unknown:
            known = ", ".join(f"[{r}]" for r in sorted(by_ref)) or "none"
            add(
                "unknown_source",
                "error",
                f"cites {', '.join(f'[{r}]' for r in unknown)}, not a source (sources: {known})",
            )
        facts = extract_facts(sentence.plain, rules)
        cited = [facts_of[r] for r in sentence.refs if r in by_ref]
        if not sentence.refs:
            if rules.is_stock(sentence.plain, exact=bool(facts)):
                continue
            if facts:
                listed = ", ".join(_describe(f) for f in facts[:3])
                add("uncited_fact", "error", f"states {listed} but cites no source")
            else:
                add("uncited", "warning", "cites no source")
            continue
        for fact in facts:
            if not _present(fact, cited):
                refs = "".join(f"[{r}]" for r in sentence.refs)
                add("ungrounded", "error", f"{_describe(fact)} is not in the cited {refs}")
    return report
