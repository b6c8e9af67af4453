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
from verify import report as R
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


# --------------------------------------------------------------------------- atomic switch (issue 14.6)


def _tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _old_reports(d: Path) -> dict[str, bytes]:
    d.mkdir()
    (d / "README.md").write_text(R.GENERATED_MARK + "\nold index\n")
    (d / "old-family.md").write_text(R.GENERATED_MARK + "\nold page, no longer generated\n")
    (d / "claims.json").write_text('{"old": true}\n')
    (d / "performance.md").write_text("# Performance (written by tox -e bench, not by verify)\n")
    (d / "figures").mkdir()
    (d / "figures" / "kept.png").write_bytes(b"old png of a family not rendered now")
    (d / "figures" / "redrawn.png").write_bytes(b"old png")
    return _tree(d)


NEW_FILES = {"README.md": b"new index\n", "claims.json": b'{"new": true}\n', "fam.md": b"new page\n",
             "figures/redrawn.png": b"new png"}


def _expected_new(old: dict[str, bytes]) -> dict[str, bytes]:
    keep = {k: v for k, v in old.items() if k in ("performance.md", "figures/kept.png")}
    return keep | NEW_FILES


@pytest.mark.parametrize("fail_at", range(len(NEW_FILES) + 2))
def test_interrupted_commit_leaves_old_or_new_reports_never_a_mix(tmp_path, monkeypatch, fail_at):
    out = tmp_path / "reports"
    old = _old_reports(out)
    calls = {"n": 0}
    real_write, real_switch = R._write_file, R._switch

    def write(root, name, data):
        if calls["n"] == fail_at:
            raise KeyboardInterrupt("injected between files")
        calls["n"] += 1
        real_write(root, name, data)

    def switch(stage, dst):
        if calls["n"] == fail_at:
            raise KeyboardInterrupt("injected before the switch")
        real_switch(stage, dst)

    monkeypatch.setattr(R, "_write_file", write)
    monkeypatch.setattr(R, "_switch", switch)
    try:
        R.commit_tree(dict(NEW_FILES), out)
        interrupted = False
    except KeyboardInterrupt:
        interrupted = True
    now = _tree(out)
    assert now == (old if interrupted else _expected_new(old))
    assert interrupted == (fail_at <= len(NEW_FILES))
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]  # no staging directory left behind


def test_commit_without_renameat2_still_switches_whole_trees(tmp_path, monkeypatch):
    out = tmp_path / "reports"
    old = _old_reports(out)
    monkeypatch.setattr(R, "_exchange", lambda a, b: False)
    R.commit_tree(dict(NEW_FILES), out)
    assert _tree(out) == _expected_new(old)
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]


def test_symlinked_figures_do_not_redirect_writes(tmp_path):
    out = tmp_path / "reports"
    _old_reports(out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "victim.png").write_bytes(b"must not change")
    import shutil

    shutil.rmtree(out / "figures")
    (out / "figures").symlink_to(elsewhere, target_is_directory=True)
    R.commit_tree(dict(NEW_FILES), out)
    assert _tree(elsewhere) == {"victim.png": b"must not change"}
    assert not (out / "figures").is_symlink() and (out / "figures" / "redrawn.png").read_bytes() == b"new png"
    with pytest.raises(ValueError, match="name"):
        R.commit_tree({"../escape.md": b"x"}, out)
    with pytest.raises(ValueError, match="family"):
        R.page_name("../../X")
    assert not (tmp_path / "escape.md").exists()


# --------------------------------------------------------------------------- reproducible figures (issue 13.1)


def test_rounding_level_figures_render_as_bounds_and_floats_to_stable_digits():
    assert R.stable_float(2.920e-14, "max_error") == R.stable_float(2.925e-14, "max_error") == "< 1e-13"
    # ulp-level values differ between machines (2.2e-16 here, 6.7e-16 there): one fixed floor
    assert R.stable_float(4.4e-16, "max_error") == R.stable_float(6.7e-16, "max_error") == "< 1e-13"
    assert R.stable_float(3e-17, "sequence_is") == "≈0 (< 1e-12)"
    assert R.stable_float(1e-15, "h") == 1e-15 and R.stable_float(1e-20, "tolerance") == 1e-20  # inputs stay
    assert R.stable_float(4.9e-31, "max_error") == "< 1e-30"  # an mpmath-level difference keeps its decade
    a, b = 0.1 + 0.2, 0.3  # differ in the 17th digit, like V_pi arrays from another BLAS
    assert a != b and R.stable_float(a) == R.stable_float(b) == 0.3
    assert R.stable_float(0.0123, "max_error") == 0.0123  # a real discrepancy keeps its value
    assert R.stabilize({"V_pi": [a, 1.0], "n": 3}) == {"V_pi": [0.3, 1.0], "n": 3}
    text = "vs reference (rel 2.9e-14), within 1e-12, h=1e-15, slope 0.494696241836107, eps 0.2"
    assert R.stable_text(text) == "vs reference (rel < 1e-13), within 1e-12, h=1e-15, slope 0.4946962418, eps 0.2"


def test_raw_values_stay_on_the_evidence_and_json_is_rounded():
    results = engine.run_claims(["SURR-GRAD-EQ"], profile="debug")
    raw = [f for e in results[0].evidence for f in e.figures.values() if isinstance(f, float)]
    assert raw  # the in-memory evidence keeps full floats
    entry = R.claim_entry(results[0])
    for m in entry["methods"]:
        for v in m["figures"].values():
            assert not isinstance(v, float) or v == float(f"{v:.10g}")


def test_titles_are_escaped_and_the_digest_lists_every_refuted_claim():
    assert R.md_text("<img src=x> [a](b) *x* a|b") == "\\<img src=x\\> \\[a\\](b) \\*x\\* a\\|b"
    d = ROOT / "reports"
    doc = json.loads((d / "claims.json").read_text())
    text = R.render_index(doc)
    assert text.index("## What the sources get wrong") < text.index("## Summary") < text.index("## Status legend")
    digest = text.split("## What the sources get wrong")[1].split("## Summary")[0]
    refuted = [c["id"] for c in doc["claims"] if c["status"] == "refuted"]
    assert refuted
    for cid in refuted:
        assert f"[**{cid}**](" in digest
    assert digest.count("*What is wrong:*") == digest.count("*Fix:*") == len(refuted)


def test_packages_that_change_report_bytes_are_pinned():
    pins = {ln.split("==")[0].strip().lower() for ln in (ROOT / "constraints.txt").read_text().splitlines()
            if "==" in ln and not ln.lstrip().startswith("#")}
    assert set(R.PINNED_PACKAGES) | {"matplotlib", "pillow"} <= pins
    assert set(R.environment()) == set(R.PINNED_PACKAGES)  # the report lists exactly the pinned stack


def test_signals_between_the_fallback_renames_are_delivered_after_them():
    import signal

    reached = []
    # Python's own SIGINT handler, whatever this process inherited (a shell's background job ignores SIGINT)
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with R._signals_deferred():
                signal.raise_signal(signal.SIGINT)
                reached.append("after the signal, still inside")
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert reached == ["after the signal, still inside"]
