"""V-trace is a contraction (VTRACE-CONTRACTION)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import strategies as st

from reference_impls import mdp as M
from verify.claims.value_targets._common import CONVENTIONS, FAMILY, _mdp_pi_mu, vtrace_affine
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim

# --------------------------------------------------------------------------- VTRACE-CONTRACTION


def vtrace_modulus(mdp: M.FiniteMDP, pi: np.ndarray, mu: np.ndarray, rb: float, cb: float
                   ) -> tuple[float, float, float]:
    """(sup-norm modulus ||L||_inf, the bound 1 - (1 - gamma) min_x E_mu rho_0, the most negative entry of L)."""
    L, _, rho_vec = vtrace_affine(mdp, pi, mu, rb, cb)
    return (float(np.max(np.sum(np.abs(L), axis=1))), 1.0 - (1.0 - mdp.gamma) * float(np.min(rho_vec)),
            float(np.min(L)))


@check("exact")
def vtrace_contraction_exact(ctx: Context) -> Evidence:
    """Random MDPs: ||L||_inf <= 1 - (1-gamma) beta; at c_bar = 0 equality holds exactly (rational fixture,
    Fractions); shrinking the bound by 1e-6 makes the equality fixture fail (mutation)."""
    rng = ctx.rng()
    worst = 0.0
    for k in range(30):
        mdp = M.random_mdp(rng, 4, 3, [0.5, 0.9, 0.99][k % 3])
        pi, mu = M.softmax(2 * rng.normal(size=(4, 3))), M.softmax(rng.normal(size=(4, 3)))
        rb = float(rng.choice([0.5, 1.0, 2.0]))
        mod, bound, _ = vtrace_modulus(mdp, pi, mu, rb, rb * float(rng.choice([0.0, 0.5, 1.0])))
        worst = max(worst, mod / bound)
    # equality case c_bar = 0, exact rationals: L = I + gamma P_rho - D_rho (P_c = 0), rows sum to 1 - (1-g) E rho
    g = Fraction(9, 10)
    mu_f = [[Fraction(1, 3), Fraction(2, 3)], [Fraction(3, 4), Fraction(1, 4)]]
    pi_f = [[Fraction(4, 5), Fraction(1, 5)], [Fraction(1, 2), Fraction(1, 2)]]
    P_f = [[[Fraction(1, 2), Fraction(1, 2)], [Fraction(1, 5), Fraction(4, 5)]],
           [[Fraction(2, 3), Fraction(1, 3)], [Fraction(1, 1), Fraction(0)]]]
    rho_bar = Fraction(1)
    rho = [[min(rho_bar, pi_f[x][a] / mu_f[x][a]) for a in range(2)] for x in range(2)]
    rho_vec = [sum(mu_f[x][a] * rho[x][a] for a in range(2)) for x in range(2)]
    Lrows = []
    for x in range(2):
        row = [(1 if x == y else 0) + g * sum(mu_f[x][a] * rho[x][a] * P_f[x][a][y] for a in range(2))
               - (rho_vec[x] if x == y else 0) for y in range(2)]
        Lrows.append(row)
    modulus_f = max(sum(abs(e) for e in row) for row in Lrows)
    bound_f = 1 - (1 - g) * min(rho_vec)
    # the same fixture through the float64 matrix form
    mdp_fx = M.FiniteMDP(np.array(P_f, dtype=float), np.zeros((2, 2)), np.array([0.5, 0.5]), 0.9)
    mod_fx, bound_fx, _ = vtrace_modulus(mdp_fx, np.array(pi_f, dtype=float), np.array(mu_f, dtype=float), 1.0, 0.0)
    mutated_fails = mod_fx > bound_fx * (1 - 1e-6)
    passed = worst <= 1 + 1e-12 and modulus_f == bound_f and abs(mod_fx / bound_fx - 1) < 1e-14 and mutated_fails
    return Evidence("exact", passed,
                    "||L||_inf <= 1-(1-gamma)min E_mu rho on 30 random MDPs (rho_bar >= c_bar); equality at c_bar = 0 "
                    "in exact rationals; the bound shrunk by 1e-6 fails on that fixture",
                    {"worst_ratio_random": worst, "fixture_modulus": str(modulus_f), "fixture_bound": str(bound_f),
                     "fixture_ratio_float64": mod_fx / bound_fx, "mutated_bound_fails": bool(mutated_fails),
                     "seed": ctx.seed})


@check("property")
def vtrace_contraction_property(ctx: Context) -> Evidence:
    """Hypothesis MDPs with rho_bar >= c_bar: ||L||_inf / (1 - (1-gamma) beta) <= 1, searched upward with
    hypothesis.target; L >= 0 entrywise (the proof's non-negativity step)."""
    min_entry = [np.inf]

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[Any, ...]:
        m, pi, mu = draw(_mdp_pi_mu())
        rb = draw(st.floats(0.1, 4.0))
        return m, pi, mu, rb, rb * draw(st.floats(0.0, 1.0))

    def body(x: tuple[Any, ...]) -> float | None:
        m, pi, mu, rb, cb = x
        mod, bound, low = vtrace_modulus(m, pi, mu, rb, cb)
        min_entry[0] = min(min_entry[0], low)
        if mod > bound * (1 + 1e-12) + 1e-15 or low < -1e-12:
            raise Violation(f"modulus {mod:.6g} > bound {bound:.6g} or negative entry {low:.3g}", rho_bar=rb, c_bar=cb)
        return mod / bound if bound > 0 else None

    ev = property_evidence(ctx, strat(), body, summary="V-trace sup-norm modulus <= 1 - (1-gamma) min_x E_mu rho_0",
                           target_label="ratio")
    ev.figures["min_entry_of_L"] = min_entry[0]
    return ev


claim(
    id="VTRACE-CONTRACTION",
    title="The V-trace operator contracts with modulus at most 1 - (1 - gamma) beta, with equality at c_bar = 0",
    statement=r"\bar\rho\ge\bar c:\ \|\mathcal RV_1-\mathcal RV_2\|_\infty\le\eta\|V_1-V_2\|_\infty,\ "
              r"\eta(x)=1-(1-\gamma)[(I-\gamma P_c)^{-1}\mathbb E_\mu\rho_0](x)\le1-(1-\gamma)\beta,\ "
              r"\beta=\min_x\mathbb E_\mu\rho_0(x);\ \text{equality when }\bar c=0",
    source=Source("Espeholt et al. (2018) IMPALA, Appendix A, Theorem 1 and its proof"),
    family=FAMILY,
    expected="verified",
    checks=(vtrace_contraction_exact, vtrace_contraction_property),
    conventions=CONVENTIONS,
    assumptions=("rho_bar >= c_bar (with c_bar > rho_bar the linear part can have negative entries; not asserted)",
                 "mu > 0, gamma < 1"),
    uses=("VTRACE-FIXED-POINT",),
)
