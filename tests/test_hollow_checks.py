"""Hollow checks made able to fail (issue 11 item 5): each test plants a fault that the claim
used to pass with and shows that the claim now turns red (its status is no longer verified)."""

from __future__ import annotations

import numpy as np
import pytest

from reference_impls import gradients as G
from reference_impls import mdp as M
from verify.engine import run_claim


def _status(claim_id: str, profile: str = "debug", seed: int = 0) -> str:
    return run_claim(claim_id, profile=profile, seed=seed).status


def test_surr_grad_eq_control_compares_with_j_at_theta_new(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault: a "surrogate" that is J itself. It matches J and grad J at theta_old (the first-order
    # checks pass), and the old control compared L_old(theta_new) with J(theta_OLD), which J(theta_new)
    # also misses: SURR-GRAD-EQ stayed verified. The control now compares with J(theta_new).
    assert _status("SURR-GRAD-EQ") == "verified"

    def surrogate_is_j(mdp: M.FiniteMDP, logits: np.ndarray, old_logits: np.ndarray) -> float:
        return M.expected_return(mdp, M.softmax(np.asarray(logits, dtype=float)))

    monkeypatch.setattr(G, "surrogate", surrogate_is_j)
    assert _status("SURR-GRAD-EQ") == "refuted"


def test_trpo_implementation_catches_fisher_and_kl_scaled_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault: the Fisher matrix and the mean KL both built from the unnormalized visitation (a factor
    # 1/(1-gamma) on both). They agree with each other, every accepted step still has true KL <= delta,
    # so TRPO-IMPLEMENTATION stayed verified; the full step's realized KL is now checked against delta.
    from reference_impls import trust_region as T

    fisher, mean_kl = G.fisher_matrix, T.mean_kl

    def fisher_unnormalized(mdp: M.FiniteMDP, logits: np.ndarray) -> np.ndarray:
        return fisher(mdp, logits) / (1.0 - mdp.gamma)

    def kl_unnormalized(mdp: M.FiniteMDP, old_logits: np.ndarray, logits: np.ndarray) -> float:
        return mean_kl(mdp, old_logits, logits) / (1.0 - mdp.gamma)

    monkeypatch.setattr(G, "fisher_matrix", fisher_unnormalized)
    monkeypatch.setattr(T, "mean_kl", kl_unnormalized)
    assert _status("TRPO-IMPLEMENTATION") == "refuted"


def test_cpo_prop1_fails_with_its_constant_set_to_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault: Proposition 1's constant set to 0 ("J never drops"). The exact KL-constrained tabular
    # maximizer never lowered J, so this stayed verified; the check now also takes adversarial
    # zero-gain updates on the KL sphere (which the proof covers), and they lower J.
    from verify.claims import trust_region as TR

    monkeypatch.setitem(TR.BOUND_SCALE, "CPO-PROP1", 0.0)
    res = run_claim("CPO-BOUND", profile="debug", seed=0)
    assert res.status == "refuted"
    (ev,) = [e for e in res.evidence if e.check == "cpo_prop1"]
    assert ev.passed is False
