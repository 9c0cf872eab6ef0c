"""Playbooks as data: which signals open an incident, how severity is weighed, which team owns
it on which clock, who it escalates to and which reply template applies.

A playbook is a YAML file reviewed like code (see `triage/playbooks/default.yaml` and
`triage/README.md`). `load_playbook` validates the whole file and raises `PlaybookError` with
every problem named by file, rule and field, so a typo fails `tingfeng playbook check` in
review, never at 3 a.m. during an incident.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from triage.errors import PlaybookError, Problem

CATEGORIES = (
    "rumor",
    "help_request",
    "public_demand",
    "public_order",
    "supplies_logistics",
    "other",
)
Category = Literal[
    "rumor", "help_request", "public_demand", "public_order", "supplies_logistics", "other"
]
COMPONENTS = ("reach", "velocity", "rumor", "match", "emotion", "help", "region")
# The reply templates the response stage (drafts) provides; `check` accepts others if given.
REPLY_TEMPLATES = frozenset({"rumor_rebuttal", "situation_notice", "holding_line", "help_response"})

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


def parse_duration(value: Any) -> timedelta:
    """`90s`, `15m`, `2h`, `1.5d` -> timedelta (must be positive)."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a positive duration like 90s, 15m, 2h or 1d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Labels(_Strict):
    """Which NLP labels count as what (the classifiers' label names)."""

    rumor: list[str] = ["rumor"]
    help: list[str] = ["help_request"]
    demand: list[str] = ["public_demand"]
    negative_emotions: list[str] = ["fear", "angry"]


class Team(_Strict):
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1, max_length=100)
    email: list[str] = Field(default_factory=list, description="addresses that get emails")
    webhook: bool = Field(True, description="notify the team's (or the default) robot webhook")

    @model_validator(mode="after")
    def _check(self) -> Any:
        for address in self.email:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
                raise ValueError(f"email {address!r} is not an address")
        return self


class When(_Strict):
    """Conditions of a signal; all given ones must hold."""

    posts_min: int | None = Field(None, ge=1)
    rumor_share_min: float | None = Field(None, gt=0, le=1)
    claim_confirmed_min: int | None = Field(None, ge=1)
    claim_suggested_min: int | None = Field(None, ge=1)
    help_min: int | None = Field(None, ge=1)
    demand_min: int | None = Field(None, ge=1)
    negative_share_min: float | None = Field(None, gt=0, le=1)
    burst_score_min: float | None = Field(None, gt=0)
    keywords_any: list[str] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Any:
        if not any(v is not None for v in self.__dict__.values()):
            raise ValueError("needs at least one condition")
        return self


class Signal(_Strict):
    id: str = Field(pattern=_ID)
    category: Category
    when: When


class AlertRule(_Strict):
    id: str = Field(pattern=_ID)
    kinds: list[str] = Field(min_length=1, description="alert kinds, e.g. coverage_gap")
    category: Category
    severity: int = Field(ge=1, le=4)


class Severity(_Strict):
    """Weights of the components, thresholds on the weighted score and saturation points."""

    weights: dict[str, float]
    levels: dict[int, float] = Field(description="severity -> minimum score, e.g. {1: 0.75}")
    reach_posts_full: int = Field(200, ge=1, description="posts (plus reposts/10) for reach 1.0")
    velocity_ratio_full: float = Field(10.0, gt=1, description="burst ratio for velocity 1.0")
    help_full: int = Field(
        10, ge=1, description="help requests (+ public demands / 2) for help urgency 1.0"
    )
    priority_regions: dict[str, float] = Field(
        default_factory=dict, description="admin-code prefix -> region weight 0-1"
    )
    region_default: float = Field(0.3, ge=0, le=1)
    weights_by_category: dict[Category, dict[str, float]] = Field(
        default_factory=dict, description="category -> weights replacing `weights`"
    )

    @field_validator("weights")
    @classmethod
    def _weights(cls, weights: dict[str, float]) -> dict[str, float]:
        return _check_weights(weights)

    @field_validator("weights_by_category")
    @classmethod
    def _category_weights(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for category, weights in value.items():
            try:
                _check_weights(weights)
            except ValueError as exc:
                raise ValueError(f"{category}: {exc}") from None
        return value

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: dict[int, float]) -> dict[int, float]:
        if sorted(levels) != [1, 2, 3]:
            raise ValueError("must give the minimum score of severities 1, 2 and 3")
        if not levels[1] > levels[2] > levels[3] > 0:
            raise ValueError("must fall from severity 1 to 3 and stay above 0")
        return levels


def _check_weights(weights: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(weights) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown components {unknown}; known: {list(COMPONENTS)}")
    if any(w < 0 for w in weights.values()) or not sum(weights.values()):
        raise ValueError("weights must be >= 0 and not all zero")
    return weights


class Sla(_Strict):
    acknowledge: Duration
    first_response: Duration
    resolution: Duration

    @model_validator(mode="after")
    def _check(self) -> Any:
        if not self.acknowledge <= self.first_response <= self.resolution:
            raise ValueError("needs acknowledge <= first_response <= resolution")
        return self


class Match(_Strict):
    categories: list[Category] | None = Field(None, min_length=1)
    jurisdictions: list[str] | None = Field(None, min_length=1, description="code prefixes")
    severities: list[Annotated[int, Field(ge=1, le=4)]] | None = Field(None, min_length=1)
    rules: list[str] | None = Field(None, min_length=1, description="signal or alert rule ids")


class Route(_Strict):
    id: str = Field(pattern=_ID)
    match: Match = Field(default_factory=Match)
    team: str
    sla: Sla
    escalation: list[str] = Field(default_factory=list, description="teams, level 1 first")
    reply_template: str | None = None

    def matches(
        self, category: str, jurisdiction: str | None, severity: int, rules: list[str]
    ) -> bool:
        m = self.match
        if m.rules is not None and not set(m.rules) & set(rules):
            return False
        if m.categories is not None and category not in m.categories:
            return False
        if m.severities is not None and severity not in m.severities:
            return False
        if m.jurisdictions is not None:
            return jurisdiction is not None and any(
                jurisdiction.startswith(p) for p in m.jurisdictions
            )
        return True


class Playbook(_Strict):
    version: Literal[1]
    name: str
    description: str = ""
    labels: Labels = Field(default_factory=Labels)
    signals: list[Signal] = Field(min_length=1)
    alerts: list[AlertRule] = Field(default_factory=list)
    severity: Severity
    teams: list[Team] = Field(min_length=1)
    routes: list[Route] = Field(min_length=1)
    source: str = Field("", exclude=True, description="file it was loaded from")

    def team(self, team_id: str) -> Team:
        for team in self.teams:
            if team.id == team_id:
                return team
        raise KeyError(team_id)

    def route(
        self, category: str, jurisdiction: str | None, severity: int, rules: list[str]
    ) -> Route:
        """The first route whose conditions hold (validation ensures a catch-all exists)."""
        for route in self.routes:
            if route.matches(category, jurisdiction, severity, rules):
                return route
        return self.routes[-1]

    def alert_rule(self, kind: str) -> AlertRule | None:
        return next((a for a in self.alerts if kind in a.kinds), None)


# --------------------------------------------------------------------------------------------
# loading and validation
# --------------------------------------------------------------------------------------------


def _item_name(data: Any, loc: tuple[Any, ...]) -> tuple[str | None, tuple[Any, ...]]:
    """`signals[2] 'rumor-share'` for a location inside a list of rules, and the rest of loc."""
    if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(data, dict):
        items = data.get(loc[0])
        rule = f"{loc[0]}[{loc[1]}]"
        if isinstance(items, list) and loc[1] < len(items) and isinstance(items[loc[1]], dict):
            ident = items[loc[1]].get("id")
            if ident is not None:
                rule += f" '{ident}'"
        return rule, loc[2:]
    if loc and loc[0] in ("severity", "labels"):
        return str(loc[0]), loc[1:]
    return None, loc


def _field_path(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if not str(p).startswith("function-")]
    return ".".join(parts) or None


def _problems_from(exc: ValidationError, data: Any, file: str) -> list[Problem]:
    problems = []
    for err in exc.errors():
        rule, rest = _item_name(data, tuple(err["loc"]))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (typo?)"
        problems.append(Problem(file, rule, _field_path(rest), message))
    return problems


def _cross_check(book: Playbook, file: str, templates: frozenset[str]) -> list[Problem]:
    problems: list[Problem] = []
    for section in ("signals", "alerts", "teams", "routes"):
        seen: set[str] = set()
        for index, item in enumerate(getattr(book, section)):
            if item.id in seen:
                problems.append(
                    Problem(file, f"{section}[{index}] '{item.id}'", "id", "duplicate id")
                )
            seen.add(item.id)
    team_ids = {t.id for t in book.teams}
    for index, route in enumerate(book.routes):
        rule = f"routes[{index}] '{route.id}'"
        if route.team not in team_ids:
            problems.append(Problem(file, rule, "team", f"unknown team {route.team!r}"))
        for step, team in enumerate(route.escalation):
            if team not in team_ids:
                problems.append(Problem(file, rule, f"escalation.{step}", f"unknown team {team!r}"))
        if route.reply_template is not None and route.reply_template not in templates:
            problems.append(
                Problem(
                    file,
                    rule,
                    "reply_template",
                    f"unknown template {route.reply_template!r}; known: {sorted(templates)}",
                )
            )
    last = book.routes[-1]
    if last.match != Match():
        problems.append(
            Problem(
                file,
                f"routes[{len(book.routes) - 1}] '{last.id}'",
                "match",
                "the last route must match everything (no conditions) so every incident "
                "has an owner",
            )
        )
    for index, route in enumerate(book.routes[:-1]):
        if route.match == Match():
            problems.append(
                Problem(
                    file,
                    f"routes[{index}] '{route.id}'",
                    "match",
                    "a catch-all before the last route hides every route after it",
                )
            )
    rule_ids = {s.id for s in book.signals} | {a.id for a in book.alerts}
    for index, route in enumerate(book.routes):
        for rule_id in route.match.rules or []:
            if rule_id not in rule_ids:
                problems.append(
                    Problem(
                        file,
                        f"routes[{index}] '{route.id}'",
                        "match.rules",
                        f"unknown signal or alert rule {rule_id!r}",
                    )
                )
    for code in book.severity.priority_regions:
        if not code.isdigit():
            problems.append(
                Problem(file, "severity", f"priority_regions.{code}", "must be an admin code")
            )
    return problems


def parse_playbook(
    text: str, *, file: str = "<playbook>", templates: frozenset[str] | None = None
) -> Playbook:
    """Validate playbook YAML; PlaybookError lists every problem (file, rule, field)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        raise PlaybookError([Problem(file, where, None, f"not valid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise PlaybookError([Problem(file, None, None, "must be a mapping (version, signals...)")])
    try:
        book = Playbook.model_validate({**data, "source": file})
    except ValidationError as exc:
        raise PlaybookError(_problems_from(exc, data, file)) from None
    problems = _cross_check(book, file, templates or REPLY_TEMPLATES)
    if problems:
        raise PlaybookError(problems)
    return book


def default_playbook_path() -> Path:
    return Path(str(resources.files("triage.playbooks").joinpath("default.yaml")))


def load_playbook(path: Path | None = None, *, templates: frozenset[str] | None = None) -> Playbook:
    """Load and validate a playbook file (the bundled default when `path` is None)."""
    path = path or default_playbook_path()
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookError([Problem(str(path), None, None, f"cannot read: {exc}")]) from None
    return parse_playbook(text, file=str(path), templates=templates)


@cache
def _cached(path: str, mtime_ns: int) -> Playbook:
    return load_playbook(Path(path))


def current_playbook(path: Path | None) -> Playbook:
    """The playbook at `path`, reloaded when the file changes (cached by modification time)."""
    path = path or default_playbook_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise PlaybookError([Problem(str(path), None, None, f"cannot read: {exc}")]) from None
    return _cached(str(path), mtime)
