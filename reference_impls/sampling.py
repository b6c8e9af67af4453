"""Batched trajectory sampling across many tabular MDPs at once (numpy, inverse CDF).

:func:`sample_batched` advances ``B * E`` episodes (``E`` per MDP, ``B`` MDPs) together,
one time step per loop iteration: the loop runs over the horizon, never over episodes
or MDPs. Each draw is an inverse-CDF lookup done as *compare-and-count* against the
cumulative row (``#{k < K-1 : cdf[k] <= u}``; the last CDF entry is never compared, so
rounding in a cumulative sum can never produce an index out of range). This is exact
inverse-CDF sampling: ``P(index = k) = cdf[k] - cdf[k-1]`` for ``u ~ U[0, 1)``.

Outputs follow the time-last convention: ``states[b, e, t]`` for ``t = 0 .. H`` and
``actions[b, e, t]`` for ``t = 0 .. H-1``. A single MDP is the case ``B = 1``; see
also :func:`reference_impls.enumeration.sample_trajectories`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reference_impls._validation import (
    MAX_TABLE_ENTRIES,
    as_float_array,
    check_count,
    check_horizon,
    check_positive_int,
    check_simplex,
)

try:  # the optional `fast` extra: a compiled kernel making the same draws as the numpy path
    from reference_impls import _sampling_numba as _NB
except ImportError:  # pragma: no cover - exercised where numba is not installed
    _NB = None  # type: ignore[assignment]

#: Uniforms generated per block of time steps on the compiled path (bounded memory, cache-sized).
_BLOCK_UNIFORMS = 1 << 17
SAMPLING_BACKENDS = ("auto", "numba", "numpy")

__all__ = ["BatchedTrajectories", "batched_tables", "sample_batched"]


@dataclass(frozen=True)
class BatchedTrajectories:
    """Sampled episodes of ``B`` MDPs, ``E`` each, horizon ``H`` (time on the last axis).

    Attributes:
      states: ``[B, E, H + 1]`` int64.
      actions: ``[B, E, H]`` int64.
    """

    states: np.ndarray
    actions: np.ndarray

    def __post_init__(self) -> None:
        for nm in ("states", "actions"):
            x = getattr(self, nm)
            arr = np.asarray(x) if not (x is None or isinstance(x, str | bytes)) else None
            if arr is None or arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"{nm}: expected an integer array, got {type(x).__name__}"
                                 + (f" of dtype {arr.dtype}" if arr is not None else ""))
            if arr.ndim != 3:
                raise ValueError(f"{nm}: expected a 3-d array [B, E, time], got shape {arr.shape}")
            if arr.size and int(arr.min()) < 0:
                raise ValueError(f"{nm}: expected non-negative indices, got minimum {int(arr.min())}")
            object.__setattr__(self, nm, arr)
        s, a = self.states.shape, self.actions.shape
        if s[:2] != a[:2] or s[2] != a[2] + 1:
            raise ValueError(f"actions: expected shape (B, E, H) with states of shape (B, E, H + 1), got actions "
                             f"{a} and states {s}")

    def gather(self, table: Any, name: str = "table") -> np.ndarray:
        """``table[b, s_t, a_t]`` per step, ``[B, E, H]`` (e.g. rewards or log-probabilities)."""
        if not isinstance(name, str):
            raise ValueError(f"name: expected a string, got {type(name).__name__}")
        tab = as_float_array(table, name, finite=False)
        B = self.states.shape[0]
        if tab.ndim != 3 or tab.shape[0] != B:
            raise ValueError(f"{name}: expected shape ({B}, S, A), got {tab.shape}")
        if np.any(np.isnan(tab)):
            raise ValueError(f"{name}: expected no NaN entries, got {int(np.isnan(tab).sum())}")
        for nm, idx, k in (("states", self.states[..., :-1], tab.shape[1]), ("actions", self.actions, tab.shape[2])):
            if idx.size and int(idx.max()) >= k:
                raise ValueError(f"{name}: expected shape ({B}, S, A) covering every index, got {tab.shape} "
                                 f"while {nm} reach {int(idx.max())}")
        b = np.arange(B)[:, None, None]
        return tab[b, self.states[..., :-1], self.actions]


def batched_tables(transitions: Any, initial: Any, policy: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ``[B, S, A, S]`` transitions, ``[B, S]`` initial and ``[B, S, A]`` policy tables."""
    P = as_float_array(transitions, "transitions", ndim=4)
    B, S, A, S2 = P.shape
    if B == 0 or S == 0 or A == 0 or S2 != S:
        raise ValueError(f"transitions: expected shape (B, S, A, S) with B, S, A > 0, got {P.shape}")
    check_simplex(P, "transitions")
    mu = check_simplex(as_float_array(initial, "initial", shape=(B, S)), "initial")
    pi = check_simplex(as_float_array(policy, "policy", shape=(B, S, A)), "policy")
    return P, mu, pi


def _cdf_rows(P: np.ndarray, mu: np.ndarray, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cumulative tables both paths draw from, one row per distribution, the last entry dropped (never
    compared): the policy ``[B*S, A-1]`` (row ``b*S + s``), the dynamics ``[B*S*A, S-1]`` (row
    ``(b*S + s)*A + a``) and the start distribution ``[B, S-1]``."""
    B, S, A, _ = P.shape
    return (np.cumsum(pi, axis=-1)[..., :-1].reshape(B * S, A - 1),
            np.cumsum(P, axis=-1)[..., :-1].reshape(B * S * A, S - 1),
            np.cumsum(mu, axis=-1)[:, :-1])


def _count_draw(cdf_cols: np.ndarray, row: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF index per episode: ``#{k : cdf_cols[k, row] <= u}``.

    ``cdf_cols`` is column-major (``[K-1, rows]``) so each comparison gathers from one
    contiguous column; the loop is over the ``K - 1`` columns, the episodes are vectorized.
    """
    idx = np.zeros(u.shape[0], dtype=np.int64)
    for k in range(cdf_cols.shape[0]):
        idx += np.take(cdf_cols[k], row) <= u
    return idx


def sample_batched(transitions: Any, initial: Any, policy: Any, horizon: int, n_episodes: int,
                   rng: np.random.Generator, *, backend: str = "auto") -> BatchedTrajectories:
    """Sample ``n_episodes`` episodes of horizon ``H`` in each of ``B`` MDPs.

    Args:
      transitions: ``[B, S, A, S]``, ``transitions[b, s, a, s2] = P_b(s2 | s, a)``.
      initial: ``[B, S]`` start distributions.
      policy: ``[B, S, A]`` behaviour policies (rows on the simplex).
      horizon: ``H >= 0``.
      n_episodes: ``E >= 1`` episodes per MDP.
      rng: a ``numpy.random.Generator``; 2 uniforms per transition (float64), plus one
        per episode for the start state.
      backend: ``"auto"`` (the compiled kernel when numba is installed, else numpy),
        ``"numba"`` or ``"numpy"``. Both make the same draws from the same uniforms in the
        same order, so for one generator state they return identical trajectories.
    """
    P, mu, pi = batched_tables(transitions, initial, policy)
    H = check_horizon(horizon)
    E = check_positive_int(n_episodes, "n_episodes")
    check_count("horizon" if H + 1 >= E else "n_episodes", {"H + 1": H + 1, "B": P.shape[0], "n_episodes": E},
                MAX_TABLE_ENTRIES, "a number of sampled states")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    if backend not in SAMPLING_BACKENDS:
        raise ValueError(f"backend: expected one of {SAMPLING_BACKENDS}, got {backend!r}")
    if backend == "numba" and _NB is None:
        raise ValueError("backend: 'numba' needs numba installed (pip install 'pg-verify[fast]'), got 'numba'")
    if backend == "numba" or (backend == "auto" and _NB is not None):
        return _sample_compiled(P, mu, pi, H, E, rng)
    B, S, A, _ = P.shape
    cdf_pi, cdf_P, cdf_0 = (np.ascontiguousarray(c.T) for c in _cdf_rows(P, mu, pi))  # column-major
    M = B * E
    episode_mdp = np.repeat(np.arange(B, dtype=np.int64), E)
    base = episode_mdp * S  # row offset b*S of every episode
    states = np.empty((H + 1, M), dtype=np.int64)
    actions = np.empty((H, M), dtype=np.int64)
    states[0] = _count_draw(cdf_0, episode_mdp, rng.random(M))
    for t in range(H):
        u = rng.random((2, M))
        row = base + states[t]
        a = _count_draw(cdf_pi, row, u[0])
        actions[t] = a
        states[t + 1] = _count_draw(cdf_P, row * A + a, u[1])
    return BatchedTrajectories(states.T.reshape(B, E, H + 1), actions.T.reshape(B, E, H))


def _sample_compiled(P: np.ndarray, mu: np.ndarray, pi: np.ndarray, H: int, E: int,
                     rng: np.random.Generator) -> BatchedTrajectories:
    """The numba path of :func:`sample_batched` (validated inputs; same draws as the numpy path)."""
    assert _NB is not None
    B, S, A, _ = P.shape
    cdf_pi, cdf_P, cdf_0 = (np.ascontiguousarray(c) for c in _cdf_rows(P, mu, pi))  # row-major
    M = B * E
    episode_mdp = np.repeat(np.arange(B, dtype=np.int64), E)
    base = episode_mdp * S
    states = np.empty((H + 1, M), dtype=np.int64)
    actions = np.empty((H, M), dtype=np.int64)
    _NB.draw_initial(cdf_0, episode_mdp, rng.random(M), states[0])
    # rng.random((k, 2, M)) yields the same stream as k successive rng.random((2, M)) calls
    steps = max(1, _BLOCK_UNIFORMS // (2 * M))
    for t0 in range(0, H, steps):
        u = rng.random((min(steps, H - t0), 2, M))
        _NB.step_block(cdf_pi, cdf_P, base, A, u, t0, states, actions)
    return BatchedTrajectories(states.T.reshape(B, E, H + 1), actions.T.reshape(B, E, H))
