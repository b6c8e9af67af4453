"""Helpers shared by several value-targets topic modules (fixtures, exact evaluators, constants)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import strategies as st

from reference_impls import enumeration as E
from reference_impls import mdp as M
from reference_impls import returns as R
from verify import strategies as vst

FAMILY = "value-targets"


SEED = "001_7cd217662ff5462a.txt"


CONVENTIONS = (
    "time axis last [..., T]; gamma^k weights a reward k steps ahead",
    "Gymnasium ends: terminated[t] -> no bootstrap; truncated[t] -> bootstrap next_values[t]; either cuts every "
    "recursion and trace after t; the end of the array is a cut",
    "next_values[t] = V(s_{t+1}) of the state step t led to (the final observation at a truncation)",
    "log_rhos = log pi - log mu (target over behaviour); rho_t = min(rho_bar, ratio), c_t = lam min(c_bar, ratio)",
    "V, Q unnormalized discounted values",
)


# --------------------------------------------------------------------------- sequence inputs


def _scale(*arrs: np.ndarray) -> float:
    return 1.0 + max(float(np.max(np.abs(a))) for a in arrs)


def _consistent_next_values(values: np.ndarray, boot: np.ndarray, term: np.ndarray,
                            trunc: np.ndarray) -> np.ndarray:
    """next_values[t] = values[t+1] inside episodes, an independent bootstrap value at cuts."""
    nv = boot.copy()
    inside = ~(term | trunc)
    nv[..., :-1] = np.where(inside[..., :-1], values[..., 1:], boot[..., :-1])
    return nv


@st.composite
def _sequences(draw: st.DrawFn, min_T: int = 1, max_T: int = 10, max_B: int = 2) -> dict[str, Any]:
    """A batch of sequences with terminations and truncations (never both at one step) and
    consistent next values; gamma and lambda from the boundary-heavy grids."""
    T = draw(st.integers(min_T, max_T))
    B = draw(st.integers(1, max_B))
    n = B * T

    def floats(lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
        return np.array(draw(st.lists(st.floats(lo, hi, allow_nan=False), min_size=n, max_size=n))).reshape(B, T)

    kinds = np.array(draw(st.lists(st.sampled_from([0, 0, 0, 1, 2]), min_size=n, max_size=n))).reshape(B, T)
    term, trunc = kinds == 1, kinds == 2
    r, v, boot, lr = floats(), floats(), floats(), floats(-1.5, 1.5)
    return {"rewards": r, "values": v, "next_values": _consistent_next_values(v, boot, term, trunc),
            "log_rhos": lr, "terminated": term, "truncated": trunc,
            "gamma": draw(st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0])),
            "lam": draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))}


def _fixed_boundary_example() -> dict[str, Any]:
    """A fixed row with a termination and a truncation inside and non-zero bootstrap values."""
    v = np.array([[0.5, -1.0, 2.0, 0.25, 1.5, -0.75, 1.0]])
    term = np.array([[False, False, True, False, False, False, False]])
    trunc = np.array([[False, False, False, False, True, False, False]])
    boot = np.array([[0.0, 0.0, 3.0, 0.0, -2.0, 0.0, 1.25]])
    return {"rewards": np.array([[1.0, 0.0, -0.5, 2.0, 0.5, -1.0, 0.75]]), "values": v,
            "next_values": _consistent_next_values(v, boot, term, trunc),
            "log_rhos": np.log(np.array([[3.0, 0.4, 1.2, 0.3, 2.5, 0.8, 0.5]])),
            "terminated": term, "truncated": trunc, "gamma": 0.9, "lam": 0.8}


def _lambda_return_oracle(r: np.ndarray, v: np.ndarray, nv: np.ndarray, term: np.ndarray, trunc: np.ndarray,
                          gamma: float, lam: float) -> np.ndarray:
    """Sutton & Barto eq. 12.18 recursion: G_t = r_t + gamma [(1 - lam) V(s_{t+1}) + lam G_{t+1}]
    inside an episode, r_t + gamma (1 - terminated_t) next_values[t] at its end."""
    out = np.empty_like(r)
    T = r.shape[-1]
    for idx in np.ndindex(*r.shape[:-1]):
        for t in reversed(range(T)):
            i = (*idx, t)
            if term[i]:
                out[i] = r[i]
            elif trunc[i] or t == T - 1:
                out[i] = r[i] + gamma * nv[i]
            else:
                out[i] = r[i] + gamma * ((1 - lam) * nv[i] + lam * out[(*idx, t + 1)])
    return out


def _dyadic_instance(rng: np.random.Generator, B: int, T: int) -> dict[str, Any]:
    """Inputs that float64 represents exactly and whose targets float64 computes exactly:
    multiples of 1/8 in [-2, 2], ratios in {1/4, 1/2, 1, 2, 4}, gamma = lam = 1/2."""
    kinds = rng.choice([0, 0, 0, 1, 2], size=(B, T))
    term, trunc = kinds == 1, kinds == 2
    v = rng.integers(-16, 17, size=(B, T)) / 8.0
    boot = rng.integers(-16, 17, size=(B, T)) / 8.0
    return {"rewards": rng.integers(-16, 17, size=(B, T)) / 8.0, "values": v,
            "next_values": _consistent_next_values(v, boot, term, trunc),
            "ratios": rng.choice([0.25, 0.5, 1.0, 2.0, 4.0], size=(B, T)), "terminated": term, "truncated": trunc}


def _fr(x: np.ndarray) -> list[Fraction]:
    return [Fraction(float(v)) for v in x]


def vtrace_affine(mdp: M.FiniteMDP, pi: np.ndarray, mu: np.ndarray, rho_bar: float, c_bar: float,
                  lam: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The expected V-trace operator RV = L V + b (infinite horizon, exact matrix form):
    RV = V + (I - gamma P_c)^{-1} deltabar_V. Returns (L, b, rho_vec) with rho_vec(x) = E_mu rho_0."""
    ratio = pi / mu
    rho = np.minimum(ratio, rho_bar)
    c = lam * np.minimum(ratio, c_bar)
    g, P = mdp.gamma, mdp.transitions
    S = mdp.n_states
    Pc = np.einsum("sa,sat->st", mu * c, P)
    Prho = np.einsum("sa,sat->st", mu * rho, P)
    rho_vec = np.sum(mu * rho, axis=1)
    Minv = np.linalg.inv(np.eye(S) - g * Pc)
    L = np.eye(S) + Minv @ (g * Prho - np.diag(rho_vec))
    b = Minv @ np.sum(mu * rho * mdp.rewards, axis=1)
    return L, b, rho_vec


def retrace_affine(mdp: M.FiniteMDP, pi: np.ndarray, mu: np.ndarray, lam: float = 1.0, c_bar: float = 1.0,
                   traces: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The expected Retrace operator over pairs (x, a) (flattened x * A + a): RQ = L Q + b with
    RQ = Q + (I - gamma P_c)^{-1}(r + gamma P_pi Q - Q). Returns (L, b, P_c)."""
    S, A = mdp.n_states, mdp.n_actions
    c = lam * np.minimum(c_bar, pi / mu) if traces is None else traces
    P = mdp.transitions.reshape(S * A, S)
    Ppi = (P[:, :, None] * pi[None, :, :]).reshape(S * A, S * A)
    Pc = (P[:, :, None] * (mu * c)[None, :, :]).reshape(S * A, S * A)
    n = S * A
    Minv = np.linalg.inv(np.eye(n) - mdp.gamma * Pc)
    L = np.eye(n) + Minv @ (mdp.gamma * Ppi - np.eye(n))
    b = Minv @ mdp.rewards.reshape(n)
    return L, b, Pc


def enumerated_vtrace_mean(mdp: M.FiniteMDP, pi: np.ndarray, mu: np.ndarray, V: np.ndarray, horizon: int,
                           rho_bar: float, c_bar: float, lam: float) -> np.ndarray:
    """E_mu[vs_0 | x_0 = x] of R.vtrace over every trajectory of the given horizon (exact weights); the
    last step is flagged truncated and bootstraps V(x_H)."""
    tr = E.enumerate_trajectories(mdp.replace(initial=np.full(mdp.n_states, 1.0 / mdp.n_states)), mu, horizon)
    s, a = tr.states.astype(np.int64), tr.actions.astype(np.int64)
    x0 = s[:, :-1]
    trunc = np.zeros(a.shape, dtype=bool)
    trunc[:, -1] = True
    vs, _ = R.vtrace(mdp.rewards[x0, a], V[x0], V[s[:, 1:]], np.log(pi[x0, a]) - np.log(mu[x0, a]),
                     np.zeros(a.shape, dtype=bool), trunc, mdp.gamma, lam, rho_bar, c_bar, 1.0)
    S = mdp.n_states
    num = np.bincount(s[:, 0], weights=tr.probs * vs[:, 0], minlength=S)
    den = np.bincount(s[:, 0], weights=tr.probs, minlength=S)
    return num / den


def enumerated_retrace_mean(mdp: M.FiniteMDP, pi: np.ndarray, mu: np.ndarray, Q: np.ndarray, horizon: int,
                            lam: float) -> np.ndarray:
    """E_mu[G_0 | x_0, a_0] of R.retrace over every trajectory (exact weights), shape [S, A]."""
    S, A = mdp.n_states, mdp.n_actions
    tr = E.enumerate_trajectories(mdp.replace(initial=np.full(S, 1.0 / S)), mu, horizon)
    s, a = tr.states.astype(np.int64), tr.actions.astype(np.int64)
    x0 = s[:, :-1]
    exp_q = np.sum(pi * Q, axis=1)
    trunc = np.zeros(a.shape, dtype=bool)
    trunc[:, -1] = True
    G = R.retrace(mdp.rewards[x0, a], Q[x0, a], exp_q[s[:, 1:]], np.log(pi[x0, a]) - np.log(mu[x0, a]),
                  np.zeros(a.shape, dtype=bool), trunc, mdp.gamma, lam)
    key = s[:, 0] * A + a[:, 0]
    num = np.bincount(key, weights=tr.probs * G[:, 0], minlength=S * A)
    den = np.bincount(key, weights=tr.probs, minlength=S * A)
    return (num / den).reshape(S, A)


@st.composite
def _mdp_pi_mu(draw: st.DrawFn, max_states: int = 4,
               max_actions: int = 3) -> tuple[M.FiniteMDP, np.ndarray, np.ndarray]:
    m = draw(vst.finite_mdps(n_states=st.integers(1, max_states), n_actions=st.integers(1, max_actions)))
    pi = draw(vst.policies(m.n_states, m.n_actions, floor=0.02))
    mu = draw(vst.policies(m.n_states, m.n_actions, floor=0.05))
    return m, pi, mu


def _vscale(mdp: M.FiniteMDP) -> float:
    return max(1.0, float(np.max(np.abs(mdp.rewards))) / (1.0 - mdp.gamma))


IONIDES_QUOTE = r"$$c_t = \min(rac{\pi_{ heta'}(a_t|x_t)}{\pi_{ heta}(a_t|x_t)}, au_n)$$"


def _chain_fixture() -> tuple[M.FiniteMDP, np.ndarray]:
    """A 3-state MDP whose states have different values (so V(x_s) vs V(x_t) matters)."""
    P = np.array([[[0.1, 0.9, 0.0], [0.5, 0.0, 0.5]],
                  [[0.0, 0.2, 0.8], [0.3, 0.3, 0.4]],
                  [[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]])
    Rw = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.5]])
    pi = np.array([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    return M.FiniteMDP(P, Rw, np.full(3, 1 / 3), 0.9), pi
