"""Signals: what a topic (or a set of posts) looks like, and which playbook rules it trips.

`topic_stats` reads a topic's posts through the store's aggregations (label counts, claim
matches, places), so a topic of 50,000 posts costs a handful of queries; `posts_stats` does the
same in Python for the few posts of a hand-opened incident. `fired_signals` evaluates the
playbook's ordered signal rules; the first that fires names the incident's category.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from store.base import PostQuery, Store
from store.records import Post, SignalHit, Topic
from triage.playbook import Labels, Playbook, When

EVIDENCE_SAMPLE = 50
JURISDICTION_SHARE = 0.5


@dataclass
class Stats:
    """Counts of one topic (or post set) that signals and severity are computed from."""

    posts: int
    reposts: int = 0  # summed over `evidence`
    rumor: int = 0
    help: int = 0
    demand: int = 0
    negative: int = 0
    emotions: dict[str, int] = field(default_factory=dict)
    claim_confirmed: int = 0
    claim_suggested: int = 0
    claim_ids: list[str] = field(default_factory=list)
    places: dict[str, int] = field(default_factory=dict)  # code -> posts (all levels)
    place_names: dict[str, str] = field(default_factory=dict)
    first_post_at: datetime | None = None
    evidence: list[Post] = field(default_factory=list)
    text: str = ""  # title, keywords and evidence texts, for keyword rules
    burst_score: float = 0.0
    burst_ratio: float | None = None
    burst_reason: str | None = None
    topic_rumor_share: float | None = None

    @property
    def rumor_share(self) -> float:
        labelled = self.rumor / self.posts if self.posts else 0.0
        return max(labelled, self.topic_rumor_share or 0.0)

    @property
    def negative_share(self) -> float:
        labelled = sum(self.emotions.values())
        return self.negative / labelled if labelled else 0.0


def _count(buckets: Sequence[tuple[str, int]], labels: list[str]) -> int:
    wanted = set(labels)
    return sum(n for key, n in buckets if key in wanted)


def _learn_places(stats: Stats, posts: Sequence[Post]) -> None:
    for post in posts:
        for place in post.places:
            stats.place_names.setdefault(place.code, place.name)


def topic_stats(store: Store, topic: Topic, labels: Labels) -> Stats:
    """Counts over every post of the topic (store aggregations) plus a sample of evidence."""
    query = PostQuery(terms={"nlp.topic_id": [topic.id]})
    total = store.count_posts(query)

    def agg(field: str, size: int = 20) -> list[tuple[str, int]]:
        return [(b.key, b.count) for b in store.terms(query, field, size=size)]

    rumor = agg("nlp.rumor.label")
    helps = agg("nlp.help.label")
    emotions = agg("nlp.emotion.label")
    levels = agg("nlp.claim_match.level")
    claims = agg("nlp.claim_match.claim_id", 10)
    places = agg("place_codes", 50)
    newest = store.search_posts(query, size=EVIDENCE_SAMPLE, sort="-created_at").posts
    oldest = store.search_posts(query, size=1, sort="created_at").posts
    evidence = list(newest)
    if topic.representative_post_id and all(p.id != topic.representative_post_id for p in newest):
        evidence = store.get_posts([topic.representative_post_id]) + evidence
    stats = Stats(
        posts=max(total, topic.post_count),
        reposts=sum(p.engagement.reposts for p in evidence),
        rumor=_count(rumor, labels.rumor),
        help=max(_count(helps, labels.help), topic.help_count),
        demand=_count(helps, labels.demand),
        negative=_count(emotions, labels.negative_emotions),
        emotions=dict(emotions),
        claim_confirmed=_count(levels, ["confirm"]),
        claim_suggested=_count(levels, ["suggest"]),
        claim_ids=[key for key, _ in claims],
        places=dict(places),
        evidence=evidence,
        text=" ".join([topic.title, *topic.keywords, *(p.text for p in evidence)]),
        burst_score=topic.burst.score if topic.burst else topic.burst_score,
        burst_ratio=topic.burst.ratio if topic.burst else None,
        burst_reason=topic.burst.reason if topic.burst else None,
        topic_rumor_share=topic.rumor_share or None,
    )
    if not emotions and topic.by_emotion:
        stats.emotions = {kc.key: kc.count for kc in topic.by_emotion}
        stats.negative = sum(stats.emotions.get(e, 0) for e in labels.negative_emotions)
    firsts = [topic.first_seen, *(p.created_at for p in oldest)]
    stats.first_post_at = min(firsts)
    _learn_places(stats, evidence)
    code = jurisdiction_of(stats)
    if code and code not in stats.place_names:
        sample = store.search_posts(PostQuery(terms={"place_codes": [code]}), size=1).posts
        _learn_places(stats, sample)
    return stats


def posts_stats(posts: Sequence[Post], labels: Labels) -> Stats:
    """The same counts for an explicit set of posts (hand-opened incidents)."""

    def label_of(post: Post, task: str) -> str | None:
        value = getattr(post.nlp, task)
        return value.label if value is not None else None

    emotions = Counter(e for p in posts if (e := label_of(p, "emotion")))
    places: Counter[str] = Counter(code for p in posts for code in set(p.place_codes))
    matches = [p.nlp.claim_match for p in posts if p.nlp.claim_match]
    stats = Stats(
        posts=len(posts),
        reposts=sum(p.engagement.reposts for p in posts),
        rumor=sum(label_of(p, "rumor") in labels.rumor for p in posts),
        help=sum(label_of(p, "help") in labels.help for p in posts),
        demand=sum(label_of(p, "help") in labels.demand for p in posts),
        negative=sum(emotions.get(e, 0) for e in labels.negative_emotions),
        emotions=dict(emotions),
        claim_confirmed=sum(m.level == "confirm" for m in matches),
        claim_suggested=sum(m.level == "suggest" for m in matches),
        claim_ids=[c for c, _ in Counter(m.claim_id for m in matches).most_common(10)],
        places=dict(places),
        first_post_at=min((p.created_at for p in posts), default=None),
        evidence=list(posts),
        text=" ".join(p.text for p in posts),
    )
    _learn_places(stats, posts)
    return stats


def jurisdiction_of(stats: Stats) -> str | None:
    """The most specific admin division that at least half of the placed posts share."""
    placed = sum(n for code, n in stats.places.items() if len(code) == 2)
    if not placed:
        return None
    candidates = [
        (len(code), n, code)
        for code, n in stats.places.items()
        if n >= JURISDICTION_SHARE * placed and code.isdigit()
    ]
    if not candidates:
        return None
    # deepest level first, then most posts, then the smallest code (deterministic)
    return min(candidates, key=lambda c: (-c[0], -c[1], c[2]))[2]


def _holds(when: When, stats: Stats) -> list[str] | None:
    """Reasons for each condition if all hold, else None."""
    reasons: list[str] = []
    checks: list[tuple[bool, str]] = []
    if when.posts_min is not None:
        checks.append((stats.posts >= when.posts_min, f"{stats.posts} posts"))
    if when.rumor_share_min is not None:
        checks.append(
            (
                stats.rumor_share >= when.rumor_share_min,
                f"rumor share {stats.rumor_share:.0%} >= {when.rumor_share_min:.0%}",
            )
        )
    if when.claim_confirmed_min is not None:
        checks.append(
            (
                stats.claim_confirmed >= when.claim_confirmed_min,
                f"{stats.claim_confirmed} posts confirmed-match a debunked claim "
                f"({', '.join(stats.claim_ids[:3])})",
            )
        )
    if when.claim_suggested_min is not None:
        matched = stats.claim_suggested + stats.claim_confirmed
        checks.append(
            (matched >= when.claim_suggested_min, f"{matched} posts match a debunked claim")
        )
    if when.help_min is not None:
        checks.append((stats.help >= when.help_min, f"{stats.help} help requests (求助)"))
    if when.demand_min is not None:
        checks.append((stats.demand >= when.demand_min, f"{stats.demand} public demands (诉求)"))
    if when.negative_share_min is not None:
        checks.append(
            (
                stats.negative_share >= when.negative_share_min,
                f"fear/anger {stats.negative_share:.0%} >= {when.negative_share_min:.0%}",
            )
        )
    if when.burst_score_min is not None:
        checks.append(
            (
                stats.burst_score >= when.burst_score_min,
                f"burst {stats.burst_score:.1f}"
                + (f": {stats.burst_reason}" if stats.burst_reason else ""),
            )
        )
    if when.keywords_any is not None:
        found = [k for k in when.keywords_any if k in stats.text]
        checks.append((bool(found), f"mentions {'、'.join(found)}"))
    for ok, why in checks:
        if not ok:
            return None
        reasons.append(why)
    return reasons


def fired_signals(playbook: Playbook, stats: Stats) -> list[SignalHit]:
    """Every signal rule that fires, in playbook order (the first names the category)."""
    hits = []
    for rule in playbook.signals:
        reasons = _holds(rule.when, stats)
        if reasons is not None:
            hits.append(SignalHit(rule=rule.id, category=rule.category, why="; ".join(reasons)))
    return hits
