"""Readable titles for the seed documents the seed statements quote.

A report cites a seed by its title and line (``seed_citation``); the file name stays in
``Source.seed_file`` (and so in ``claims.json``) for the quote test.
"""

from __future__ import annotations

#: Seed file -> readable title, each taken from the document's own first lines.
SEED_TITLES: dict[str, str] = {
    "000_df799f8b05dafca5.txt": "Blog post: the learner-sampler mismatch in policy-gradient RL, Part II (seed 000)",
    "001_7cd217662ff5462a.txt": "Lecture slides: Policy gradient methods, sample reuse and trust regions (seed 001)",
    "002_b2d5f747b44654f0.txt": "Quiz: the importance-sampled surrogate objective's gradient (seed 002)",
    "003_aec5cba77cab1993.txt": "Blog post: 'Pertinacity and the Puke', Steepish Descent (seed 003)",
}


def seed_title(seed_file: str) -> str:
    """The readable title of ``seed_file`` (a file name listed in :data:`SEED_TITLES`)."""
    if seed_file not in SEED_TITLES:
        raise ValueError(f"seed_file: expected one of {sorted(SEED_TITLES)}, got {seed_file!r}")
    return SEED_TITLES[seed_file]


def seed_citation(seed_file: str, where: str = "") -> str:
    """``"<title>, <where>"``: e.g. ``seed_citation(S1, "line 416")``."""
    title = seed_title(seed_file)
    return f"{title}, {where}" if where else title
