"""Every trajectory of a short-horizon MDP with its exact probability, and a batched sampler.

A trajectory of horizon ``H`` is ``(s_0, a_0, s_1, a_1, ..., a_{H-1}, s_H)``; there are
``S^(H+1) A^H`` of them. :func:`enumerate_trajectories` lists them all (zero-probability
ones included, so that importance-sampling support failures stay visible), breadth-first
and vectorized: the probability array is built by ``2H`` broadcast products over a grid
of shape ``(S, A, S, A, ..., S)``, and state/action columns are broadcast writes into
time-major buffers of the smallest integer dtype.

Exact expectations and variances of any per-trajectory estimator are then weighted
sums: ``traj.expectation(values)``, ``traj.variance(values)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference_impls._validation import (
    MAX_TABLE_ENTRIES,
    as_float_array,
    check_count,
    check_gamma,
    check_horizon,
    check_positive_int,
)
from reference_impls.mdp import FiniteMDP, _check_mdp, validate_policy

__all__ = ["MAX_ENUMERATED", "Trajectories", "enumerate_trajectories", "sample_trajectories"]

#: Refuse to enumerate more trajectories than this (memory guard; ~0.9 GB of buffers).
MAX_ENUMERATED = 50_000_000
#: The broadcast grid ``(S, A, ..., S)`` has ``2H + 1`` axes; numpy allows at most 64.
_MAX_GRID_DIMS = 63


@dataclass(frozen=True, eq=False)
class Trajectories:
    """A set of trajectories with weights.

    Attributes:
      states: ``[N, H + 1]`` integer array (a transposed view of a time-major buffer).
      actions: ``[N, H]`` integer array.
      probs: ``[N]`` float64. For :func:`enumerate_trajectories` the exact probability
        of each trajectory (they sum to 1); for :func:`sample_trajectories` the
        empirical weight ``1 / N``, so ``expectation`` is the sample mean.
      mdp: the MDP they belong to.
      grid: for a full enumeration, the mixed-radix shape ``(S, A, S, ..., A, S)`` of the
        trajectory index; per-step tables are then broadcast over it instead of gathered.
    """

    states: np.ndarray
    actions: np.ndarray
    probs: np.ndarray
    mdp: FiniteMDP
    grid: tuple[int, ...] | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self._cache.pop(_TRUSTED, False):  # built by this module: already consistent
            return
        _check_mdp(self.mdp)
        S, A = self.mdp.n_states, self.mdp.n_actions
        st = _index_array(self.states, "states", S, "n_states")
        ac = _index_array(self.actions, "actions", A, "n_actions")
        if st.ndim != 2 or ac.ndim != 2 or st.shape[0] != ac.shape[0] or st.shape[1] != ac.shape[1] + 1:
            raise ValueError(f"actions: expected shape [N, H] with states of shape [N, H + 1], got actions "
                             f"{ac.shape} and states {st.shape}")
        pr = as_float_array(self.probs, "probs", shape=(st.shape[0],))
        if np.any(pr < 0) or np.any(pr > 1):
            raise ValueError(f"probs: expected probabilities in [0, 1], got range [{pr.min():.3g}, {pr.max():.3g}]")
        total = float(pr.sum())
        if total > 1.0 + 1e-9:
            raise ValueError(f"probs: expected a total probability of at most 1 (within 1e-9), got {total!r}")
        if self.grid is not None:
            raise ValueError(f"grid: expected None (only enumerate_trajectories builds a grid), got {self.grid!r}")
        object.__setattr__(self, "states", st)
        object.__setattr__(self, "actions", ac)
        object.__setattr__(self, "probs", pr)

    @property
    def horizon(self) -> int:
        return int(self.actions.shape[1])

    def __len__(self) -> int:
        return int(self.probs.shape[0])

    @property
    def rewards(self) -> np.ndarray:
        """``[N, H]`` expected rewards ``r(s_t, a_t)``."""
        if "rewards" not in self._cache:
            self._cache["rewards"] = self._per_step(self.mdp.rewards)
        return self._cache["rewards"]

    def _per_step(self, table: np.ndarray) -> np.ndarray:
        """``[N, H]`` array of ``table[s_t, a_t]`` (a transposed view of a time-major buffer)."""
        H, N = self.horizon, len(self)
        out = np.empty((H, N))
        if self.grid is not None:
            # full enumeration: s_t and a_t are grid axes 2t and 2t+1, so broadcast the table
            for t in range(H):
                shape = [1] * len(self.grid)
                shape[2 * t], shape[2 * t + 1] = table.shape
                out[t].reshape(self.grid)[...] = table.reshape(shape)
        else:
            st, at = np.ascontiguousarray(self.states.T), np.ascontiguousarray(self.actions.T)
            for t in range(H):
                out[t] = table[st[t], at[t]]
        return out.T

    def discounted_returns(self, gamma: float | None = None) -> np.ndarray:
        """``[N]`` returns ``sum_{t<H} g^t r(s_t, a_t)`` (``g = mdp.gamma`` unless given; 1 allowed)."""
        g = self.mdp.gamma if gamma is None else check_gamma(gamma, allow_one=True)
        return self.rewards @ (g ** np.arange(self.horizon))

    def step_log_probs(self, policy: Any, name: str = "policy") -> np.ndarray:
        """``[N, H]`` array of ``log policy(a_t | s_t)`` (``-inf`` where the probability is 0)."""
        pi = validate_policy(self.mdp, policy, name)
        with np.errstate(divide="ignore"):
            return self._per_step(np.log(pi))

    def log_prob(self, policy: Any, name: str = "policy") -> np.ndarray:
        """``[N]`` sum over steps of ``log policy(a_t|s_t)``: the policy part of ``log p(tau)``.

        The dynamics and start-state terms are omitted: they cancel in every ratio of
        trajectory probabilities under two policies.
        """
        pi = validate_policy(self.mdp, policy, name)
        with np.errstate(divide="ignore"):
            logp = np.log(pi)
        out = np.zeros(len(self))
        if self.grid is not None:
            view = out.reshape(self.grid)
            for t in range(self.horizon):
                shape = [1] * len(self.grid)
                shape[2 * t], shape[2 * t + 1] = logp.shape
                view += logp.reshape(shape)
        else:
            st, at = np.ascontiguousarray(self.states.T), np.ascontiguousarray(self.actions.T)
            for t in range(self.horizon):
                out += logp[st[t], at[t]]
        return out

    def expectation(self, values: Any) -> np.ndarray:
        """``sum_i probs[i] values[i]`` for ``values`` of shape ``[N, ...]``."""
        v = as_float_array(values, "values", min_ndim=1)
        if v.shape[0] != len(self):
            raise ValueError(f"values: expected leading axis of length {len(self)}, got shape {v.shape}")
        return np.tensordot(self.probs, v, axes=(0, 0))

    def variance(self, values: Any) -> np.ndarray:
        """Exact (co)variance of per-trajectory ``values``: ``[...]`` or ``[d, d]`` for vectors.

        Computed around the exact mean (two-pass), which avoids the cancellation of
        ``E[x^2] - E[x]^2``.
        """
        v = as_float_array(values, "values", min_ndim=1)
        m = self.expectation(v)
        c = v - m
        if v.ndim == 1:
            return np.asarray(self.probs @ (c * c))
        flat = c.reshape(len(self), -1)
        return (flat * self.probs[:, None]).T @ flat


#: Key of ``Trajectories._cache`` marking an instance built by this module (skips re-validation).
_TRUSTED = "_built_by_enumeration"


def _index_array(x: Any, name: str, size: int, size_name: str) -> np.ndarray:
    """Integer indices in ``[0, size)`` (negative ids would silently wrap around in numpy indexing)."""
    if x is None or isinstance(x, str | bytes):
        raise ValueError(f"{name}: expected an integer array, got {type(x).__name__}")
    arr = np.asarray(x)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: expected an integer array, got dtype {arr.dtype}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= size):
        raise ValueError(f"{name}: expected values in [0, {size}) ({size_name} of the MDP), "
                         f"got range [{int(arr.min())}, {int(arr.max())}]")
    return arr


def enumerate_trajectories(mdp: FiniteMDP, policy: Any, horizon: int) -> Trajectories:
    """All ``S^(H+1) A^H`` trajectories of horizon ``H`` with their exact probabilities.

    ``probs[i] = initial(s_0) prod_t policy(a_t|s_t) P(s_{t+1}|s_t, a_t)``; the
    probabilities sum to 1 (up to rounding). Trajectory ``i`` is ordered as a mixed-radix
    number with digits ``(s_0, a_0, ..., s_H)``, ``s_H`` fastest.
    """
    pi = validate_policy(_check_mdp(mdp), policy)
    H = check_horizon(horizon)
    S, A = mdp.n_states, mdp.n_actions
    # compare logarithms: S^(H+1) A^H as an exact integer takes seconds (and cannot be printed) for large H
    log_n = (H + 1) * np.log(S) + H * np.log(A)
    if log_n > np.log(MAX_ENUMERATED) + 1e-9:
        raise ValueError(
            f"horizon: expected S^(H+1) A^H <= {MAX_ENUMERATED:,} trajectories, got about "
            f"10^{log_n / np.log(10):.1f} (S={S}, A={A}, H={H:,})"
        )
    n = S ** (H + 1) * A**H
    # Probabilities, breadth-first: p has the grid shape (S, A, S, ..., A, S) flattened.
    p = mdp.initial.copy()
    for _ in range(H):
        p = (p.reshape(-1, S, 1) * pi[None]).reshape(-1)  # choose a_t given s_t
        p = (p.reshape(-1, S, A, 1) * mdp.transitions[None]).reshape(-1)  # step to s_{t+1}
    dtype_s = np.min_scalar_type(max(S - 1, 0))
    dtype_a = np.min_scalar_type(max(A - 1, 0))
    if 2 * H + 1 > _MAX_GRID_DIMS:
        # only S = A = 1 gets here (otherwise n > MAX_ENUMERATED): one trajectory, all indices 0
        return Trajectories(np.zeros((n, H + 1), dtype=dtype_s), np.zeros((n, H), dtype=dtype_a), p, mdp, None,
                            {_TRUSTED: True})
    grid = (S,) + (A, S) * H
    states_tm = np.empty((H + 1, n), dtype=dtype_s)
    actions_tm = np.empty((H, n), dtype=dtype_a)
    for t in range(H + 1):
        axis = 2 * t
        bshape = [1] * len(grid)
        bshape[axis] = S
        states_tm[t].reshape(grid)[...] = np.arange(S, dtype=dtype_s).reshape(bshape)
    for t in range(H):
        axis = 2 * t + 1
        bshape = [1] * len(grid)
        bshape[axis] = A
        actions_tm[t].reshape(grid)[...] = np.arange(A, dtype=dtype_a).reshape(bshape)
    return Trajectories(states_tm.T, actions_tm.T, p, mdp, grid, {_TRUSTED: True})


def sample_trajectories(
    mdp: FiniteMDP, policy: Any, horizon: int, n: int, rng: np.random.Generator
) -> Trajectories:
    """Draw ``n`` trajectories of horizon ``H`` by vectorized inverse-CDF sampling.

    All ``n`` trajectories advance together, one step at a time (a loop over ``H``, not
    over ``n``). Weights are ``1 / n``, so ``expectation`` gives the sample mean.
    """
    pi = validate_policy(_check_mdp(mdp), policy)
    H = check_horizon(horizon)
    N = check_positive_int(n, "n")
    check_count("horizon" if H + 1 >= N else "n", {"H + 1": H + 1, "n": N}, MAX_TABLE_ENTRIES,
                "a number of sampled states")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    # Inverse CDF: the sampled index is #{k < K-1 : cdf[k] <= u}; the last cdf entry is
    # never compared, so rounding in a cumulative sum can't push an index out of range.
    cdf_pi = np.cumsum(pi, axis=1)[:, :-1]
    cdf_P = np.cumsum(mdp.transitions, axis=2)[:, :, :-1]
    cdf_0 = np.cumsum(mdp.initial)[:-1]
    states = np.empty((H + 1, N), dtype=np.int64)
    actions = np.empty((H, N), dtype=np.int64)
    states[0] = np.searchsorted(cdf_0, rng.random(N), side="right")
    for t in range(H):
        s = states[t]
        a = (cdf_pi[s] <= rng.random((N, 1))).sum(axis=1)
        actions[t] = a
        states[t + 1] = (cdf_P[s, a] <= rng.random((N, 1))).sum(axis=1)
    return Trajectories(states.T, actions.T, np.full(N, 1.0 / N), mdp, None, {_TRUSTED: True})
