"""Facts a sentence states: numbers, dates and places, with comparison keys.

Keys make different spellings of one fact equal: 三例 and 3例 (number 3), 3万 and 30000,
5月1日 inside 2024年5月1日 (sources also yield the parts: month, day), 今日 and 今天, 武汉市 and
武汉. Places are words jieba's dictionary tags `ns` (武汉, 江岸区, 汉口) and names ending like
places (光谷广场, 金银潭医院: two or more characters plus 市, 区, 医院, 广场...). The tuning
lists (stock phrases, non-numbers, relative dates, place endings, non-places) live in
`grounding.yaml`.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analysis.text import normalize, tokenizer
from store.records import DraftSource
from triage.replies.errors import TemplateError

RULES_FILE = "grounding.yaml"
MARKER = re.compile(r"\[(\d{1,3})\]")
_TERMINALS = "。！？!?"
_CLOSERS = "”’」』）)》\"'"
_OPENING_QUOTES, _CLOSING_QUOTES = "“「『", "”」』"
_PUNCT = set(string.punctuation) | set("，。！？；：、“”‘’（）《》【】—…「」『』·　 \t\n")

CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
CN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
CN_UNITS = {"十": 10, "百": 100, "千": 1000}
CN_BIG = {"万": 10_000, "亿": 100_000_000}
_CN = "零〇一二两三四五六七八九十百千万亿"
# A numeral in a date is a whole run of at most 12 characters: the look-behind refuses to start
# inside a run, so a 20,000-digit string costs one pass instead of one scan per position.
_NUM = rf"(?:(?<!\d)\d{{1,12}}(?!\d)|(?<![{_CN}])[{_CN}]{{1,12}}(?![{_CN}]))"
MAX_EXTRACT_CHARS = 10_000  # text past this is not searched for facts (see extract_facts)
CLASSIFIERS = set(
    "个人名例家所起辆次天日月年时分秒号点座户条项批吨元岁层栋位只头件份处台架趟轮周宗倍"
)

_DATE_PATTERNS = [
    ("year", re.compile(r"(\d{4}|[〇零一二三四五六七八九]{4})\s*年")),
    ("monthday", re.compile(rf"({_NUM})\s*月\s*(?:({_NUM})\s*[日号])?")),
    ("day", re.compile(rf"({_NUM})\s*[日号]")),
    ("clock", re.compile(r"(\d{1,2})\s*[:：]\s*(\d{2})")),
    ("hour", re.compile(rf"({_NUM})\s*[点时](?:\s*({_NUM})\s*分|(半))?")),
    ("weekday", re.compile(r"(?:星期|礼拜|周)([一二三四五六日天])")),
]
_ARABIC = re.compile(r"(\d+(?:\.\d+)?)\s*(万|亿)?\s*(%|％)?")
_PERCENT_CN = re.compile(rf"百分之([{_CN}点]+)")
_CHINESE_NUM = re.compile(rf"[{_CN}]+")


class Rules(BaseModel):
    """The tuning lists of `grounding.yaml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stock: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    not_numbers: list[str] = Field(default_factory=list)
    relative_dates: dict[str, str] = Field(default_factory=dict)
    place_suffixes: list[str] = Field(default_factory=list)
    not_places: list[str] = Field(default_factory=list)
    not_place_starts: str = ""

    def stock_keys(self) -> frozenset[str]:
        return _stock_keys(tuple(self.stock))

    def is_stock(self, sentence: str, *, exact: bool = False, similarity: float = 0.8) -> bool:
        """A stock phrase, or (unless `exact`) a light rewording of one: similar characters in
        order. Callers allow rewordings only of sentences that state no fact."""
        key = squash(sentence)
        if key in self.stock_keys():
            return True
        return not exact and any(_similar(key, stock, similarity) for stock in self.stock_keys())


def _similar(a: str, b: str, threshold: float) -> bool:
    """SequenceMatcher ratio >= threshold, with its cheap upper bounds tried first (a long
    sentence is refused by its length alone, without the quadratic comparison)."""
    matcher = SequenceMatcher(None, a, b)
    return (
        matcher.real_quick_ratio() >= threshold
        and matcher.quick_ratio() >= threshold
        and matcher.ratio() >= threshold
    )


@cache
def _stock_keys(stock: tuple[str, ...]) -> frozenset[str]:
    return frozenset(squash(s) for s in stock)


def parse_rules(text: str, *, file: str = RULES_FILE) -> Rules:
    try:
        data = yaml.safe_load(text) or {}
        return Rules.model_validate(data)
    except yaml.YAMLError as exc:
        raise TemplateError([f"{file}: not valid YAML: {exc}"]) from None
    except ValidationError as exc:
        raise TemplateError(
            [f"{file}: field '{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors()]
        ) from None


@cache
def default_rules() -> Rules:
    text = resources.files("triage.replies").joinpath(RULES_FILE).read_text("utf-8")
    return parse_rules(text, file=f"triage/replies/{RULES_FILE}")


def squash(text: str) -> str:
    """Text without punctuation, spaces and citation markers (for comparing phrases)."""
    return "".join(ch for ch in MARKER.sub("", normalize(text)) if ch not in _PUNCT)


# --------------------------------------------------------------------------------------------
# facts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    kind: Literal["number", "date", "place"]
    text: str  # as found
    keys: tuple[str, ...]  # any of these must be among the sources' keys


def cn_to_number(text: str) -> float | None:
    """二十五 -> 25, 三万二千 -> 32000, 二〇二四 -> 2024, 两 -> 2; None if not a numeral."""
    if not text or any(
        ch not in CN_DIGITS and ch not in CN_UNITS and ch not in CN_BIG for ch in text
    ):
        return None
    if all(ch in CN_DIGITS for ch in text) and len(text) > 1:
        return float("".join(str(CN_DIGITS[ch]) for ch in text))
    total, section, digit = 0, 0, 0
    for ch in text:
        if ch in CN_DIGITS:
            digit = CN_DIGITS[ch]
        elif ch in CN_UNITS:
            section += (digit or 1) * CN_UNITS[ch]
            digit = 0
        else:
            section += digit
            total += (section or 1) * CN_BIG[ch]
            section, digit = 0, 0
    return float(total + section + digit)


def _num(text: str | None) -> str | None:
    if text is None:
        return None
    value = float(text) if text.isdigit() else cn_to_number(text)
    return None if value is None else f"{value:g}"


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each (start, end) span blanked, in one pass (spans in order, disjoint)."""
    if not spans:
        return text
    parts, at = [], 0
    for start, end in spans:
        parts += [text[at:start], " " * (end - start)]
        at = end
    parts.append(text[at:])
    return "".join(parts)


def _dates(text: str, rules: Rules, *, components: bool) -> tuple[list[Fact], str]:
    facts: list[Fact] = []
    for word, key in rules.relative_dates.items():
        spans = []
        for m in re.finditer(re.escape(word), text):
            facts.append(Fact("date", word, (f"R:{key}",)))
            spans.append(m.span())
        text = _mask(text, spans)
    for kind, pattern in _DATE_PATTERNS:
        spans = []
        for m in pattern.finditer(text):
            keys: list[str] = []
            if kind == "year":
                keys = [f"Y{_num(m.group(1))}"]
            elif kind == "monthday":
                month, day = _num(m.group(1)), _num(m.group(2))
                if month is None or not 1 <= float(month) <= 12:
                    continue
                keys = [f"M{month}D{day}"] if day else [f"M{month}"]
                if day and components:
                    keys += [f"M{month}", f"D{day}"]
            elif kind == "day":
                day = _num(m.group(1))
                if day is None or not 1 <= float(day) <= 31:
                    continue
                keys = [f"D{day}"]
            elif kind == "clock":
                keys = [f"T{int(m.group(1))}:{int(m.group(2)):02d}"]
            elif kind == "hour":
                hour = _num(m.group(1))
                if hour is None or not 0 <= float(hour) <= 24 or m.group(1) in ("一",):
                    continue
                minute = "30" if m.group(3) else _num(m.group(2))
                keys = [f"T{hour}:{int(float(minute)):02d}"] if minute else [f"T{hour}"]
                if minute and components:
                    keys.append(f"T{hour}")
            else:
                keys = [f"W{'日' if m.group(1) == '天' else m.group(1)}"]
            facts.append(Fact("date", m.group(0).strip(), tuple(keys)))
            spans.append(m.span())
        text = _mask(text, spans)
    return facts, text


def _numbers(text: str, rules: Rules) -> list[Fact]:
    for word in rules.not_numbers:
        text = text.replace(word, " " * len(word))
    facts: list[Fact] = []
    spans = []
    for m in _PERCENT_CN.finditer(text):
        value = cn_to_number(m.group(1).split("点")[0])
        if value is not None:
            facts.append(Fact("number", m.group(0), (f"{value:g}%",)))
        spans.append(m.span())
    text = _mask(text, spans)
    spans = []
    for m in _ARABIC.finditer(text):
        value = float(m.group(1)) * (CN_BIG[m.group(2)] if m.group(2) else 1)
        suffix = "%" if m.group(3) else ""
        facts.append(Fact("number", m.group(0).strip(), (f"{value:g}{suffix}",)))
        spans.append(m.span())
    text = _mask(text, spans)
    for m in _CHINESE_NUM.finditer(text):
        token = m.group(0)
        after = text[m.end() : m.end() + 1]
        if len(token) == 1 and (token in "万亿千百" or after not in CLASSIFIERS):
            continue
        value = cn_to_number(token)
        if value is not None:
            facts.append(Fact("number", token, (f"{value:g}",)))
    return facts


@cache
def place_words() -> frozenset[str]:
    """Words jieba's dictionary tags as places (`ns`): 武汉, 江岸区, 汉口... (read once)."""
    with tokenizer().get_dict_file() as fh:
        text = fh.read()
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return frozenset(re.findall(r"^(\S+) \d+ ns$", text, re.M))


def _places(text: str, rules: Rules) -> list[Fact]:
    found: dict[str, Fact] = {}
    banned = set(rules.not_places)
    known = place_words()
    for word in tokenizer().lcut(text, HMM=False):
        if len(word) >= 2 and word in known and word not in banned:
            found.setdefault(word, Fact("place", word, _place_keys(word, rules)))
    for suffix in sorted(rules.place_suffixes, key=len, reverse=True):
        for m in re.finditer(re.escape(suffix), text):
            head = text[max(0, m.start() - 6) : m.start()]
            if len(head) < 2 or _inside_banned(text, m.start(), suffix, banned):
                continue
            two = head[-2:]
            if not all("\u4e00" <= ch <= "\u9fff" for ch in two) or any(
                ch in rules.not_place_starts or ch in CLASSIFIERS or ch in _CN for ch in two
            ):
                continue  # 九家医院, 六个区, 十三路: counts, not names
            name = two + suffix
            if any(name in f.text or f.text in name for f in found.values()):
                continue
            variants = [
                head[-k:] + suffix
                for k in range(2, len(head) + 1)
                if all("\u4e00" <= ch <= "\u9fff" for ch in head[-k:])
            ]
            found.setdefault(name, Fact("place", name, tuple(variants)))
    return list(found.values())


def _inside_banned(text: str, at: int, suffix: str, banned: set[str]) -> bool:
    """Is the suffix at `at` part of a word that names no place (全市, 市民, 超市...)?"""
    for word in banned:
        if word == suffix:
            continue
        offset = word.find(suffix)
        while offset >= 0:
            start = at - offset
            if start >= 0 and text[start : start + len(word)] == word:
                return True
            offset = word.find(suffix, offset + 1)
    return False


def _place_keys(word: str, rules: Rules) -> tuple[str, ...]:
    keys = [word]
    for suffix in ("省", "市", "区", "县", "镇", "乡", "村"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            keys.append(word[: -len(suffix)])
    return tuple(keys)


def extract_facts(text: str, rules: Rules | None = None) -> list[Fact]:
    """Numbers, dates and places stated in a piece of text (markers removed first). Only the
    first MAX_EXTRACT_CHARS characters are read: a sentence or source longer than that is not
    prose, and reading all of it would let one crawled text stall every draft check."""
    rules = rules or default_rules()
    text = normalize_digits(MARKER.sub(" ", text[:MAX_EXTRACT_CHARS]))
    dates, rest = _dates(text, rules, components=False)
    return dates + _numbers(rest, rules) + _places(text, rules)


def normalize_digits(text: str) -> str:
    """Full-width digits to ASCII and thousands separators removed (1,200 -> 1200)."""
    text = text.translate({ord(c): ord("0") + i for i, c in enumerate("０１２３４５６７８９")})
    return re.sub(r"(?<=\d)[,，](?=\d{3}\b)", "", text)


@dataclass
class SourceFacts:
    """What one source states: date and number keys, and its normalized text for places."""

    keys: set[str]
    text: str


def source_facts(source: DraftSource, rules: Rules | None = None) -> SourceFacts:
    rules = rules or default_rules()
    raw = normalize_digits(f"{source.name} {source.text}"[:MAX_EXTRACT_CHARS])
    dates, rest = _dates(raw, rules, components=True)
    keys = {k for f in dates for k in f.keys}
    keys |= {k for f in _numbers(rest, rules) for k in f.keys}
    return SourceFacts(keys, normalize(raw))
