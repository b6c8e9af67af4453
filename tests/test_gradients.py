"""policy_gradient vs torch autograd vs mpmath central differences; surrogate; Fisher matrix."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference_impls import gradients as G
from reference_impls import mdp as M
from verify import strategies as vst
from verify.highprec import MpMDP, central_difference, mpf_array


@st.composite
def mdp_and_logits(draw, **kw):
    m = draw(vst.finite_mdps(**kw))
    return m, draw(vst.logits(m.n_states, m.n_actions))


def scale(mdp):
    return max(1.0, float(np.abs(mdp.rewards).max()) / (1 - mdp.gamma))


@given(mdp_and_logits())
def test_policy_gradient_matches_torch_autograd(case):
    torch = pytest.importorskip("torch")
    from reference_impls.torch import mdp as TM

    mdp, z = case
    t = lambda x: torch.tensor(np.asarray(x), dtype=torch.float64)  # noqa: E731
    zt = t(z).requires_grad_(True)
    J = TM.expected_return(t(mdp.transitions), t(mdp.rewards), t(mdp.initial), mdp.gamma, torch.softmax(zt, -1))
    (g,) = torch.autograd.grad(J, zt)
    np.testing.assert_allclose(g.numpy(), G.policy_gradient(mdp, z), rtol=0, atol=1e-11 * scale(mdp))


def test_policy_gradient_matches_mpmath_central_differences():
    rng = np.random.default_rng(3)
    with mp.workdps(50):
        for gamma in (0.0, 0.5, 0.9, 0.99):
            mdp = M.random_mdp(rng, 3, 3, gamma)
            z = rng.normal(size=(3, 3))
            mm = MpMDP(mdp)
            fd = central_difference(lambda zz: mm.ret(mm.softmax_policy(zz)), mpf_array(z), mp.mpf(10) ** -20)
            # central-difference truncation error is O(h^2) = 1e-40; the float64 reference is
            # then within rounding of the exact gradient
            ref = G.policy_gradient(mdp, z)
            err = max(abs(float(fd[s][a]) - ref[s, a]) for s in range(3) for a in range(3))
            assert err < 1e-12 * scale(mdp), (gamma, err)


def test_policy_gradient_omitting_discount_is_different():
    # Guard against the common convention error (Nota & Thomas 2020): the gradient uses the
    # *discounted* visitation. Using the normalized occupancy scales it by (1 - gamma).
    rng = np.random.default_rng(0)
    mdp = M.random_mdp(rng, 3, 2, 0.9)
    z = rng.normal(size=(3, 2))
    pi = M.softmax(z)
    wrong = M.occupancy(mdp, pi)[:, None] * pi * M.advantages(mdp, pi)
    np.testing.assert_allclose(G.policy_gradient(mdp, z), wrong / (1 - mdp.gamma), rtol=1e-12)


@given(mdp_and_logits(), st.data())
def test_surrogate_gradient_matches_finite_differences(case, data):
    mdp, z_old = case
    z = z_old + np.asarray(data.draw(vst.logits(mdp.n_states, mdp.n_actions, bound=1.0)))
    g = G.surrogate_gradient(mdp, z, z_old)
    h = 1e-6
    fd = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[idx] = h
        fd[idx] = (G.surrogate(mdp, z + e, z_old) - G.surrogate(mdp, z - e, z_old)) / (2 * h)
    # central differences: truncation O(h^2 |L'''|) and rounding O(eps |L| / h) ~ 1e-10 |L|
    np.testing.assert_allclose(g, fd, atol=1e-7 * scale(mdp))


@given(mdp_and_logits())
def test_fisher_matrix_structure(case):
    mdp, z = case
    F = G.fisher_matrix(mdp, z)
    S, A = z.shape
    pi = M.softmax(z)
    d = M.occupancy(mdp, pi)
    assert F.shape == (S * A, S * A)
    np.testing.assert_allclose(F, F.T, atol=1e-15)
    assert np.linalg.eigvalsh(F).min() > -1e-12
    # constant shifts of one state's logits are in the null space
    for s in range(S):
        v = np.zeros(S * A)
        v[s * A : (s + 1) * A] = 1.0
        np.testing.assert_allclose(F @ v, 0.0, atol=1e-14)
    # explicit E_{s~d, a~pi}[score score^T] with score = e_a - pi_s on block s
    F2 = np.zeros_like(F)
    for s in range(S):
        for a in range(A):
            score = np.zeros(S * A)
            score[s * A : (s + 1) * A] = -pi[s]
            score[s * A + a] += 1.0
            F2 += d[s] * pi[s, a] * np.outer(score, score)
    np.testing.assert_allclose(F, F2, atol=1e-14)


def test_fisher_is_hessian_of_mean_kl():
    rng = np.random.default_rng(1)
    mdp = M.random_mdp(rng, 2, 3, 0.9)
    z = rng.normal(size=(2, 3))
    F = G.fisher_matrix(mdp, z)
    d = M.occupancy(mdp, M.softmax(z))

    def mean_kl(delta):
        p, q = M.softmax(z), M.softmax(z + delta.reshape(2, 3))
        return float(d @ np.sum(p * (np.log(p) - np.log(q)), axis=1))

    # second differences of the mean KL at delta = 0 (O(h^2) truncation, O(eps/h^2) rounding)
    h = 1e-4
    n = 6
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
            H[i, j] = (mean_kl(ei + ej) - mean_kl(ei - ej) - mean_kl(-ei + ej) + mean_kl(-ei - ej)) / (4 * h * h)
    np.testing.assert_allclose(H, F, atol=1e-6)


def test_extreme_logits_give_finite_gradients():
    rng = np.random.default_rng(2)
    mdp = M.random_mdp(rng, 3, 3, 0.9)
    z = rng.choice([-1e3, 1e3], size=(3, 3))
    for out in (G.policy_gradient(mdp, z), G.surrogate_gradient(mdp, z, -z), G.fisher_matrix(mdp, z)):
        assert np.all(np.isfinite(out))
    assert np.isfinite(G.surrogate(mdp, z, -z))
