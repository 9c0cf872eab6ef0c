"""What a supervisor opens: PDF pages and text, valid PNG charts without tofu, email-safe HTML,
Markdown and text; and the short "no activity" digest of an empty day."""

from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib
import pytest
from PIL import Image

from digest.charts import render_charts
from digest.errors import FontMissing
from digest.fonts import CjkFont, find_cjk_font, missing_glyphs
from digest.series import ChartSeries
from tests.digest.conftest import Built, pdf_fonts, pdf_text

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_pdf_has_the_expected_pages_and_text(built: Built) -> None:
    pages = pdf_text(built.rendered.pdf)
    assert 2 <= len(pages) <= 4
    first = pages[0]
    for text in ("听风舆情日报", "2026年11月18日", "关键数字", "疑似谣言", "需要决定的事件"):
        assert text in first, text
    everything = "\n".join(pages)
    for text in ("网传全市封城", "帖子量为基线的", "事件i2", "gov-z", "本期无采集记录", "趋势图"):
        assert text in everything, text
    assert f"{len(pages)} / {len(pages)}" in pages[-1]  # page numbers in the footer
    assert "api/v1/digests/2026-11-18" in pages[-1].replace("\n", "")


def test_pdf_embeds_the_cjk_font(built: Built) -> None:
    font = find_cjk_font()
    family = font.family.replace(" ", "")
    assert any(family in name.replace("-", "") for name in pdf_fonts(built.rendered.pdf))


def test_charts_are_valid_pngs(built: Built) -> None:
    assert set(built.rendered.images) == {"volume", "states", "publish"}
    assert [c.name for c in built.digest.charts] == ["volume", "states", "publish"]
    for name, png in built.rendered.images.items():
        assert png.startswith(PNG_SIGNATURE), name
        with Image.open(io.BytesIO(png)) as image:
            image.verify()
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG"
            assert image.width >= 600 and image.height >= 200


def test_the_chosen_font_covers_every_chinese_string_drawn(built: Built) -> None:
    font = find_cjk_font()
    text = "".join(built.rendered.text.split()) + "".join(c.title for c in built.digest.charts)
    assert missing_glyphs(font, text) == set()


def test_a_font_without_chinese_is_refused(built: Built) -> None:
    latin = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    with pytest.raises(FontMissing, match="lacks Chinese glyphs"):
        find_cjk_font.__wrapped__(latin)
    digest = built.digest.model_copy(deep=True)
    with pytest.raises(FontMissing, match="lacks glyphs"):
        render_charts(digest, ChartSeries(interval="hour"), CjkFont(latin, "DejaVu Sans"))


def test_html_is_email_safe_and_links_every_number(built: Built) -> None:
    html = built.rendered.email_html
    assert "<style" not in html and "<script" not in html and "class=" not in html
    assert "<link" not in html
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert sources == ["cid:volume", "cid:states", "cid:publish"]
    for number in built.digest.numbers:
        assert f'href="{number.link.replace("&", "&amp;")}"' in html, number.key
    assert 'src="charts/volume.png"' in built.rendered.html


def test_markdown_and_text_versions(built: Built) -> None:
    md, text = built.rendered.markdown, built.rendered.text
    assert md.startswith("# 听风舆情日报 2026年11月18日")
    assert "| [帖子](https://tingfeng.example.gov.cn/api/v1/posts?since=" in md
    assert "![帖子量与情绪趋势](charts/volume.png)" in md
    assert "【关键数字】" in text and "- 帖子：12条 / 7 ↑5（+71%） / 4 ↑8（+200%）" in text
    assert "https://tingfeng.example.gov.cn/api/v1/incidents/i2" in text


def test_an_empty_day_gives_a_short_no_activity_digest(built_empty: Built) -> None:
    digest, rendered = built_empty.digest, built_empty.rendered
    assert digest.empty and digest.charts == [] and rendered.images == {}
    pages = pdf_text(rendered.pdf)
    assert len(pages) == 1
    assert "本期无活动" in pages[0]
    assert "本期无活动" in rendered.text and len(rendered.text.splitlines()) < 40
    assert "<img" not in rendered.html
