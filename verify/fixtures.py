"""Named MDP instances that make bounds tight ("escape chain").

Each fixture returns plain numpy objects built from :mod:`reference_impls.mdp`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference_impls.mdp import FiniteMDP


@dataclass(frozen=True)
class EscapeChain:
    mdp: FiniteMDP
    pi_old: np.ndarray
    pi_new: np.ndarray
    pi_other: np.ndarray
    gamma: float
    alpha: float
    eps: float


def escape_chain(gamma: float, alpha: float, eps: float = 1.0, *, with_e: bool = True) -> EscapeChain:
    """The escape chain E(gamma, alpha, eps).

    States s0 (start) and s1 (absorbing). At s0: action a stays (reward 0), action b
    moves to s1 (reward 0). At s1: action c stays with reward r1 = eps (1 - gamma) / gamma,
    action e stays with reward r1 - eps. Old policy: a at s0, c at s1. New policy:
    ``(1 - alpha) old + alpha pi'``, with pi' playing b at s0 and e at s1.

    With ``with_e=False`` action e is replaced by a copy of c (the "variant without e",
    which halves the tightness ratios). Requires ``gamma > 0``.
    """
    if not (0 < gamma < 1):
        raise ValueError(f"gamma: expected a value in (0, 1), got {gamma!r}")
    if not (0 <= alpha <= 1):
        raise ValueError(f"alpha: expected a value in [0, 1], got {alpha!r}")
    r1 = eps * (1 - gamma) / gamma
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = 1.0  # a: stay
    P[0, 1, 1] = 1.0  # b: escape
    P[1, :, 1] = 1.0  # absorbing
    R = np.array([[0.0, 0.0], [r1, r1 - eps if with_e else r1]])
    mdp = FiniteMDP(P, R, np.array([1.0, 0.0]), gamma)
    old = np.array([[1.0, 0.0], [1.0, 0.0]])
    other = np.array([[0.0, 1.0], [0.0, 1.0]])
    new = (1 - alpha) * old + alpha * other
    return EscapeChain(mdp, old, new, other, gamma, alpha, eps)


def trpo_eq44_instance() -> tuple[FiniteMDP, np.ndarray, np.ndarray]:
    """The 3-state, 2-action instance on which TRPO's eq. (44) is about 90 % tight at
    alpha = 1/2 (found by Nelder-Mead random search).

    gamma = 0.9; start in s0. Transitions: s0: a0 -> s2, a1 -> s0; s1: a0, a1 -> s1;
    s2: a0 -> s2, a1 -> s1.
    """
    P = np.zeros((3, 2, 3))
    P[0, 0, 2] = 1.0
    P[0, 1, 0] = 1.0
    P[1, :, 1] = 1.0
    P[2, 0, 2] = 1.0
    P[2, 1, 1] = 1.0
    R = np.array([[2.217, 10.022], [-0.391, 20.869], [-2.428, 0.471]])
    mdp = FiniteMDP(P, R, np.array([1.0, 0.0, 0.0]), 0.9)
    pi = np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    pi_new = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    return mdp, pi, pi_new
