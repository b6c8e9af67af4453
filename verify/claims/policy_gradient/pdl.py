"""The performance difference lemma (PDL)."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import sympy as sp

from reference_impls import mdp as M
from verify.claims.policy_gradient._common import FAMILY, _mdp_two_policies, _scale, sympy_eval, sympy_two_state_mdp
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.highprec import MpMDP, mpf_array
from verify.registry import Context, Evidence, Source, claim

# --------------------------------------------------------------------------- PDL


@check("property")
def pdl_exact_on_random_mdps(ctx: Context) -> Evidence:
    """J(new) - J(old) = sum_s rho_new(s) sum_a new(a|s) A_old(s, a), float64, hypothesis MDPs."""
    worst = [0.0]

    def body(x: tuple[M.FiniteMDP, np.ndarray, np.ndarray]) -> float:
        mdp, old, new = x
        lhs = M.expected_return(mdp, new) - M.expected_return(mdp, old)
        rhs = M.visitation(mdp, new) @ np.sum(new * M.advantages(mdp, old), axis=1)
        err = abs(lhs - rhs) / _scale(mdp)
        worst[0] = max(worst[0], err)
        if err > 1e-10:
            raise Violation(f"relative residual {err:.3g}", lhs=lhs, rhs=rhs, gamma=mdp.gamma)
        return err

    ev = property_evidence(ctx, _mdp_two_policies(), body,
                           summary="PDL residual <= 1e-10 (relative to r_max/(1-gamma))", target_label="residual")
    ev.figures["max_residual"] = worst[0]
    return ev


@check("symbolic")
def pdl_symbolic(ctx: Context) -> Evidence:
    """sympy: the residual of the PDL simplifies to 0 for symbolic policies on a 2-state MDP."""
    m = sympy_two_state_mdp()
    p0, p1, q0, q1 = sp.symbols("p0 p1 q0 q1", positive=True)
    old = [[p0, 1 - p0], [p1, 1 - p1]]
    new = [[q0, 1 - q0], [q1, 1 - q1]]
    eo, en = sympy_eval(m, old), sympy_eval(m, new)
    rhs = sum(en["rho"][s] * sum(new[s][a] * eo["A"][s][a] for a in range(2)) for s in range(2))
    resid = sp.cancel(sp.together(en["J"] - eo["J"] - rhs))
    return symbolic_evidence(resid, "J(new) - J(old) - sum_s rho_new sum_a new A_old == 0 (sympy, symbolic policies)",
                             symbols="p0 p1 q0 q1 (action-0 probabilities)")


@check("high-precision")
def pdl_high_precision(ctx: Context) -> Evidence:
    """mpmath, 50 digits, independent solver: PDL residual on random MDPs (incl. its CPO eq. 20 form)."""
    rng = ctx.rng()
    worst = mp.mpf(0)
    n = 8
    with mp.workdps(50):
        for _ in range(n):
            mdp = M.random_mdp(rng, 4, 3, float(rng.choice([0.5, 0.9, 0.99])))
            mm = MpMDP(mdp)
            # policies are formed in mpmath from logits so their rows sum to 1 at 50 digits
            po = mm.softmax_policy(mpf_array(rng.normal(size=(4, 3))))
            pn = mm.softmax_policy(mpf_array(rng.normal(size=(4, 3))))
            Ao = mm.advantages(po)
            rho_n = mm.visitation(pn)
            rhs = mp.fsum(rho_n[s] * mp.fsum(pn[s][a] * Ao[s][a] for a in range(3)) for s in range(4))
            # generalisation (CPO eq. 20) with a random f: J = E_mu f + 1/(1-g) E_{d,pi,P}[R + g f(s') - f(s)]
            f = [mp.mpf(float(v)) for v in rng.normal(size=4)]
            g = mm.gamma
            adv_f = mp.fsum(
                rho_n[s] * pn[s][a] * (mm.R[s][a] + g * mp.fsum(mm.P[s][a][t] * f[t] for t in range(4)) - f[s])
                for s in range(4) for a in range(3)
            )
            gen = mp.fsum(mm.mu[s] * f[s] for s in range(4)) + adv_f
            worst = max(worst, abs(mm.ret(pn) - mm.ret(po) - rhs), abs(gen - mm.ret(pn)))
        passed = worst < mp.mpf(10) ** -40
        return Evidence("high-precision", bool(passed),
                        f"max residual over {n} random 4x3 MDPs at 50 digits (PDL and CPO eq. 20 with random f)",
                        {"max_residual": float(worst), "dps": 50, "instances": n, "seed": ctx.seed})


claim(
    id="PDL",
    title="Performance-difference lemma",
    statement=r"J(\tilde\pi)-J(\pi)=\sum_s \rho_{\tilde\pi}(s)\sum_a \tilde\pi(a|s)A^{\pi}(s,a)"
              r"=\tfrac{1}{1-\gamma}\mathbb{E}_{s\sim d^{\tilde\pi},a\sim\tilde\pi}[A^\pi(s,a)]",
    source=Source("Kakade & Langford (2002), Lemma 6.1; Schulman et al. (2015) TRPO, eqs. (1)-(2); "
                  "Achiam et al. (2017) CPO, eq. (1) and eq. (20)"),
    family=FAMILY,
    expected="verified",
    checks=(pdl_exact_on_random_mdps, pdl_symbolic, pdl_high_precision),
    conventions=("rho unnormalized (sums to 1/(1-gamma)); d = (1-gamma) rho normalized",
                 "V, Q, A unnormalized; A = Q - V"),
    assumptions=("finite S and A, gamma in [0, 1)",),
)
