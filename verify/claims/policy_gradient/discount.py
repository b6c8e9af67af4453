"""Omitting the discount from the state weighting (PG-DISCOUNT-OMISSION)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import sympy as sp

from reference_impls import enumeration as E
from reference_impls import mdp as M
from verify.claims.policy_gradient._common import (
    FAMILY,
    finite_horizon_gradient,
    reward_to_go,
    sympy_two_state_mdp,
    trajectory_scores,
)
from verify.harness import check
from verify.registry import Context, Evidence, Source, claim

# --------------------------------------------------------------------------- PG-DISCOUNT-OMISSION


@check("exact")
def discount_omission_exact(ctx: Context) -> Evidence:
    """Enumeration (H = 4, gamma = 0.9): the estimator without gamma^t has expectation equal to the gamma^t-free
    theorem sum_t sum_s p_t(s) sum_a grad pi Q_t, which differs from grad J_H; the gamma^t-weighted one matches."""
    rng = ctx.rng()
    H = 4
    rows = []
    for _ in range(4):
        mdp = M.random_mdp(rng, 3, 2, 0.9)
        z = rng.normal(size=(3, 2))
        pi = M.softmax(z)
        traj = E.enumerate_trajectories(mdp, pi, H)
        sc = trajectory_scores(traj, pi)
        keep = traj.expectation(np.einsum("nhk,nh->nk", sc, reward_to_go(traj, 0.9)))
        drop = traj.expectation(np.einsum("nhk,nh->nk", sc, reward_to_go(traj, 0.9, keep_discount=False)))
        grad = finite_horizon_gradient(mdp, z, H).ravel()
        drop_thm = finite_horizon_gradient(mdp, z, H, keep_discount=False).ravel()
        scale = max(1.0, float(np.max(np.abs(grad))))
        rows.append({"keep_error": float(np.max(np.abs(keep - grad))) / scale,
                     "drop_vs_grad": float(np.max(np.abs(drop - grad))) / scale,
                     "drop_vs_its_own_formula": float(np.max(np.abs(drop - drop_thm))) / scale})
    ok = all(r["keep_error"] < 1e-12 and r["drop_vs_grad"] > 1e-3 and r["drop_vs_its_own_formula"] < 1e-12
             for r in rows)
    return Evidence("exact", ok, f"dropping gamma^t changes the expected direction (min rel. difference "
                    f"{min(r['drop_vs_grad'] for r in rows):.3f}); keeping it reproduces grad J_H exactly",
                    {"rows": rows, "horizon": H, "gamma": 0.9, "seed": ctx.seed})


@functools.lru_cache(maxsize=1)
def _curl_fields() -> dict[str, Any]:
    """Finite-horizon (H = 2) PG fields on the sympy 2-state MDP, with and without gamma^t, in x_s = log u_s."""
    m = sympy_two_state_mdp()
    P, R, mu, g = m["P"], m["R"], m["mu"], m["gamma"]
    u = sp.symbols("u0 u1", positive=True)
    pi = [[u[s] / (1 + u[s]), 1 / (1 + u[s])] for s in range(2)]
    H = 2
    V: list[list[Any]] = [[0, 0] for _ in range(H + 1)]
    Q: list[Any] = [None] * H
    for t in range(H - 1, -1, -1):
        Q[t] = [[R[s][a] + g * sum(P[s][a][k] * V[t + 1][k] for k in range(2)) for a in range(2)] for s in range(2)]
        V[t] = [sum(pi[s][a] * Q[t][s][a] for a in range(2)) for s in range(2)]
    p = [list(mu)]
    for t in range(1, H):
        p.append([sum(p[t - 1][s] * pi[s][a] * P[s][a][k] for s in range(2) for a in range(2)) for k in range(2)])
    J = sum(mu[s] * V[0][s] for s in range(2))
    out: dict[str, Any] = {"u": u, "J": J}
    for name, weighted in (("keep", True), ("drop", False)):
        out[name] = [sum((g**t if weighted else 1) * p[t][s] * u[s] * sp.diff(pi[s][0], u[s])
                         * (Q[t][s][0] - Q[t][s][1]) for t in range(H)) for s in range(2)]
    return out


@check("symbolic")
def discount_omission_symbolic(ctx: Context) -> Evidence:
    """sympy (Nota & Thomas): the gamma^t-free field g(x) has a non-zero curl dg_0/dx_1 - dg_1/dx_0 (at u = (1, 2)
    it is -97/680400), so it is the gradient of no function; the gamma^t field equals grad J_H (curl 0)."""
    C = _curl_fields()
    u = C["u"]
    at = {u[0]: 1, u[1]: 2}

    def curl(f: list[Any]) -> Any:
        return sp.cancel(sp.together((u[1] * sp.diff(f[0], u[1]) - u[0] * sp.diff(f[1], u[0])).subs(at)))

    c_drop, c_keep = curl(C["drop"]), curl(C["keep"])
    grad_gap = sum(sp.cancel(sp.together(u[s] * sp.diff(C["J"], u[s]) - C["keep"][s])) ** 2 for s in range(2))
    passed = c_drop != 0 and c_keep == 0 and sp.simplify(grad_gap) == 0
    return Evidence("symbolic", bool(passed), f"curl of the gamma^t-free field = {c_drop} != 0 (not a gradient); "
                    "gamma^t field = grad J_H", {"curl_drop": str(c_drop), "curl_keep": str(c_keep), "horizon": 2,
                                                 "point": "u = (1, 2)"})


claim(
    id="PG-DISCOUNT-OMISSION",
    title="Dropping gamma^t from the policy-gradient estimator does not estimate grad J",
    statement=r"\mathbb{E}\big[\sum_t\nabla\log\pi(a_t|s_t)\hat A_t\big]\ne\nabla J_\gamma\ \text{in general, and it"
              r" is not the gradient of any function}",
    source=Source("Nota & Thomas (2020), 'Is the policy gradient a gradient?', arXiv:1906.07073"),
    family=FAMILY,
    expected="verified",
    checks=(discount_omission_exact, discount_omission_symbolic),
    conventions=("reference_impls.gradients keeps gamma^t (unnormalized visitation)",
                 "finite horizon H, reward-to-go discounted from t"),
    uses=("PG-THEOREM",),
)
