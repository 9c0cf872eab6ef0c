"""Severity 1 (worst) to 4 from explainable components.

Each component is a value in 0-1 with the weight the playbook gives it (per category, if the
playbook says so) and a sentence saying why. The score is the weighted mean; the playbook's
`levels` turn it into a severity. Nothing is hidden: the incident stores every component.
"""

from __future__ import annotations

import math

from store.records import SeverityComponent
from triage.playbook import Severity
from triage.signals import Stats


def _reach(stats: Stats, cfg: Severity) -> tuple[float, str]:
    effective = stats.posts + stats.reposts / 10
    value = min(1.0, math.log1p(effective) / math.log1p(cfg.reach_posts_full))
    return value, (
        f"{stats.posts} posts; {stats.reposts} reposts on the {len(stats.evidence)} "
        f"posts sampled (full reach at {cfg.reach_posts_full} posts + reposts/10)"
    )


def _velocity(stats: Stats, cfg: Severity) -> tuple[float, str]:
    ratio = stats.burst_ratio
    if ratio is None or ratio <= 1:
        return 0.0, "no burst detected"
    value = min(1.0, math.log(ratio) / math.log(cfg.velocity_ratio_full))
    reason = stats.burst_reason or f"volume x{ratio:.1f} vs baseline"
    return value, reason


def _rumor(stats: Stats) -> tuple[float, str]:
    share = stats.rumor_share
    if not share:
        return 0.0, "no post labelled rumor"
    return share, f"rumor on {stats.rumor} of {stats.posts} posts ({share:.0%})"


def _match(stats: Stats) -> tuple[float, str]:
    claims = ", ".join(stats.claim_ids[:3])
    if stats.claim_confirmed:
        return 1.0, f"{stats.claim_confirmed} posts confirmed-match debunked claim(s) {claims}"
    if stats.claim_suggested:
        return 0.5, f"{stats.claim_suggested} posts may match debunked claim(s) {claims}"
    return 0.0, "no match to a known debunk"


def _emotion(stats: Stats) -> tuple[float, str]:
    labelled = sum(stats.emotions.values())
    if not labelled:
        return 0.0, "no emotion labels"
    share = stats.negative_share
    return share, f"fear/anger on {stats.negative} of {labelled} labelled posts ({share:.0%})"


def _help(stats: Stats, cfg: Severity) -> tuple[float, str]:
    if not stats.help and not stats.demand:
        return 0.0, "no help requests"
    value = min(1.0, (stats.help + 0.5 * stats.demand) / cfg.help_full)
    return value, (
        f"{stats.help} help requests (求助), {stats.demand} public demands (诉求); "
        f"full urgency at {cfg.help_full}"
    )


def _region(jurisdiction: str | None, name: str | None, cfg: Severity) -> tuple[float, str]:
    if jurisdiction is None:
        return 0.0, "no jurisdiction: posts are not concentrated in one place"
    label = f"{name} ({jurisdiction})" if name else jurisdiction
    prefixes = [p for p in cfg.priority_regions if jurisdiction.startswith(p)]
    if prefixes:
        best = max(prefixes, key=len)
        value = cfg.priority_regions[best]
        return value, f"{label} is in priority region {best} ({value:.1f})"
    return cfg.region_default, f"{label} (default region weight {cfg.region_default:.1f})"


def assess(
    stats: Stats,
    category: str,
    cfg: Severity,
    *,
    jurisdiction: str | None,
    jurisdiction_name: str | None = None,
) -> tuple[int, float, list[SeverityComponent]]:
    """(severity, score, components) for a topic's stats in a category."""
    weights = cfg.weights_by_category.get(category, cfg.weights)  # type: ignore[call-overload]
    values = {
        "reach": _reach(stats, cfg),
        "velocity": _velocity(stats, cfg),
        "rumor": _rumor(stats),
        "match": _match(stats),
        "emotion": _emotion(stats),
        "help": _help(stats, cfg),
        "region": _region(jurisdiction, jurisdiction_name, cfg),
    }
    components = [
        SeverityComponent(name=name, value=round(value, 3), weight=weights.get(name, 0.0), why=why)
        for name, (value, why) in values.items()
        if weights.get(name, 0.0) > 0
    ]
    total = sum(c.weight for c in components)
    score = round(sum(c.value * c.weight for c in components) / total, 3) if total else 0.0
    return severity_for(score, cfg), score, components


def severity_for(score: float, cfg: Severity) -> int:
    for level in (1, 2, 3):
        if score >= cfg.levels[level]:
            return level
    return 4
