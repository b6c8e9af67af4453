"""The public hypothesis strategies produce what they promise."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from reference_impls import mdp as M
from verify import fixtures
from verify import strategies as vst


@given(vst.finite_mdps())
def test_finite_mdps_are_valid(mdp):
    assert isinstance(mdp, M.FiniteMDP)
    assert mdp.gamma in vst.GAMMAS


@given(vst.finite_mdps(kind=st.just("deterministic")))
def test_deterministic_kind(mdp):
    assert set(np.unique(mdp.transitions)) <= {0.0, 1.0}


@given(vst.finite_mdps(kind=st.just("absorbing")))
def test_absorbing_kind(mdp):
    s = mdp.n_states - 1
    assert np.all(mdp.transitions[s, :, s] == 1.0)


@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_policies_respect_floor(S, A, data):
    floor = 1e-3
    pi = data.draw(vst.policies(S, A, floor))
    assert pi.shape == (S, A)
    assert pi.min() >= floor - 1e-15
    np.testing.assert_allclose(pi.sum(1), 1.0, atol=1e-12)


@given(st.integers(1, 4), st.integers(2, 4), st.data())
def test_policy_pairs_tv_bounded(S, A, data):
    pi, new, alpha = data.draw(vst.policy_pairs(S, A, max_tv=0.3))
    tv = 0.5 * np.abs(pi - new).sum(1)
    assert alpha <= 0.3
    assert tv.max() <= alpha + 1e-12


@given(vst.near_identical_distributions(max_delta=1e-3))
def test_near_identical(pq):
    p, q = pq
    assert np.all(q > 0) and abs(q.sum() - 1) < 1e-12
    assert 0.5 * np.abs(p - q).sum() <= 1e-3


@given(vst.distributions(4, zeros=True))
def test_distributions_with_zeros(p):
    assert p.sum() > 0.999 and (p > 0).any()


def test_escape_chain_facts():
    g, a, eps = 0.9, 0.1, 1.0
    ec = fixtures.escape_chain(g, a, eps)
    A = M.advantages(ec.mdp, ec.pi_old)
    np.testing.assert_allclose(A, [[0.0, eps], [0.0, -eps]], atol=1e-12)
    rho_new = M.visitation(ec.mdp, ec.pi_new)
    np.testing.assert_allclose(rho_new[0], 1 / (1 - g * (1 - a)))
    np.testing.assert_allclose(rho_new[1], g * a / ((1 - g) * (1 - g * (1 - a))))
    tv = 0.5 * np.abs(ec.pi_new - ec.pi_old).sum(1)
    np.testing.assert_allclose(tv, [a, a])
