"""Template checks for `tingfeng playbook check`: a broken reply template fails in review,
never at 3 a.m. during an incident.

Each named template must be in the catalog, have its file, parse, use only the variables
compose provides (`TEMPLATE_VARIABLES`), and render every sample case into a title plus
sentences that each cite a source (or are stock phrases from `grounding.yaml`). Rendering
uses `StrictUndefined`, so an unknown attribute fails too, with the template line.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2.meta

from store.records import Claim, ClaimMatch, DraftSource, Incident, NlpBlock, Post
from triage.replies.compose import TEMPLATE_VARIABLES, compose
from triage.replies.errors import TemplateError
from triage.replies.grounding import check_text
from triage.replies.templating import TemplateSet, bundled_templates

if TYPE_CHECKING:
    from triage.errors import Problem
    from triage.playbook import Playbook


_T = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)


def _sample_post(n: int, text: str, match: str | None = None) -> Post:
    cm = ClaimMatch(claim_id=match, score=0.9, level="confirm") if match else None
    return Post(
        id=f"sample-post-{n}",
        source="sample",
        platform="weibo",
        text=text,
        text_norm=text,
        tokens=text,
        segmenter="sample",
        created_at=_T,
        fetched_at=_T,
        nlp=NlpBlock(claim_match=cm),
    )


def _sample_claim(verdict: str, answer: str | None) -> Claim:
    return Claim(
        id=f"sample-claim-{verdict}",
        claim="明天起全市封城",
        claim_tokens="明天 封城",
        answer=answer,
        verdict=verdict,
        source_name="示例市卫健委",
        source_url="https://example.gov.cn/notice/1",
        origin="sample",
    )


def sample_cases() -> list[tuple[str, dict[str, Any]]]:
    """Sample inputs every template must render cleanly (all branches of the bundled ones)."""
    incident = Incident(
        id="sample-incident",
        title="网传明天起全市封城",
        category="rumor",
        severity=2,
        jurisdiction="4201",
        jurisdiction_name="武汉市",
        team="rumor-desk",
        post_count=2,
        created_at=_T,
        updated_at=_T,
    )
    posts = [
        _sample_post(1, "听说明天起全市封城，超市都要关门了！", "sample-claim-false"),
        _sample_post(2, "求助：江岸区某小区老人急需药品，联系不上社区"),
    ]
    officer = DraftSource(
        ref=1,
        kind="officer",
        id="sample-officer",
        name="示例市政府",
        text="全市不会封城，生活物资供应充足。",
        authoritative=True,
        verdict="false",
    )
    bare = incident.model_copy(update={"jurisdiction": None, "jurisdiction_name": None})
    return [
        (
            "a matched debunk",
            {
                "incident": incident,
                "posts": posts,
                "claims": [_sample_claim("false", "全市不会封城。超市正常营业。")],
            },
        ),
        (
            "no debunk, an unverified claim",
            {"incident": incident, "posts": posts, "claims": [_sample_claim("unverified", None)]},
        ),
        (
            "an officer statement",
            {"incident": incident, "posts": posts[:1], "claims": [], "officer_sources": [officer]},
        ),
        ("no posts, no claims", {"incident": bare, "posts": [], "claims": []}),
    ]


def check_templates(
    names: Iterable[str] | None = None, *, directory: Path | None = None
) -> list[str]:
    """Check reply templates before an incident needs them: each named one must exist, parse,
    use only known variables, and render every sample case into a title plus sentences that
    all cite a source (or are stock phrases). Raises TemplateError listing every problem;
    returns the names checked."""
    templates = TemplateSet(directory) if directory else bundled_templates()
    wanted = sorted(set(names)) if names is not None else templates.names()
    problems: list[str] = []
    for name in wanted:
        try:
            template_ast = templates.env.parse(templates.source(name))
            unknown = sorted(
                jinja2.meta.find_undeclared_variables(template_ast) - TEMPLATE_VARIABLES
            )
            templates.load(name)
        except TemplateError as exc:
            problems.extend(exc.problems)
            continue
        except jinja2.TemplateSyntaxError as exc:
            problems.append(
                f"{templates.directory / templates.file(name)} line {exc.lineno}: {exc.message}"
            )
            continue
        for var in unknown:
            problems.append(
                f"{templates.directory / templates.file(name)}: unknown variable '{var}' "
                f"(known: {', '.join(sorted(TEMPLATE_VARIABLES))})"
            )
        if unknown:
            continue
        for label, case in sample_cases():
            try:
                draft = compose(
                    name,
                    office="示例市新闻办",
                    team_name="网信办辟谣组",
                    templates=templates,
                    **case,
                )
            except TemplateError as exc:
                problems.extend(f"{p} (sample: {label})" for p in exc.problems)
                continue
            report = check_text(draft.title, draft.text, draft.sources)
            for problem in report.problems:
                if problem.kind != "note":
                    problems.append(
                        f"{templates.directory / templates.file(name)}: sample '{label}': {problem}"
                    )
    if problems:
        raise TemplateError(problems)
    return wanted


def check_playbook_templates(book: Playbook, *, directory: Path | None = None) -> list[Problem]:
    """Problems of the reply templates a playbook's routes name, as playbook problems (file,
    route, field `reply_template`); empty when every one checks out."""
    from triage.errors import Problem

    problems: list[Problem] = []
    checked: dict[str, list[str]] = {}
    for index, route in enumerate(book.routes):
        name = route.reply_template
        if name is None:
            continue
        if name not in checked:
            try:
                check_templates([name], directory=directory)
                checked[name] = []
            except TemplateError as exc:
                checked[name] = exc.problems
        for message in checked[name]:
            problems.append(
                Problem(
                    book.source or "<playbook>",
                    f"routes[{index}] '{route.id}'",
                    "reply_template",
                    message,
                )
            )
    return problems
