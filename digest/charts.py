"""PNG charts of a digest, drawn with matplotlib in a CJK font (no pyplot global state)."""

from __future__ import annotations

import io
from collections.abc import Callable

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from digest.errors import FontMissing
from digest.fonts import CjkFont, missing_glyphs, register_with_matplotlib
from digest.model import Chart, Digest
from digest.series import ChartSeries

DPI = 110
BLUE, RED, ORANGE, GREY = "#2f6fb0", "#c0392b", "#e67e22", "#95a5a6"


class _Canvas:
    """Draws with one font and remembers every string drawn, to check glyph coverage."""

    def __init__(self, font: CjkFont) -> None:
        self.font = font
        self.texts: list[str] = []

    def figure(self, height: float = 3.2) -> Figure:
        return Figure(figsize=(7.2, height), dpi=DPI, layout="constrained")

    def text(self, value: str) -> str:
        self.texts.append(value)
        return value

    def style(self, ax: Axes, title: str, ylabel: str = "") -> None:
        ax.set_title(self.text(title), fontsize=12, loc="left", family=self.font.family)
        if ylabel:
            ax.set_ylabel(self.text(ylabel), family=self.font.family)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
        ax.set_axisbelow(True)
        for label in ax.get_xticklabels() + ax.get_yticklabels():
            label.set_fontfamily(self.font.family)

    def empty(self, ax: Axes, message: str) -> None:
        ax.text(
            0.5,
            0.5,
            self.text(message),
            ha="center",
            va="center",
            color=GREY,
            transform=ax.transAxes,
            family=self.font.family,
            fontsize=12,
        )
        ax.set_xticks([])
        ax.set_yticks([])

    def png(self, fig: Figure) -> bytes:
        lacking = missing_glyphs(self.font, "".join(self.texts))
        if lacking:
            raise FontMissing(f"{self.font.family} lacks glyphs for {''.join(sorted(lacking))}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
        return buf.getvalue()


def _tick_labels(series: ChartSeries) -> list[str]:
    if series.interval == "hour":
        return [f"{b:%H}时" for b in series.buckets]
    return [f"{b:%-m月%-d日}" for b in series.buckets]


def _volume(canvas: _Canvas, series: ChartSeries) -> Figure:
    fig = canvas.figure(4.6)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    x = range(len(series.buckets))
    top.bar(x, series.volume, color=BLUE, width=0.8)
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    canvas.style(top, "帖子量", "帖子数")
    colors = [RED, ORANGE, GREY]
    for color, (name, share) in zip(colors, series.emotion_share.items(), strict=False):
        points = [(i, v) for i, v in enumerate(share) if v is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            bottom.plot(xs, ys, marker="o", markersize=3, color=color, label=canvas.text(name))
    canvas.style(bottom, "恐惧、愤怒情绪占比", "占比（%）")
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(prop={"family": canvas.font.family}, frameon=False, loc="upper right")
    labels = _tick_labels(series)
    every = 3 if series.interval == "hour" else 1
    bottom.set_xticks(list(x)[::every], [canvas.text(t) for t in labels[::every]])
    for label in bottom.get_xticklabels():
        label.set_fontfamily(canvas.font.family)
    return fig


def _states(canvas: _Canvas, series: ChartSeries) -> Figure:
    fig = canvas.figure(max(2.4, 0.45 * len(series.states) + 1.2))
    ax = fig.subplots()
    if not series.states:
        canvas.empty(ax, "本期无新建事件")
        canvas.style(ax, "本期新建事件的当前状态")
        return fig
    names = [canvas.text(n) for n, _ in series.states][::-1]
    counts = [c for _, c in series.states][::-1]
    bars = ax.barh(names, counts, color=BLUE)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.bar_label(bars, padding=3)
    canvas.style(ax, "本期新建事件的当前状态", "")
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.8)
    ax.grid(axis="y", visible=False)
    return fig


def _publish(canvas: _Canvas, series: ChartSeries) -> Figure:
    fig = canvas.figure(3.0)
    ax = fig.subplots()
    title = f"发布用时（中位数，近 {len(series.publish_days)} 日）"
    if not any(series.publish_counts):
        canvas.empty(ax, "该时段无已发布回应")
        canvas.style(ax, title)
        return fig
    x = range(len(series.publish_days))
    heights = [v or 0 for v in series.publish_median_h]
    bars = ax.bar(x, heights, color=BLUE)
    ax.bar_label(
        bars,
        labels=[canvas.text(f"{n}件") if n else "" for n in series.publish_counts],
        padding=2,
        fontsize=8,
        family=canvas.font.family,
    )
    canvas.style(ax, title, "小时")
    ticks = [canvas.text(f"{d:%-m/%-d}") for d in series.publish_days]
    ax.set_xticks(list(x)[::2], ticks[::2])
    return fig


CHARTS: list[tuple[str, str, str, Callable[[_Canvas, ChartSeries], Figure]]] = [
    ("volume", "帖子量与情绪趋势", "按时段的帖子量，以及恐惧、愤怒帖子的占比", _volume),
    ("states", "事件状态", "本期新建事件按当前状态的数量", _states),
    ("publish", "发布用时", "每日已发布回应的发布用时中位数（小时）", _publish),
]


def render_charts(digest: Digest, series: ChartSeries, font: CjkFont) -> dict[str, bytes]:
    """PNG bytes per chart name; also records the charts on `digest.charts`."""
    register_with_matplotlib(font)
    images: dict[str, bytes] = {}
    digest.charts = []
    for name, title, alt, draw in CHARTS:
        canvas = _Canvas(font)
        images[name] = canvas.png(draw(canvas, series))
        digest.charts.append(Chart(name=name, title=title, alt=alt))
    return images
