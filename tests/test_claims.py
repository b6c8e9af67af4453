"""One test per registered claim: its derived status must equal the expected verdict."""

from __future__ import annotations

import os

import pytest

from verify.engine import run_claim
from verify.registry import load_all, ordered_ids

REG = load_all()
PROFILE = os.environ.get("PGV_CLAIMS_PROFILE", "ci")
# "random" (the thorough env) draws a fresh seed per run; conftest prints it in the header.
SEED = int(os.environ["PGV_CLAIMS_SEED_RESOLVED"]) if "PGV_CLAIMS_SEED_RESOLVED" in os.environ else 0


@pytest.mark.claims
@pytest.mark.parametrize("claim_id", ordered_ids(REG))
def test_claim_status_matches_expected(claim_id: str) -> None:
    res = run_claim(claim_id, profile=PROFILE, seed=SEED)
    detail = "; ".join(f"{e.check} [{e.kind}] passed={e.passed}: {e.summary}" for e in res.evidence)
    assert res.status == res.expected, f"{claim_id}: derived {res.status}, expected {res.expected}. Evidence: {detail}"
