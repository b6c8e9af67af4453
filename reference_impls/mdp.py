"""Exact quantities of finite (tabular) discounted MDPs.

Conventions (fixed project-wide, see README):

* ``transitions[s, a, s2] = P(s2 | s, a)``, ``rewards[s, a]`` = expected immediate
  reward of taking ``a`` in ``s``, ``initial[s] = P(s_0 = s)``.
* Policies are arrays ``policy[s, a] = pi(a | s)`` whose rows lie on the simplex.
* ``J(pi) = E[sum_t gamma^t r_t]`` (unnormalized). ``V``, ``Q`` and ``A = Q - V``
  are unnormalized too.
* ``visitation(s) = sum_t gamma^t P(s_t = s)`` is the *unnormalized* discounted
  visitation (TRPO's rho_pi; it sums to 1 / (1 - gamma)).
  ``occupancy(s) = (1 - gamma) * visitation(s)`` is the *normalized* discounted
  state distribution (CPO's d^pi).

Every infinite-horizon quantity is computed by one dense linear solve
(``numpy.linalg.solve``; never an explicit inverse), in float64.

References:
  Sutton & Barto (2018), ch. 3-4; Schulman et al. (2015) "Trust Region Policy
  Optimization" (TRPO), Sec. 2; Achiam et al. (2017) "Constrained Policy
  Optimization" (CPO), Sec. 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reference_impls._validation import (
    MAX_TABLE_ENTRIES,
    as_float_array,
    check_choice,
    check_count,
    check_gamma,
    check_horizon,
    check_nonneg_int,
    check_positive_int,
    check_scalar,
    check_simplex,
    pow2_exponent,
)

__all__ = [
    "FiniteMDP",
    "action_values",
    "advantages",
    "expected_return",
    "finite_horizon_action_values",
    "finite_horizon_return",
    "finite_horizon_values",
    "log_softmax",
    "occupancy",
    "policy_rewards",
    "policy_transitions",
    "random_mdp",
    "softmax",
    "state_marginals",
    "state_values",
    "validate_policy",
    "visitation",
]


@dataclass(frozen=True, eq=False)
class FiniteMDP:
    """A finite discounted MDP, validated on construction and immutable.

    Args:
      transitions: ``[S, A, S]`` array, ``transitions[s, a, s2] = P(s2 | s, a)``;
        every ``transitions[s, a]`` must be a probability vector (within 1e-9).
      rewards: ``[S, A]`` array of expected immediate rewards, finite.
      initial: ``[S]`` start-state distribution.
      gamma: discount factor in ``[0, 1)``.

    The stored arrays are float64 copies marked read-only.
    """

    transitions: np.ndarray
    rewards: np.ndarray
    initial: np.ndarray
    gamma: float

    def __post_init__(self) -> None:
        P = as_float_array(self.transitions, "transitions", ndim=3)
        S, A, S2 = P.shape
        if S == 0 or A == 0:
            raise ValueError(f"transitions: expected at least one state and one action, got shape {P.shape}")
        if S2 != S:
            raise ValueError(f"transitions: expected shape (S, A, S) with matching state axes, got {P.shape}")
        check_simplex(P, "transitions")
        R = as_float_array(self.rewards, "rewards", shape=(S, A))
        mu = as_float_array(self.initial, "initial", shape=(S,))
        check_simplex(mu, "initial")
        g = check_gamma(self.gamma)
        for nm, arr in (("transitions", P), ("rewards", R), ("initial", mu)):
            arr = np.array(arr, dtype=np.float64, copy=True)
            arr.flags.writeable = False
            object.__setattr__(self, nm, arr)
        object.__setattr__(self, "gamma", g)

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.transitions.shape[1])

    def replace(self, **changes: Any) -> FiniteMDP:
        """A copy with some fields replaced (validated again)."""
        fields: dict[str, Any] = {
            "transitions": self.transitions,
            "rewards": self.rewards,
            "initial": self.initial,
            "gamma": self.gamma,
        }
        unknown = set(changes) - set(fields)
        if unknown:
            raise ValueError(f"changes: expected a subset of {sorted(fields)}, got unknown field(s) {sorted(unknown)}")
        fields.update(changes)
        return FiniteMDP(**fields)

    def __repr__(self) -> str:
        return f"FiniteMDP(n_states={self.n_states}, n_actions={self.n_actions}, gamma={self.gamma})"


def _check_mdp(mdp: Any) -> FiniteMDP:
    if not isinstance(mdp, FiniteMDP):
        raise ValueError(f"mdp: expected a FiniteMDP, got {type(mdp).__name__}")
    return mdp


def validate_policy(mdp: FiniteMDP, policy: Any, name: str = "policy") -> np.ndarray:
    """Return ``policy`` as float64 after checking shape ``[S, A]`` and simplex rows."""
    _check_mdp(mdp)
    pi = as_float_array(policy, name, shape=(mdp.n_states, mdp.n_actions))
    return check_simplex(pi, name)


def random_mdp(
    rng: np.random.Generator,
    n_states: int,
    n_actions: int,
    gamma: float,
    *,
    reward_range: tuple[float, float] = (-1.0, 1.0),
    concentration: float = 1.0,
    deterministic: bool = False,
    n_absorbing: int = 0,
    sparsity: float = 0.0,
    initial: str = "random",
) -> FiniteMDP:
    """Draw a random finite MDP.

    Args:
      rng: a ``numpy.random.Generator`` (the legacy global RNG is never used).
      n_states, n_actions: sizes, positive.
      gamma: discount in ``[0, 1)``.
      reward_range: rewards are uniform on this interval.
      concentration: Dirichlet concentration of each transition row (1 = uniform
        on the simplex; small values give peaked rows).
      deterministic: every ``(s, a)`` leads to one uniformly drawn next state.
      n_absorbing: the last ``n_absorbing`` states loop to themselves under every action.
      sparsity: probability that an entry of a transition row is forced to zero
        (each row keeps at least one non-zero entry).
      initial: ``"random"`` (Dirichlet(1)), ``"uniform"`` or ``"first"`` (start in state 0).
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    S = check_positive_int(n_states, "n_states")
    A = check_positive_int(n_actions, "n_actions")
    check_count("n_actions" if A >= S else "n_states", {"S": S, "A": A, "S'": S}, MAX_TABLE_ENTRIES,
                "a transition-table size")
    g = check_gamma(gamma)
    if not isinstance(reward_range, tuple | list | np.ndarray) or len(reward_range) != 2:
        raise ValueError(f"reward_range: expected a (low, high) pair, got {type(reward_range).__name__} "
                         f"{reward_range!r:.60}")
    lo = check_scalar(reward_range[0], "reward_range")
    hi = check_scalar(reward_range[1], "reward_range", lo=lo)
    if not np.isfinite(hi - lo):
        raise ValueError(f"reward_range: expected a width representable in float64, got {reward_range!r}")
    check_scalar(concentration, "concentration", lo=0.0, lo_open=True)
    k = check_nonneg_int(n_absorbing, "n_absorbing")
    if k > S:
        raise ValueError(f"n_absorbing: expected at most n_states={S}, got {k}")
    check_scalar(sparsity, "sparsity", lo=0.0, hi=1.0, hi_open=True)
    if not isinstance(deterministic, bool | np.bool_):
        raise ValueError(f"deterministic: expected a bool, got {type(deterministic).__name__} {deterministic!r:.60}")
    if deterministic:
        nxt = rng.integers(0, S, size=(S, A))
        P = np.zeros((S, A, S))
        np.put_along_axis(P, nxt[..., None], 1.0, axis=-1)
    else:
        P = rng.dirichlet(np.full(S, concentration), size=(S, A))
        if sparsity > 0:
            keep = rng.random((S, A, S)) >= sparsity
            forced = rng.integers(0, S, size=(S, A))
            np.put_along_axis(keep, forced[..., None], True, axis=-1)
            P = P * keep
            P = P / P.sum(axis=-1, keepdims=True)
    for s in range(S - k, S):
        P[s] = 0.0
        P[s, :, s] = 1.0
    R = rng.uniform(lo, hi, size=(S, A))
    check_choice(initial, "initial", ("random", "uniform", "first"))
    if initial == "random":
        mu = rng.dirichlet(np.ones(S))
    elif initial == "uniform":
        mu = np.full(S, 1.0 / S)
    elif initial == "first":
        mu = np.zeros(S)
        mu[0] = 1.0
    else:
        raise ValueError(f"initial: expected 'random', 'uniform' or 'first', got {initial!r}")
    return FiniteMDP(P, R, mu, g)


def _check_axis(axis: Any, z: np.ndarray) -> int:
    ndim = z.ndim
    if isinstance(axis, bool | np.bool_) or not isinstance(axis, int | np.integer) or not -ndim <= axis < ndim:
        raise ValueError(f"axis: expected an integer in [{-ndim}, {ndim}) for an array of {ndim} dimension(s), "
                         f"got {type(axis).__name__} {axis!r:.60}")
    if z.shape[axis] == 0:
        raise ValueError(f"logits: expected a non-empty axis {int(axis)}, got shape {z.shape}")
    return int(axis)


def softmax(logits: Any, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis`` (the max is subtracted first).

    Finite for any finite logits, including ``|z| ~ 1e300``; entries may underflow to 0.
    """
    z = as_float_array(logits, "logits", min_ndim=1)
    axis = _check_axis(axis, z)
    with np.errstate(over="ignore"):  # z - max = -inf near the float64 limit: probability 0, as it should
        z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(logits: Any, axis: int = -1) -> np.ndarray:
    """Numerically stable log-softmax along ``axis``."""
    z = as_float_array(logits, "logits", min_ndim=1)
    axis = _check_axis(axis, z)
    with np.errstate(over="ignore"):  # -inf log-probabilities are honest there (probability exp(-3e308) = 0)
        z = z - np.max(z, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def policy_transitions(mdp: FiniteMDP, policy: Any) -> np.ndarray:
    """``P_pi[s, s2] = sum_a pi(a|s) P(s2|s, a)``."""
    pi = validate_policy(_check_mdp(mdp), policy)
    return np.einsum("sa,sat->st", pi, mdp.transitions)


def policy_rewards(mdp: FiniteMDP, policy: Any) -> np.ndarray:
    """``r_pi[s] = sum_a pi(a|s) r(s, a)``."""
    pi = validate_policy(_check_mdp(mdp), policy)
    return np.einsum("sa,sa->s", pi, mdp.rewards)


def _scaled_values(mdp: FiniteMDP, policy: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """``(V / 2^k, r / 2^k, k)`` with ``2^k`` just above ``max |r|``.

    Every value is linear in the rewards, so solving with ``r / 2^k`` (exact) and scaling back
    by ``ldexp`` gives bit for bit the unscaled result in the ordinary range, while rewards near
    the float64 limit give ``V = inf`` only where ``V`` truly overflows and advantages
    ``Q - V`` without ``inf - inf``.
    """
    P_pi = policy_transitions(mdp, policy)
    pi = validate_policy(mdp, policy)
    k = int(pow2_exponent(mdp.rewards))
    R = np.ldexp(mdp.rewards, -k)
    r_pi = np.einsum("sa,sa->s", pi, R)
    return np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * P_pi, r_pi), R, k


def _unscale(x: Any, k: int) -> Any:
    with np.errstate(over="ignore"):
        return np.ldexp(x, k)


def state_values(mdp: FiniteMDP, policy: Any) -> np.ndarray:
    """Exact ``V^pi`` by solving ``(I - gamma P_pi) V = r_pi``. Shape ``[S]``."""
    V, _, k = _scaled_values(mdp, policy)
    return _unscale(V, k)


def action_values(mdp: FiniteMDP, policy: Any) -> np.ndarray:
    """Exact ``Q^pi(s, a) = r(s, a) + gamma sum_s2 P(s2|s,a) V^pi(s2)``. Shape ``[S, A]``."""
    V, R, k = _scaled_values(mdp, policy)
    return _unscale(R + mdp.gamma * mdp.transitions @ V, k)


def advantages(mdp: FiniteMDP, policy: Any) -> np.ndarray:
    """Exact ``A^pi(s, a) = Q^pi(s, a) - V^pi(s)``. Shape ``[S, A]``; ``sum_a pi A = 0``.

    Computed as ``r + gamma P V - V`` from one solve, so the identity
    ``E_{a~pi} A(s, a) = 0`` holds to rounding.
    """
    V, R, k = _scaled_values(mdp, policy)
    return _unscale(R + mdp.gamma * mdp.transitions @ V - V[:, None], k)


def visitation(mdp: FiniteMDP, policy: Any) -> np.ndarray:
    """Unnormalized discounted visitation ``rho(s) = sum_t gamma^t P(s_t = s)``.

    Solves ``(I - gamma P_pi)^T rho = initial``; ``rho`` sums to ``1 / (1 - gamma)``.
    This is TRPO's ``rho_pi`` (Sec. 2) and Sutton et al.'s ``d^pi`` (1999, Thm 1).
    """
    P_pi = policy_transitions(mdp, policy)
    return np.linalg.solve((np.eye(mdp.n_states) - mdp.gamma * P_pi).T, mdp.initial)


def occupancy(mdp: FiniteMDP, policy: Any) -> np.ndarray:
    """Normalized discounted state distribution ``d(s) = (1 - gamma) sum_t gamma^t P(s_t = s)``.

    A probability vector (CPO's ``d^pi``). See :func:`visitation` for the unnormalized one.
    """
    rho = visitation(mdp, policy)
    return (1.0 - mdp.gamma) * rho


def expected_return(mdp: FiniteMDP, policy: Any) -> float:
    """``J(pi) = initial . V^pi = E[sum_t gamma^t r_t]``."""
    V, _, k = _scaled_values(mdp, policy)
    return float(_unscale(mdp.initial @ V, k))


def state_marginals(mdp: FiniteMDP, policy: Any, horizon: int) -> np.ndarray:
    """``[horizon, S]`` array of ``P(s_t = s)`` for ``t = 0 .. horizon - 1`` (matrix powers)."""
    P_pi = policy_transitions(mdp, policy)
    H = check_horizon(horizon)
    check_count("horizon", {"H": H, "S": mdp.n_states}, MAX_TABLE_ENTRIES, "a table size")
    out = np.empty((H, mdp.n_states))
    p = mdp.initial.copy()
    for t in range(H):
        out[t] = p
        p = p @ P_pi
    return out


def _finite_gamma(mdp: FiniteMDP, gamma: Any) -> float:
    return mdp.gamma if gamma is None else check_gamma(gamma, allow_one=True)


def finite_horizon_values(mdp: FiniteMDP, policy: Any, horizon: int, gamma: float | None = None) -> np.ndarray:
    """Backward induction over a finite horizon.

    Returns ``V[t, s] = E[sum_{k=t}^{H-1} g^{k-t} r_k | s_t = s]`` for ``t = 0 .. H``
    (shape ``[H + 1, S]``; ``V[H] = 0``), where ``g`` is ``gamma`` if given (``1`` is
    allowed here, the horizon being finite) and ``mdp.gamma`` otherwise.
    """
    pi = validate_policy(_check_mdp(mdp), policy)
    H = check_horizon(horizon)
    check_count("horizon", {"H + 1": H + 1, "S": mdp.n_states, "A": mdp.n_actions}, MAX_TABLE_ENTRIES,
                "a table size")
    g = _finite_gamma(mdp, gamma)
    P_pi = np.einsum("sa,sat->st", pi, mdp.transitions)
    r_pi = np.einsum("sa,sa->s", pi, mdp.rewards)
    V = np.zeros((H + 1, mdp.n_states))
    for t in range(H - 1, -1, -1):
        V[t] = r_pi + g * P_pi @ V[t + 1]
    return V


def finite_horizon_action_values(
    mdp: FiniteMDP, policy: Any, horizon: int, gamma: float | None = None
) -> np.ndarray:
    """``Q[t, s, a] = r(s, a) + g sum_s2 P(s2|s,a) V[t + 1, s2]`` for ``t < H``; shape ``[H, S, A]``."""
    V = finite_horizon_values(mdp, policy, horizon, gamma)
    g = _finite_gamma(mdp, gamma)
    return mdp.rewards[None] + g * np.einsum("sat,ht->hsa", mdp.transitions, V[1:])


def finite_horizon_return(mdp: FiniteMDP, policy: Any, horizon: int, gamma: float | None = None) -> float:
    """``J_H = E[sum_{t<H} g^t r_t]`` = ``initial . V[0]`` from :func:`finite_horizon_values`."""
    V = finite_horizon_values(mdp, policy, horizon, gamma)
    return float(mdp.initial @ V[0])
