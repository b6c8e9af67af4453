"""Mutation tests for the policy-gradient and trust-region claim families.

A fault planted in a public reference function, or a bound's constant shrunk by the
catalogue's factor, must turn the claims that rely on it red; the unmutated claims are
verified (tests/test_claims.py checks every claim's expected status).
"""

from __future__ import annotations

import numpy as np
import pytest

from reference_impls import gradients as G
from reference_impls import trust_region as T
from verify.claims.trust_region import _common as TR
from verify.engine import run_claim
from verify.registry import load_all

REG = load_all()
FAMILIES = ("policy-gradient", "trust-region")


def _status(claim_id: str) -> str:
    return run_claim(claim_id, profile="debug", seed=0).status


# --------------------------------------------------------------------------- planted faults in reference functions


def test_faulty_natural_gradient_step_turns_kkt_claims_red(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _status("KKT-NATGRAD-STEP") == "verified"
    original = T.natural_gradient_step

    def too_short(grad, fisher, max_kl):  # the slides' D_k normalization: sqrt(2) too short
        return np.asarray(original(grad, fisher, max_kl)) / np.sqrt(2.0)

    monkeypatch.setattr(T, "natural_gradient_step", too_short)
    assert _status("KKT-NATGRAD-STEP") == "refuted"
    assert _status("SEED-S1-KKT-DK-CORRECTED") == "refuted"
    assert _status("SEED-S1-KKT-UPDATE-CORRECTED") == "refuted"


def test_faulty_policy_gradient_turns_pg_claims_red(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _status("PG-THEOREM") == "verified"
    original = G.policy_gradient

    def normalized_visitation(mdp, logits):  # uses d = (1-gamma) rho instead of rho: drops 1/(1-gamma)
        return (1.0 - mdp.gamma) * original(mdp, logits)

    monkeypatch.setattr(G, "policy_gradient", normalized_visitation)
    for cid in ("PG-THEOREM", "SURR-GRAD-EQ", "SEED-S1-PG-DERIVATION-CORRECTED",
                "SEED-S1-GRAD-PI-IN-EXPECTATION-CORRECTED"):
        assert _status(cid) == "refuted", cid


def test_tiny_policy_gradient_fault_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    original = G.policy_gradient
    monkeypatch.setattr(G, "policy_gradient", lambda mdp, logits: original(mdp, logits) * (1 + 1e-6))
    assert _status("PG-THEOREM") == "refuted"  # mpmath finite differences agree to ~1e-14


def test_faulty_surrogate_turns_trust_region_claims_red(monkeypatch: pytest.MonkeyPatch) -> None:
    original = G.surrogate
    monkeypatch.setattr(G, "surrogate", lambda mdp, logits, old: original(mdp, logits, old) + 1e-3)
    assert _status("SURR-APPROX-ERROR") == "refuted"
    assert _status("TRPO-BOUND") == "refuted"


def test_faulty_conjugate_gradient_turns_trpo_implementation_red(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _status("TRPO-IMPLEMENTATION") == "verified"
    original = T.conjugate_gradient

    def one_iteration(matvec, b, iterations=10, tolerance=1e-10):  # truncated: not the natural direction
        return original(matvec, b, iterations=1, tolerance=tolerance)

    monkeypatch.setattr(T, "conjugate_gradient", one_iteration)
    assert _status("TRPO-IMPLEMENTATION") == "refuted"


# --------------------------------------------------------------------------- shrunk constants


@pytest.mark.parametrize(
    ("key", "factor", "claim_id"),
    [
        ("PINSKER", 0.99, "PINSKER"),  # Bernoulli delta = 0.01: ratio 0.9999667 > 0.99
        ("CPO-COR1", 0.95, "CPO-BOUND"),  # escape chain alpha = 1e-3: ratio 0.99108 > 0.95
        ("TRPO-44", 0.85, "TRPO-BOUND"),  # 3-state instance: ratio 0.89989 > 0.85
        ("CPI", 0.95, "CPI-BOUND"),  # escape chain: equality
        ("STATE-DRIFT", 0.95, "STATE-DRIFT-BOUND"),  # escape chain: equality at every t
    ],
)
def test_shrunk_constant_is_caught(monkeypatch: pytest.MonkeyPatch, key: str, factor: float, claim_id: str) -> None:
    assert _status(claim_id) == "verified"
    monkeypatch.setitem(TR.BOUND_SCALE, key, factor)
    res = run_claim(claim_id, profile="debug", seed=0)
    assert res.status == "refuted"
    failing = [e for e in res.evidence if e.passed is False]
    assert any(e.kind == "high-precision" for e in failing)  # the near-tight fixture is what catches it


def test_inequality_evidence_reports_search_fixture_and_mutation() -> None:
    expectations = {
        "PINSKER": ("worst_ratio", 0.9999667, "PINSKER"),
        "CPO-BOUND": ("worst_ratio_cor1", 0.99108, "CPO-COR1"),
        "TRPO-BOUND": ("worst_ratio_eq44", 0.89989, "TRPO-44"),
    }
    for cid, (search_key, fixture_ratio, mut_key) in expectations.items():
        res = run_claim(cid, profile="debug", seed=0)
        figs: dict = {}
        for e in res.evidence:
            figs.update(e.figures)
        assert 0.0 <= figs[search_key] <= 1.0, cid
        assert figs["fixture_ratio"] == pytest.approx(fixture_ratio, abs=5e-5), cid
        assert figs["mutation"]["mutation_factor"] == TR.MUTATION[mut_key]
        assert figs["mutation"]["mutation_detected"] is True


# --------------------------------------------------------------------------- registry structure


def test_every_seed_statement_has_a_verified_correction_and_a_quote() -> None:
    mine = [c for c in REG.values() if c.family in FAMILIES]
    seeds = [c for c in mine if c.kind == "seed-statement"]
    assert len(seeds) >= 15
    corrections = {c.corrects: c for c in mine if c.kind == "correction"}
    for c in seeds:
        assert c.source.seed_file and c.source.quote, c.id
        if c.expected != "refuted":  # verified as read under the reading rule (see Claim.reading)
            assert c.reading, f"{c.id}: a seed statement that stands must say how the reading rule decided it"
            continue
        assert c.id in corrections, f"{c.id} has no correction"
        assert corrections[c.id].expected == "verified"


def test_theorems_use_at_least_two_evidence_kinds() -> None:
    for c in REG.values():
        if c.family in FAMILIES and c.kind in ("theorem", "correction", "implementation"):
            kinds = {getattr(chk, "check_kind", None) for chk in c.checks}
            assert len(kinds) >= 2, c.id


def test_escape_chain_plot_is_registered_and_deterministic() -> None:
    pytest.importorskip("matplotlib")
    from verify.registry import PLOTS

    p = PLOTS["trust-region-escape-chain-bounds"]
    assert p.family == "trust-region"
    fig1, fig2 = p.make(), p.make()
    ax1, ax2 = fig1.axes[0], fig2.axes[0]
    assert ax1.get_xscale() == "log" and ax1.get_yscale() == "log"
    assert len(ax1.lines) == 5  # four penalties and the exact gap
    for l1, l2 in zip(ax1.lines, ax2.lines):
        np.testing.assert_array_equal(l1.get_ydata(), l2.get_ydata())
    # the unsimplified CPI penalty coincides with the exact gap; TRPO eq. (44) is exactly twice it
    by_label = {ln.get_label(): np.asarray(ln.get_ydata()) for ln in ax1.lines}
    gap = by_label["actual $|\\eta - L|$ (exact)"]
    np.testing.assert_allclose(by_label["CPI (unsimplified)"], gap, rtol=1e-12)
    np.testing.assert_allclose(by_label["TRPO eq. (44)"], 2 * gap, rtol=1e-12)
