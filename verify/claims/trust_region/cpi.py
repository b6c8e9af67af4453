"""Kakade-Langford's conservative policy iteration bound (CPI-BOUND)."""

from __future__ import annotations

from typing import Any

import mpmath as mp
import numpy as np
import sympy as sp

from reference_impls import mdp as M
from verify.claims.policy_gradient._common import _scale
from verify.claims.trust_region import _common
from verify.claims.trust_region._common import (
    CONV_A,
    CONV_RHO,
    DPS,
    FAMILY,
    _mutation_figures,
    exact_gap,
    mixture_cases,
    mp_bound_ratios,
    mp_escape_chain,
    sympy_escape_chain,
)
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim

# =========================================================================== CPI-BOUND


@check("property")
def cpi_property(ctx: Context) -> Evidence:
    """Mixtures new = (1-alpha) old + alpha pi': eta(new) >= L(new) - 2 eps g alpha^2/((1-g)(1-g(1-alpha)))
    (unsimplified) and >= L - 2 eps g alpha^2/(1-g)^2 (TRPO eq. 6), eps = max_s |E_{pi'} A_old|."""
    c = _common.BOUND_SCALE["CPI"]
    worst = [0.0]

    def body(x: tuple[Any, ...]) -> float:
        mdp, old, new, other, a, diff = x
        g = mdp.gamma
        gap = exact_gap(mdp, old, new, diff)
        eps = float(np.max(np.abs(np.sum(other * M.advantages(mdp, old), axis=1))))
        pen = c * 2 * eps * g * a**2 / ((1 - g) * (1 - g * (1 - a)))
        pen6 = 2 * eps * g * a**2 / (1 - g) ** 2
        tol = 1e-12 * _scale(mdp) * a**2
        if -gap > pen + tol or -gap > c * pen6 + tol:
            raise Violation(f"eta - L = {gap:.6g} below -penalty {pen:.6g}", alpha=a, gamma=g)
        r = -gap / pen if pen > 0 else 0.0
        worst[0] = max(worst[0], r)
        return r

    ev = property_evidence(ctx, mixture_cases(), body, summary="CPI bound (unsimplified and TRPO eq. 6) on hypothesis "
                           "mixtures")
    ev.figures["worst_ratio_unsimplified"] = worst[0]
    return ev


@check("high-precision")
def cpi_fixture(ctx: Context) -> Evidence:
    """Escape chain, mpmath: the unsimplified CPI bound holds with equality (ratio 1) for several
    gamma, alpha; the TRPO eq. 6 ratio is (1-g)/(1-g(1-alpha)); constant x0.95 is violated."""
    c = _common.BOUND_SCALE["CPI"]
    rows = []
    worst_dev = mp.mpf(0)
    with mp.workdps(DPS):
        for gamma, alpha in ((mp.mpf(9) / 10, mp.mpf(1) / 1000), (mp.mpf(1) / 2, mp.mpf(1) / 2),
                             (mp.mpf(99) / 100, mp.mpf(1) / 10)):
            mm, old, new, other = mp_escape_chain(gamma, alpha)
            r = mp_bound_ratios(mm, old, new, other)
            worst_dev = max(worst_dev, abs(r["CPI"] - 1))
            rows.append({"gamma": float(gamma), "alpha": float(alpha), "ratio_unsimplified": float(r["CPI"]),
                         "ratio_eq6": float(r["CPI-6"])})
    fix_ratio = rows[0]["ratio_unsimplified"] / c
    figs: dict[str, Any] = {"fixture_ratio": fix_ratio, "rows": rows,
                            "max_deviation_from_equality": float(worst_dev), "dps": DPS}
    figs["mutation"] = _mutation_figures("CPI", fix_ratio)
    ok = worst_dev < mp.mpf(10) ** -40 and fix_ratio <= 1 + 1e-12 and figs["mutation"]["mutation_detected"]
    return Evidence("high-precision", bool(ok), "escape chain attains the unsimplified CPI bound with equality; "
                    "x0.95 constant is violated", figs)


@check("symbolic")
def cpi_symbolic(ctx: Context) -> Evidence:
    """sympy: escape chain gap + unsimplified CPI penalty == 0 identically (eps' = eps there)."""
    E = sympy_escape_chain()
    g, a = E["g"], E["a"]
    eps_cpi = E["A_old"][0][1]  # E_{pi'} A_old at s0 (= eps); at s1 it is -eps
    pen = 2 * g * a**2 * eps_cpi / ((1 - g) * (1 - g * (1 - a)))
    return symbolic_evidence(E["gap"] + pen, "escape chain: eta - L = -(unsimplified CPI penalty) identically",
                             eps_prime=str(sp.simplify(eps_cpi)))


claim(
    id="CPI-BOUND",
    title="Kakade-Langford conservative policy iteration bound",
    statement=r"\pi_{new}=(1-\alpha)\pi_{old}+\alpha\pi':\ \eta(\pi_{new})\ge L_{\pi_{old}}(\pi_{new})-"
              r"\tfrac{2\epsilon\gamma\alpha^2}{(1-\gamma)(1-\gamma(1-\alpha))}\ge L_{\pi_{old}}(\pi_{new})-"
              r"\tfrac{2\epsilon\gamma}{(1-\gamma)^2}\alpha^2,\ \epsilon=\max_s|\mathbb{E}_{a\sim\pi'}A_\pi(s,a)|",
    source=Source("Kakade & Langford (2002) Thm 4.1, as restated in TRPO (Schulman et al. 2015) eq. (6)"),
    family=FAMILY,
    expected="verified",
    checks=(cpi_property, cpi_fixture, cpi_symbolic),
    conventions=(CONV_RHO, CONV_A, "mixture policy; alpha the mixing weight"),
    uses=("SURR-APPROX-ERROR",),
)
