"""Policy-gradient foundations: the performance-difference lemma and the surrogate's
first-order agreement with J (CLAIMS-CATALOGUE.md, section A)."""

from __future__ import annotations

from typing import Any

import mpmath as mp
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import gradients as G
from reference_impls import mdp as M
from verify import strategies as vst
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.highprec import MpMDP, central_difference, mpf_array
from verify.registry import Context, Evidence, Source, claim

FAMILY = "policy-gradient"

# --------------------------------------------------------------------------- shared pieces


def sympy_two_state_mdp() -> dict[str, Any]:
    """A 2-state, 2-action MDP with rational dynamics, rewards and gamma (fixed, generic)."""
    P = [
        [[sp.Rational(1, 3), sp.Rational(2, 3)], [sp.Rational(3, 4), sp.Rational(1, 4)]],
        [[sp.Rational(1, 5), sp.Rational(4, 5)], [sp.Rational(5, 7), sp.Rational(2, 7)]],
    ]
    R = [[sp.Rational(1), sp.Rational(-1, 2)], [sp.Rational(2, 3), sp.Rational(3, 2)]]
    mu = [sp.Rational(2, 3), sp.Rational(1, 3)]
    return {"P": P, "R": R, "mu": mu, "gamma": sp.Rational(9, 10)}


def sympy_eval(m: dict[str, Any], pi: list[list[sp.Expr]]) -> dict[str, Any]:
    """V, Q, A, visitation rho and J of a policy table in exact sympy arithmetic."""
    P, R, mu, g = m["P"], m["R"], m["mu"], m["gamma"]
    S, A = 2, 2
    P_pi = sp.Matrix(S, S, lambda s, t: sum(pi[s][a] * P[s][a][t] for a in range(A)))
    r_pi = sp.Matrix(S, 1, lambda s, _: sum(pi[s][a] * R[s][a] for a in range(A)))
    Minv = (sp.eye(S) - g * P_pi).inv()
    V = Minv * r_pi
    Q = [[R[s][a] + g * sum(P[s][a][t] * V[t] for t in range(S)) for a in range(A)] for s in range(S)]
    Adv = [[Q[s][a] - V[s] for a in range(A)] for s in range(S)]
    rho = (sp.Matrix([mu]) * Minv).T
    J = sum(mu[s] * V[s] for s in range(S))
    return {"V": V, "Q": Q, "A": Adv, "rho": rho, "J": J}


def _scale(mdp: M.FiniteMDP) -> float:
    """Magnitude of returns in this MDP: max|r| / (1 - gamma) (at least 1)."""
    return max(1.0, float(np.max(np.abs(mdp.rewards))) / (1.0 - mdp.gamma))


def _mdp_two_policies(floor: float = 1e-3) -> st.SearchStrategy[tuple[M.FiniteMDP, np.ndarray, np.ndarray]]:
    @st.composite
    def strat(draw: st.DrawFn) -> tuple[M.FiniteMDP, np.ndarray, np.ndarray]:
        m = draw(vst.finite_mdps())
        return m, draw(vst.policies(m.n_states, m.n_actions, floor)), draw(vst.policies(m.n_states, m.n_actions, floor))

    return strat()


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

    ev = property_evidence(ctx, _mdp_two_policies(), body, summary="PDL residual <= 1e-10 (relative to r_max/(1-gamma))",
                           target_label="residual")
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

# --------------------------------------------------------------------------- SURR-GRAD-EQ


@check("property")
def surr_grad_eq_exact(ctx: Context) -> Evidence:
    """At theta = theta_old: L = J and grad L = grad J (float64, hypothesis MDPs)."""
    worst = [0.0]

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[M.FiniteMDP, np.ndarray]:
        m = draw(vst.finite_mdps())
        return m, draw(vst.logits(m.n_states, m.n_actions))

    def body(x: tuple[M.FiniteMDP, np.ndarray]) -> float:
        mdp, z = x
        dv = abs(G.surrogate(mdp, z, z) - M.expected_return(mdp, M.softmax(z)))
        dg = float(np.max(np.abs(G.surrogate_gradient(mdp, z, z) - G.policy_gradient(mdp, z))))
        err = max(dv, dg) / _scale(mdp)
        worst[0] = max(worst[0], err)
        if err > 1e-12:
            raise Violation(f"relative mismatch {err:.3g}", value_gap=dv, grad_gap=dg)
        return err

    ev = property_evidence(ctx, strat(), body, summary="L(old)=J(old) and grad L = grad J at old, within 1e-12 (relative)",
                           target_label="residual")
    ev.figures["max_residual"] = worst[0]
    return ev


@check("high-precision")
def surr_grad_eq_finite_differences(ctx: Context) -> Evidence:
    """mpmath central differences (50 digits) of J and of L_old at theta_old agree, and match
    the float64 reference gradient; the second derivatives differ (first-order agreement only)."""
    rng = ctx.rng()
    n = 4
    worst_fd = mp.mpf(0)
    worst_ref = 0.0
    min_hess_gap = mp.inf
    with mp.workdps(50):
        h = mp.mpf(10) ** -18
        for _ in range(n):
            mdp = M.random_mdp(rng, 3, 2, 0.9)
            z = rng.normal(size=(3, 2))
            mm = MpMDP(mdp)
            z_mp = mpf_array(z)
            pi_old = mm.softmax_policy(z_mp)
            A_old = mm.advantages(pi_old)
            rho_old = mm.visitation(pi_old)
            J_old = mm.ret(pi_old)

            def J(zz: list[list[Any]]) -> Any:
                return mm.ret(mm.softmax_policy(zz))

            def L(zz: list[list[Any]], pi_old: Any = pi_old, A_old: Any = A_old, rho_old: Any = rho_old,
                  J_old: Any = J_old) -> Any:
                pn = mm.softmax_policy(zz)
                return J_old + mp.fsum(rho_old[s] * pn[s][a] * A_old[s][a] for s in range(3) for a in range(2))

            gJ = central_difference(J, z_mp, h)
            gL = central_difference(L, z_mp, h)
            ref = G.policy_gradient(mdp, z)
            for s in range(3):
                for a in range(2):
                    worst_fd = max(worst_fd, abs(gJ[s][a] - gL[s][a]))
                    worst_ref = max(worst_ref, abs(float(gJ[s][a]) - ref[s, a]))
            # second derivative along one coordinate: J and L differ (generic MDP)
            k = mp.mpf(10) ** -8

            def along(f: Any, t: Any) -> Any:
                zz = [list(r) for r in z_mp]
                zz[0][0] += t
                return f(zz)

            d2J = (along(J, k) - 2 * along(J, 0) + along(J, -k)) / k**2
            d2L = (along(L, k) - 2 * along(L, 0) + along(L, -k)) / k**2
            min_hess_gap = min(min_hess_gap, abs(d2J - d2L))
    passed = worst_fd < mp.mpf(10) ** -30 and worst_ref < 1e-12 and min_hess_gap > mp.mpf(10) ** -6
    return Evidence(
        "high-precision",
        bool(passed),
        f"central differences of J and L at theta_old agree ({n} random 3x2 MDPs, 50 digits); "
        "second derivatives differ",
        {"max_fd_gap": float(worst_fd), "max_gap_vs_float64_policy_gradient": worst_ref,
         "min_second_derivative_gap": float(min_hess_gap), "dps": 50, "h": 1e-18, "seed": ctx.seed},
    )


@check("symbolic")
def surr_grad_eq_symbolic(ctx: Context) -> Evidence:
    """sympy, 2-state MDP with sigmoid (2-action softmax) logits x_s: d/dx (L_{x0}(x) - J(x)) at x = x0 is 0.

    With u_s = exp(x_s), pi(a0|s) = u_s / (1 + u_s) and d/dx_s = u_s d/du_s, so everything is a
    rational function of u and the check is exact.
    """
    m = sympy_two_state_mdp()
    u = sp.symbols("u0 u1", positive=True)
    v = sp.symbols("v0 v1", positive=True)  # v = exp(x_old)
    new = [[u[s] / (1 + u[s]), 1 / (1 + u[s])] for s in range(2)]
    old = [[v[s] / (1 + v[s]), 1 / (1 + v[s])] for s in range(2)]
    en, eo = sympy_eval(m, new), sympy_eval(m, old)
    L = eo["J"] + sum(eo["rho"][s] * sum(new[s][a] * eo["A"][s][a] for a in range(2)) for s in range(2))
    at_old = {u[0]: v[0], u[1]: v[1]}
    value_gap = sp.cancel(sp.together((L - en["J"]).subs(at_old)))
    grads = [sp.cancel(sp.together((u[s] * sp.diff(L - en["J"], u[s])).subs(at_old))) for s in range(2)]
    total = value_gap**2 + grads[0] ** 2 + grads[1] ** 2
    return symbolic_evidence(total, "L_{x0}(x0) = J(x0) and grad_x (L - J) = 0 at x = x0 (sympy, symbolic logits)")


claim(
    id="SURR-GRAD-EQ",
    title="The surrogate matches J to first order at theta_old",
    statement=r"L_{\theta_0}(\theta_0)=J(\theta_0),\quad \nabla_\theta L_{\theta_0}(\theta)\big|_{\theta_0}"
              r"=\nabla_\theta J(\theta)\big|_{\theta_0},\quad L_{\theta_0}(\theta)=J(\theta_0)+\sum_s\rho_{\theta_0}(s)"
              r"\sum_a\pi_\theta(a|s)A^{\theta_0}(s,a)",
    source=Source("Schulman et al. (2015) TRPO, eqs. (3)-(4), citing Kakade & Langford (2002)"),
    family=FAMILY,
    expected="verified",
    checks=(surr_grad_eq_exact, surr_grad_eq_finite_differences, surr_grad_eq_symbolic),
    conventions=("tabular softmax policy, gradient w.r.t. logits",
                 "rho unnormalized discounted visitation of the old policy"),
    assumptions=("finite S and A, gamma in [0, 1)",),
    uses=("PDL",),
    notes="Second derivatives of L and J differ in general: the agreement is first-order only.",
)
