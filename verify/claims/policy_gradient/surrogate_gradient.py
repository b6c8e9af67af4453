"""The surrogate's gradient equals the policy gradient at the old policy (SURR-GRAD-EQ) and seed 002's surrogate
statements.
"""

from __future__ import annotations

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
    S2,
    _scale,
    finite_horizon_gradient,
    sympy_eval,
    sympy_two_state_mdp,
    trajectory_scores,
)
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.highprec import MpMDP, central_difference, mpf_array
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

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

    ev = property_evidence(ctx, strat(), body,
                           summary="L(old)=J(old) and grad L = grad J at old, within 1e-12 (relative)",
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

            def J(zz: list[list[Any]], mm: MpMDP = mm) -> Any:
                return mm.ret(mm.softmax_policy(zz))

            def L(zz: list[list[Any]], pi_old: Any = pi_old, A_old: Any = A_old, rho_old: Any = rho_old,
                  J_old: Any = J_old, mm: MpMDP = mm) -> Any:
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

            def along(f: Any, t: Any, z_mp: Any = z_mp) -> Any:
                zz = [list(r) for r in z_mp]
                zz[0][0] += t
                return f(zz)

            d2J = (along(J, k) - 2 * along(J, 0) + along(J, -k)) / k**2
            d2L = (along(L, k) - 2 * along(L, 0) + along(L, -k)) / k**2
            min_hess_gap = min(min_hess_gap, abs(d2J - d2L))
    passed = worst_fd < mp.mpf(10) ** -26 and worst_ref < 1e-12 and min_hess_gap > mp.mpf(10) ** -6
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


@check("exact")
def surr_traj_and_bandit_exact(ctx: Context) -> Evidence:
    """Trajectory-level IS surrogate, by enumeration (H <= 4): L_traj(theta) = E_{tau~ref}[p_theta/p_ref R] equals
    J_H(theta) and E_ref[(p_theta/p_ref) R grad log p_theta] equals grad J_H(theta) at random theta far from ref.
    Bandit (one state, gamma = 0): the reference surrogate equals J for every pair (L == J). A 2-state MDP with
    gamma = 0.9 (negative control) has L_old(theta_new) != J(theta_new) away from theta_old, and there the reference
    surrogate equals eq. (3) written out (J(theta_old) + sum_s rho_old sum_a pi_new A_old)."""
    rng = ctx.rng()
    worst_val, worst_grad = 0.0, 0.0
    for i in range(4):
        H = 3 + (i % 2)
        mdp = M.random_mdp(rng, 2, 2, float([0.5, 0.9][i % 2]))
        z_ref, z = rng.normal(size=(2, 2)), 2 * rng.normal(size=(2, 2))
        pi_ref, pi = M.softmax(z_ref), M.softmax(z)
        traj = E.enumerate_trajectories(mdp, pi_ref, H)
        w = np.exp(traj.log_prob(pi) - traj.log_prob(pi_ref))
        R = traj.discounted_returns()
        L_traj = float(traj.expectation(w * R))
        J_H = M.finite_horizon_return(mdp, pi, H)
        score = trajectory_scores(traj, pi).sum(axis=1)
        g_traj = traj.expectation((w * R)[:, None] * score)
        g_exact = finite_horizon_gradient(mdp, z, H).ravel()
        scale = max(1.0, abs(J_H))
        worst_val = max(worst_val, abs(L_traj - J_H) / scale)
        worst_grad = max(worst_grad, float(np.max(np.abs(g_traj - g_exact))) / scale)
    bandit_gap = 0.0
    for _ in range(4):
        K = int(rng.integers(2, 5))
        bandit = M.FiniteMDP(np.ones((1, K, 1)), rng.normal(size=(1, K)), np.ones(1), 0.0)
        z_old, z = rng.normal(size=(1, K)), rng.normal(size=(1, K)) * 3
        bandit_gap = max(bandit_gap, abs(G.surrogate(bandit, z, z_old) - M.expected_return(bandit, M.softmax(z))))
    control = M.random_mdp(rng, 2, 2, 0.9)
    z_old = rng.normal(size=(2, 2))
    z_new = z_old + 1.0 * rng.normal(size=(2, 2))
    # L_old(theta_new) away from theta_old: the reference against eq. (3) written out here, and that value
    # against J(theta_new) (not J(theta_old)): a "surrogate" that returned J itself fails the first test
    pi_old_c, pi_new_c = M.softmax(z_old), M.softmax(z_new)
    L_direct = M.expected_return(control, pi_old_c) + float(
        M.visitation(control, pi_old_c) @ np.sum(pi_new_c * M.advantages(control, pi_old_c), axis=1))
    surr_err = abs(G.surrogate(control, z_new, z_old) - L_direct) / max(1.0, abs(L_direct))
    control_gap = abs(L_direct - M.expected_return(control, pi_new_c))
    ok: bool | None = worst_val < 1e-12 and worst_grad < 1e-12 and bandit_gap < 1e-12 and surr_err < 1e-12
    if ok and control_gap <= 1e-6:
        ok = None  # L and J happen to agree at this theta_new: the draw decides nothing (undecided)
    return Evidence("exact", ok, "trajectory IS surrogate = J_H and its expected gradient = grad J_H at "
                    f"every theta (max rel {max(worst_val, worst_grad):.1e}); bandit L == J ({bandit_gap:.1e})",
                    {"max_value_error": worst_val, "max_gradient_error": worst_grad, "bandit_max_gap": bandit_gap,
                     "multi_state_control_gap": control_gap, "surrogate_error_away_from_theta_old": surr_err,
                     "horizons": [3, 4], "seed": ctx.seed})


claim(
    id="SURR-GRAD-EQ",
    title="The surrogate matches J to first order at theta_old",
    statement=r"L_{\theta_0}(\theta_0)=J(\theta_0),\quad \nabla_\theta L_{\theta_0}(\theta)\big|_{\theta_0}"
              r"=\nabla_\theta J(\theta)\big|_{\theta_0},\quad L_{\theta_0}(\theta)=J(\theta_0)+"
              r"\sum_s\rho_{\theta_0}(s)\sum_a\pi_\theta(a|s)A^{\theta_0}(s,a)",
    source=Source("Schulman et al. (2015) TRPO, eqs. (3)-(4), citing Kakade & Langford (2002)"),
    family=FAMILY,
    expected="verified",
    checks=(surr_grad_eq_exact, surr_grad_eq_finite_differences, surr_grad_eq_symbolic, surr_traj_and_bandit_exact),
    conventions=("tabular softmax policy, gradient w.r.t. logits",
                 "rho unnormalized discounted visitation of the old policy"),
    assumptions=("finite S and A, gamma in [0, 1)",),
    uses=("PDL",),
    notes="Second derivatives of L and J differ in general: the agreement is first-order only. Two special cases "
          "are checked exactly: the trajectory-level IS surrogate E_ref[(p_theta/p_ref) R] equals J_H for every "
          "theta (supp p_theta within supp p_ref), and in a bandit (one state, gamma = 0) L == J identically.",
)


@check("exact")
def quiz_surrogate_gradient_exact(ctx: Context) -> Evidence:
    """Random MDPs: the exact gradient of TRPO's surrogate L_ref(theta) at theta = ref (reference
    surrogate_gradient) equals the on-policy gradient (reference policy_gradient); away from ref it does not
    (negative control, figure)."""
    rng = ctx.rng()
    worst, control = 0.0, np.inf
    for _ in range(10):
        mdp = M.random_mdp(rng, 3, 3, 0.9)
        z = rng.normal(size=(3, 3))
        g = G.policy_gradient(mdp, z)
        scale = max(1e-12, float(np.max(np.abs(g))))
        worst = max(worst, float(np.max(np.abs(G.surrogate_gradient(mdp, z, z) - g))) / scale)
        z_new = z + 0.5 * rng.normal(size=(3, 3))
        control = min(control, float(np.max(np.abs(G.surrogate_gradient(mdp, z_new, z)
                                                    - G.policy_gradient(mdp, z_new)))))
    return Evidence("exact", bool(worst < 1e-12 and control > 1e-6),
                    f"grad L_ref at ref == on-policy gradient (max rel {worst:.1e}, 10 MDPs); away from ref they "
                    f"differ (min gap {control:.2e})", {"max_rel_error": worst, "min_gap_away_from_ref": control,
                                                        "seed": ctx.seed})


claim(
    id="SEED-S2-SURROGATE-GRADIENT-PROPERTY",
    title="Quiz: the IS surrogate's gradient at the reference policy is identical to the on-policy gradient",
    statement=r"\nabla_\theta\,\mathbb E_{s,a\sim\pi_{ref}}\Big[\frac{\pi_\theta(a|s)}{\pi_{ref}(a|s)}A^{\pi_{ref}}"
              r"(s,a)\Big]\Big|_{\theta=ref}=\nabla_\theta J(\theta)\big|_{\theta=ref}",
    source=Source(seed_citation(S2, "line 1 (repeated at line 16)"),
                  quote="A key mathematical property of this surrogate is that its gradient, when evaluated at the "
                        "reference policy (i.e., the policy used to collect the data), is identical to the true "
                        "on-policy policy gradient.", seed_file=S2),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(quiz_surrogate_gradient_exact, surr_grad_eq_symbolic),
    conventions=("surrogate as in TRPO eq. (3), states weighted by the reference policy's discounted visitation",),
    reading="Read as stated: a first-order property at the reference point only (it says nothing about other "
            "points). It holds.",
    uses=("SURR-GRAD-EQ",),
)


def _traj_is_objective_mp(traj: Any, z_ref: np.ndarray, returns: np.ndarray) -> Any:
    """theta -> E_{tau~ref}[(p_theta(tau)/p_ref(tau)) R(tau)] in mpmath (transition terms cancel in the ratio)."""
    s, a = traj.states[:, :-1].astype(np.int64), traj.actions.astype(np.int64)
    probs = [mp.mpf(float(x)) for x in traj.probs]
    lref = M.log_softmax(z_ref)

    def f(zm: list[list[Any]]) -> Any:
        lse = [mp.log(mp.fsum(mp.exp(v) for v in row)) for row in zm]
        total = mp.mpf(0)
        for k in range(len(probs)):
            lr = mp.fsum(zm[s[k, t]][a[k, t]] - lse[s[k, t]] - mp.mpf(float(lref[s[k, t], a[k, t]]))
                         for t in range(a.shape[1]))
            total += probs[k] * mp.exp(lr) * mp.mpf(float(returns[k]))
        return total

    return f


@check("high-precision")
def quiz_trajectory_form_high_precision(ctx: Context) -> Evidence:
    """Finite-horizon MDPs, every trajectory enumerated (H = 3): central differences in mpmath (40 digits,
    h = 1e-15) of the trajectory-level objective E_ref[(p_theta/p_ref) R] at theta = ref equal the exact
    finite-horizon policy gradient."""
    rng = ctx.rng()
    worst = 0.0
    with mp.workdps(40):
        for _ in range(2):
            mdp = M.random_mdp(rng, 2, 2, 0.9)
            z = rng.normal(size=(2, 2))
            traj = E.enumerate_trajectories(mdp, M.softmax(z), 3)
            f = _traj_is_objective_mp(traj, z, traj.discounted_returns())
            fd = central_difference(f, [[mp.mpf(float(v)) for v in row] for row in z], mp.mpf(10) ** -15)
            g = finite_horizon_gradient(mdp, z, 3)
            worst = max(worst, max(abs(float(fd[i][j]) - g[i, j]) for i in range(2) for j in range(2)))
    return Evidence("high-precision", bool(worst < 1e-12),
                    f"d/dtheta E_ref[(p_theta/p_ref) R] at theta = ref == grad J_H (max error {worst:.1e})",
                    {"max_abs_error": worst, "horizon": 3, "dps": 40, "seed": ctx.seed})


@check("exact")
def quiz_trajectory_form_exact(ctx: Context) -> Evidence:
    """Exact enumeration (H = 3, 4): at theta = ref the ratio is 1 and its gradient is grad log p_theta(tau), so the
    objective's gradient is E_ref[R grad log p(tau)] (score of the policy terms only); it equals the exact
    finite-horizon policy gradient."""
    rng = ctx.rng()
    worst = 0.0
    for i in range(4):
        H = 3 + i % 2
        mdp = M.random_mdp(rng, 2, 2, 0.9)
        z = rng.normal(size=(2, 2))
        pi = M.softmax(z)
        traj = E.enumerate_trajectories(mdp, pi, H)
        score = trajectory_scores(traj, pi).sum(axis=1)
        g_is = traj.expectation(traj.discounted_returns()[:, None] * score)
        g = finite_horizon_gradient(mdp, z, H).ravel()
        worst = max(worst, float(np.max(np.abs(g_is - g))) / max(1.0, float(np.max(np.abs(g)))))
    return Evidence("exact", bool(worst < 1e-12), f"E_ref[R grad log p_theta(tau)] == grad J_H (max rel {worst:.1e})",
                    {"max_rel_error": worst, "horizons": [3, 4], "seed": ctx.seed})


claim(
    id="SEED-S2-TRAJECTORY-SURROGATE-GRADIENT",
    title="Quiz: the trajectory-level IS objective's gradient at new = reference equals the on-policy gradient",
    statement=r"\nabla_\theta\,\mathbb E_{\tau\sim p_{ref}}\Big[\frac{p_\theta(\tau)}{p_{ref}(\tau)}R(\tau)\Big]"
              r"\Big|_{\theta=ref}=\mathbb E_{\tau\sim p_{ref}}[R(\tau)\nabla_\theta\log p_\theta(\tau)]_{\theta=ref}"
              r"=\nabla_\theta J(\theta)|_{\theta=ref}",
    source=Source(seed_citation(S2, "lines 18-19"),
                  quote="A critical property of this objective is that its gradient, when evaluated at the point where "
                        "the new policy is identical to the reference policy, is exactly equal to the standard "
                        "on-policy policy gradient.", seed_file=S2),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(quiz_trajectory_form_exact, quiz_trajectory_form_high_precision),
    conventions=("finite horizon H; R(tau) = sum_{t<H} gamma^t r_t; gradient w.r.t. tabular softmax logits",),
    reading="Read as stated, for the trajectory-level objective the item defines (it holds for every theta with "
            "this objective, not only at the reference point; the item claims the weaker statement).",
    uses=("PG-THEOREM",),
)


# --------------------------------------------------------------------------- S2: "divergence indicates a flaw"


def _one_step_gap(mdp: M.FiniteMDP, z0: np.ndarray, eta: float) -> float:
    """||grad L_{z0}(z1) - grad J(z1)||_inf after one exact gradient step z1 = z0 + eta grad J(z0)."""
    z1 = z0 + eta * G.policy_gradient(mdp, z0)
    return float(np.max(np.abs(G.surrogate_gradient(mdp, z1, z0) - G.policy_gradient(mdp, z1))))


@check("exact")
def seed_divergence_exact(ctx: Context) -> Evidence:
    """With the exact (verified) reference gradients -- no implementation flaw -- one gradient step on a generic
    2-state MDP (gamma = 0.9) makes grad L_{theta_old} and grad J differ, by an amount proportional to the step."""
    rng = ctx.rng()
    mdp = M.random_mdp(rng, 2, 2, 0.9)
    z0 = rng.normal(size=(2, 2))
    g1, g2 = _one_step_gap(mdp, z0, 0.5), _one_step_gap(mdp, z0, 0.05)
    at_old = float(np.max(np.abs(G.surrogate_gradient(mdp, z0, z0) - G.policy_gradient(mdp, z0))))
    return Evidence("exact", g1 < 1e-9, f"after one step (eta = 0.5) the gradients differ by {g1:.3g} (eta = 0.05: "
                    f"{g2:.3g}, ratio {g1 / g2:.2f} ~ linear); at theta_old they agree ({at_old:.1e})",
                    {"gap_eta_0.5": g1, "gap_eta_0.05": g2, "gap_at_theta_old": at_old, "seed": ctx.seed},
                    counterexample={"gap_after_one_step": g1})


@check("high-precision")
def seed_divergence_high_precision(ctx: Context) -> Evidence:
    """Independent of reference_impls: mpmath (50 digits) central differences of L_{theta_old} and of J at
    theta_1 = theta_old + e (a step in one logit) differ."""
    rng = ctx.rng()
    mdp = M.random_mdp(rng, 2, 2, 0.9)
    z0 = rng.normal(size=(2, 2))
    with mp.workdps(50):
        mm = MpMDP(mdp)
        z0m = mpf_array(z0)
        p_old = mm.softmax_policy(z0m)
        A_old, rho_old, J_old = mm.advantages(p_old), mm.visitation(p_old), mm.ret(p_old)

        def J(zz: list[list[Any]]) -> Any:
            return mm.ret(mm.softmax_policy(zz))

        def L(zz: list[list[Any]]) -> Any:
            pn = mm.softmax_policy(zz)
            return J_old + mp.fsum(rho_old[s] * pn[s][a] * A_old[s][a] for s in range(2) for a in range(2))

        z1 = [list(r) for r in z0m]
        z1[0][0] += mp.mpf("0.5")
        h = mp.mpf(10) ** -15
        gJ, gL = central_difference(J, z1, h), central_difference(L, z1, h)
        gap = max(abs(gJ[s][a] - gL[s][a]) for s in range(2) for a in range(2))
    return Evidence("high-precision", bool(gap < mp.mpf(10) ** -20), f"mpmath: gradients differ by {float(gap):.3g} "
                    "after the step", {"gap": float(gap), "dps": 50}, counterexample={"gap": float(gap)})


claim(
    id="SEED-S2-DIVERGENCE-FLAW",
    title="S2 (quiz distractor): gradients diverging after one update 'indicates a flaw in the implementation'",
    statement=r"\nabla_\theta L_{\theta_{old}}(\theta_1)\ne\nabla_\theta J(\theta_1)\ \Rightarrow\ \text{implementation"
              r" flaw}",
    source=Source(seed_citation(S2, "line 17"),
                  quote="In a policy optimization algorithm that uses an importance-sampled surrogate objective, a "
                        "developer observes that the gradient of the surrogate objective is identical to the on-policy "
                        "policy gradient at the start of an update step. However, after applying a single gradient "
                        "update to the policy parameters, the two gradients are no longer identical. This divergence "
                        "indicates a flaw in the algorithm's implementation.",
                  seed_file=S2),
    family=FAMILY,
    expected="refuted",
    kind="seed-statement",
    checks=(seed_divergence_exact, seed_divergence_high_precision),
    notes="For the per-state surrogate L_theta_old the agreement is first-order only: divergence after a step is "
          "expected. Only the exact trajectory-ratio surrogate keeps equal expected gradients at every theta; "
          "finite-sample estimates still differ by noise.",
)


@check("exact")
def divergence_corrected_exact(ctx: Context) -> Evidence:
    """Exact: ||grad L_{theta_old}(theta) - grad J(theta)|| = O(||theta - theta_old||) (ratio of gaps at eta and
    eta/10 within [8, 12]) and non-zero on generic 2-state MDPs; zero for bandits at every theta."""
    rng = ctx.rng()
    ratios = []
    for _ in range(4):
        mdp = M.random_mdp(rng, 2, 2, 0.9)
        z0 = rng.normal(size=(2, 2))
        ratios.append(_one_step_gap(mdp, z0, 1e-3) / _one_step_gap(mdp, z0, 1e-4))
    bandit = M.FiniteMDP(np.ones((1, 3, 1)), rng.normal(size=(1, 3)), np.ones(1), 0.0)
    zb = rng.normal(size=(1, 3))
    bandit_gap = _one_step_gap(bandit, zb, 2.0)
    ok = all(8 < r < 12 for r in ratios) and bandit_gap < 1e-13
    return Evidence("exact", bool(ok), f"gap ratios for a 10x smaller step: {[round(r, 2) for r in ratios]} (linear); "
                    f"bandit gap {bandit_gap:.1e}", {"ratios": ratios, "bandit_gap": bandit_gap, "seed": ctx.seed})


claim(
    id="SEED-S2-DIVERGENCE-FLAW-CORRECTED",
    title="Corrected: the gradients agree at theta_old only (first order); divergence after a step is expected",
    statement=r"\nabla L_{\theta_{old}}(\theta)-\nabla J(\theta)=O(\|\theta-\theta_{old}\|)\ne0\ \text{in general; }"
              r"=0\ \forall\theta\ \text{for the trajectory-IS surrogate (in expectation) and for bandits}",
    source=Source("Schulman et al. (2015) TRPO, eqs. (3)-(4)"),
    family=FAMILY,
    expected="verified",
    kind="correction",
    corrects="SEED-S2-DIVERGENCE-FLAW",
    checks=(divergence_corrected_exact, surr_grad_eq_finite_differences),
    uses=("SURR-GRAD-EQ",),
)
