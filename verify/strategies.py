"""Public hypothesis strategies for finite MDPs, policies and distributions.

Entries are drawn by hypothesis itself (not from a drawn RNG seed) so failures shrink
toward simple instances. Probabilities are built as normalised positive weights.

Profiles (register with :func:`register_profiles`; all have ``deadline=None``):
``dev`` (local), ``ci`` (derandomized, no database), ``thorough`` (large budgets,
fresh seeds), ``debug`` (verbose, few examples).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, Verbosity, settings
from hypothesis import strategies as st

from reference_impls.mdp import FiniteMDP, softmax

__all__ = [
    "GAMMAS",
    "distributions",
    "finite_mdps",
    "gammas",
    "logits",
    "mdp_kinds",
    "mdp_with_policy",
    "near_identical_distributions",
    "policies",
    "policy_pairs",
    "register_profiles",
]

#: Discounts that exercise the bandit limit (0), moderate and long horizons.
GAMMAS = (0.0, 0.5, 0.9, 0.99)


def register_profiles() -> None:
    """Register the ``dev``, ``ci``, ``thorough`` and ``debug`` hypothesis profiles."""
    common: dict[str, Any] = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
    settings.register_profile("dev", max_examples=30, **common)
    settings.register_profile("ci", max_examples=60, derandomize=True, database=None, print_blob=True, **common)
    settings.register_profile("thorough", max_examples=1000, **common)
    settings.register_profile("debug", max_examples=10, verbosity=Verbosity.verbose, **common)


def gammas(values: tuple[float, ...] = GAMMAS) -> st.SearchStrategy[float]:
    return st.sampled_from(values)


def _weights(n: int, lo: float = 0.05) -> st.SearchStrategy[list[float]]:
    return st.lists(st.floats(lo, 1.0, allow_nan=False), min_size=n, max_size=n)


@st.composite
def distributions(draw: st.DrawFn, n: int | st.SearchStrategy[int] = st.integers(2, 5), floor: float = 0.0,
                  zeros: bool = False) -> np.ndarray:
    """A probability vector of length ``n`` with every entry at least ``floor``.

    With ``zeros=True`` some entries (never all) may be exactly 0.
    """
    k = draw(n) if isinstance(n, st.SearchStrategy) else n
    w = np.array(draw(_weights(k)))
    if zeros and k > 1:
        mask = np.array(draw(st.lists(st.booleans(), min_size=k, max_size=k)))
        if mask.all():
            mask[draw(st.integers(0, k - 1))] = False
        w[mask] = 0.0
    p = w / w.sum()
    if floor > 0:
        if floor * k >= 1:
            raise ValueError(f"floor: expected floor * n < 1, got floor={floor}, n={k}")
        p = (1 - floor * k) * p + floor
    return p


@st.composite
def near_identical_distributions(draw: st.DrawFn, n: int | st.SearchStrategy[int] = st.integers(2, 5),
                                 max_delta: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """A pair ``(p, q)`` with ``q = p + delta * v`` (``sum v = 0``), both strictly positive."""
    p = draw(distributions(n, floor=0.05))
    k = p.shape[0]
    v = np.array(draw(st.lists(st.floats(-1, 1), min_size=k, max_size=k)))
    v = v - v.mean()
    scale = np.max(np.abs(v))
    if scale == 0:
        v = np.zeros(k)
        v[0], v[-1] = 1.0, -1.0
        scale = 1.0
    delta = draw(st.floats(1e-6, max_delta))
    q = p + delta * 0.04 * v / scale  # |shift| <= 0.04 delta < p_min = 0.05
    return p, q / q.sum()


def mdp_kinds() -> st.SearchStrategy[str]:
    return st.sampled_from(["dense", "deterministic", "absorbing", "sparse"])


@st.composite
def finite_mdps(
    draw: st.DrawFn,
    n_states: st.SearchStrategy[int] = st.integers(1, 4),
    n_actions: st.SearchStrategy[int] = st.integers(1, 3),
    gamma: st.SearchStrategy[float] | None = None,
    kind: st.SearchStrategy[str] | None = None,
    reward_bound: float = 1.0,
    initial: str = "random",
) -> FiniteMDP:
    """A finite MDP. ``kind`` is one of ``dense`` (positive transition rows),
    ``deterministic`` (one next state per (s, a)), ``absorbing`` (the last state loops
    to itself) or ``sparse`` (some zero transition entries). Rewards lie in
    ``[-reward_bound, reward_bound]``.
    """
    S, A = draw(n_states), draw(n_actions)
    g = draw(gamma if gamma is not None else gammas())
    k = draw(kind if kind is not None else mdp_kinds())
    P = np.zeros((S, A, S))
    for s in range(S):
        for a in range(A):
            if k == "deterministic":
                P[s, a, draw(st.integers(0, S - 1))] = 1.0
            else:
                P[s, a] = draw(distributions(S, zeros=(k == "sparse")))
    if k == "absorbing":
        P[S - 1] = 0.0
        P[S - 1, :, S - 1] = 1.0
    R = np.array(draw(st.lists(st.floats(-reward_bound, reward_bound), min_size=S * A, max_size=S * A)))
    R = R.reshape(S, A)
    if initial == "first":
        mu = np.zeros(S)
        mu[0] = 1.0
    else:
        mu = draw(distributions(S))
    return FiniteMDP(P, R, mu, g)


@st.composite
def logits(draw: st.DrawFn, n_states: int, n_actions: int, bound: float = 4.0) -> np.ndarray:
    """Softmax logits ``[S, A]`` with entries in ``[-bound, bound]``."""
    vals = draw(st.lists(st.floats(-bound, bound), min_size=n_states * n_actions, max_size=n_states * n_actions))
    return np.array(vals).reshape(n_states, n_actions)


@st.composite
def policies(draw: st.DrawFn, n_states: int, n_actions: int, floor: float = 1e-3) -> np.ndarray:
    """A stochastic policy ``[S, A]`` with every probability at least ``floor``."""
    if floor * n_actions >= 1:
        raise ValueError(f"floor: expected floor * n_actions < 1, got {floor} * {n_actions}")
    p = softmax(draw(logits(n_states, n_actions)))
    return (1 - floor * n_actions) * p + floor


@st.composite
def policy_pairs(draw: st.DrawFn, n_states: int, n_actions: int, max_tv: float = 0.5,
                 floor: float = 1e-3) -> tuple[np.ndarray, np.ndarray, float]:
    """``(pi, pi_new, alpha)`` with ``pi_new = (1 - alpha) pi + alpha pi'`` (a Kakade-Langford
    mixture), so ``max_s TV(pi(.|s), pi_new(.|s)) <= alpha <= max_tv``."""
    pi = draw(policies(n_states, n_actions, floor))
    other = draw(policies(n_states, n_actions, floor))
    alpha = draw(st.floats(0.0, max_tv))
    return pi, (1 - alpha) * pi + alpha * other, alpha


@st.composite
def mdp_with_policy(draw: st.DrawFn, floor: float = 1e-3, **mdp_kwargs: Any) -> tuple[FiniteMDP, np.ndarray]:
    """An MDP from :func:`finite_mdps` and a policy for it."""
    m = draw(finite_mdps(**mdp_kwargs))
    return m, draw(policies(m.n_states, m.n_actions, floor))
