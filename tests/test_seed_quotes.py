"""Every seed statement quotes its seed document verbatim (whitespace-normalised)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from verify.registry import load_all

SEEDS = Path(__file__).resolve().parent.parent.parent / "shared" / "seeds"


def norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


SEED_CLAIMS = [c for c in load_all().values() if c.kind == "seed-statement"]


@pytest.mark.parametrize("claim", SEED_CLAIMS, ids=[c.id for c in SEED_CLAIMS])
def test_quote_is_verbatim(claim):
    if not SEEDS.is_dir():
        pytest.skip(f"seed documents not found at {SEEDS} (they live in ../shared/seeds)")
    path = SEEDS / str(claim.source.seed_file)
    assert path.is_file(), f"{claim.id}: seed file {claim.source.seed_file} does not exist"
    text = norm(path.read_text(encoding="utf-8"))
    quote = str(claim.source.quote)
    # a quote may elide with "..." / "…": every piece must appear, in order
    pieces = [norm(p) for p in re.split(r"\s*(?:\.\.\.|…)\s*", quote) if norm(p)]
    pos = 0
    for piece in pieces:
        found = text.find(piece, pos)
        assert found >= 0, f"{claim.id}: {piece!r} is not in {claim.source.seed_file}"
        pos = found + len(piece)
