"""The surrogate's approximation error (SURR-APPROX-ERROR)."""

from __future__ import annotations

from typing import Any

import mpmath as mp
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import gradients as G
from reference_impls import mdp as M
from verify import strategies as vst
from verify.claims.policy_gradient._common import _scale
from verify.claims.trust_region._common import (
    CONV_A,
    CONV_RHO,
    DPS,
    FAMILY,
    _mp_rows_normalized,
    exact_gap,
    mixture_cases,
    occupancy_shift,
    surrogate_gain,
    sympy_escape_chain,
)
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.highprec import MpMDP
from verify.registry import Context, Evidence, Source, claim

# =========================================================================== SURR-APPROX-ERROR


@check("property")
def surr_error_property(ctx: Context) -> Evidence:
    """eta - L (direct, float64, moderate alpha) equals sum_s (rho_new - rho_old) Abar, equals
    1/(1-g) <d_new - d_old, Abar>, and d_new - d_old = g (rho_old Delta G_new)(1-g)."""
    worst = [0.0]

    def body(x: tuple[Any, ...]) -> float:
        mdp, old, new, _o, _a, diff = x
        direct = M.expected_return(mdp, new) - G.surrogate(mdp, np.log(new), np.log(old))
        rho_diff = M.visitation(mdp, new) - M.visitation(mdp, old)
        Abar = np.sum(new * M.advantages(mdp, old), axis=1)
        via_rho = float(rho_diff @ Abar)
        via_d = float((M.occupancy(mdp, new) - M.occupancy(mdp, old)) @ Abar) / (1 - mdp.gamma)
        via_id = exact_gap(mdp, old, new, diff)
        shift_err = float(np.max(np.abs(occupancy_shift(mdp, old, new, diff)
                                        - (M.occupancy(mdp, new) - M.occupancy(mdp, old)))))
        err = max(abs(direct - via_rho), abs(direct - via_d), abs(direct - via_id)) / _scale(mdp) + shift_err
        worst[0] = max(worst[0], err)
        if err > 1e-9:
            raise Violation(f"identity residual {err:.3g}", direct=direct, via_rho=via_rho, via_identity=via_id)
        return err

    strat = mixture_cases(gammas=vst.GAMMAS, alphas=st.one_of(st.just(1.0), st.floats(1e-2, 1.0)))
    ev = property_evidence(ctx, strat, body, summary="eta - L = sum_s (rho_new - rho_old) Abar (relative residual "
                           "<= 1e-9) on hypothesis MDPs", target_label="residual")
    ev.figures["max_residual"] = worst[0]
    return ev


@check("high-precision")
def surr_error_high_precision(ctx: Context) -> Evidence:
    """At alpha = 1e-7 the gap is O(alpha^2) ~ 1e-14: mpmath (50 digits) direct difference vs the
    float64 identity; the naive float64 difference is shown to lose the gap (a known trap)."""
    rng = ctx.rng()
    worst_rel = 0.0
    naive_rel = 0.0
    n = 6
    with mp.workdps(DPS):
        for _ in range(n):
            mdp = M.random_mdp(rng, 4, 3, float(rng.choice([0.9, 0.99])))
            old = M.softmax(rng.normal(size=(4, 3)))
            other = M.softmax(rng.normal(size=(4, 3)))
            alpha = 1e-7
            diff = alpha * (other - old)
            new = old + diff
            mm = MpMDP(mdp)
            # rows renormalized at 50 digits: an O(1e-16) row-sum error would fake an O(1e-12) gap
            o_mp = _mp_rows_normalized(old)
            ot_mp = _mp_rows_normalized(other)
            n_mp = [[o_mp[s][a] + mp.mpf(alpha) * (ot_mp[s][a] - o_mp[s][a]) for a in range(3)] for s in range(4)]
            Ao = mm.advantages(o_mp)
            rho = mm.visitation(o_mp)
            gap_mp = mm.ret(n_mp) - mm.ret(o_mp) - mp.fsum(rho[s] * n_mp[s][a] * Ao[s][a] for s in range(4)
                                                            for a in range(3))
            ident = exact_gap(mdp, old, new, diff)
            worst_rel = max(worst_rel, abs(float((ident - gap_mp) / gap_mp)))
            naive = M.expected_return(mdp, new) - M.expected_return(mdp, old) - surrogate_gain(mdp, old, diff)
            naive_rel = max(naive_rel, abs(float((naive - gap_mp) / gap_mp)))
    passed = worst_rel < 1e-6
    return Evidence("high-precision", bool(passed),
                    f"identity (float64) matches the 50-digit direct gap to relative {worst_rel:.2g} at alpha=1e-7 "
                    f"({n} random 4x3 MDPs); naive float64 eta - L is off by relative {naive_rel:.2g}",
                    {"max_relative_error_identity": worst_rel, "max_relative_error_naive_float64": naive_rel,
                     "alpha": 1e-7, "dps": DPS, "instances": n, "seed": ctx.seed})


@check("symbolic")
def surr_error_symbolic(ctx: Context) -> Evidence:
    """sympy: on the escape chain eta - L = -2 gamma alpha^2 eps / ((1-gamma)(1-gamma(1-alpha))) exactly."""
    E = sympy_escape_chain()
    g, a, e = E["g"], E["a"], E["e"]
    closed = -2 * g * a**2 * e / ((1 - g) * (1 - g * (1 - a)))
    return symbolic_evidence(E["gap"] - closed, "escape chain: eta - L = -2 g alpha^2 eps/((1-g)(1-g(1-alpha)))",
                             gap=str(sp.factor(E["gap"])))


claim(
    id="SURR-APPROX-ERROR",
    title="Exact error of TRPO's surrogate",
    statement=r"\eta(\tilde\pi)-L_\pi(\tilde\pi)=\sum_s(\rho_{\tilde\pi}(s)-\rho_\pi(s))\bar A(s)"
              r"=\tfrac1{1-\gamma}\langle d^{\tilde\pi}-d^\pi,\bar A\rangle,\ \bar A(s)=\mathbb{E}_{a\sim\tilde\pi}"
              r"A^\pi(s,a),\ \rho_{\tilde\pi}-\rho_\pi=\gamma\rho_\pi\Delta(I-\gamma P_{\tilde\pi})^{-1}",
    source=Source("TRPO (Schulman et al. 2015) App. A, eqs. (26)-(27), (41); CPO (Achiam et al. 2017) eq. (21)"),
    family=FAMILY,
    expected="verified",
    checks=(surr_error_property, surr_error_high_precision, surr_error_symbolic),
    conventions=(CONV_RHO, CONV_A, "Delta = P_new - P_old (state-to-state, under each policy)"),
    uses=("PDL",),
    notes="Computing eta - L as a float64 difference of O(1) numbers loses the O(alpha^2) gap for alpha <~ 1e-6; "
          "the high-precision check shows the size of that error next to the identity's.",
)
