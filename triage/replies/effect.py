"""Did the reply work? Matching-post volume, decay and emotion before and after publishing.

Matching posts: the incident's topic, posts matched to its claims (or to the office's own
published answer), and its evidence posts. With P = publication time and W the window:

    before   [P - W, P)            volume, posts/hour, emotion mix
    after    [P, min(now, P + W))  volume, posts/hour, emotion mix, peak hourly count
    recent   [now - C, now)        posts/hour (C = close window)
    hourly   counts per hour from P - W to now (buckets aligned on P)
    half-life  Poisson maximum-likelihood fit of counts ~ A·exp(-λt) over the hours from the
               post-publication peak on; ln 2 / λ hours (none while volume is not decaying)

Decisions (the effect job, `tingfeng run`):
- propose closing once at least C has passed since P and the recent rate is at or below the
  close threshold (an audit event; a person closes the incident);
- re-escalate when, after volume had fallen to the threshold, the recent rate rises above it
  again and reaches `reescalate ratio` x the rate before publishing: the incident goes back to
  assigned, one escalation level up (audited; the escalation team is notified).
The incident records `half_life_h` (and `time_to_publish_s`, set when it was published).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from store.base import PostQuery, Store
from store.records import (
    EffectReport,
    HourCount,
    Incident,
    KeyCount,
    Post,
    make_id,
)

if TYPE_CHECKING:
    from store.settings import Settings

log = logging.getLogger(__name__)

EFFECTS = "effects"
MIN_FIT_BUCKETS, MIN_FIT_POSTS = 3, 5


@dataclass(frozen=True)
class EffectConfig:
    window: timedelta = timedelta(hours=24)
    close_window: timedelta = timedelta(hours=6)
    close_threshold: float = 1.0  # posts/hour
    reescalate_ratio: float = 0.5

    @classmethod
    def from_settings(cls, settings: Settings) -> EffectConfig:
        return cls(
            window=timedelta(hours=settings.effect_window_hours),
            close_window=timedelta(hours=settings.effect_close_window_hours),
            close_threshold=settings.effect_close_threshold_per_hour,
            reescalate_ratio=settings.effect_reescalate_ratio,
        )


def office_claim_id(incident_id: str) -> str:
    """Id of the knowledge-base entry of the office's reply (see `nlp.kb.add_office_reply`)."""
    from nlp.kb import OFFICE_ORIGIN

    return make_id(OFFICE_ORIGIN, incident_id)


def matching_posts(
    store: Store, incident: Incident, since: datetime, until: datetime
) -> list[Post]:
    """Posts of the incident's topic, matched to its claims or office answer, or flagged into
    it, created in [since, until); oldest first, each once."""
    claims = sorted({*incident.claim_ids, office_claim_id(incident.id)})
    queries = [PostQuery(terms={"nlp.claim_match.claim_id": claims}, since=since, until=until)]
    if incident.topic_id:
        queries.append(
            PostQuery(terms={"nlp.topic_id": [incident.topic_id]}, since=since, until=until)
        )
    if incident.evidence_post_ids:
        queries.append(PostQuery(ids=incident.evidence_post_ids, since=since, until=until))
    seen: dict[str, Post] = {}
    for query in queries:
        for post in store.iter_posts(query):
            seen.setdefault(post.id, post)
    return sorted(seen.values(), key=lambda p: (p.created_at, p.id))


def decay_half_life(counts: list[int]) -> float | None:
    """Half-life (in buckets) of counts ~ A·exp(-λt), t = 0, 1, ..., by Poisson maximum
    likelihood; None if there are too few posts or buckets, or no decay.

    The likelihood is maximal where the exp(-λt)-weighted mean of t equals the count-weighted
    mean of t; that mean falls as λ grows, so bisection finds the root."""
    total = sum(counts)
    if len(counts) < MIN_FIT_BUCKETS or total < MIN_FIT_POSTS:
        return None
    target = sum(t * y for t, y in enumerate(counts)) / total
    if target >= (len(counts) - 1) / 2:  # flat or rising: λ <= 0
        return None

    def weighted_mean(lam: float) -> float:
        weights = [math.exp(-lam * t) for t in range(len(counts))]
        return sum(t * w for t, w in enumerate(weights)) / sum(weights)

    low, high = 0.0, 50.0
    if weighted_mean(high) > target:  # everything in the first bucket
        return math.log(2) / high
    for _ in range(80):
        mid = (low + high) / 2
        if weighted_mean(mid) > target:
            low = mid
        else:
            high = mid
    return math.log(2) / ((low + high) / 2)


def _mix(posts: Iterable[Post]) -> list[KeyCount]:
    counts = Counter(p.nlp.emotion.label for p in posts if p.nlp.emotion is not None)
    return [
        KeyCount(key=k, count=n) for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def measure(
    store: Store,
    incident: Incident,
    *,
    now: datetime,
    config: EffectConfig,
    previous: EffectReport | None = None,
) -> EffectReport | None:
    """The effect report of a published incident as of `now` (None if never published).
    Reads only; the status fields say what the job would decide (see module docstring)."""
    published = incident.published_at
    if published is None:
        return None
    if previous is not None and previous.published_at != published:
        previous = None  # a new reply was published: measure it afresh
    lead = math.ceil(_hours(config.window))  # hourly buckets are aligned on P
    start = published - timedelta(hours=lead)
    posts = matching_posts(store, incident, start, now + timedelta(microseconds=1))
    before = [p for p in posts if published - config.window <= p.created_at < published]
    after_end = min(now, published + config.window)
    after = [p for p in posts if published <= p.created_at < after_end]
    n_buckets = max(0, math.ceil(_hours(now - start)))
    buckets = [0] * n_buckets
    for post in posts:
        index = int(_hours(post.created_at - start))
        if 0 <= index < n_buckets:
            buckets[index] += 1
    # the decay is fitted on complete hours after P, within the window and before a rebound
    stop = min(now, published + config.window)
    if previous is not None and previous.reescalated_at is not None:
        stop = min(stop, previous.reescalated_at)
    after_counts = buckets[lead : max(lead, int(_hours(stop - start)))]
    peak = max(range(len(after_counts)), key=lambda i: (after_counts[i], -i), default=None)
    half_life = decay_half_life(after_counts[peak:]) if peak is not None else None
    recent_start = max(published, now - config.close_window)
    recent = [p for p in posts if recent_start <= p.created_at <= now]
    recent_hours = max(_hours(now - recent_start), 1 / 60)
    report = EffectReport(
        id=incident.id,
        incident_id=incident.id,
        published_at=published,
        computed_at=now,
        window_hours=_hours(config.window),
        volume_before=len(before),
        volume_after=len(after),
        rate_before=round(len(before) / _hours(config.window), 3),
        rate_after=round(len(after) / max(_hours(after_end - published), 1 / 60), 3),
        rate_recent=round(len(recent) / recent_hours, 3),
        peak_rate_after=float(max(after_counts, default=0)),
        half_life_h=round(half_life, 2) if half_life is not None else None,
        emotion_before=_mix(before),
        emotion_after=_mix(after),
        hourly=[
            HourCount(start=start + timedelta(hours=i), count=c) for i, c in enumerate(buckets)
        ],
    )
    _decide(report, previous, buckets, lead, now=now, config=config, start=start)
    return report


def _trough(buckets: list[int], first: int, last: int, width: int) -> float | None:
    """Lowest posts/hour over `width`-hour windows within buckets [first, last)."""
    rates = [sum(buckets[i : i + width]) / width for i in range(first, last - width + 1)]
    return min(rates, default=None)


def _decide(
    report: EffectReport,
    previous: EffectReport | None,
    buckets: list[int],
    first_after: int,
    *,
    now: datetime,
    config: EffectConfig,
    start: datetime,
) -> None:
    if previous is not None:
        report.close_proposed_at = previous.close_proposed_at
        report.reescalated_at = previous.reescalated_at
        report.reescalations = previous.reescalations
        report.status = previous.status
    threshold = config.close_threshold
    if now - report.published_at < config.close_window:
        report.why = (
            f"published {_hours(now - report.published_at):.1f} h ago; waiting "
            f"{_hours(config.close_window):g} h before judging"
        )
        return
    since = report.reescalated_at or report.published_at
    width = max(1, math.ceil(_hours(config.close_window)))
    first = max(first_after, math.ceil(_hours(since - start)))
    last = int(_hours(now - config.close_window - start))
    trough = _trough(buckets, first, last, width)
    fell = (report.close_proposed_at is not None and report.close_proposed_at >= since) or (
        trough is not None and trough <= threshold
    )
    rebound = (
        fell
        and report.rate_recent > threshold
        and report.rate_recent >= config.reescalate_ratio * report.rate_before
    )
    if rebound:
        if report.status != "reescalated":
            report.status = "reescalated"
            report.reescalated_at = now
            report.reescalations += 1
            report.close_proposed_at = None
        report.why = (
            f"volume rose again: {report.rate_recent:g} posts/h in the last "
            f"{_hours(config.close_window):g} h, after falling to {threshold:g}/h or "
            f"below (before the reply: {report.rate_before:g}/h)"
        )
    elif report.rate_recent <= threshold:
        if report.status != "close_proposed":
            report.status = "close_proposed"
            report.close_proposed_at = now
        report.why = (
            f"{report.rate_recent:g} posts/h in the last {_hours(config.close_window):g} h "
            f"(threshold {threshold:g}/h): propose closing"
        )
    else:
        if report.status != "reescalated":
            report.status = "monitoring"
        report.why = (
            f"{report.rate_recent:g} posts/h in the last {_hours(config.close_window):g} h, "
            f"above the close threshold {threshold:g}/h"
        )
