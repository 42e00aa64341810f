"""SVG bar charts of the ratio tables in docs/benchmarks.md, in pure Python.

``tools/bench_all.py`` calls ``add_charts`` on the page it renders: every Markdown table
with at least one column of ratios (every cell like ``1.06x``, or with a multiplication
sign) becomes a horizontal bar chart, one bar per row and ratio column, with a line at
1x, written as ``charts/<section>.svg`` beside the page and linked right under its table.
A ratio range wider than 20x is drawn on a log scale. ``python tools/bench_charts.py`` redraws the
charts of the committed page from its numbers, without running a benchmark.
"""

from __future__ import annotations

import html
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Chart", "add_charts", "find_charts", "render_svg", "strip_charts"]

TIMES = "\u00d7"  # the multiplication sign of the comparison tables
RATIO = re.compile(rf"^\s*(\d+(?:\.\d+)?)\s*[x{TIMES}]\s*$")
CHART_LINE = re.compile(r"^!\[[^\]]*\]\(charts/[^)]+\.svg\)$")
COLORS = ("#3f51b5", "#ff9800", "#009688", "#e91e63", "#8bc34a")
BACKENDS = ("memory", "redis", "sqlite", "postgres", "cluster")
WIDTH = 820
LABEL_WIDTH = 330
BAR = 14
GAP = 10


@dataclass(frozen=True)
class Chart:
    name: str
    """File stem: the heading's slug, with ``-2``... for a second table under it."""
    title: str
    rows: tuple[str, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]
    """(label, one value per row; None for a cell that is not a ratio)."""
    end_line: int
    """Index of the table's last line in the page."""


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _plain(text: str) -> str:
    return re.sub(r"[`*]", "", text).strip()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _plain(text).lower()).strip("-") or "chart"


def _ratio(cell: str) -> float | None:
    match = RATIO.match(_plain(cell))
    return float(match.group(1)) if match else None


def _series_label(header: list[str], column: int) -> str:
    """A ratio column named only "ratio" or "x ours" is named after the column before it."""
    name = _plain(header[column])
    generic = name.lower() in {"ratio", f"{TIMES} ours", "x ours"}
    if generic and column > 1 and _ratio_free(header[column - 1]):
        before = re.sub(r"\s*µs\s*(/\s*)?", " ", _plain(header[column - 1])).strip()
        return f"{name}: {before}"
    return name


def _ratio_free(text: str) -> bool:
    return "ratio" not in text.lower() and TIMES not in text


def find_charts(markdown: str) -> list[Chart]:
    """Every table of the page with a column of ratios, in page order."""
    lines = markdown.splitlines()
    charts: list[Chart] = []
    section, heading, used = "benchmarks", "benchmarks", dict[str, int]()
    index = 0
    while index < len(lines):
        line = lines[index]
        if match := re.match(r"(#{1,6}) (.*)", line):
            heading = match.group(2)
            if len(match.group(1)) <= 2:
                section = _slug(heading.split(":")[0])
        if not (line.startswith("|") and index + 1 < len(lines) and "---" in lines[index + 1]):
            index += 1
            continue
        header = _cells(line)
        end = index + 2
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        body = [_cells(row) for row in lines[index + 2 : end]]
        columns = [
            column
            for column in range(1, len(header))
            if body and all(column < len(row) and _ratio(row[column]) is not None for row in body)
        ]
        if columns:
            labels = [_plain(row[0]) for row in body]
            if len(set(labels)) < len(labels) and len(header) > 1:
                labels = [f"{_plain(row[0])} · {_plain(row[1])}" for row in body]
            slug = _name(section, heading)
            used[slug] = used.get(slug, 0) + 1
            name = slug if used[slug] == 1 else f"{slug}-{used[slug]}"
            series = tuple(
                (_series_label(header, column), tuple(_ratio(row[column]) for row in body))
                for column in columns
            )
            title = _plain(heading)
            if _slug(heading.split(":")[0]) != section:
                title = f"{section}: {title}"
            charts.append(Chart(name, title, tuple(labels), series, end - 1))
        index = end
    return charts


def _name(section: str, heading: str) -> str:
    """``competitors-redis`` for "### Redis 6.2.14 on loopback" under "## competitors: ...":
    a file name that stays the same when a version in the heading changes."""
    if _slug(heading.split(":")[0]) == section:
        return section
    words = re.findall(r"[a-z]+", _plain(heading).lower())
    backend = next((w for w in words if w in BACKENDS), words[0] if words else "table")
    return f"{section}-{backend}"


def _fit(text: str, limit: int = 52) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_svg(chart: Chart) -> str:
    """One horizontal bar chart; 1x (the reference of every ratio) is a dashed line."""
    values = [value for _, column in chart.series for value in column if value is not None]
    high = max([*values, 1.0])
    low = min([*values, 1.0])
    log = high / low > 20
    plot_left, plot_right = LABEL_WIDTH, WIDTH - 70
    if log:
        lo, hi = math.log10(low) - 0.1, math.log10(high) + 0.05
        ticks = [10.0**power for power in range(math.floor(lo) + 1, math.ceil(hi) + 1)]
    else:
        lo, hi = 0.0, high * 1.08
        step = _nice_step(hi / 5)
        ticks = [step * n for n in range(int(hi / step) + 1)]

    def x(value: float) -> float:
        position = math.log10(value) if log else value
        return plot_left + (position - lo) / (hi - lo) * (plot_right - plot_left)

    legend_height = 22 if len(chart.series) > 1 else 0
    top = 44 + legend_height
    group = len(chart.series) * BAR + GAP
    height = top + len(chart.rows) * group + 36
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12" '
        f'role="img" aria-label="{html.escape(chart.title)}">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="12" y="22" font-size="14" font-weight="bold">'
        f"{html.escape(_fit(chart.title, 90))}</text>",
        f'<text x="12" y="38" fill="#555">the table\'s ratio columns; dashed line: 1x, the '
        f"reference measured in the same run{' (log scale)' if log else ''}</text>",
    ]
    for number, (label, _) in enumerate(chart.series if legend_height else ()):
        left = 12 + number * 250
        out.append(
            f'<rect x="{left}" y="{top - 18}" width="12" height="12" '
            f'fill="{COLORS[number % len(COLORS)]}"/>'
            f'<text x="{left + 18}" y="{top - 8}">{html.escape(_fit(label, 36))}</text>'
        )
    bottom = top + len(chart.rows) * group
    for tick in ticks:
        if not lo <= (math.log10(tick) if log else tick) <= hi:
            continue
        tx = x(tick)
        out.append(
            f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{bottom}" stroke="#e0e0e0"/>'
            f'<text x="{tx:.1f}" y="{bottom + 16}" text-anchor="middle" fill="#555">'
            f"{_format(tick)}x</text>"
        )
    for row, label in enumerate(chart.rows):
        y0 = top + row * group
        out.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y0 + len(chart.series) * BAR / 2 + 4:.1f}" '
            f'text-anchor="end">{html.escape(_fit(label))}</text>'
        )
        for number, (_, column) in enumerate(chart.series):
            value = column[row]
            if value is None:
                continue
            y = y0 + number * BAR
            start = x(10**lo) if log else plot_left
            out.append(
                f'<rect x="{start:.1f}" y="{y + 1}" width="{max(1.0, x(value) - start):.1f}" '
                f'height="{BAR - 2}" fill="{COLORS[number % len(COLORS)]}"/>'
                f'<text x="{x(value) + 4:.1f}" y="{y + BAR - 3}" fill="#333">'
                f"{_format(value)}x</text>"
            )
    one = x(1.0)
    out.append(
        f'<line x1="{one:.1f}" y1="{top - 6}" x2="{one:.1f}" y2="{bottom + 2}" '
        f'stroke="#c62828" stroke-dasharray="4 3"/>'
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _nice_step(raw: float) -> float:
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * power:
            return factor * power
    return 10.0 * power


def _format(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"


def strip_charts(markdown: str) -> str:
    """The page without the chart links ``add_charts`` put in (and their blank line)."""
    out: list[str] = []
    for line in markdown.splitlines():
        if CHART_LINE.match(line):
            if out and not out[-1].strip():
                out.pop()
            continue
        out.append(line)
    return "\n".join(out) + ("\n" if markdown.endswith("\n") else "")


def add_charts(markdown: str, charts_dir: Path) -> str:
    """Write one SVG per ratio table into ``charts_dir`` (stale ones removed) and return
    the page with each chart linked under its table."""
    markdown = strip_charts(markdown)
    charts = find_charts(markdown)
    charts_dir.mkdir(parents=True, exist_ok=True)
    for old in charts_dir.glob("*.svg"):
        old.unlink()
    lines = markdown.splitlines()
    for chart in reversed(charts):
        (charts_dir / f"{chart.name}.svg").write_text(render_svg(chart), encoding="utf-8")
        link = f"![{chart.title}: ratios as bars]({charts_dir.name}/{chart.name}.svg)"
        lines[chart.end_line + 1 : chart.end_line + 1] = ["", link]
    return "\n".join(lines) + "\n"


def main() -> int:
    page = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
    page.write_text(add_charts(page.read_text(encoding="utf-8"), page.parent / "charts"))
    print(f"charts of {page} redrawn from its numbers", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
