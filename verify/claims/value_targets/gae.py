"""GAE identities (GAE-IDENTITIES)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from reference_impls import _returns_loop as RL
from reference_impls import returns as R
from verify.claims.value_targets._common import (
    CONVENTIONS,
    FAMILY,
    _dyadic_instance,
    _fixed_boundary_example,
    _fr,
    _lambda_return_oracle,
    _scale,
    _sequences,
)
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim

# --------------------------------------------------------------------------- GAE-IDENTITIES


@check("property")
def gae_identities_property(ctx: Context) -> Evidence:
    """lam = 0: TD errors; lam = 1: discounted_returns - values; values + gae = lambda-return recursion."""
    worst = [0.0]

    def body(x: dict[str, Any]) -> float:
        r, v, nv, te, tr, g = (x[k] for k in ("rewards", "values", "next_values", "terminated", "truncated", "gamma"))
        td = r + g * (~te) * nv - v
        a0 = R.gae(r, v, nv, te, tr, g, 0.0)
        a1 = R.gae(r, v, nv, te, tr, g, 1.0)
        ret = R.discounted_returns(r, nv, te, tr, g)
        lam = x["lam"]
        lr = R.lambda_returns(r, v, nv, te, tr, g, lam)
        al = R.gae(r, v, nv, te, tr, g, lam)
        oracle = _lambda_return_oracle(r, v, nv, te, tr, g, lam)
        s = _scale(r, v, nv) * r.shape[-1]
        errs = {"lam0_vs_td": float(np.max(np.abs(a0 - td))),
                "lam1_vs_return_minus_v": float(np.max(np.abs(a1 - (ret - v)))),
                "lambda_return_vs_recursion": float(np.max(np.abs(lr - oracle))),
                "values_plus_gae_vs_recursion": float(np.max(np.abs(v + al - oracle)))}
        err = max(errs.values()) / s
        worst[0] = max(worst[0], err)
        if err > 1e-12:
            raise Violation(f"identity residual {err:.3g} (relative)", **errs, gamma=g, lam=lam)
        return err

    ev = property_evidence(ctx, _sequences(), body, examples=[_fixed_boundary_example()],
                           summary="GAE lam=0 -> TD error, lam=1 -> bootstrapped return - V, V + GAE = lambda-return "
                                   "recursion, within 1e-12 relative, on sequences with terminations and truncations",
                           target_label="residual")
    ev.figures["max_residual"] = worst[0]
    return ev


@check("symbolic")
def gae_identities_symbolic(ctx: Context) -> Evidence:
    """sympy, symbolic r_t, V_t, bootstraps, gamma, lam, on the loop ground truth (RL.gae_seq) for several
    episode-end patterns: lam = 0 is the TD error, lam = 1 the bootstrapped return minus V, V + GAE the
    lambda-return recursion."""
    g, lam = sp.symbols("gamma lambda", positive=True)
    patterns = [(1, (), ()), (3, (), ()), (4, (1,), ()), (5, (), (2,)), (6, (1,), (3,)), (6, (4,), (2,))]
    total = sp.Integer(0)
    for T, terms, truncs in patterns:
        r = sp.symbols(f"r0:{T}")
        v = sp.symbols(f"V0:{T}")
        b = sp.symbols(f"b0:{T}")
        te = [t in terms for t in range(T)]
        tr = [t in truncs for t in range(T)]
        nv = [b[t] if (te[t] or tr[t] or t == T - 1) else v[t + 1] for t in range(T)]
        adv0 = RL.gae_seq(r, v, nv, te, tr, g, 0)
        adv1 = RL.gae_seq(r, v, nv, te, tr, g, 1)
        advl = RL.gae_seq(r, v, nv, te, tr, g, lam)
        ret = RL.discounted_returns_seq(r, nv, te, tr, g)
        rec: list[Any] = [None] * T
        for t in reversed(range(T)):
            if te[t]:
                rec[t] = r[t]
            elif tr[t] or t == T - 1:
                rec[t] = r[t] + g * nv[t]
            else:
                rec[t] = r[t] + g * ((1 - lam) * nv[t] + lam * rec[t + 1])
        for t in range(T):
            td = r[t] + (0 if te[t] else g * nv[t]) - v[t]
            total += sp.expand(adv0[t] - td) ** 2 + sp.expand(adv1[t] - (ret[t] - v[t])) ** 2
            total += sp.expand(v[t] + advl[t] - rec[t]) ** 2
    return symbolic_evidence(total, "GAE identities hold identically (sympy, 6 episode-end patterns, T <= 6)",
                             patterns=len(patterns))


@check("exact")
def gae_identities_exact(ctx: Context) -> Evidence:
    """R.gae and R.discounted_returns on dyadic inputs (gamma = lam = 1/2) equal, bit for bit, the loop
    recursion evaluated in exact rational arithmetic; the lam = 1 identity holds exactly."""
    rng = ctx.rng()
    n, mismatches = 0, 0
    half = Fraction(1, 2)
    for _ in range(20):
        x = _dyadic_instance(rng, 3, 8)
        r, v, nv, te, tr = (x[k] for k in ("rewards", "values", "next_values", "terminated", "truncated"))
        adv = R.gae(r, v, nv, te, tr, 0.5, 0.5)
        a1 = R.gae(r, v, nv, te, tr, 0.5, 1.0)
        ret = R.discounted_returns(r, nv, te, tr, 0.5)
        for b in range(3):
            fa = RL.gae_seq(_fr(r[b]), _fr(v[b]), _fr(nv[b]), list(te[b]), list(tr[b]), half, half)
            fr_ = RL.discounted_returns_seq(_fr(r[b]), _fr(nv[b]), list(te[b]), list(tr[b]), half)
            for t in range(8):
                n += 1
                ok = (Fraction(float(adv[b, t])) == fa[t] and Fraction(float(ret[b, t])) == fr_[t]
                      and Fraction(float(a1[b, t])) == fr_[t] - Fraction(float(v[b, t])))
                mismatches += not ok
    return Evidence("exact", mismatches == 0,
                    f"{n} dyadic entries (20 batches of 3x8 with terminations and truncations): float64 GAE and "
                    "returns equal the exact rational recursion bit for bit; lam=1 GAE = return - V exactly",
                    {"entries": n, "mismatches": mismatches, "seed": ctx.seed})


claim(
    id="GAE-IDENTITIES",
    title="GAE: lambda = 0 is the TD error, lambda = 1 the bootstrapped return minus V, V + GAE the lambda-return",
    statement=r"\hat A_t=\sum_{l\ge0}(\gamma\lambda)^l\delta_{t+l},\ \delta_t=r_t+\gamma V(s_{t+1})-V(s_t):\ "
              r"\hat A^{\lambda=0}_t=\delta_t,\ "
              r"\hat A^{\lambda=1}_t=\sum_l\gamma^l r_{t+l}+\gamma^n V(s_{t+n})-V(s_t),\ "
              r"V+\hat A^{\lambda}=G^\lambda_t=r_t+\gamma[(1-\lambda)V(s_{t+1})+\lambda G^\lambda_{t+1}]",
    source=Source("Schulman et al. (2016) GAE, eqs. (11)-(18); Sutton & Barto (2018) eq. (12.18)"),
    family=FAMILY,
    expected="verified",
    checks=(gae_identities_property, gae_identities_symbolic, gae_identities_exact),
    conventions=CONVENTIONS,
    assumptions=("next_values[t] = values[t+1] inside episodes (the telescoping and lambda-return identities "
                 "need it; at cuts next_values is free)",),
)
