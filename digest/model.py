"""What a digest holds: plain data, saved as `digest.json` and served by the API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Kind = Literal["daily", "weekly"]


class Period(BaseModel):
    """[start, end) in the configured zone, and a Chinese label such as 2024年5月1日."""

    start: datetime
    end: datetime
    label: str


class Number(BaseModel):
    """A headline number with its comparisons; `link` is where a person checks it."""

    key: str
    label: str
    value: float | None
    previous: float | None = Field(None, description="previous day (daily) / week (weekly)")
    week_ago: float | None = Field(None, description="same day last week (daily only)")
    unit: str = ""
    link: str | None = None

    @property
    def has_value(self) -> bool:
        return self.value is not None


class TopicLine(BaseModel):
    id: str
    title: str
    post_count: int
    burst_score: float
    reason: str
    link: str


class IncidentLine(BaseModel):
    id: str
    title: str
    state: str
    state_name: str
    severity: int
    category: str
    team: str | None
    why: list[str] = Field(default_factory=list, description="why it needs a decision")
    created_at: datetime
    link: str


class ReplyLine(BaseModel):
    id: str
    title: str
    published_at: datetime
    time_to_publish_h: float | None
    half_life_h: float | None
    state_name: str
    link: str


class SourceLine(BaseModel):
    source: str
    runs: int
    failed: int
    newest_post_at: datetime | None
    dark_hours: float | None
    problem: str
    link: str


class Chart(BaseModel):
    name: str = Field(description="file stem under charts/, e.g. volume")
    title: str
    alt: str


class Digest(BaseModel):
    kind: Kind
    day: date = Field(description="the day (daily) or the week's Monday (weekly)")
    period: Period
    previous: Period
    week_ago: Period | None = None
    timezone: str
    generated_at: datetime
    title: str
    link: str = Field(description="API URL of this digest")
    empty: bool
    numbers: list[Number]
    top_topics: list[TopicLine] = Field(default_factory=list)
    decisions: list[IncidentLine] = Field(default_factory=list)
    replies: list[ReplyLine] = Field(default_factory=list)
    coverage: list[SourceLine] = Field(default_factory=list)
    alerts: list[str] = Field(default_factory=list, description="open coverage-gap alerts")
    charts: list[Chart] = Field(default_factory=list)

    def number(self, key: str) -> Number:
        for number in self.numbers:
            if number.key == key:
                return number
        raise KeyError(key)
