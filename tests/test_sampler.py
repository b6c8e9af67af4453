"""The batched trajectory sampler against exact enumeration (a calibrated chi-square test).

False-alarm rate: the per-test alpha of the suite-wide budget (verify.stats: 1e-3 in all,
5e-6 per registered test; this module registers its test; fixed seed). The negative control,
a sampler whose policy is shifted by 0.05 in one state, must be rejected: with N = 200,000
draws its noncentrality N * sum (dp^2 / p) is ~1240, far above the ~78 that this
alpha needs for power 0.99.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from reference_impls import enumeration as E
from reference_impls import mdp as M
from verify import stats as VS

ALPHA = VS.register_test("tests/test_sampler.py:chi2_pvalue",
                         "batched sampler cell counts vs exact enumeration (chi-square goodness of fit)")
N = 200_000


def setup():
    rng = np.random.default_rng(11)
    mdp = M.random_mdp(rng, 3, 2, 0.9)
    pi = np.array([[0.3, 0.7], [0.5, 0.5], [0.8, 0.2]])
    return mdp, pi


def chi2_pvalue(mdp, pi_sample, pi_exact, seed):
    H = 1
    exact = E.enumerate_trajectories(mdp, pi_exact, H)
    draws = E.sample_trajectories(mdp, pi_sample, H, N, np.random.default_rng(seed))
    S, A = mdp.n_states, mdp.n_actions
    idx = lambda s0, a0, s1: (s0 * A + a0) * S + s1  # noqa: E731  (enumeration order)
    counts = np.bincount(idx(draws.states[:, 0], draws.actions[:, 0], draws.states[:, 1]), minlength=len(exact))
    keep = exact.probs * N >= 5  # chi-square validity: expected counts >= 5
    obs, exp = counts[keep], exact.probs[keep] * N
    exp = exp * obs.sum() / exp.sum()
    return stats.chisquare(obs, exp).pvalue


@pytest.mark.statistical
def test_sampler_matches_enumeration():
    mdp, pi = setup()
    assert chi2_pvalue(mdp, pi, pi, seed=2024) > ALPHA


@pytest.mark.statistical
def test_negative_control_biased_sampler_is_rejected():
    mdp, pi = setup()
    biased = pi + np.array([[0.05, -0.05], [0.0, 0.0], [0.0, 0.0]])
    assert chi2_pvalue(mdp, biased, pi, seed=2025) < ALPHA


def test_sampled_returns_have_empirical_weights():
    mdp, pi = setup()
    tr = E.sample_trajectories(mdp, pi, 4, 1000, np.random.default_rng(0))
    assert tr.states.shape == (1000, 5) and tr.actions.shape == (1000, 4)
    np.testing.assert_allclose(tr.probs, 1e-3)
    assert tr.expectation(tr.discounted_returns()) == pytest.approx(tr.discounted_returns().mean())


def test_sampler_respects_zero_probabilities():
    mdp, _ = setup()
    pi = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    tr = E.sample_trajectories(mdp, pi, 6, 5000, np.random.default_rng(1))
    assert np.all(pi[tr.states[:, :-1], tr.actions] == 1.0)
