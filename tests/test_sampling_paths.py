"""The sampler's compiled and numpy paths: identical draws, backend validation, and faults that turn
SAMPLER-INVERSE-CDF red."""

from __future__ import annotations

import types

import numpy as np
import pytest

from reference_impls import sampling as SM
from verify.engine import run_claim


def _tables(seed: int, B: int = 4, S: int = 5, A: int = 3):
    rng = np.random.default_rng(seed)
    return (rng.dirichlet(np.ones(S), size=(B, S, A)), rng.dirichlet(np.ones(S), size=B),
            rng.dirichlet(np.ones(A), size=(B, S)))


@pytest.mark.skipif(SM._NB is None, reason="numba (the `fast` extra) is not installed")
@pytest.mark.parametrize("H, E", [(0, 3), (1, 1), (9, 17), (40, 5000)])  # the last spans several uniform blocks
def test_compiled_and_numpy_paths_draw_identically(H, E):
    P, mu, pi = _tables(H * 31 + E)
    a = SM.sample_batched(P, mu, pi, H, E, np.random.default_rng(7), backend="numpy")
    b = SM.sample_batched(P, mu, pi, H, E, np.random.default_rng(7), backend="numba")
    assert np.array_equal(a.states, b.states) and np.array_equal(a.actions, b.actions)
    assert b.states.shape == (4, E, H + 1) and b.states.dtype == np.int64


def test_backend_is_validated():
    P, mu, pi = _tables(0)
    with pytest.raises(ValueError, match="backend: expected one of"):
        SM.sample_batched(P, mu, pi, 2, 2, np.random.default_rng(0), backend="gpu")


def test_numba_backend_without_numba_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(SM, "_NB", None)
    P, mu, pi = _tables(0)
    with pytest.raises(ValueError, match="backend: 'numba' needs numba"):
        SM.sample_batched(P, mu, pi, 2, 2, np.random.default_rng(0), backend="numba")


def test_claim_is_verified_unmutated():
    assert run_claim("SAMPLER-INVERSE-CDF", profile="debug", seed=1).status == "verified"


def test_fault_in_the_numpy_path_turns_the_claim_red(monkeypatch):
    def count_off_by_one(cdf_cols, row, u):  # the last compared CDF column is skipped
        idx = np.zeros(u.shape[0], dtype=np.int64)
        for k in range(cdf_cols.shape[0] - 1):
            idx += np.take(cdf_cols[k], row) <= u
        return idx

    monkeypatch.setattr(SM, "_count_draw", count_off_by_one)
    assert run_claim("SAMPLER-INVERSE-CDF", profile="debug", seed=1).status == "refuted"


@pytest.mark.skipif(SM._NB is None, reason="numba (the `fast` extra) is not installed")
def test_fault_in_the_compiled_path_turns_the_claim_red(monkeypatch):
    real = SM._NB

    def step_block_wrong_mdp(cdf_pi, cdf_P, base, n_actions, u, t0, states, actions):
        real.step_block(cdf_pi, cdf_P, np.zeros_like(base), n_actions, u, t0, states, actions)  # every episode in MDP 0

    monkeypatch.setattr(SM, "_NB", types.SimpleNamespace(draw_initial=real.draw_initial,
                                                         step_block=step_block_wrong_mdp))
    assert run_claim("SAMPLER-INVERSE-CDF", profile="debug", seed=1).status == "refuted"
