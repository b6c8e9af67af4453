"""Exact MDP quantities, each checked against an independent route.

Routes: dense linear solve (the implementation) vs value iteration vs mpmath at 50 digits
(an independent solver in verify.highprec); occupancy vs a long truncated sum of matrix-power
marginals; marginals vs numpy.linalg.matrix_power; finite-horizon backward induction vs
exact trajectory enumeration.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from reference_impls import enumeration as E
from reference_impls import mdp as M
from verify import strategies as vst
from verify.highprec import MpMDP, mpf_array


def _mdp(P, R, mu, g):
    return M.FiniteMDP(np.asarray(P, float), np.asarray(R, float), np.asarray(mu, float), g)


# Degenerate rows for @example: gamma = 0, one state, absorbing state, permutation, gamma = 0.999.
ONE_STATE = (_mdp([[[1.0], [1.0]]], [[0.5, -1.0]], [1.0], 0.9), np.array([[0.3, 0.7]]))
GAMMA_ZERO = (_mdp([[[0.5, 0.5]], [[0.2, 0.8]]], [[1.0], [-1.0]], [0.4, 0.6], 0.0), np.array([[1.0], [1.0]]))
ABSORBING = (
    _mdp([[[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]], [[0.1, 0.2], [1.0, 1.0]], [1.0, 0.0], 0.9),
    np.array([[0.5, 0.5], [0.9, 0.1]]),
)
PERMUTATION = (
    _mdp(np.eye(3)[[1, 2, 0]][:, None, :].repeat(2, axis=1), [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], [1, 0, 0], 0.5),
    np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]),
)
LONG_HORIZON = (
    _mdp([[[0.9, 0.1], [0.1, 0.9]], [[0.5, 0.5], [0.3, 0.7]]], [[1.0, -1.0], [0.0, 0.5]], [0.5, 0.5], 0.999),
    np.array([[0.5, 0.5], [0.25, 0.75]]),
)
DEGENERATE = [ONE_STATE, GAMMA_ZERO, ABSORBING, PERMUTATION, LONG_HORIZON]


def with_degenerate_examples(fn):
    for ex in DEGENERATE:
        fn = example(ex)(fn)
    return fn


def value_iteration(mdp: M.FiniteMDP, pi: np.ndarray, tol: float = 1e-13) -> np.ndarray:
    """Iterate V <- r_pi + gamma P_pi V (a route independent of the linear solve)."""
    P_pi = np.einsum("sa,sat->st", pi, mdp.transitions)
    r_pi = (pi * mdp.rewards).sum(1)
    V = np.zeros(mdp.n_states)
    for _ in range(200_000):
        V_new = r_pi + mdp.gamma * P_pi @ V
        if np.max(np.abs(V_new - V)) < tol * (1 - mdp.gamma):
            return V_new
        V = V_new
    raise AssertionError("value iteration did not converge")


def scale(mdp: M.FiniteMDP) -> float:
    return max(1.0, float(np.abs(mdp.rewards).max()) / (1 - mdp.gamma))


@given(vst.mdp_with_policy())
@with_degenerate_examples
def test_state_values_three_routes(case):
    mdp, pi = case
    V = M.state_values(mdp, pi)
    # value iteration stops when successive iterates differ by < 1e-13 (1 - gamma), so it is
    # within 1e-13 of the fixed point; the bound below adds float64 rounding of the solve.
    np.testing.assert_allclose(value_iteration(mdp, pi), V, rtol=0, atol=1e-11 * scale(mdp))
    with mp.workdps(50):
        Vmp = MpMDP(mdp).values(mpf_array(pi))
        # pi's float64 rows are fed exactly to mpmath; the error is float64 solve rounding only
        err = max(abs(float(Vmp[s]) - V[s]) for s in range(mdp.n_states))
    assert err <= 1e-12 * scale(mdp)


@given(vst.mdp_with_policy())
@with_degenerate_examples
def test_action_values_and_advantages(case):
    mdp, pi = case
    V = M.state_values(mdp, pi)
    Q = M.action_values(mdp, pi)
    A = M.advantages(mdp, pi)
    np.testing.assert_allclose((pi * Q).sum(1), V, atol=1e-12 * scale(mdp))
    np.testing.assert_allclose((pi * A).sum(1), 0.0, atol=1e-12 * scale(mdp))
    np.testing.assert_allclose(Q - V[:, None], A, atol=1e-12 * scale(mdp))
    assert M.expected_return(mdp, pi) == pytest.approx(float(mdp.initial @ V), abs=1e-12 * scale(mdp))


@given(vst.mdp_with_policy())
@with_degenerate_examples
def test_occupancy_is_normalized_visitation(case):
    mdp, pi = case
    d = M.occupancy(mdp, pi)
    rho = M.visitation(mdp, pi)
    assert d.sum() == pytest.approx(1.0, abs=1e-10)
    assert rho.sum() == pytest.approx(1.0 / (1.0 - mdp.gamma), rel=1e-10)
    assert np.all(d >= -1e-12)
    # occupancy vs a truncated discounted sum of marginals; tail mass gamma^H <= 1e-12
    g = mdp.gamma
    H = 1 if g == 0 else min(int(np.ceil(np.log(1e-12) / np.log(g))), 40_000)
    if g ** H > 1e-9:  # gamma = 0.999 needs ~28k steps: cover it with the linear solve only
        H = int(np.ceil(np.log(1e-9) / np.log(g)))
    marg = M.state_marginals(mdp, pi, H)
    approx = (1 - g) * (g ** np.arange(H)) @ marg
    np.testing.assert_allclose(approx, d, atol=2 * g**H + 1e-10)


@given(vst.mdp_with_policy(), st.integers(0, 12))
@example(ONE_STATE, 5)
@example(ABSORBING, 7)
@example(PERMUTATION, 12)
@example(LONG_HORIZON, 12)
def test_state_marginals_match_matrix_powers(case, horizon):
    mdp, pi = case
    marg = M.state_marginals(mdp, pi, horizon)
    P_pi = M.policy_transitions(mdp, pi)
    assert marg.shape == (horizon, mdp.n_states)
    for t in range(horizon):
        np.testing.assert_allclose(marg[t], mdp.initial @ np.linalg.matrix_power(P_pi, t), atol=1e-12)
        assert marg[t].sum() == pytest.approx(1.0, abs=1e-12)


@given(vst.mdp_with_policy(n_states=st.integers(1, 3), n_actions=st.integers(1, 2)), st.integers(0, 4))
@example(ONE_STATE, 3)
@example(GAMMA_ZERO, 2)
@example(ABSORBING, 4)
@example(PERMUTATION, 3)
def test_enumeration_matches_finite_horizon_evaluation(case, horizon):
    mdp, pi = case
    tr = E.enumerate_trajectories(mdp, pi, horizon)
    S, A = mdp.n_states, mdp.n_actions
    assert len(tr) == S ** (horizon + 1) * A**horizon
    assert tr.probs.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(tr.probs >= 0)
    ret = tr.expectation(tr.discounted_returns())
    assert ret == pytest.approx(M.finite_horizon_return(mdp, pi, horizon), abs=1e-12 * scale(mdp))
    # undiscounted (gamma = 1 is allowed for finite horizons)
    ret1 = tr.expectation(tr.discounted_returns(1.0))
    assert ret1 == pytest.approx(M.finite_horizon_return(mdp, pi, horizon, gamma=1.0), abs=1e-11 * (1 + horizon))
    # marginals from enumeration equal matrix-power marginals
    marg = M.state_marginals(mdp, pi, horizon + 1)
    for t in range(horizon + 1):
        emp = np.bincount(tr.states[:, t], weights=tr.probs, minlength=S)
        np.testing.assert_allclose(emp, marg[t], atol=1e-12)


def test_enumeration_order_and_log_prob():
    mdp, pi = ABSORBING
    tr = E.enumerate_trajectories(mdp, pi, 2)
    # mixed radix (s0, a0, s1, a1, s2), s2 fastest: index 1 is (0, 0, 0, 0, 1)
    assert tr.states[1].tolist() == [0, 0, 1] and tr.actions[1].tolist() == [0, 0]
    p = mdp.initial[0] * pi[0, 0] * mdp.transitions[0, 0, 0] * pi[0, 0] * mdp.transitions[0, 0, 1]
    assert tr.probs[1] == pytest.approx(p, abs=1e-15)
    lp = tr.log_prob(pi)
    nz = tr.probs > 0
    # log p(tau) = log mu + sum log pi + sum log P, so the policy part is reproduced exactly
    dyn = np.log(tr.probs[nz]) - lp[nz]
    expected_dyn = np.log(mdp.initial[tr.states[nz, 0]]) + sum(
        np.log(mdp.transitions[tr.states[nz, t], tr.actions[nz, t], tr.states[nz, t + 1]]) for t in range(2)
    )
    np.testing.assert_allclose(dyn, expected_dyn, atol=1e-12)


def test_exact_variance_two_pass():
    mdp, pi = PERMUTATION
    tr = E.enumerate_trajectories(mdp, pi, 3)
    R = tr.discounted_returns()
    m = tr.expectation(R)
    assert tr.variance(R) == pytest.approx(tr.expectation((R - m) ** 2), abs=1e-14)
    vec = np.stack([R, R**2], axis=1)
    cov = tr.variance(vec)
    assert cov.shape == (2, 2)
    assert cov[0, 0] == pytest.approx(tr.variance(R), abs=1e-14)


def test_enumeration_refuses_huge_horizons():
    mdp, pi = PERMUTATION
    with pytest.raises(ValueError, match="horizon"):
        E.enumerate_trajectories(mdp, pi, 20)


def test_finite_horizon_action_values_consistent():
    mdp, pi = ABSORBING
    Q = M.finite_horizon_action_values(mdp, pi, 5)
    V = M.finite_horizon_values(mdp, pi, 5)
    np.testing.assert_allclose((pi[None] * Q).sum(-1), V[:-1], atol=1e-14)
    # as H grows the finite-horizon value tends to the infinite-horizon one (gamma^H tail)
    V_long = M.finite_horizon_values(mdp, pi, 400)[0]
    np.testing.assert_allclose(V_long, M.state_values(mdp, pi), atol=10 * 0.9**400 + 1e-12)


def test_random_mdp_variants():
    rng = np.random.default_rng(0)
    m = M.random_mdp(rng, 5, 3, 0.9, deterministic=True)
    assert set(np.unique(m.transitions)) <= {0.0, 1.0}
    m = M.random_mdp(rng, 5, 3, 0.9, n_absorbing=2)
    for s in (3, 4):
        assert np.all(m.transitions[s, :, s] == 1.0)
    m = M.random_mdp(rng, 6, 2, 0.5, sparsity=0.7, initial="first")
    assert (m.transitions == 0).any() and m.initial[0] == 1.0
    np.testing.assert_allclose(m.transitions.sum(-1), 1.0, atol=1e-12)
    # same seed, same MDP
    a = M.random_mdp(np.random.default_rng(7), 3, 2, 0.9)
    b = M.random_mdp(np.random.default_rng(7), 3, 2, 0.9)
    np.testing.assert_array_equal(a.transitions, b.transitions)


def test_mdp_is_immutable():
    mdp, _ = ABSORBING
    with pytest.raises(ValueError):
        mdp.transitions[0, 0, 0] = 0.5
    with pytest.raises(AttributeError):
        mdp.gamma = 0.5  # type: ignore[misc]
    m2 = mdp.replace(gamma=0.5)
    assert m2.gamma == 0.5 and mdp.gamma == 0.9


def test_softmax_extreme_logits_finite():
    z = np.array([[1e3, -1e3, 0.0], [-1e3, -1e3, -1e3], [1e300, 1e300, -1e300]])
    p = M.softmax(z)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(1), 1.0)
    np.testing.assert_allclose(p[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(p[1], [1 / 3] * 3)
    lp = M.log_softmax(z[:2])
    assert np.all(np.isfinite(lp))
    assert lp[0, 1] == pytest.approx(-2000.0)
