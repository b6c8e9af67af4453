"""Helpers shared by several trust-region topic modules (fixtures, exact evaluators, constants)."""

from __future__ import annotations

import functools
from typing import Any

import mpmath as mp
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import mdp as M
from verify import fixtures
from verify import strategies as vst
from verify.claims.policy_gradient._common import sympy_eval
from verify.highprec import MpMDP

FAMILY = "trust-region"


S0 = "000_df799f8b05dafca5.txt"


S1 = "001_7cd217662ff5462a.txt"


DPS = 50


#: Multiplier on each bound's constant, applied in every check of that bound (1.0 = as
#: published). Mutation tests shrink one entry and expect the claim to turn red. Topic modules read it as
#: ``_common.BOUND_SCALE[...]`` (not a from-import), so ``verify mutate``'s trace, which swaps this module
#: attribute for a recording dict, sees every read.
BOUND_SCALE: dict[str, float] = {
    "STATE-DRIFT": 1.0,
    "CPO-LEMMA3": 1.0,
    "CPI": 1.0,
    "TRPO-8": 1.0,
    "TRPO-44": 1.0,
    "TRPO-9": 1.0,
    "CPO-THM1": 1.0,
    "CPO-COR1": 1.0,
    "CPO-COR3": 1.0,
    "CPO-PROP1": 1.0,
    "PINSKER": 1.0,
}


#: The shrink factors of the in-evidence mutation checks (each must turn the claim red).
MUTATION = {"PINSKER": 0.99, "CPO-COR1": 0.95, "TRPO-44": 0.85, "CPI": 0.95, "STATE-DRIFT": 0.95,
            "CPO-LEMMA3": 0.95}


CONV_TV = "D_TV = 1/2 L1 (sup over events), per state; alpha = max_s D_TV(pi_old(.|s), pi_new(.|s))"


CONV_RHO = "rho unnormalized discounted visitation (sums to 1/(1-gamma)); d = (1-gamma) rho normalized"


CONV_A = "V, Q, A unnormalized; A = Q - V of the OLD policy"


# =========================================================================== helpers


def tv_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-row total variation, 1/2 L1."""
    return 0.5 * np.sum(np.abs(np.asarray(p) - np.asarray(q)), axis=-1)


def kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-row KL(p || q) in nats (0 log 0 = 0; inf where q = 0 < p)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return np.sum(terms, axis=-1)


def _x_minus_log1p(x: np.ndarray) -> np.ndarray:
    """``x - log(1 + x) >= 0`` without cancellation (series for |x| < 1e-2, error < 1e-18 relative)."""
    x = np.asarray(x, float)
    small = np.abs(x) < 1e-2
    xs = np.where(small, x, 0.0)
    series = sum(((-1) ** k) * xs**k / k for k in range(2, 10))
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = x - np.log1p(x)
    return np.where(small, series, direct)


def _one_plus_x_log1p_minus_x(x: np.ndarray) -> np.ndarray:
    """``(1 + x) log(1 + x) - x >= 0`` without cancellation (series for |x| < 1e-2)."""
    x = np.asarray(x, float)
    small = np.abs(x) < 1e-2
    xs = np.where(small, x, 0.0)
    # (1+x)log(1+x) - x = sum_{k>=2} (-1)^k x^k / (k (k-1))
    series = sum(((-1) ** k) * xs**k / (k * (k - 1)) for k in range(2, 10))
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = np.where(x > -1, (1 + x) * np.log1p(x) - x, 1.0)
    return np.where(small, series, direct)


def kl_rows_near(old: np.ndarray, diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(KL(old||new), KL(new||old))`` per row for ``new = old + diff`` with full-support ``old``,
    computed from the difference so that KL ~ |diff|^2 keeps its relative precision
    (``sum_a diff = 0``: KL(old||new) = sum old (x - log1p x), KL(new||old) = sum old ((1+x) log1p x - x),
    ``x = diff/old``)."""
    x = np.asarray(diff) / np.asarray(old)
    return (np.sum(old * _x_minus_log1p(x), axis=-1), np.sum(old * _one_plus_x_log1p_minus_x(x), axis=-1))


def surrogate_gain(mdp: M.FiniteMDP, old: np.ndarray, diff: np.ndarray) -> float:
    """``L_old(new) - J(old) = sum_s rho_old(s) sum_a (new - old)(a|s) A_old(s, a)``."""
    return float(M.visitation(mdp, old) @ np.sum(diff * M.advantages(mdp, old), axis=1))


def exact_gap(mdp: M.FiniteMDP, old: np.ndarray, new: np.ndarray, diff: np.ndarray | None = None) -> float:
    """``eta(new) - L_old(new)`` by the SURR-APPROX-ERROR identity, free of cancellation.

    ``sum_s (rho_new - rho_old)(s) Abar(s)`` with ``rho_new - rho_old = gamma rho_old Delta
    (I - gamma P_new)^{-1}``, ``Delta = P_new - P_old`` and ``Abar(s) = sum_a (new - old)(a|s)
    A_old(s, a)`` both built from ``diff = new - old`` (pass it exactly for mixtures:
    ``alpha (pi' - pi)``).
    """
    d = np.asarray(new) - np.asarray(old) if diff is None else np.asarray(diff)
    rho = M.visitation(mdp, old)
    Abar = np.sum(d * M.advantages(mdp, old), axis=1)
    Delta = np.einsum("sa,sat->st", d, mdp.transitions)
    y = np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * M.policy_transitions(mdp, new), Abar)
    return float(mdp.gamma * rho @ Delta @ y)


def occupancy_shift(mdp: M.FiniteMDP, old: np.ndarray, new: np.ndarray, diff: np.ndarray) -> np.ndarray:
    """``d_new - d_old = (1 - gamma) gamma rho_old Delta (I - gamma P_new)^{-1}`` (no cancellation)."""
    rho = M.visitation(mdp, old)
    Delta = np.einsum("sa,sat->st", diff, mdp.transitions)
    Gt = np.linalg.inv(np.eye(mdp.n_states) - mdp.gamma * M.policy_transitions(mdp, new))
    return (1 - mdp.gamma) * mdp.gamma * (rho @ Delta @ Gt)


@st.composite
def mixture_cases(draw: st.DrawFn, gammas: tuple[float, ...] = (0.5, 0.9, 0.99),
                  alphas: st.SearchStrategy[float] | None = None) -> tuple[Any, ...]:
    """``(mdp, old, new, other, alpha, diff)`` with ``new = (1 - alpha) old + alpha other``
    (``alpha = 1``: an arbitrary pair) and ``diff = alpha (other - old)`` exactly.

    About one case in three is a perturbed escape chain (fixtures.escape_chain with a
    hypothesis-drawn eps and full-support policies smoothed by a drawn weight): the family
    where the bounds are tight, so that ``hypothesis.target`` has somewhere to climb.
    """
    a = draw(alphas if alphas is not None else st.one_of(st.just(1.0), st.floats(1e-6, 1.0)))
    positive = tuple(g for g in gammas if g > 0)  # the escape chain needs gamma > 0
    if positive and draw(st.integers(0, 2)) == 0:
        ec = fixtures.escape_chain(draw(st.sampled_from(positive)), 0.0, draw(st.floats(0.1, 2.0)))
        smooth = draw(st.floats(1e-3, 0.2))
        old = (1 - smooth) * ec.pi_old + smooth * 0.5
        other = (1 - smooth) * ec.pi_other + smooth * 0.5
        m = ec.mdp
    else:
        m = draw(vst.finite_mdps(gamma=st.sampled_from(gammas)))
        old = draw(vst.policies(m.n_states, m.n_actions, 1e-3))
        other = draw(vst.policies(m.n_states, m.n_actions, 1e-3))
    new = (1 - a) * old + a * other
    return m, old, new, other, a, a * (other - old)


# --------------------------------------------------------------------------- mpmath fixtures


def _mp_mdp(P: list[Any], R: list[Any], mu: list[Any], gamma: Any) -> MpMDP:
    """An :class:`MpMDP` built from exact mpmath entries (not from float64 arrays)."""
    mm = object.__new__(MpMDP)
    mm.S, mm.A = len(P), len(P[0])
    mm.P, mm.R, mm.mu, mm.gamma = P, R, mu, gamma
    return mm


def mp_escape_chain(gamma: Any, alpha: Any, eps: Any = 1) -> tuple[MpMDP, list[Any], list[Any], list[Any]]:
    """The escape chain E(gamma, alpha, eps) with exact mpmath entries (call inside workdps)."""
    g, a, e = mp.mpf(gamma), mp.mpf(alpha), mp.mpf(eps)
    r1 = e * (1 - g) / g
    P = [[[mp.mpf(1), mp.mpf(0)], [mp.mpf(0), mp.mpf(1)]], [[mp.mpf(0), mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]]
    R = [[mp.mpf(0), mp.mpf(0)], [r1, r1 - e]]
    old = [[mp.mpf(1), mp.mpf(0)], [mp.mpf(1), mp.mpf(0)]]
    other = [[mp.mpf(0), mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    new = [[(1 - a) * old[s][k] + a * other[s][k] for k in range(2)] for s in range(2)]
    return _mp_mdp(P, R, [mp.mpf(1), mp.mpf(0)], g), old, new, other


def mp_bound_ratios(mm: MpMDP, old: list[Any], new: list[Any], other: list[Any] | None = None) -> dict[str, Any]:
    """Gap and ratio gap/penalty of every bound for one policy pair, in mpmath (inside workdps)."""
    S, A, g = mm.S, mm.A, mm.gamma
    Ao = mm.advantages(old)
    rho_o = mm.visitation(old)
    J_o, J_n = mm.ret(old), mm.ret(new)
    gain = mp.fsum(rho_o[s] * new[s][a] * Ao[s][a] for s in range(S) for a in range(A))
    gap = J_n - J_o - gain
    tv = [mp.fsum(abs(new[s][a] - old[s][a]) for a in range(A)) / 2 for s in range(S)]
    alpha = max(tv)
    eps_max = max(abs(Ao[s][a]) for s in range(S) for a in range(A))
    eps_new = max(abs(mp.fsum(new[s][a] * Ao[s][a] for a in range(A))) for s in range(S))
    d_o = [(1 - g) * r for r in rho_o]
    mean_tv = mp.fsum(d_o[s] * tv[s] for s in range(S))
    rho_n = mm.visitation(new)
    l1_d = mp.fsum(abs((1 - g) * (rho_n[s] - rho_o[s])) for s in range(S))
    out: dict[str, Any] = {"gap": gap, "alpha": alpha, "eps_max": eps_max, "eps_new": eps_new, "mean_tv": mean_tv}
    pen44 = 4 * alpha**2 * g * eps_max / ((1 - g) * (1 - g * (1 - alpha)))
    pen8 = 4 * eps_max * g * alpha**2 / (1 - g) ** 2
    pen_cor1 = 2 * g * eps_new * mean_tv / (1 - g) ** 2
    out["TRPO-44"] = abs(gap) / pen44
    out["TRPO-8"] = -gap / pen8
    out["CPO-COR1"] = -gap / pen_cor1
    out["CPO-LEMMA3"] = l1_d / (2 * g / (1 - g) * mean_tv)
    out["penalties"] = {"TRPO-44": pen44, "TRPO-8": pen8, "CPO-COR1": pen_cor1}
    if other is not None:
        eps_cpi = max(abs(mp.fsum(other[s][a] * Ao[s][a] for a in range(A))) for s in range(S))
        pen_cpi = 2 * g * alpha**2 * eps_cpi / ((1 - g) * (1 - g * (1 - alpha)))
        pen6 = 2 * eps_cpi * g * alpha**2 / (1 - g) ** 2
        out["CPI"] = -gap / pen_cpi
        out["CPI-6"] = -gap / pen6
        out["penalties"].update({"CPI": pen_cpi, "CPI-6": pen6})
    return out


def _mp_policy(x: np.ndarray) -> list[Any]:
    return [[mp.mpf(float(v)) for v in row] for row in np.asarray(x)]


def _mp_rows_normalized(x: np.ndarray) -> list[Any]:
    rows = _mp_policy(x)
    return [[v / mp.fsum(r) for v in r] for r in rows]


def _mutation_figures(name: str, fixture_ratio: float) -> dict[str, Any]:
    """The bound with its constant shrunk by MUTATION[name] must be violated on the fixture."""
    f = MUTATION[name]
    mutated = fixture_ratio / f
    return {"mutation_factor": f, "mutated_fixture_ratio": mutated, "mutation_detected": bool(mutated > 1.0)}


# --------------------------------------------------------------------------- sympy escape chain


@functools.lru_cache(maxsize=1)
def sympy_escape_chain() -> dict[str, Any]:
    """Escape chain with symbols gamma, alpha, eps (positive): exact gap, shifts and penalties."""
    g, a, e = sp.symbols("gamma alpha epsilon", positive=True)
    r1 = e * (1 - g) / g
    m = {"P": [[[1, 0], [0, 1]], [[0, 1], [0, 1]]], "R": [[0, 0], [r1, r1 - e]], "mu": [1, 0], "gamma": g}
    old = [[sp.Integer(1), sp.Integer(0)], [sp.Integer(1), sp.Integer(0)]]
    new = [[1 - a, a], [1 - a, a]]
    eo, en = sympy_eval(m, old), sympy_eval(m, new)
    gain = sum(eo["rho"][s] * sum(new[s][k] * eo["A"][s][k] for k in range(2)) for s in range(2))
    gap = sp.simplify(en["J"] - eo["J"] - gain)
    # both occupancies sum to 1 and only s1 gains mass (rho_old(s1) = 0), so ||d'-d||_1 = 2 d'(s1)
    l1_d = sp.simplify(2 * (1 - g) * (en["rho"][1] - eo["rho"][1]))
    return {"g": g, "a": a, "e": e, "gap": gap, "A_old": eo["A"], "l1_d": l1_d, "rho_new": en["rho"],
            "J_old": eo["J"], "J_new": en["J"], "gain": sp.simplify(gain),
            "d_total": sp.simplify((1 - g) * (en["rho"][0] + en["rho"][1]))}


# --------------------------------------------------------------------------- S1 "proxy is also a lower bound"


def _smoothed_escape(beta: float, alpha: float) -> tuple[M.FiniteMDP, np.ndarray, np.ndarray, np.ndarray]:
    """Escape chain (gamma = 0.9) with a full-support old policy (1-beta) old + beta pi' and
    new = (1-alpha) old_beta + alpha pi' (so every KL is finite)."""
    ec = fixtures.escape_chain(0.9, 0.0)
    old = (1 - beta) * ec.pi_old + beta * ec.pi_other
    return ec.mdp, old, (1 - alpha) * old + alpha * ec.pi_other, alpha * (ec.pi_other - old)
