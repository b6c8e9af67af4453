"""The policy gradient theorem (PG-THEOREM) and the slides' derivation and grad-pi statements."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath as mp
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import enumeration as E
from reference_impls import gradients as G
from reference_impls import mdp as M
from verify import strategies as vst
from verify.claims.policy_gradient._common import (
    FAMILY,
    S1,
    _scale,
    finite_horizon_gradient,
    reward_to_go,
    sympy_eval,
    sympy_two_state_mdp,
    trajectory_scores,
)
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.highprec import MpMDP, central_difference, mpf_array
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

# --------------------------------------------------------------------------- PG-THEOREM


@check("symbolic")
def pgt_symbolic(ctx: Context) -> Evidence:
    """sympy, 2-state MDP (rational P, r, gamma = 9/10) with sigmoid logits x_s (u_s = e^{x_s}):
    dJ/dx_s - sum_s rho(s) sum_a (d pi(a|s)/dx_s) Q(s, a) simplifies to 0 (rho the discounted visitation)."""
    m = sympy_two_state_mdp()
    u = sp.symbols("u0 u1", positive=True)
    pi = [[u[s] / (1 + u[s]), 1 / (1 + u[s])] for s in range(2)]
    ev = sympy_eval(m, pi)
    expr = sp.Integer(0)
    for s in range(2):
        pgt = ev["rho"][s] * sum(u[s] * sp.diff(pi[s][a], u[s]) * ev["Q"][s][a] for a in range(2))
        expr += sp.cancel(sp.together(u[s] * sp.diff(ev["J"], u[s]) - pgt)) ** 2
    return symbolic_evidence(expr, "grad J = sum_s rho_pi(s) sum_a grad pi(a|s) Q(s,a) (sympy, symbolic logits)")


@check("high-precision")
def pgt_high_precision(ctx: Context) -> Evidence:
    """mpmath (50 digits): central differences of J (independent solver) equal the reference policy_gradient and
    the normalized form 1/(1-gamma) E_{s~d, a~pi}[grad log pi Q] computed in mpmath, on random 4x3 MDPs."""
    rng = ctx.rng()
    worst_ref, worst_form = 0.0, mp.mpf(0)
    n = 3
    with mp.workdps(50):
        h = mp.mpf(10) ** -18
        for _ in range(n):
            mdp = M.random_mdp(rng, 4, 3, float(rng.choice([0.5, 0.9, 0.99])))
            z = rng.normal(size=(4, 3))
            mm = MpMDP(mdp)
            zm = mpf_array(z)

            def J(zz: list[list[Any]], mm: MpMDP = mm) -> Any:
                return mm.ret(mm.softmax_policy(zz))

            fd = central_difference(J, zm, h)
            ref = G.policy_gradient(mdp, z)
            pi = mm.softmax_policy(zm)
            Q = mm.q_values(pi)
            d = [(1 - mm.gamma) * r for r in mm.visitation(pi)]
            for s in range(4):
                for a in range(3):
                    # E_{b~pi}[d/dz[s,a] log pi(b|s) Q(s,b)] = pi(a|s) (Q(s,a) - sum_b pi(b|s) Q(s,b))
                    form = d[s] * pi[s][a] * (Q[s][a] - mp.fsum(pi[s][b] * Q[s][b] for b in range(3))) / (1 - mm.gamma)
                    worst_form = max(worst_form, abs(form - fd[s][a]))
                    worst_ref = max(worst_ref, abs(float(fd[s][a]) - ref[s, a]) / max(1.0, abs(ref[s, a])))
    # central differences at 50 digits with h = 1e-18: rounding ~ 1e-50 |J| / h ~ 1e-32 |J| (|J| <= 1e2 here),
    # truncation ~ h^2; 1e-26 leaves room for both and is still 10 orders below float64
    passed = worst_ref < 1e-11 and worst_form < mp.mpf(10) ** -26
    return Evidence("high-precision", bool(passed), f"finite differences vs reference (rel {worst_ref:.1e}) and vs the "
                    f"normalized E_d form ({float(worst_form):.1e}), {n} random 4x3 MDPs",
                    {"max_rel_error_reference": worst_ref, "max_error_normalized_form": float(worst_form), "dps": 50,
                     "h": 1e-18, "seed": ctx.seed})


@check("exact")
def pgt_trajectory_form(ctx: Context) -> Evidence:
    """Enumeration (H = 3): E_tau[sum_t grad log pi(a_t|s_t) sum_{k>=t} gamma^k r_k] equals the finite-horizon
    theorem sum_t gamma^t sum_s p_t(s) sum_a grad pi Q_t exactly (float64, rel. 1e-12), on random MDPs with
    gamma in {0, 0.5, 0.9, 0.99}."""
    rng = ctx.rng()
    worst = 0.0
    H = 3
    for i in range(6):
        gamma = [0.0, 0.5, 0.9, 0.99][i % 4]
        mdp = M.random_mdp(rng, 3, 2, gamma)
        z = rng.normal(size=(3, 2))
        pi = M.softmax(z)
        traj = E.enumerate_trajectories(mdp, pi, H)
        sc = trajectory_scores(traj, pi)
        est = np.einsum("nhk,nh->nk", sc, reward_to_go(traj, gamma))
        exact = traj.expectation(est)
        ref = finite_horizon_gradient(mdp, z, H).ravel()
        worst = max(worst, float(np.max(np.abs(exact - ref))) / max(1.0, float(np.max(np.abs(ref)))))
    return Evidence("exact", worst < 1e-12, f"reward-to-go REINFORCE expectation = finite-horizon PG theorem (max rel "
                    f"{worst:.1e})", {"max_relative_error": worst, "horizon": H, "instances": 6, "seed": ctx.seed})


claim(
    id="PG-THEOREM",
    title="Policy-gradient theorem (start-state formulation)",
    statement=r"\nabla J=\sum_s\rho_\pi(s)\sum_a\nabla\pi(a|s)Q^\pi(s,a)=\tfrac1{1-\gamma}\mathbb{E}_{s\sim d^\pi,"
              r"a\sim\pi}[\nabla\log\pi(a|s)Q^\pi(s,a)]=\mathbb{E}_\tau\big[\sum_t\gamma^t\nabla\log\pi(a_t|s_t)"
              r"Q^\pi(s_t,a_t)\big]",
    source=Source("Sutton, McAllester, Singh & Mansour (1999/2000), Theorem 1, eq. (2)"),
    family=FAMILY,
    expected="verified",
    checks=(pgt_symbolic, pgt_high_precision, pgt_trajectory_form),
    conventions=("rho_pi unnormalized discounted visitation (Sutton's d^pi); d normalized",
                 "gamma^t inside the trajectory form", "tabular softmax, gradient w.r.t. logits"),
    assumptions=("finite S and A, gamma in [0, 1) (finite horizon: gamma = 1 allowed)",),
    notes="No grad-of-visitation term appears: the visitation arises from the grad Q term through the Bellman "
          "recursion. A Monte Carlo REINFORCE test is not needed here: unbiasedness is decided by exact enumeration.",
)


# --------------------------------------------------------------------------- S1: the PG "derivation"


@check("symbolic")
def seed_pg_derivation_symbolic(ctx: Context) -> Evidence:
    """sympy, 2-state MDP, symbolic policy: with p = the state visitation rho_pi (the slide's label), the slide's
    first line J = sum_s p(s) sum_a pi Q is not an identity (the residual is not 0)."""
    p0, p1 = sp.symbols("p0 p1", positive=True)
    pi = [[p0, 1 - p0], [p1, 1 - p1]]
    ev = sympy_eval(sympy_two_state_mdp(), pi)
    rhs = sum(ev["rho"][s] * sum(pi[s][a] * ev["Q"][s][a] for a in range(2)) for s in range(2))
    return symbolic_evidence(sp.cancel(sp.together(ev["J"] - rhs)), "J = sum_s rho_pi(s) sum_a pi Q (sympy)")


@check("exact")
def seed_pg_derivation_exact(ctx: Context) -> Evidence:
    """For each candidate p (start distribution rho_0, discounted visitation rho_pi, normalized occupancy d_pi) on a
    random MDP: the slide's J line and its gradient line (against the reference policy_gradient) cannot both hold --
    rho_0 makes the J line true and the gradient line false, rho_pi the reverse, d_pi neither."""
    rng = ctx.rng()
    mdp = M.random_mdp(rng, 3, 2, 0.9)
    z = rng.normal(size=(3, 2))
    pi = M.softmax(z)
    Q = M.action_values(mdp, pi)
    J = M.expected_return(mdp, pi)
    ref = G.policy_gradient(mdp, z)
    grad_pi_Q = pi * (Q - np.sum(pi * Q, axis=1, keepdims=True))  # sum_b d pi(b|s)/dz[s,a] Q(s,b)
    rows = {}
    both = []
    for name, p in (("rho_0", mdp.initial), ("rho_pi", M.visitation(mdp, pi)), ("d_pi", M.occupancy(mdp, pi))):
        j_res = abs(float(p @ np.sum(pi * Q, axis=1)) - J)
        g_res = float(np.max(np.abs(p[:, None] * grad_pi_Q - ref)))
        rows[name] = {"J_line_residual": j_res, "grad_line_residual": g_res}
        if j_res < 1e-10 and g_res < 1e-10:
            both.append(name)
    return Evidence("exact", bool(both), "no single p makes both slide lines true: " + "; ".join(
        f"{k}: J-res {v['J_line_residual']:.3g}, grad-res {v['grad_line_residual']:.3g}" for k, v in rows.items()),
        {"rows": rows, "seed": ctx.seed}, counterexample=None if both else rows)


claim(
    id="SEED-S1-PG-DERIVATION",
    title="S1: J = sum_s p(s) sum_a pi Q, hence grad J = sum_s p(s) sum_a grad pi Q (one p, 'state visitation')",
    statement=r"J(\theta)=\sum_sp^{\pi_\theta}(s)\sum_a\pi_\theta(a|s)Q^{\pi_\theta}(s,a)\ \Rightarrow\ \nabla_\theta J"
              r"=\sum_sp^{\pi_\theta}(s)\sum_a\nabla_\theta\pi_\theta(a|s)Q^{\pi_\theta}(s,a)",
    source=Source(seed_citation(S1, "line 86 (after line 41's J = sum_s p sum_a pi Q, 'State Visitation')"),
                  quote=r"$$\nabla_{\theta} J(\theta) = \sum_{s \in \mathcal{S}} p^{\pi_{\theta}}(s) \sum_{a \in "
                        r"\mathcal{A}} \nabla_{\theta} \left[\pi_{\theta}(a \mid s) \right] Q^{\pi_{\theta}}(s, a)$$",
                  seed_file=S1),
    family=FAMILY,
    expected="refuted",
    kind="seed-statement",
    checks=(seed_pg_derivation_symbolic, seed_pg_derivation_exact),
    notes="The J identity holds only with p = rho_0 (start distribution); differentiating it then drops the "
          "grad Q term, which is exactly what produces the discounted visitation. The final formula is right only "
          "if p is reinterpreted as the discounted visitation: one symbol is used for two distributions.",
)


@check("symbolic")
def pg_derivation_corrected_symbolic(ctx: Context) -> Evidence:
    """sympy, 2-state MDP: J = sum_s rho_0(s) sum_a pi Q identically (symbolic policy), and grad J =
    sum_s rho_pi(s) sum_a grad pi Q (symbolic logits)."""
    p0, p1 = sp.symbols("p0 p1", positive=True)
    pi = [[p0, 1 - p0], [p1, 1 - p1]]
    m = sympy_two_state_mdp()
    ev = sympy_eval(m, pi)
    j_res = sp.cancel(sp.together(ev["J"] - sum(m["mu"][s] * sum(pi[s][a] * ev["Q"][s][a] for a in range(2))
                                                for s in range(2))))
    out = pgt_symbolic(ctx)
    both = symbolic_evidence(j_res**2, "J = sum_s rho_0 sum_a pi Q")
    passed = None if None in (out.passed, both.passed) else bool(out.passed and both.passed)
    return Evidence("symbolic", passed, "J = sum_s rho_0 sum_a pi Q and grad J = sum_s rho_pi sum_a grad pi Q (sympy)",
                    {"j_identity": both.passed, "gradient_identity": out.passed})


@check("property")
def pg_derivation_corrected_property(ctx: Context) -> Evidence:
    """Hypothesis MDPs: J = rho_0 . (sum_a pi Q) and the reference policy_gradient = rho_pi (x) sum_b grad pi Q."""
    worst = [0.0]

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[M.FiniteMDP, np.ndarray]:
        m = draw(vst.finite_mdps())
        return m, draw(vst.logits(m.n_states, m.n_actions))

    def body(x: tuple[M.FiniteMDP, np.ndarray]) -> float:
        mdp, z = x
        pi = M.softmax(z)
        Q = M.action_values(mdp, pi)
        e1 = abs(float(mdp.initial @ np.sum(pi * Q, axis=1)) - M.expected_return(mdp, pi))
        form = M.visitation(mdp, pi)[:, None] * pi * (Q - np.sum(pi * Q, axis=1, keepdims=True))
        e2 = float(np.max(np.abs(form - G.policy_gradient(mdp, z))))
        err = max(e1, e2) / _scale(mdp)
        worst[0] = max(worst[0], err)
        if err > 1e-10:
            raise Violation(f"residual {err:.3g}", j_residual=e1, grad_residual=e2)
        return err

    ev = property_evidence(ctx, strat(), body, summary="J with rho_0, grad J with rho_pi (hypothesis MDPs)",
                           target_label="residual")
    ev.figures["max_residual"] = worst[0]
    return ev


claim(
    id="SEED-S1-PG-DERIVATION-CORRECTED",
    title="Corrected: J = sum_s rho_0(s) sum_a pi Q, while grad J = sum_s rho_pi(s) sum_a grad pi Q",
    statement=r"J=\sum_s\rho_0(s)\sum_a\pi(a|s)Q^\pi(s,a),\quad\nabla J=\sum_s\rho_\pi(s)\sum_a\nabla\pi(a|s)"
              r"Q^\pi(s,a),\ \rho_\pi(s)=\sum_t\gamma^tP(s_t=s)",
    source=Source("Sutton et al. (1999/2000), Theorem 1 and its proof"),
    family=FAMILY,
    expected="verified",
    kind="correction",
    corrects="SEED-S1-PG-DERIVATION",
    checks=(pg_derivation_corrected_symbolic, pg_derivation_corrected_property),
    uses=("PG-THEOREM",),
)


# --------------------------------------------------------------------------- S1: grad pi inside E_{a~pi}


def _parallel_residual(u: np.ndarray, v: np.ndarray) -> float:
    """1 - |cos(u, v)| (0 iff parallel)."""
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    if nu == 0 or nv == 0:
        return 0.0
    return 1.0 - abs(float(u @ v)) / (nu * nv)


@check("exact")
def seed_grad_pi_exact(ctx: Context) -> Evidence:
    """Exact rationals, 3-action bandit pi = (1/2, 1/3, 1/6), r = (1, 1, 0): E_{a~pi}[grad pi(a) r(a)] =
    sum_a pi_a^2 r_a (e_a - pi) is not proportional to grad J = sum_a pi_a r_a (e_a - pi) (a 2x2 minor != 0)."""
    pi = [Fraction(1, 2), Fraction(1, 3), Fraction(1, 6)]
    r = [Fraction(1), Fraction(1), Fraction(0)]

    def vec(weight: list[Fraction]) -> list[Fraction]:
        return [sum((weight[a] * r[a] * ((1 if k == a else 0) - pi[k]) for a in range(3)), Fraction(0))
                for k in range(3)]

    grad = vec(pi)
    slide = vec([p * p for p in pi])  # E_{a~pi}[grad pi(a) r(a)], grad pi(a) = pi_a (e_a - pi)
    minor = grad[0] * slide[1] - grad[1] * slide[0]
    return Evidence("exact", minor == 0, f"2x2 minor of [grad J, slide vector] = {minor} != 0: not proportional",
                    {"grad_J": [str(x) for x in grad], "slide_vector": [str(x) for x in slide], "minor": str(minor)},
                    counterexample={"pi": "1/2,1/3,1/6", "r": "1,1,0", "minor": str(minor)})


@check("property")
def seed_grad_pi_property(ctx: Context) -> Evidence:
    """Hypothesis MDPs, charitable reading with the missing E_{s~d}: sum_s d(s) sum_a pi(a|s) grad pi(a|s) Q(s,a)
    must be parallel to the reference policy_gradient; the search finds a non-parallel case."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[M.FiniteMDP, np.ndarray]:
        m = draw(vst.finite_mdps(n_actions=st.integers(2, 3), gamma=st.sampled_from((0.5, 0.9))))
        return m, draw(vst.logits(m.n_states, m.n_actions))

    def body(x: tuple[M.FiniteMDP, np.ndarray]) -> float:
        mdp, z = x
        pi = M.softmax(z)
        Q = M.action_values(mdp, pi)
        d = M.occupancy(mdp, pi)
        # d/dz[s,k] pi(a|s) = pi_a (1[a=k] - pi_k); weight by pi(a|s) Q(s,a)
        w = pi * pi * Q
        slide = d[:, None] * (w - pi * np.sum(w, axis=1, keepdims=True))
        res = _parallel_residual(slide.ravel(), G.policy_gradient(mdp, z).ravel())
        if res > 1e-6:
            raise Violation(f"not parallel: 1 - |cos| = {res:.3g}", residual=res)
        return res

    return property_evidence(ctx, strat(), body, summary="E_{s~d, a~pi}[grad pi Q] proportional to grad J",
                             target_label="non_parallel")


claim(
    id="SEED-S1-GRAD-PI-IN-EXPECTATION",
    title="S1: 'grad J propto E_{a~pi} grad pi(a|s) Q(s,a)'",
    statement=r"\nabla_\theta J(\theta)\propto\mathbb{E}_{a\sim\pi_\theta}\nabla_\theta\pi_\theta(a|s)"
              r"Q^{\pi_\theta}(s,a)",
    source=Source(seed_citation(S1, "line 98 (repeated at lines 102, 113, 130, 277)"),
                  quote=r"$$\nabla_{\theta} J(\theta) \propto \mathbb{E}_{a \sim \pi_{\theta}} \nabla_{\theta} "
                        r"\pi_{\theta}(a \mid s) Q^{\pi_{\theta}}(s, a)$$",
                  seed_file=S1),
    family=FAMILY,
    expected="refuted",
    kind="seed-statement",
    checks=(seed_grad_pi_exact, seed_grad_pi_property),
    notes="Inside an expectation over a ~ pi the integrand must be grad log pi, not grad pi; the expectation over "
          "s ~ d^pi is missing, and the constant is 1/(1-gamma) for normalized d.",
)


@check("property")
def grad_log_form_property(ctx: Context) -> Evidence:
    """Hypothesis MDPs: 1/(1-gamma) E_{s~d, a~pi}[grad log pi(a|s) Q(s,a)] equals the reference policy_gradient."""
    worst = [0.0]

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[M.FiniteMDP, np.ndarray]:
        m = draw(vst.finite_mdps(gamma=st.sampled_from((0.0, 0.5, 0.9, 0.99))))
        return m, draw(vst.logits(m.n_states, m.n_actions))

    def body(x: tuple[M.FiniteMDP, np.ndarray]) -> float:
        mdp, z = x
        pi = M.softmax(z)
        Q = M.action_values(mdp, pi)
        d = M.occupancy(mdp, pi)
        S, A = pi.shape
        form = np.zeros((S, A))
        for a in range(A):  # E_{a~pi}: score of a is e_a - pi(.|s)
            form += pi[:, [a]] * Q[:, [a]] * (np.eye(A)[a][None, :] - pi)
        form *= d[:, None] / (1 - mdp.gamma)
        err = float(np.max(np.abs(form - G.policy_gradient(mdp, z)))) / _scale(mdp)
        worst[0] = max(worst[0], err)
        if err > 1e-10:
            raise Violation(f"residual {err:.3g}")
        return err

    ev = property_evidence(ctx, strat(), body, summary="grad J = 1/(1-gamma) E_{d,pi}[grad log pi Q]",
                           target_label="residual")
    ev.figures["max_residual"] = worst[0]
    return ev


claim(
    id="SEED-S1-GRAD-PI-IN-EXPECTATION-CORRECTED",
    title="Corrected: grad J = 1/(1-gamma) E_{s~d^pi, a~pi}[grad log pi(a|s) Q(s,a)]",
    statement=r"\nabla J=\tfrac1{1-\gamma}\mathbb{E}_{s\sim d^\pi,a\sim\pi}[\nabla\log\pi(a|s)Q^\pi(s,a)]",
    source=Source("Sutton et al. (1999/2000) Theorem 1 with the likelihood-ratio identity grad pi = pi grad log pi"),
    family=FAMILY,
    expected="verified",
    kind="correction",
    corrects="SEED-S1-GRAD-PI-IN-EXPECTATION",
    checks=(grad_log_form_property, pgt_high_precision),
    conventions=("d normalized discounted occupancy",),
    uses=("PG-THEOREM",),
)
