"""High-precision (mpmath) re-implementations of the tabular MDP quantities.

Independent of :mod:`reference_impls` (no shared code path): values are solved with
``mpmath.lu_solve`` at a caller-chosen precision, always inside ``mp.workdps`` (the
global ``mp.dps`` is never changed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath as mp
import numpy as np

from reference_impls.mdp import FiniteMDP


def mpf_array(x: Any) -> list[Any]:
    """Nested lists of ``mp.mpf`` from a numpy array (exact binary conversion)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        return mp.mpf(float(a))
    return [mpf_array(v) for v in a]


def mp_softmax(z_row: list[Any]) -> list[Any]:
    m = max(z_row)
    e = [mp.exp(v - m) for v in z_row]
    s = mp.fsum(e)
    return [v / s for v in e]


class MpMDP:
    """An MDP held as mpmath numbers; all methods must be called inside ``mp.workdps``."""

    def __init__(self, mdp: FiniteMDP) -> None:
        self.S, self.A = mdp.n_states, mdp.n_actions
        self.P = mpf_array(mdp.transitions)
        self.R = mpf_array(mdp.rewards)
        self.mu = mpf_array(mdp.initial)
        self.gamma = mp.mpf(mdp.gamma)

    def _mats(self, pi: list[list[Any]]) -> tuple[Any, Any]:
        S, A = self.S, self.A
        M = mp.matrix(S, S)
        r = mp.matrix(S, 1)
        for s in range(S):
            r[s] = mp.fsum(pi[s][a] * self.R[s][a] for a in range(A))
            for t in range(S):
                M[s, t] = (1 if s == t else 0) - self.gamma * mp.fsum(pi[s][a] * self.P[s][a][t] for a in range(A))
        return M, r

    def values(self, pi: list[list[Any]]) -> list[Any]:
        M, r = self._mats(pi)
        v = mp.lu_solve(M, r)
        return [v[s] for s in range(self.S)]

    def q_values(self, pi: list[list[Any]]) -> list[list[Any]]:
        V = self.values(pi)
        return [
            [self.R[s][a] + self.gamma * mp.fsum(self.P[s][a][t] * V[t] for t in range(self.S)) for a in range(self.A)]
            for s in range(self.S)
        ]

    def advantages(self, pi: list[list[Any]]) -> list[list[Any]]:
        V = self.values(pi)
        Q = self.q_values(pi)
        return [[Q[s][a] - V[s] for a in range(self.A)] for s in range(self.S)]

    def visitation(self, pi: list[list[Any]]) -> list[Any]:
        M, _ = self._mats(pi)
        rho = mp.lu_solve(M.T, mp.matrix(self.mu))
        return [rho[s] for s in range(self.S)]

    def ret(self, pi: list[list[Any]]) -> Any:
        V = self.values(pi)
        return mp.fsum(self.mu[s] * V[s] for s in range(self.S))

    def softmax_policy(self, logits: list[list[Any]]) -> list[list[Any]]:
        return [mp_softmax(row) for row in logits]


def central_difference(f: Callable[[list[list[Any]]], Any], z: list[list[Any]], h: Any) -> list[list[Any]]:
    """Central differences of a scalar function of an ``[S][A]`` table (inside workdps)."""
    out = []
    for s in range(len(z)):
        row = []
        for a in range(len(z[s])):
            zp = [list(r) for r in z]
            zm = [list(r) for r in z]
            zp[s][a] += h
            zm[s][a] -= h
            row.append((f(zp) - f(zm)) / (2 * h))
        out.append(row)
    return out
