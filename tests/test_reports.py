"""The reports render as GitHub-style markdown: tables parse, images and links resolve.

Checked on freshly rendered reports and on the committed ``reports/`` folder.
"""

from __future__ import annotations

import itertools
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from verify import engine
from verify.registry import STATUSES, load_all
from verify.report import write_reports

markdown = pytest.importorskip("markdown")
ROOT = Path(__file__).resolve().parent.parent


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.imgs: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if a.get("id"):
            self.ids.add(a["id"])


def render(path: Path) -> _Collect:
    html = markdown.markdown(path.read_text(encoding="utf-8"), extensions=["tables", "fenced_code"])
    c = _Collect()
    c.feed(html)
    return c


def check_folder(d: Path) -> None:
    pages = {p.name: render(p) for p in d.glob("*.md") if p.name != "performance.md"}
    assert "README.md" in pages
    for name, page in pages.items():
        assert "table" in page.tags, f"{name}: no table rendered"
        for src in page.imgs:
            assert (d / src).is_file(), f"{name}: image {src} missing"
        for href in page.links:
            if re.match(r"^[a-z]+://", href):
                continue
            target, _, frag = href.partition("#")
            tname = target or name
            assert (d / tname).is_file(), f"{name}: link to missing file {href}"
            if frag and tname in pages:
                assert frag in pages[tname].ids, f"{name}: anchor #{frag} not found in {tname}"


def test_fresh_reports_render(tmp_path):
    results = engine.run_claims(["PDL", "SURR-GRAD-EQ"], profile="debug")
    write_reports(results, tmp_path, profile="debug", seed=0)
    check_folder(tmp_path)
    doc = json.loads((tmp_path / "claims.json").read_text())
    assert {c["id"] for c in doc["claims"]} == {"PDL", "SURR-GRAD-EQ"}
    for c in doc["claims"]:
        assert {"id", "title", "status", "expected", "methods", "source"} <= set(c)
        assert c["status"] in STATUSES
        for m in c["methods"]:
            assert m["kind"] in {"symbolic", "high-precision", "exact", "property", "monte-carlo"}
            assert isinstance(m["passed"], bool | None)


def test_committed_reports_render_and_match_the_registry():
    d = ROOT / "reports"
    if not (d / "claims.json").exists():
        pytest.fail("reports/claims.json is missing: run `python -m verify run` and commit reports/")
    check_folder(d)
    doc = json.loads((d / "claims.json").read_text())
    reg = load_all()
    assert {c["id"] for c in doc["claims"]} == set(reg), "committed reports are stale: regenerate them"
    for c in doc["claims"]:
        assert c["expected"] == reg[c["id"]].expected, f"{c['id']}: stale expected verdict in reports"
        assert c["status"] == c["expected"], f"{c['id']}: committed status differs from the expected verdict"
        if reg[c["id"]].kind == "seed-statement":
            assert c["source"].get("seed_file") and c["source"].get("quote")


# --------------------------------------------------------------------------- plots (issue 13.3)


def _words(text: str) -> str:
    """Text outside $...$ mathtext (where an underscore is a subscript, not an identifier)."""
    return re.sub(r"\$[^$]*\$", "", text)


def test_every_plot_has_title_labels_with_units_and_a_worded_legend():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    from verify.registry import PLOTS

    load_all()
    assert PLOTS
    for p in PLOTS.values():
        fig = p.make()
        try:
            fig.canvas.draw()
            for ax in fig.get_axes():
                assert ax.get_title(), f"{p.name}: no title"
                for label in (ax.get_xlabel(), ax.get_ylabel()):
                    assert label and "(" in label, f"{p.name}: axis label {label!r} without units"
                    assert "_" not in _words(label), f"{p.name}: identifier in axis label {label!r}"
                _, labels = ax.get_legend_handles_labels()
                if len(labels) > 1:
                    assert ax.get_legend() is not None, f"{p.name}: {len(labels)} labelled lines, no legend"
                for lab in labels:
                    assert "_" not in _words(lab), f"{p.name}: legend entry {lab!r} is an identifier, not words"
                ticks = [t for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
                boxes = sorted((t.get_window_extent() for t in ticks), key=lambda b: b.x0)
                for a, b in itertools.pairwise(boxes):
                    assert a.x1 <= b.x0, f"{p.name}: x tick labels overlap"
        finally:
            plt.close(fig)
