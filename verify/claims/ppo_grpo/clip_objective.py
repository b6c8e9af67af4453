"""The PPO clipped objective (PPO-CLIP-OBJECTIVE)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from reference_impls import losses as L
from verify.claims.ppo_grpo._common import FAMILY, case_objective, ppo_batches
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim

# =========================================================================== PPO-CLIP-OBJECTIVE


@check("exact")
def ppo_clip_exact_grid(ctx: Context) -> Evidence:
    """Rational grid of ratios (band edges, ties, dual-clip points) and advantages: the
    float64 reference equals the exact case value within 2 ulp of its magnitude."""
    eps_pairs = [(Fraction(1, 5), Fraction(1, 5)), (Fraction(1, 5), Fraction(7, 25)), (Fraction(1, 4), Fraction(1, 8))]
    ratios = sorted({Fraction(k, 20) for k in range(1, 81)} | {Fraction(3, 4), Fraction(5, 4), Fraction(9, 8)})
    advs = [Fraction(-3, 2), Fraction(-1), Fraction(0), Fraction(1, 3), Fraction(2)]
    worst, n = 0.0, 0
    for lo, hi in eps_pairs:
        for c in (None, Fraction(3)):
            rr = np.array([float(r) for r in ratios for _ in advs])
            aa = np.array([float(a) for _ in ratios for a in advs])
            # ratios are passed in log space; exp(log r) is within 1 ulp of r
            got = L.ppo_clip_objective(np.log(rr), np.zeros_like(rr), aa, (float(lo), float(hi)),
                                       dual_clip=None if c is None else float(c))
            k = 0
            for r in ratios:
                for a in advs:
                    want = case_objective(r, a, lo, hi, c)
                    # a ratio within 1 ulp of a band edge may land on either side: compare
                    # with both neighbours' exact values
                    rf = Fraction(float(np.exp(np.log(float(r)))))
                    want2 = case_objective(rf, a, lo, hi, c)
                    err = min(abs(float(want) - got[k]), abs(float(want2) - got[k])) / max(1.0, abs(float(want)))
                    worst = max(worst, err)
                    k += 1
                    n += 1
    passed = worst <= 4.5e-16
    return Evidence("exact", passed, f"reference == exact rational case values on {n} grid points "
                    "(3 eps pairs incl. asymmetric, with and without dual clip c=3)",
                    {"points": n, "max_relative_error": worst, "tolerance": 4.5e-16})


@check("property")
def ppo_clip_property(ctx: Context) -> Evidence:
    """Hypothesis: reference == case formula; L_CLIP <= L_CPI = rA; equality when 1-lo <= r <= 1+hi;
    dual clip: >= cA for A<0 and unchanged for A>=0."""
    def body(x: dict[str, Any]) -> float:
        lp = x["old"] + x["log_r"]
        r = np.exp(lp - x["old"])
        obj = L.ppo_clip_objective(lp, x["old"], x["adv"], (x["lo"], x["hi"]), dual_clip=x["c"])
        plain = L.ppo_clip_objective(lp, x["old"], x["adv"], (x["lo"], x["hi"]))
        cpi = r * x["adv"]
        worst = 0.0
        for k in range(len(r)):
            want = case_objective(r[k], x["adv"][k], x["lo"], x["hi"], x["c"])
            err = abs(obj[k] - want)
            worst = max(worst, err)
            if err > 1e-14:
                raise Violation("reference != case formula", r=r[k], A=x["adv"][k], got=obj[k], want=want,
                                eps=(x["lo"], x["hi"]), dual_clip=x["c"])
        if np.any(plain > cpi + 1e-15):
            raise Violation("L_CLIP > L_CPI", r=r.tolist(), A=x["adv"].tolist())
        inside = (r >= 1 - x["lo"]) & (r <= 1 + x["hi"])
        if np.any(np.abs(plain - cpi)[inside] > 1e-15):
            raise Violation("L_CLIP != L_CPI inside the band")
        if x["c"] is not None:
            neg = x["adv"] < 0
            if np.any(obj[neg] < x["c"] * x["adv"][neg] - 1e-15) or np.any(obj[~neg] != plain[~neg]):
                raise Violation("dual clip: not >= cA on A<0 or changed A>=0", dual_clip=x["c"])
        return worst

    return property_evidence(ctx, ppo_batches(), body, target_label="case_error",
                             summary="ppo_clip_objective == case formula; L_CLIP <= L_CPI with equality in the band; "
                                     "dual clip only lifts A<0 to >= cA")


@check("symbolic")
def ppo_clip_symbolic(ctx: Context) -> Evidence:
    """sympy, region by region with symbolic eps in (0,1), A > 0 and a free positive offset t:
    min(rA, clip(r)A) equals the case value in each of the six (sign, region) cells."""
    k, t, a, u = sp.symbols("k t a u", positive=True)
    eps = 1 / (1 + k)  # eps in (0, 1)

    def clipf(r: sp.Expr) -> sp.Expr:
        return sp.Min(sp.Max(r, 1 - eps), 1 + eps)

    cells = []
    # r below the band: r = (1 - eps) / (1 + t); inside: r = 1 - eps + 2 eps u/(1+u); above: r = 1 + eps + t
    regions = {"below": (1 - eps) / (1 + t), "inside": 1 - eps + 2 * eps * u / (1 + u), "above": 1 + eps + t}
    expected = {("+", "below"): None, ("+", "inside"): None, ("+", "above"): (1 + eps) * a,
                ("-", "below"): -(1 - eps) * a, ("-", "inside"): None, ("-", "above"): None}
    total = sp.Integer(0)
    for sign, s in (("+", 1), ("-", -1)):
        for name, r in regions.items():
            val = sp.Min(r * s * a, clipf(r) * s * a)
            want = expected[(sign, name)]
            want = r * s * a if want is None else want
            diff = sp.simplify(val - want)
            cells.append(f"{sign}{name}: {diff == 0}")
            total += diff**2
    return symbolic_evidence(total, "min(rA, clip(r,1-eps,1+eps)A) == case table in all six cells (sympy)",
                             cells=cells)


claim(
    id="PPO-CLIP-OBJECTIVE",
    title="PPO clipped objective: cases, pessimism, exact agreement inside the band, dual clip",
    statement=r"L^{CLIP}=\min(rA,\mathrm{clip}(r,1-\epsilon_l,1+\epsilon_h)A)\le rA=L^{CPI},"
              r"\ \text{with equality whenever } 1-\epsilon_l\le r\le 1+\epsilon_h;"
              r"\ \text{dual clip } (c>1):\ L=\max(L^{CLIP},cA)\ \text{for } A<0,\ L=L^{CLIP}\ \text{for } A\ge 0",
    source=Source("Schulman et al. (2017) PPO, sec. 3, eq. (7); Ye et al. (2020) dual clip, eq. (5)"),
    family=FAMILY,
    expected="verified",
    checks=(ppo_clip_exact_grid, ppo_clip_property, ppo_clip_symbolic),
    conventions=("per-element objective to be maximised; r = exp(log_probs - old_log_probs)",
                 "clip_eps a float or (eps_low, eps_high), each in (0, 1)",
                 "dual clip applies to A < 0 only (tianshou #433 applied it to A > 0)"),
    notes="L^CLIP bounds the unclipped surrogate, not J, and does not bound the ratio: r can leave the band "
          "(the slides: 'Allows steps that bring policy OUTSIDE of threshold').",
)
