"""Per-decision importance sampling (PDIS)."""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from reference_impls import enumeration as E
from reference_impls import importance as I
from reference_impls import mdp as M
from verify.claims.importance_sampling._common import FAMILY, _enum_logps, _mc_estimator_test, _random_pair
from verify.harness import check, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim

# =========================================================================== PDIS

#: Var(PDIS) > Var(IS): one state, two actions, H = 2, gamma = 1, target (4/5, 1/5), behaviour
#: (9/10, 1/10), reward 1 for action 0. Found by a rational grid search; Var IS = 64/2025, Var PDIS = 32/405.
PDIS_CE: dict[str, tuple[Any, Any]] = {"pi": (Fraction(4, 5), Fraction(1, 5)),
                                       "mu": (Fraction(9, 10), Fraction(1, 10)), "r": (1, 0)}


def _pdis_counterexample_rational() -> tuple[Any, Any]:
    p, q, r = PDIS_CE["pi"], PDIS_CE["mu"], PDIS_CE["r"]
    vis, vpd, pr = [], [], []
    for a0, a1 in itertools.product(range(2), repeat=2):
        w0 = p[a0] / q[a0]
        w1 = w0 * p[a1] / q[a1]
        vis.append(w1 * (r[a0] + r[a1]))
        vpd.append(w0 * r[a0] + w1 * r[a1])
        pr.append(q[a0] * q[a1])

    def var(v: list[Any]) -> Any:
        m = sum(a * b for a, b in zip(pr, v))
        return sum(a * (b - m) ** 2 for a, b in zip(pr, v))

    return var(vis), var(vpd)


@check("exact")
def pdis_exact(ctx: Context) -> Evidence:
    """Enumeration: E_mu[PDIS] = J_H(pi) and E[W_H r_t] = E[W_{t+1} r_t] on random MDPs (gamma in {0.5, 0.9, 1});
    the counterexample has Var(PDIS) = 32/405 > Var(IS) = 64/2025 exactly, reproduced by the reference."""
    rng = ctx.rng()
    worst, worst_term = 0.0, 0.0
    for k in range(6):
        H = 3 + k % 3
        gamma = [0.5, 0.9, 1.0][k % 3]
        mdp = M.random_mdp(rng, 3, 2, 0.9)
        pi, mu = _random_pair(rng, 3, 2)
        traj = E.enumerate_trajectories(mdp, mu, H)
        lp, blp = _enum_logps(traj, pi, mu)
        J = M.finite_horizon_return(mdp, pi, H, gamma)
        worst = max(worst, abs(float(traj.expectation(I.per_decision_is(traj.rewards, lp, blp, gamma))) - J))
        Wt = I.cumulative_importance_weights(lp, blp)
        for t in range(H):
            worst_term = max(worst_term, abs(float(traj.expectation(Wt[:, -1] * traj.rewards[:, t]))
                                             - float(traj.expectation(Wt[:, t] * traj.rewards[:, t]))))
    v_is, v_pd = _pdis_counterexample_rational()
    ce = M.FiniteMDP(np.ones((1, 2, 1)), np.array([[1.0, 0.0]]), np.ones(1), 0.5)
    pi_f = np.array([[0.8, 0.2]])
    mu_f = np.array([[0.9, 0.1]])
    traj = E.enumerate_trajectories(ce, mu_f, 2)
    lp, blp = _enum_logps(traj, pi_f, mu_f)
    fv_is = float(traj.variance(I.trajectory_is(traj.rewards, lp, blp, 1.0)))
    fv_pd = float(traj.variance(I.per_decision_is(traj.rewards, lp, blp, 1.0)))
    passed = (worst < 1e-12 and worst_term < 1e-12 and v_pd > v_is and abs(fv_is - float(v_is)) < 1e-14
              and abs(fv_pd - float(v_pd)) < 1e-14)
    return Evidence("exact", bool(passed),
                    f"E[PDIS] = J_H to {worst:.1e}; term identity to {worst_term:.1e}; counterexample Var(PDIS) = "
                    f"{v_pd} > Var(IS) = {v_is} (ratio {float(v_pd / v_is)})",
                    {"max_bias": worst, "max_term_identity_error": worst_term, "var_is": str(v_is),
                     "var_pdis": str(v_pd), "variance_ratio_pdis_over_is": float(v_pd / v_is),
                     "reference_var_is": fv_is, "reference_var_pdis": fv_pd, "seed": ctx.seed,
                     "counterexample": "1 state, H=2, gamma=1, pi=(4/5,1/5), mu=(9/10,1/10), r=(1,0)"})


@check("symbolic")
def pdis_symbolic(ctx: Context) -> Evidence:
    """sympy: a two-step bandit with symbolic target, behaviour and rewards: E_mu[PDIS] - E_pi[r_0 + g r_1] == 0."""
    p0, q0, g = sp.symbols("p0 q0 g", positive=True)
    r = sp.symbols("r0 r1", real=True)
    p, q = [p0, 1 - p0], [q0, 1 - q0]
    e_pd = sum(q[a] * q[b] * (p[a] / q[a] * r[a] + g * p[a] / q[a] * p[b] / q[b] * r[b])
               for a in range(2) for b in range(2))
    e_pi = sum(p[a] * p[b] * (r[a] + g * r[b]) for a in range(2) for b in range(2))
    return symbolic_evidence(sp.together(e_pd - e_pi), "E_mu[PDIS] = E_pi[G] (symbolic 2-step bandit)")


@check("monte-carlo")
def pdis_mc(ctx: Context) -> Evidence:
    """Batched sampler over 4 MDPs: PDIS means vs exact J_H, exact covariance; control misses the current ratio."""
    return _mc_estimator_test(ctx, "PDIS:mc_per_decision_is", "per-decision",
                              "prefix weights W_{t-1} r_t (the current step's ratio missing)")


claim(
    id="PDIS",
    title="Per-decision IS is unbiased, but not always lower-variance than trajectory IS",
    statement=r"\mathbb{E}_\mu\Big[\sum_t\gamma^t\Big(\prod_{k\le t}\rho_k\Big)r_t\Big]=J_H(\pi);\ "
              r"\exists\text{ MDPs with }\operatorname{Var}(\hat V_{PDIS})>\operatorname{Var}(\hat V_{IS})",
    source=Source("Precup, Sutton & Singh (2000); Liu, Bacon & Brunskill (2020) arXiv:1910.06508 "
                  "('no strict variance reduction of per-decision importance sampling')"),
    family=FAMILY,
    expected="verified",
    checks=(pdis_exact, pdis_symbolic, pdis_mc),
    conventions=("rho_k = pi(a_k|s_k)/mu(a_k|s_k); W_t = prod_{k<=t} rho_k", "gamma = 1 allowed (finite horizon)"),
    assumptions=("mu > 0 wherever pi > 0",),
)
