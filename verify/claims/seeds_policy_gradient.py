"""The surrogate-gradient quiz's (seed 002) correct statements -- its first and third items -- judged under the
reading rule. Registers into ``policy-gradient``."""

from __future__ import annotations

from typing import Any

import mpmath as mp
import numpy as np

from reference_impls import enumeration as E
from reference_impls import gradients as G
from reference_impls import mdp as M
from verify.claims.policy_gradient import finite_horizon_gradient, surr_grad_eq_symbolic, trajectory_scores
from verify.harness import check
from verify.highprec import central_difference
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

FAMILY = "policy-gradient"
S2 = "002_b2d5f747b44654f0.txt"


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
