"""The reading rule is in the report legend, every re-judged claim's page says how the rule
decided it, and no claim cites a document a reader of the repository cannot open."""

from __future__ import annotations

import re

import pytest

from verify.engine import ClaimResult
from verify.reading_rule import READING_RULE
from verify.registry import Evidence, load_all
from verify.report import build_document, render_family, render_index
from verify.seeds import SEED_TITLES, seed_citation

REG = load_all()

#: Claims re-judged under the reading rule (issue: "verdicts a referee can stand behind", item 6) and the
#: seed statements encoded under it since; each must say how the rule decided it.
REJUDGED = (
    "SEED-S1-NATGRAD-ON3", "SEED-S1-QUADRATIC-MODEL", "SEED-001-PPO-CLIP-GRAD", "SEED-IMPALA-IONIDES-TRUNCATION",
    "SEED-001-PPO-KL-RULE", "SEED-S1-PINSKER-TV", "GRPO-K3-UNBIASED-POSITIVE", "SEED-003-PUKE-ARBITRARY",
    "SEED-S1-IS-SAMPLE-MEAN", "SEED-S1-IS-ERROR-FORMULA", "SEED-S1-DRIFT-PER-ACTION-EPS",
    # seed sentences encoded under the rule (item 7)
    "SEED-S1-CHANGE-OF-VARIABLE", "SEED-S1-IS-TRUE-MEAN", "SEED-S1-ESS-RULE", "SEED-S1-GAUSSIAN-PARAM-STEP",
    "SEED-S1-TRPO-KL-CONSTRAINT", "SEED-S1-EUCLIDEAN-STEP", "SEED-S1-PPO-OUTSIDE-THRESHOLD", "SEED-IMPALA-IS-TARGET",
    "SEED-S2-SURROGATE-GRADIENT-PROPERTY", "SEED-S2-TRAJECTORY-SURROGATE-GRADIENT", "SEED-003-VARIANCE-EW2",
    "SEED-003-SELF-NORMALIZATION", "SEED-003-CLIP-RANGES", "SEED-003-SELF-NORMALIZED-GRADIENT",
    "SEED-000-TRAJECTORY-RATIO-FIX",
)

#: Verdicts the reading rule settled (expected, stored separately from the derived status): a change here is a
#: change of judgement and must be argued in the claim's ``reading``.
REJUDGED_EXPECTED = {
    "SEED-S1-NATGRAD-ON3": "verified", "SEED-S1-QUADRATIC-MODEL": "verified", "SEED-001-PPO-CLIP-GRAD": "verified",
    "SEED-IMPALA-IONIDES-TRUNCATION": "verified", "SEED-001-PPO-KL-RULE": "verified", "SEED-S1-PINSKER-TV": "verified",
    "GRPO-K3-UNBIASED-POSITIVE": "verified", "SEED-003-PUKE-ARBITRARY": "verified",
    "SEED-S1-IS-SAMPLE-MEAN": "verified", "SEED-S1-IS-ERROR-FORMULA": "verified",
    "SEED-S1-DRIFT-PER-ACTION-EPS": "refuted",
}

#: Documents outside the repository, and seed file names (kept only in Source.seed_file).
OUTSIDE = re.compile(r"CLAIMS-CATALOGUE|catalogue|PEERS\.md|errata|the brief|shared/|STYLE-ANCHORS|CONTRACT\.md|"
                     r"\d{3}_[0-9a-f]{16}\.txt", re.IGNORECASE)


def rendered_fields(c) -> dict[str, str]:
    return {"title": c.title, "statement": c.statement, "citation": c.source.citation,
            "quote": c.source.quote or "", "url": c.source.url or "", "notes": c.notes, "reading": c.reading,
            "conventions": " ".join(c.conventions), "assumptions": " ".join(c.assumptions)}


@pytest.mark.parametrize("cid", sorted(REG))
def test_no_claim_mentions_an_outside_document(cid):
    for field, text in rendered_fields(REG[cid]).items():
        m = OUTSIDE.search(text)
        assert m is None, f"{cid}.{field} mentions {m.group(0)!r}, which a reader of the repository cannot open"


def test_the_outside_pattern_catches_what_it_must():
    for bad in ("CLAIMS-CATALOGUE G", "per the catalogue", "errata #20", "(via the brief)", "shared/reference/PEERS.md",
                "001_7cd217662ff5462a.txt"):
        assert OUTSIDE.search(bad), bad
    assert OUTSIDE.search(seed_citation("001_7cd217662ff5462a.txt", "line 416")) is None


def test_seed_statements_cite_the_seed_title():
    for c in REG.values():
        if c.source.seed_file:
            assert c.source.citation.startswith(SEED_TITLES[c.source.seed_file]), c.id


def test_seed_citation_validates():
    with pytest.raises(ValueError, match="seed_file"):
        seed_citation("nope.txt")


@pytest.mark.parametrize("cid", REJUDGED)
def test_rejudged_claims_say_how_the_rule_decided(cid):
    c = REG[cid]
    assert len(c.reading) > 40, f"{cid}: no account of how the reading rule decided it"
    res = ClaimResult(cid, c.title, c.family, c.kind, c.expected, c.expected,
                      [Evidence("exact", True, "placeholder evidence: only the page layout is tested")])
    doc = build_document([res], profile="debug", seed=0)
    page = render_family(doc, c.family, [])
    assert "**How the reading rule decided this:** " + c.reading in page
    assert "**Reading rule for seed statements.** " + READING_RULE in render_index(doc)
    assert c.source.seed_file is None or c.source.seed_file not in page


@pytest.mark.parametrize("cid", sorted(REJUDGED_EXPECTED))
def test_rejudged_expected_verdicts(cid):
    assert REG[cid].expected == REJUDGED_EXPECTED[cid]


def test_every_refuted_seed_statement_has_a_verified_correction():
    corrections = {c.corrects: c for c in REG.values() if c.corrects}
    for c in REG.values():
        if c.kind == "seed-statement" and c.expected == "refuted":
            assert c.id in corrections, f"{c.id}: refuted without a correction"
            assert corrections[c.id].expected == "verified", f"{c.id}: its correction is not expected verified"
