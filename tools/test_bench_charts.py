"""The benchmark page's charts are drawn from its own tables, and the committed ones are
up to date with the committed numbers."""

from pathlib import Path
from xml.etree import ElementTree

from tools.bench_charts import add_charts, find_charts, render_svg, strip_charts

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "benchmarks.md"

TABLE = """## storage-sqlite: `puregram.storage_sqlite`

| op | raw µs | ours µs | ratio to raw | to_thread / ours |
| --- | ---: | ---: | ---: | ---: |
| get | 5.10 | 5.44 | 1.07x | 17.8x |
| set | 7.38 | 7.65 | 1.04x | n/a |

| update | commands |
| --- | --- |
| changed | GET 1 + SET 1 |
"""


def test_a_ratio_table_becomes_a_chart_and_other_tables_do_not() -> None:
    (chart,) = find_charts(TABLE)
    assert chart.name == "storage-sqlite"
    assert chart.rows == ("get", "set")
    # The last column has a cell that is not a ratio: it is not a ratio column.
    assert chart.series == (("ratio to raw", (1.07, 1.04)),)
    svg = ElementTree.fromstring(render_svg(chart))
    texts = [text.text for text in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "1.07x" in texts
    assert "get" in texts


def test_charts_are_linked_under_their_table_and_redrawing_is_stable(tmp_path: Path) -> None:
    page = add_charts(TABLE, tmp_path / "charts")
    assert "| set | 7.38 | 7.65 | 1.04x | n/a |\n\n![" in page
    assert [p.name for p in (tmp_path / "charts").iterdir()] == ["storage-sqlite.svg"]
    assert add_charts(page, tmp_path / "charts") == page
    assert strip_charts(page) == TABLE


def test_the_committed_charts_match_the_committed_numbers(tmp_path: Path) -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert add_charts(page, tmp_path / "charts") == page, "run python tools/bench_charts.py"
    drawn = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "charts").iterdir()}
    committed = {p.name: p.read_text(encoding="utf-8") for p in (PAGE.parent / "charts").iterdir()}
    assert drawn == committed, "run python tools/bench_charts.py"
    assert len(drawn) >= 8  # every package's ratio table and the three comparisons
