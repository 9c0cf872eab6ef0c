"""Find an installed font that covers Chinese text, and check glyph coverage (no tofu).

The project installs one from Debian (`fonts-wqy-microhei`; `.ci/run` and the Dockerfile do
it); `TINGFENG_DIGEST_FONT` may name another file. Coverage is checked against the font's
character map, so a missing glyph is an error here rather than a box in a chart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from digest.errors import FontMissing

log = logging.getLogger(__name__)

# Preferred families, best first (all have simplified-Chinese coverage).
FAMILIES = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
)
NAME_HINTS = ("wqy", "cjk", "noto", "han", "droid", "uming", "ukai", "hei", "yahei", "pingfang")
# Characters every digest shows; a font lacking any of them is not used.
SAMPLE_TEXT = "听风舆情日报周报帖子量恐惧愤怒事件状态发布用时小时新建已研判分派起草待审批观察关闭驳回（）：，。"
INSTALL_HINT = (
    "install a CJK font, e.g. `apt-get install -y fonts-wqy-microhei` (Debian/Ubuntu), "
    "or set TINGFENG_DIGEST_FONT to a .ttf/.otf/.ttc file"
)


@dataclass(frozen=True)
class CjkFont:
    path: Path
    family: str


@lru_cache(maxsize=32)
def _cmap(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    kwargs = {"fontNumber": 0} if path.suffix.lower() == ".ttc" else {}
    with TTFont(str(path), lazy=True, **kwargs) as font:  # type: ignore[arg-type]
        return frozenset(font.getBestCmap() or {})


def _family(path: Path) -> str:
    from fontTools.ttLib import TTFont

    kwargs = {"fontNumber": 0} if path.suffix.lower() == ".ttc" else {}
    with TTFont(str(path), lazy=True, **kwargs) as font:  # type: ignore[arg-type]
        name = font["name"].getBestFamilyName()
    return str(name or path.stem)


def missing_glyphs(font: CjkFont, text: str) -> set[str]:
    """Characters of `text` (other than whitespace) that the font cannot draw."""
    covered = _cmap(font.path)
    return {ch for ch in set(text) if not ch.isspace() and ord(ch) not in covered}


def _system_candidates() -> list[Path]:
    from matplotlib import font_manager

    # "ttf" covers .ttf, .otf and .ttc files
    paths = {Path(p) for p in font_manager.findSystemFonts(fontext="ttf")}
    hinted = [p for p in paths if any(h in p.name.lower() for h in NAME_HINTS)]
    return sorted(hinted)


@lru_cache(maxsize=4)
def find_cjk_font(override: Path | None = None) -> CjkFont:
    """The font to draw Chinese with: `override` if given, else the best installed family."""
    if override is not None:
        if not override.is_file():
            raise FontMissing(f"TINGFENG_DIGEST_FONT={override}: no such font file")
        font = CjkFont(override, _family(override))
        lacking = missing_glyphs(font, SAMPLE_TEXT)
        if lacking:
            raise FontMissing(f"{override} lacks Chinese glyphs ({''.join(sorted(lacking))[:20]})")
        return font
    found: list[CjkFont] = []
    for path in _system_candidates():
        try:
            font = CjkFont(path, _family(path))
            if not missing_glyphs(font, SAMPLE_TEXT):
                found.append(font)
        except Exception as exc:  # an unreadable font file is skipped, not fatal
            log.debug("skipping font %s: %s", path, exc)
    if not found:
        raise FontMissing(f"no installed font covers Chinese text; {INSTALL_HINT}")
    rank = {name: i for i, name in enumerate(FAMILIES)}
    found.sort(key=lambda f: (rank.get(f.family, len(rank)), str(f.path)))
    log.debug("CJK font: %s (%s)", found[0].family, found[0].path)
    return found[0]


def find_cjk_font_or_none(override: Path | None = None) -> CjkFont | None:
    """`find_cjk_font`, but an installation without any CJK font gives None (charts and PDF
    are then left out); a TINGFENG_DIGEST_FONT that is wrong is still an error."""
    if override is not None:
        return find_cjk_font(override)
    try:
        return find_cjk_font(None)
    except FontMissing as exc:
        log.debug("digest charts and PDF are off: %s", exc)
        return None


def register_with_matplotlib(font: CjkFont) -> None:
    """Make the font's family usable by name in matplotlib (its font cache may predate it)."""
    from matplotlib import font_manager

    if not any(entry.fname == str(font.path) for entry in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(str(font.path))
