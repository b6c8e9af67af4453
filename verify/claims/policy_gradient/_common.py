"""Helpers shared by several policy-gradient topic modules (fixtures, exact evaluators, constants)."""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import mdp as M
from verify import strategies as vst

FAMILY = "policy-gradient"


# --------------------------------------------------------------------------- shared pieces


def sympy_two_state_mdp() -> dict[str, Any]:
    """A 2-state, 2-action MDP with rational dynamics, rewards and gamma (fixed, generic)."""
    P = [
        [[sp.Rational(1, 3), sp.Rational(2, 3)], [sp.Rational(3, 4), sp.Rational(1, 4)]],
        [[sp.Rational(1, 5), sp.Rational(4, 5)], [sp.Rational(5, 7), sp.Rational(2, 7)]],
    ]
    R = [[sp.Rational(1), sp.Rational(-1, 2)], [sp.Rational(2, 3), sp.Rational(3, 2)]]
    mu = [sp.Rational(2, 3), sp.Rational(1, 3)]
    return {"P": P, "R": R, "mu": mu, "gamma": sp.Rational(9, 10)}


def sympy_eval(m: dict[str, Any], pi: list[list[sp.Expr]]) -> dict[str, Any]:
    """V, Q, A, visitation rho and J of a policy table in exact sympy arithmetic."""
    P, R, mu, g = m["P"], m["R"], m["mu"], m["gamma"]
    S, A = 2, 2
    P_pi = sp.Matrix(S, S, lambda s, t: sum(pi[s][a] * P[s][a][t] for a in range(A)))
    r_pi = sp.Matrix(S, 1, lambda s, _: sum(pi[s][a] * R[s][a] for a in range(A)))
    Minv = (sp.eye(S) - g * P_pi).inv()
    V = Minv * r_pi
    Q = [[R[s][a] + g * sum(P[s][a][t] * V[t] for t in range(S)) for a in range(A)] for s in range(S)]
    Adv = [[Q[s][a] - V[s] for a in range(A)] for s in range(S)]
    rho = (sp.Matrix([mu]) * Minv).T
    J = sum(mu[s] * V[s] for s in range(S))
    return {"V": V, "Q": Q, "A": Adv, "rho": rho, "J": J}


def _scale(mdp: M.FiniteMDP) -> float:
    """Magnitude of returns in this MDP: max|r| / (1 - gamma) (at least 1)."""
    return max(1.0, float(np.max(np.abs(mdp.rewards))) / (1.0 - mdp.gamma))


def _mdp_two_policies(floor: float = 1e-3) -> st.SearchStrategy[tuple[M.FiniteMDP, np.ndarray, np.ndarray]]:
    @st.composite
    def strat(draw: st.DrawFn) -> tuple[M.FiniteMDP, np.ndarray, np.ndarray]:
        m = draw(vst.finite_mdps())
        return m, draw(vst.policies(m.n_states, m.n_actions, floor)), draw(vst.policies(m.n_states, m.n_actions, floor))

    return strat()


# --------------------------------------------------------------------------- finite-horizon helpers


def finite_horizon_gradient(mdp: M.FiniteMDP, z: np.ndarray, horizon: int, *, keep_discount: bool = True) -> np.ndarray:
    """Exact ``grad_z`` of ``J_H = E[sum_{t<H} gamma^t r_t]`` by the finite-horizon PG theorem:
    ``sum_t w_t sum_s p_t(s) pi(a|s) (Q_t(s,a) - V_t(s))`` with ``w_t = gamma^t``.

    ``keep_discount=False`` drops the ``gamma^t`` weights (the common estimator's target,
    PG-DISCOUNT-OMISSION); that vector is *not* ``grad J_H``.
    """
    pi = M.softmax(z)
    Q = M.finite_horizon_action_values(mdp, pi, horizon)
    V = M.finite_horizon_values(mdp, pi, horizon)
    p = M.state_marginals(mdp, pi, horizon)
    out = np.zeros_like(pi)
    for t in range(horizon):
        w = mdp.gamma**t if keep_discount else 1.0
        out += w * p[t][:, None] * pi * (Q[t] - V[t][:, None])
    return out


def trajectory_scores(traj: Any, pi: np.ndarray) -> np.ndarray:
    """``[N, H, S*A]`` per-step scores ``grad_z log pi(a_t|s_t) = e_{s_t,a_t} - e_{s_t} (x) pi(.|s_t)``."""
    N, H = traj.actions.shape
    S, A = pi.shape
    out = np.zeros((N, H, S, A))
    idx = np.arange(N)
    for t in range(H):
        st_, at_ = traj.states[:, t].astype(np.int64), traj.actions[:, t].astype(np.int64)
        out[idx, t, st_, :] -= pi[st_]
        out[idx, t, st_, at_] += 1.0
    return out.reshape(N, H, S * A)


def reward_to_go(traj: Any, gamma: float, *, keep_discount: bool = True) -> np.ndarray:
    """``[N, H]``: ``sum_{k>=t} gamma^k r_k`` (keep_discount) or ``sum_{k>=t} gamma^(k-t) r_k`` (gamma^t dropped)."""
    r = traj.rewards
    N, H = r.shape
    G_ = np.zeros((N, H + 1))
    for t in range(H - 1, -1, -1):
        G_[:, t] = r[:, t] + gamma * G_[:, t + 1]
    G_ = G_[:, :H]
    return G_ * (gamma ** np.arange(H))[None, :] if keep_discount else G_


# --------------------------------------------------------------------------- seed files (S1, S2)

S1 = "001_7cd217662ff5462a.txt"


S2 = "002_b2d5f747b44654f0.txt"
