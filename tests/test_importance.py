"""reference_impls.importance and reference_impls.sampling: values, exact moments, validation, mutations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reference_impls import enumeration as E
from reference_impls import importance as I
from reference_impls import mdp as M
from reference_impls import sampling as SM
from verify.engine import run_claim


def _pair(rng: np.random.Generator) -> tuple[M.FiniteMDP, np.ndarray, np.ndarray]:
    mdp = M.random_mdp(rng, 3, 2, 0.9)
    pi = M.softmax(rng.normal(size=(3, 2)))
    mu = 0.5 * pi + 0.5 * M.softmax(rng.normal(size=(3, 2)))
    return mdp, pi, mu


def test_weights_formed_in_log_space() -> None:
    # exp(-800) and exp(-801) underflow to 0 in float64; the ratio is e exactly in log space
    assert I.importance_weights(-800.0, -801.0) == pytest.approx(math.e, rel=1e-15)
    # 400 steps of log-ratio 2: log W = 800 exactly; W itself (e^800) is not representable
    assert I.trajectory_log_weights(np.full(400, -2.0), np.full(400, -4.0)) == pytest.approx(800.0, rel=1e-15)
    # SNIS and ESS never overflow: log weights of 2000 (w = e^2000) are fine
    lp = np.array([2000.0, 1999.0, 0.0])
    assert I.self_normalized_is(np.array([1.0, 0.0, 5.0]), lp, np.zeros(3)) == pytest.approx(1 / (1 + math.exp(-1)))
    assert I.effective_sample_size_log(lp, np.zeros(3)) == pytest.approx((1 + math.exp(-1)) ** 2 / (1 + math.exp(-2)))


def test_huge_weight_times_zero_reward_is_zero() -> None:
    # w = e^1000 overflows, but a zero return must give 0, not nan
    assert I.trajectory_is(np.zeros(2), np.array([0.0, 0.0]), np.array([-500.0, -500.0]), 1.0) == 0.0
    # and a tiny return times a huge weight stays finite: e^710 * e^-20
    val = I.trajectory_is(np.array([math.exp(-20), 0.0]), np.array([0.0, 0.0]), np.array([-355.0, -355.0]), 1.0)
    assert val == pytest.approx(math.exp(690), rel=1e-12)


def test_estimators_on_hand_example() -> None:
    # two steps, ratios 2 and 1/2, rewards 1 and 3, gamma 0.5:
    # trajectory IS = (2 * 1/2) * (1 + 0.5 * 3) = 2.5; PDIS = 2 * 1 + 0.5 * (2 * 1/2) * 3 = 3.5
    lp = np.log([0.8, 0.25])
    blp = np.log([0.4, 0.5])
    r = np.array([1.0, 3.0])
    assert I.trajectory_is(r, lp, blp, 0.5) == pytest.approx(2.5, rel=1e-14)
    assert I.per_decision_is(r, lp, blp, 0.5) == pytest.approx(3.5, rel=1e-14)
    np.testing.assert_allclose(I.cumulative_importance_weights(lp, blp), [2.0, 1.0], rtol=1e-14)


def test_sample_estimators_hand_values() -> None:
    f = np.array([1.0, -1.0, 2.0])
    lp = np.log([0.5, 0.25, 0.25])
    blp = np.log([0.25, 0.5, 0.25])  # w = 2, 1/2, 1
    assert I.ordinary_is(f, lp, blp) == pytest.approx((2 - 0.5 + 2) / 3)
    assert I.self_normalized_is(f, lp, blp) == pytest.approx((2 - 0.5 + 2) / 3.5)
    assert I.truncated_is(f, lp, blp, 1.0) == pytest.approx((1 - 0.5 + 2) / 3)
    # Ionides: tau = sqrt(3) * mean(w) = sqrt(3) * 3.5 / 3 = 2.0207 > 2: nothing truncated
    assert I.ionides_level(lp, blp) == pytest.approx(math.sqrt(3) * 3.5 / 3)
    assert I.truncated_is(f, lp, blp, "ionides") == pytest.approx(I.ordinary_is(f, lp, blp))
    assert I.effective_sample_size(np.array([2.0, 0.5, 1.0])) == pytest.approx(3.5**2 / 5.25)


def test_exact_moments_by_enumeration() -> None:
    rng = np.random.default_rng(3)
    mdp, pi, mu = _pair(rng)
    H, g = 4, 0.9
    traj = E.enumerate_trajectories(mdp, mu, H)
    lp, blp = traj.step_log_probs(pi), traj.step_log_probs(mu)
    J = M.finite_horizon_return(mdp, pi, H, g)
    assert float(traj.expectation(I.trajectory_is(traj.rewards, lp, blp, g))) == pytest.approx(J, abs=1e-13)
    assert float(traj.expectation(I.per_decision_is(traj.rewards, lp, blp, g))) == pytest.approx(J, abs=1e-13)
    W = I.trajectory_importance_weights(lp, blp)
    assert float(traj.expectation(W)) == pytest.approx(1.0, abs=1e-13)
    assert float(traj.expectation(W * W)) == pytest.approx(I.trajectory_weight_second_moment(mdp, pi, mu, H),
                                                           rel=1e-12)


@pytest.mark.parametrize(("H", "g"), [(0, 1.0), (1, 0.5), (4, 0.9), (5, 1.0)])
def test_dp_moments_equal_enumeration(H: int, g: float) -> None:
    rng = np.random.default_rng(100 + H)
    mdp, pi, mu = _pair(rng)
    d = I.exact_is_moments(mdp, pi, mu, H, g)
    traj = E.enumerate_trajectories(mdp, mu, H)
    lp, blp = traj.step_log_probs(pi), traj.step_log_probs(mu)
    assert d["mean"] == pytest.approx(M.finite_horizon_return(mdp, pi, H, g), abs=1e-13)
    if H == 0:
        assert d["var_is"] == 0.0 and d["var_pdis"] == 0.0 and d["second_moment_weight"] == pytest.approx(1.0)
        return
    assert d["var_is"] == pytest.approx(float(traj.variance(I.trajectory_is(traj.rewards, lp, blp, g))), rel=1e-11)
    assert d["var_pdis"] == pytest.approx(float(traj.variance(I.per_decision_is(traj.rewards, lp, blp, g))),
                                          rel=1e-11)
    assert d["second_moment_weight"] == pytest.approx(I.trajectory_weight_second_moment(mdp, pi, mu, H), rel=1e-12)


def test_time_major_and_row_major_inputs_agree() -> None:
    rng = np.random.default_rng(9)
    r, lp, blp = rng.normal(size=(3, 50, 6))
    f = [np.asfortranarray(x) for x in (r, lp, blp)]
    for fn in (I.trajectory_is, I.per_decision_is):
        np.testing.assert_allclose(fn(*f, 0.9), fn(r, lp, blp, 0.9), rtol=1e-13)
    np.testing.assert_allclose(I.cumulative_importance_weights(f[1], f[2]), I.cumulative_importance_weights(lp, blp),
                               rtol=1e-13)


def test_policy_gradient_estimator_is_unbiased() -> None:
    # bandit with 3 states-as-contexts collapsed to one state: E_h[w r grad log pi] = grad_z E_pi[r] exactly
    z = np.array([[0.3, -0.2, 1.0]])
    pi = M.softmax(z)[0]
    h = np.array([0.5, 0.3, 0.2])
    r = np.array([1.0, -2.0, 0.5])
    acts = np.arange(3)
    scores = I.softmax_scores(z, np.zeros(3, dtype=int), acts).reshape(3, -1)
    per = np.stack([I.importance_weighted_policy_gradient(r[[a]], np.log(pi)[[a]], np.log(h)[[a]], scores[[a]])
                    for a in acts])
    exact = h @ per
    grad = pi * (r - pi @ r)  # d/dz_a of sum_b pi_b r_b
    np.testing.assert_allclose(exact, grad, atol=1e-15)
    sn = I.importance_weighted_policy_gradient(r, np.log(pi), np.log(h), scores, self_normalized=True)
    w = pi / h
    np.testing.assert_allclose(sn, (w * r / w.sum()) @ scores, rtol=1e-13)


def test_softmax_scores_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 4))
    s, a = np.array([2, 0]), np.array([1, 3])
    got = I.softmax_scores(z, s, a)
    for k in range(2):
        num = np.zeros_like(z)
        for i in range(3):
            for j in range(4):
                d = np.zeros_like(z)
                d[i, j] = 1e-6
                num[i, j] = (M.log_softmax(z + d)[s[k], a[k]] - M.log_softmax(z - d)[s[k], a[k]]) / 2e-6
        np.testing.assert_allclose(got[k], num, atol=1e-8)


def test_batched_sampler_marginals_match_exact() -> None:
    rng = np.random.default_rng(11)
    mdps = [M.random_mdp(rng, 4, 3, 0.9) for _ in range(3)]
    pol = np.stack([M.softmax(rng.normal(size=(4, 3))) for _ in range(3)])
    P = np.stack([m.transitions for m in mdps])
    mu0 = np.stack([m.initial for m in mdps])
    n = 200_000
    tr = SM.sample_batched(P, mu0, pol, 3, n, np.random.default_rng(1))
    assert tr.states.shape == (3, n, 4) and tr.actions.shape == (3, n, 3)
    for b in range(3):
        exact = M.state_marginals(mdps[b], pol[b], 3)[2]
        freq = np.bincount(tr.states[b, :, 2], minlength=4) / n
        # 5.5 sigma of a binomial proportion with p <= 1/2 at n = 2e5 is 0.0062; a sampler that draws from the
        # wrong row (or the step before) is off by O(0.1) on these Dirichlet MDPs
        assert np.max(np.abs(freq - exact)) < 0.0062
    rew = tr.gather(np.stack([m.rewards for m in mdps]))
    assert rew.shape == (3, n, 3)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: I.importance_weights(np.zeros(3), np.zeros(4)), "behavior_log_probs"),
        (lambda: I.importance_weights(np.array([np.nan]), np.zeros(1)), "log_probs"),
        (lambda: I.importance_weights(np.array([np.inf]), np.zeros(1)), "log_probs"),
        (lambda: I.importance_weights(np.zeros(1), np.array([-np.inf])), "behavior_log_probs"),
        (lambda: I.importance_weights(np.zeros(1), np.array([np.nan])), "behavior_log_probs"),
        (lambda: I.trajectory_is(np.zeros(3), np.zeros(2), np.zeros(2), 0.9), "log_probs"),
        (lambda: I.trajectory_is(np.zeros(2), np.zeros(2), np.zeros(2), 1.5), "gamma"),
        (lambda: I.per_decision_is(np.array([np.inf, 0]), np.zeros(2), np.zeros(2), 0.9), "rewards"),
        (lambda: I.self_normalized_is(np.ones(2), np.full(2, -np.inf), np.zeros(2)), "log_probs"),
        (lambda: I.self_normalized_is(np.ones(0), np.ones(0), np.ones(0)), "values"),
        (lambda: I.truncated_is(np.ones(2), np.zeros(2), np.zeros(2), 0.0), "level"),
        (lambda: I.truncated_is(np.ones(2), np.zeros(2), np.zeros(2), "sqrt"), "level"),
        (lambda: I.effective_sample_size(np.zeros(3)), "weights"),
        (lambda: I.effective_sample_size(np.array([1.0, -1.0])), "weights"),
        (lambda: I.effective_sample_size(np.array([1.0, np.inf])), "weights"),
        (lambda: I.effective_sample_size_log(np.full(2, -np.inf), np.zeros(2)), "log_probs"),
        (lambda: I.importance_weighted_policy_gradient(np.ones(2), np.zeros(2), np.zeros(2), np.ones((3, 1))),
         "scores"),
        (lambda: I.softmax_scores(np.zeros((2, 2)), np.array([2]), np.array([0])), "states"),
        (lambda: I.softmax_scores(np.zeros((2, 2)), np.array([0]), np.array([0.5])), "actions"),
        (lambda: I.trajectory_weight_second_moment(M.random_mdp(np.random.default_rng(0), 2, 2, 0.5),
                                                   np.full((2, 2), 0.5), np.array([[1.0, 0.0], [0.5, 0.5]]), 2),
         "behavior_policy"),
        (lambda: SM.sample_batched(np.ones((1, 2, 2, 2)) / 2, np.ones((1, 2)) / 2, np.ones((1, 2, 2)), 2, 5,
                                   np.random.default_rng(0)), "policy"),
        (lambda: SM.sample_batched(np.ones((1, 2, 2, 2)) / 2, np.ones((1, 2)) / 2, np.ones((1, 2, 2)) / 2, 2, 0,
                                   np.random.default_rng(0)), "n_episodes"),
        (lambda: SM.sample_batched(np.ones((1, 2, 2, 2)) / 2, np.ones((1, 2)) / 2, np.ones((1, 2, 2)) / 2, 2, 5,
                                   0), "rng"),
    ],
)
def test_bad_input_names_the_argument(call, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()


def test_target_zero_probability_gives_zero_weight() -> None:
    assert I.importance_weights(np.array([-np.inf]), np.array([-1.0]))[0] == 0.0
    assert I.per_decision_is(np.array([1.0, 1.0]), np.array([0.0, -np.inf]), np.zeros(2), 1.0) == 1.0


# --------------------------------------------------------------------------- mutations turn claims red


@pytest.mark.claims
def test_mutating_trajectory_is_refutes_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_claim("IS-UNBIASED").status == "verified"
    orig = I.trajectory_is

    def biased(rewards, log_probs, behavior_log_probs, gamma):  # type: ignore[no-untyped-def]
        return 1.01 * orig(rewards, log_probs, behavior_log_probs, gamma)

    monkeypatch.setattr(I, "trajectory_is", biased)
    assert run_claim("IS-UNBIASED").status == "refuted"


@pytest.mark.claims
def test_mutating_per_decision_is_refutes_pdis(monkeypatch: pytest.MonkeyPatch) -> None:
    orig = I.per_decision_is
    monkeypatch.setattr(I, "per_decision_is", lambda r, lp, blp, g: orig(r, lp, blp, g) + 1e-3)
    assert run_claim("PDIS").status == "refuted"


@pytest.mark.claims
def test_mutating_snis_refutes_snis_bias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(I, "self_normalized_is", I.ordinary_is)
    assert run_claim("SNIS-BIAS").status == "refuted"


@pytest.mark.claims
def test_mutating_truncation_refutes_tis(monkeypatch: pytest.MonkeyPatch) -> None:
    orig = I.truncated_is
    monkeypatch.setattr(I, "truncated_is", lambda v, lp, blp, level: orig(v, lp, blp, 1.1 * level))
    assert run_claim("TIS-BIAS-BOUND").status == "refuted"


@pytest.mark.claims
def test_mutating_ess_refutes_ess(monkeypatch: pytest.MonkeyPatch) -> None:
    orig = I.effective_sample_size
    monkeypatch.setattr(I, "effective_sample_size", lambda w: orig(w) * 0.999)
    assert run_claim("ESS").status == "refuted"


@pytest.mark.claims
def test_mutating_second_moment_recursion_refutes(monkeypatch: pytest.MonkeyPatch) -> None:
    orig = I.trajectory_weight_second_moment
    monkeypatch.setattr(I, "trajectory_weight_second_moment", lambda m, p, b, h: orig(m, p, b, h + 1))
    assert run_claim("TRAJ-IS-VARIANCE-EXPLODES").status == "refuted"


@pytest.mark.claims
def test_biased_sampler_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    orig = SM.sample_batched

    def skewed(P, init, policy, horizon, n, rng):  # type: ignore[no-untyped-def]
        # sample from a policy 5% of the way to uniform: the MC checks must notice
        pol = 0.95 * np.asarray(policy) + 0.05 / np.asarray(policy).shape[-1]
        return orig(P, init, pol, horizon, n, rng)

    monkeypatch.setattr(SM, "sample_batched", skewed)
    assert run_claim("IS-UNBIASED").status == "refuted"
