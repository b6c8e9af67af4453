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
    from verify.claims.trust_region import _common as TR

    monkeypatch.setitem(TR.BOUND_SCALE, "CPO-PROP1", 0.0)
    res = run_claim("CPO-BOUND", profile="debug", seed=0)
    assert res.status == "refuted"
    (ev,) = [e for e in res.evidence if e.check == "cpo_prop1"]
    assert ev.passed is False


def test_clip_fraction_catches_the_wrong_side_in_the_torch_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault: the torch mirror's clipped-branch counts the wrong side (A > 0 with r < 1 - eps, A < 0 with
    # r > 1 + eps). The golden advantages were symmetric in sign(A) (both sides give 2/8) and no check
    # called the torch clip_fraction, so PPO-CLIP-FRACTION stayed verified.
    torch = pytest.importorskip("torch")
    import reference_impls.torch.losses as TL

    orig = TL.clip_fraction

    def wrong_side(lp: torch.Tensor, old: torch.Tensor, adv: torch.Tensor, eps: object, mask: object = None,
                   definition: str = "ratio-outside") -> torch.Tensor:
        a = -adv if definition == "clipped-branch" else adv
        return orig(lp, old, a, eps, mask=mask, definition=definition)

    monkeypatch.setattr(TL, "clip_fraction", wrong_side)
    assert _status("PPO-CLIP-FRACTION") == "refuted"


def test_clip_fraction_golden_separates_the_wrong_side_in_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    from reference_impls import losses as L
    from verify.claims.ppo_grpo import clip_fraction as P
    from verify.registry import PROFILES, Context

    orig = L.clip_fraction

    def wrong_side(lp: np.ndarray, old: np.ndarray, adv: np.ndarray, eps: object, mask: object = None,
                   definition: str = "ratio-outside") -> float:
        a = -np.asarray(adv, dtype=float) if definition == "clipped-branch" else adv
        return orig(lp, old, a, eps, mask=mask, definition=definition)

    monkeypatch.setattr(L, "clip_fraction", wrong_side)
    ev = P.clip_fraction_golden(Context("PPO-CLIP-FRACTION", "clip_fraction_golden", PROFILES["debug"], 0))
    assert ev.passed is False  # the golden alone now separates the sides (3/8 against 1/8)


def test_ppo_kl_penalty_direction_catches_a_reversed_kl_estimator(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault: the per-sample KL is estimated in the reverse direction (kl_estimator with its arguments
    # swapped: an estimate of KL(new || old) from old-policy samples). The KL was an input that the checks
    # computed themselves, so PPO-KL-PENALTY-DIRECTION stayed verified.
    from reference_impls import divergences as D

    orig = D.kl_estimator
    monkeypatch.setattr(D, "kl_estimator", lambda log_p, log_q, kind: orig(log_q, log_p, kind))
    assert _status("PPO-KL-PENALTY-DIRECTION") == "refuted"


def _retrace_mutant(kind: str):  # type: ignore[no-untyped-def]
    from reference_impls import returns as R

    orig = R.retrace

    def mutant(rewards, q_values, next_expected_q, log_rhos, terminated, truncated, gamma, lam=1.0,  # type: ignore[no-untyped-def]
               c_bar=1.0, *, backend="auto"):
        if kind == "c_bar-as-1":
            c_bar = 1.0
        elif kind == "trace-off-by-one":  # c_{t+1} from the ratio of step t
            lr = np.asarray(log_rhos, dtype=float)
            log_rhos = np.concatenate([lr[..., :1], lr[..., :-1]], axis=-1)
        elif kind == "lambda-ignored":
            lam = 1.0
        return orig(rewards, q_values, next_expected_q, log_rhos, terminated, truncated, gamma, lam, c_bar,
                    backend=backend)

    return mutant


@pytest.mark.parametrize("kind", ["c_bar-as-1", "trace-off-by-one", "lambda-ignored"])
def test_retrace_def_catches_wrong_traces(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault: a wrong trace in the numpy/numba retrace. RETRACE-CONTRACTION checks its own matrix form and,
    # at Q = Q^pi, every trace gives the same expectation, so no claim turned red. RETRACE-DEF does.
    from reference_impls import returns as R

    assert _status("RETRACE-DEF") == "verified"
    monkeypatch.setattr(R, "retrace", _retrace_mutant(kind))
    assert _status("RETRACE-DEF") == "refuted"
    if kind != "trace-off-by-one":  # RETRACE-CONTRACTION uses c_bar = 1 and lambda in its enumeration only at Q^pi
        assert _status("RETRACE-CONTRACTION") == "verified"


@pytest.mark.parametrize("kind", ["cap-ignored", "cap-on-the-prefix-product"])
def test_token_tis_bias_catches_a_wrong_cap(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault: per-token truncation that ignores the cap, or truncates the running prefix product instead of
    # each token's ratio. No claim evaluated token-level TIS, so nothing turned red before TOKEN-TIS-BIAS.
    from reference_impls import mismatch as MM

    orig = MM.token_is_weights

    def mutant(lp, lq, mask, cap=None):  # type: ignore[no-untyped-def]
        if kind == "cap-ignored" or cap is None:
            return orig(lp, lq, mask)
        m = np.asarray(mask, dtype=float)
        log_prefix = np.cumsum((np.asarray(lp, dtype=float) - np.asarray(lq, dtype=float)) * m, axis=-1)
        return np.where(m > 0, np.exp(np.minimum(log_prefix, np.log(cap))), 0.0)

    assert _status("TOKEN-TIS-BIAS") == "verified"
    monkeypatch.setattr(MM, "token_is_weights", mutant)
    assert _status("TOKEN-TIS-BIAS") == "refuted"


@pytest.mark.parametrize("key,factor", [("STATE-DRIFT", 1.1), ("CPO-LEMMA3", 1.5)])
def test_loosened_drift_constants_are_not_tight(key: str, factor: float, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault: the per-step drift bound x1.1 or CPO Lemma 3 x1.5. Both are still valid, so every validity
    # check passed and STATE-DRIFT-BOUND stayed verified; the fixture must now come within 1% of the bound.
    from verify.claims.trust_region import _common as TR

    monkeypatch.setitem(TR.BOUND_SCALE, key, factor)
    assert _status("STATE-DRIFT-BOUND") == "refuted"


def test_trpo_eq8_eq9_state_that_tightness_is_not_claimed() -> None:
    res = run_claim("TRPO-BOUND", profile="debug", seed=0)
    (ev,) = [e for e in res.evidence if e.check == "trpo_property"]
    assert "NOT claimed" in ev.figures["tightness"]
    assert 0 < ev.figures["worst_ratio_eq8"] < 1 and 0 < ev.figures["worst_ratio_eq9"] < 1


@pytest.mark.parametrize(("confirmed", "passed"), [(True, False), (False, None), (None, False)])
def test_property_counterexample_must_be_confirmed(confirmed: bool | None, passed: bool | None) -> None:
    # a float64 counterexample that an independent re-check does not confirm is undecided, not a refutation
    from hypothesis import strategies as st

    from verify.harness import Violation, property_evidence
    from verify.registry import PROFILES, Context

    def body(x: float) -> float:
        if x > 0.5:
            raise Violation("x > 0.5", x=x)
        return x

    ctx = Context("T", "t", PROFILES["debug"], 0)
    seen: list[float] = []

    def confirm(x: float) -> bool | None:
        seen.append(x)
        return confirmed

    ev = property_evidence(ctx, st.floats(0, 1), body, summary="x <= 0.5", examples=[0.75], confirm=confirm)
    assert ev.passed is passed and seen and seen[0] > 0.5
    assert ev.figures["counterexample_confirmed"] is confirmed
