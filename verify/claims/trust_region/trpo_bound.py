"""TRPO's lower bound (TRPO-BOUND), the proxy lower bound / minorizer statements of seed 001 and seed 000's lower
bound, with the escape-chain figure.
"""

from __future__ import annotations

from typing import Any

import mpmath as mp
import numpy as np
import sympy as sp

from reference_impls import gradients as G
from reference_impls import mdp as M
from verify import fixtures
from verify.claims.policy_gradient._common import _scale, sympy_eval
from verify.claims.trust_region import _common
from verify.claims.trust_region._common import (
    CONV_A,
    CONV_RHO,
    CONV_TV,
    DPS,
    FAMILY,
    S1,
    _mp_policy,
    _mutation_figures,
    _smoothed_escape,
    exact_gap,
    kl_rows,
    kl_rows_near,
    mixture_cases,
    mp_bound_ratios,
    mp_escape_chain,
    surrogate_gain,
    sympy_escape_chain,
    tv_rows,
)
from verify.claims.trust_region.surrogate import surr_error_property
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.highprec import MpMDP
from verify.registry import Context, Evidence, Source, claim, plot
from verify.seeds import seed_citation

# =========================================================================== TRPO-BOUND


@check("property")
def trpo_property(ctx: Context) -> Evidence:
    """Hypothesis MDPs and policy pairs: eq. (44) two-sided, eq. (8), eq. (9) with max_s KL(old||new);
    the search targets the eq. (44) ratio. The gap uses the exact identity, cross-checked against the
    reference surrogate where alpha is not tiny."""
    c44, c8, c9 = _common.BOUND_SCALE["TRPO-44"], _common.BOUND_SCALE["TRPO-8"], _common.BOUND_SCALE["TRPO-9"]
    worst = {"eq44": 0.0, "eq8": 0.0, "eq9": 0.0}

    def body(x: tuple[Any, ...]) -> float:
        mdp, old, new, other, a, diff = x
        g = mdp.gamma
        gap = exact_gap(mdp, old, new, diff)
        if a >= 1e-2:
            direct = M.expected_return(mdp, new) - G.surrogate(mdp, np.log(new), np.log(old))
            if abs(direct - gap) > 1e-9 * _scale(mdp):
                raise Violation("reference surrogate disagrees with the exact identity", direct=direct, identity=gap)
        alpha = float(np.max(a * tv_rows(other, old)))
        eps = float(np.max(np.abs(M.advantages(mdp, old))))
        kl_max = float(np.max(kl_rows_near(old, diff)[0]))  # old-to-new, cancellation-free
        pen44 = c44 * 4 * alpha**2 * g * eps / ((1 - g) * (1 - g * (1 - alpha)))
        pen8 = c8 * 4 * eps * g * alpha**2 / (1 - g) ** 2
        pen9 = c9 * 4 * eps * g / (1 - g) ** 2 * kl_max
        tol = 1e-12 * _scale(mdp) * max(alpha**2, 1e-300)
        if abs(gap) > pen44 + tol:
            raise Violation(f"|eta - L| = {abs(gap):.6g} > eq.44 penalty {pen44:.6g}", alpha=alpha, gamma=g)
        if -gap > pen8 + tol:
            raise Violation(f"eta - L = {gap:.6g} < -eq.8 penalty {pen8:.6g}", alpha=alpha, gamma=g)
        if -gap > pen9 + tol:
            raise Violation(f"eta - L = {gap:.6g} < -eq.9 penalty {pen9:.6g}", kl_max=kl_max, gamma=g)
        r44 = abs(gap) / pen44 if pen44 > 0 else 0.0
        worst["eq44"] = max(worst["eq44"], r44)
        worst["eq8"] = max(worst["eq8"], -gap / pen8 if pen8 > 0 else 0.0)
        worst["eq9"] = max(worst["eq9"], -gap / pen9 if pen9 > 0 else 0.0)
        return r44

    ev = property_evidence(ctx, mixture_cases(), body, summary="TRPO Theorem 1 (eqs. 8, 44, 9) on hypothesis MDPs")
    ev.figures.update({f"worst_ratio_{k}": v for k, v in worst.items()})
    ev.figures["tightness"] = ("eq. (44): pinned by the 3-state fixture (ratio 0.89989); eqs. (8) and (9): validity "
                               "checked, tightness NOT claimed (best ratios found: worst_ratio_eq8, worst_ratio_eq9)")
    return ev


@check("high-precision")
def trpo_fixtures(ctx: Context) -> Evidence:
    """mpmath: escape chain eq. (44) ratio exactly 1/2 and eq. (8) ratio (1-g)/(2(1-g(1-alpha)));
    the 3-state instance reaches eq. (44) ratio 0.89989 (alpha = 1/2); eq. (44) with 0.85 x its
    constant is violated there."""
    c44 = _common.BOUND_SCALE["TRPO-44"]
    with mp.workdps(DPS):
        mm, old, new, _ = mp_escape_chain(mp.mpf(9) / 10, mp.mpf(1) / 1000)
        ec = mp_bound_ratios(mm, old, new)
        mdp, pi, pi_new = fixtures.trpo_eq44_instance()
        inst = mp_bound_ratios(MpMDP(mdp), _mp_policy(pi), _mp_policy(pi_new))
        ec44 = ec["TRPO-44"] / c44
        ec8 = ec["TRPO-8"] / _common.BOUND_SCALE["TRPO-8"]
        expect8 = mp.mpf("0.1") / (2 * (1 - mp.mpf("0.9") * (1 - mp.mpf("0.001"))))
        inst44 = inst["TRPO-44"] / c44
    figs: dict[str, Any] = {"escape_chain_eq44_ratio": float(ec44), "escape_chain_eq8_ratio": float(ec8),
            "escape_chain_eq8_closed_form": float(expect8), "fixture_ratio": float(inst44),
            "instance_eq8_ratio": float(inst["TRPO-8"]), "instance_alpha": float(inst["alpha"]),
            "instance_eps": float(inst["eps_max"]), "gamma": 0.9, "dps": DPS}
    figs["mutation"] = _mutation_figures("TRPO-44", float(inst44))
    ok = (abs(ec["TRPO-44"] - mp.mpf(1) / 2) < mp.mpf(10) ** -40 and abs(ec["TRPO-8"] - expect8) < mp.mpf(10) ** -40
          and ec44 <= 1 and ec8 <= 1 and inst44 <= 1 and abs(float(inst["TRPO-44"]) - 0.89989) < 5e-5
          and figs["mutation"]["mutation_detected"])
    return Evidence("high-precision", bool(ok), "eq. (44) ratio 1/2 on the escape chain, 0.89989 on the 3-state "
                    "instance; 0.85 x constant violated there", figs)


@check("symbolic")
def trpo_symbolic(ctx: Context) -> Evidence:
    """sympy, escape chain: |eta - L| / eq.(44) penalty == 1/2 identically (alpha = max TV, eps = max|A|)."""
    E = sympy_escape_chain()
    g, a = E["g"], E["a"]
    eps = sp.Max(*[sp.Abs(sp.simplify(E["A_old"][s][k])) for s in range(2) for k in range(2)])
    eps = sp.simplify(eps)
    pen44 = 4 * a**2 * g * eps / ((1 - g) * (1 - g * (1 - a)))
    return symbolic_evidence(-E["gap"] / pen44 - sp.Rational(1, 2), "escape chain: eq. (44) ratio = 1/2",
                             eps=str(eps))


claim(
    id="TRPO-BOUND",
    title="TRPO Theorem 1: eq. (8), the sharper eq. (44), and the KL form eq. (9)",
    statement=r"|\eta(\tilde\pi)-L_\pi(\tilde\pi)|\le\tfrac{4\alpha^2\gamma\epsilon}{(1-\gamma)(1-\gamma(1-\alpha))}"
              r"\le\tfrac{4\epsilon\gamma}{(1-\gamma)^2}\alpha^2,\ \eta(\tilde\pi)\ge L_\pi(\tilde\pi)-"
              r"\tfrac{4\epsilon\gamma}{(1-\gamma)^2}D_{KL}^{\max}(\pi,\tilde\pi),\ \alpha=D_{TV}^{\max},\ "
              r"\epsilon=\max_{s,a}|A_\pi(s,a)|",
    source=Source("Schulman et al. (2015) TRPO, Theorem 1 eq. (8), App. A eq. (44), eq. (9)"),
    family=FAMILY,
    expected="verified",
    checks=(trpo_property, trpo_fixtures, trpo_symbolic),
    conventions=(CONV_TV, CONV_A, "D_KL^max = max_s KL(pi_old(.|s) || pi_new(.|s)) (old-to-new)", CONV_RHO),
    uses=("SURR-APPROX-ERROR", "PINSKER"),
    notes="Eq. (9) uses D_TV^2 <= D_KL (Pollard), weaker than sharp Pinsker D_TV^2 <= D_KL/2, so C = 4 eps gamma/"
          "(1-gamma)^2 is valid but loose by >= 2 from that step alone. Reading alpha as L1 makes the bound 4x looser; "
          "reading 'TV' as L1 while computing alpha as 1/2 L1 would wrongly tighten it 4x. Eqs. (8) and (9) are "
          "checked for validity only, without a tightness claim: no instance found here has an eq. (8) ratio above "
          "~0.5 (the escape chain's (1-g)/(2(1-g(1-alpha))) -> 1/2) or an eq. (9) ratio above ~0.25 (Pollard's "
          "step alone loses 2), so constants shrunk to x0.5 and x0.25 would still pass; the best ratios found are "
          "the figures `worst_ratio_eq8` and `worst_ratio_eq9`. Eq. (44) is pinned (ratio 0.89989 on a fixture).",
)


# --------------------------------------------------------------------------- S1 surrogate approximation


@check("exact")
def seed_surr_approx_exact(ctx: Context) -> Evidence:
    """At theta' = theta the slide's right side is E[sum_t gamma^t A(s_t, a_t)] + O(0) = 0 exactly (E_pi A = 0),
    so it claims J(theta) ~ 0; on random MDPs J(theta) is O(1): the left side must be J(theta') - J(theta)."""
    rng = ctx.rng()
    rows = []
    for _ in range(3):
        mdp = M.random_mdp(rng, 3, 2, 0.9, reward_range=(0.0, 1.0))
        pi = M.softmax(rng.normal(size=(3, 2)))
        rhs = float(M.visitation(mdp, pi) @ np.sum(pi * M.advantages(mdp, pi), axis=1))  # eps = 0: no error term
        rows.append({"J": M.expected_return(mdp, pi), "rhs_at_theta_prime_eq_theta": rhs})
    bad = [r for r in rows if abs(r["J"] - r["rhs_at_theta_prime_eq_theta"]) > 1e-6]
    return Evidence("exact", not bad, "slide's approximation at theta' = theta gives 0 for J(theta) = "
                    f"{rows[0]['J']:.4f}: the left side must be J(theta') - J(theta) (and a sum over t is missing)",
                    {"rows": rows, "seed": ctx.seed}, counterexample=bad[0] if bad else None)


@check("symbolic")
def seed_surr_approx_symbolic(ctx: Context) -> Evidence:
    """sympy, 2-state MDP, symbolic policy: J - sum_s rho(s) sum_a pi A is not identically 0 (it equals J)."""
    from verify.claims.policy_gradient._common import sympy_two_state_mdp

    p0, p1 = sp.symbols("p0 p1", positive=True)
    pi = [[p0, 1 - p0], [p1, 1 - p1]]
    ev = sympy_eval(sympy_two_state_mdp(), pi)
    rhs = sum(ev["rho"][s] * sum(pi[s][a] * ev["A"][s][a] for a in range(2)) for s in range(2))
    return symbolic_evidence(sp.cancel(sp.together(ev["J"] - rhs)),
                             "J(theta) = E[sum_t gamma^t ratio A] at theta' = theta (slide, error term 0)")


claim(
    id="SEED-S1-SURROGATE-APPROX",
    title="S1: 'J(theta')|_theta ~ E[ratio gamma^t A] + O(2 t eps r_max/(1-gamma))'",
    statement=r"J(\theta')|_\theta\approx\mathbb{E}_{s_t\sim p_\theta,a_t\sim\pi_\theta}\big[\tfrac{\pi_{\theta'}}"
              r"{\pi_\theta}\gamma^tA^{\pi_\theta}(s_t,a_t)\big]+O\big(\tfrac{2t\epsilon r_{max}}{1-\gamma}\big)",
    source=Source(seed_citation(S1, "line 420 (boxed again at line 436)"),
                  quote=r"$$J(\theta')|_{\theta} \approx \mathbb{E}_{s_t \sim p_{\theta}, a_t \sim "
                        r"\pi_{\theta}(a_t|s_t)} \left[\frac{\pi_{\theta'}(a_t|s_t)}{\pi_{\theta}(a_t|s_t)} "
                        r"\gamma^t A^{\pi_{\theta}}(s_t, a_t) \right] + O(\frac{2t\epsilon r_{max}}{1 - \gamma})$$",
                  seed_file=S1),
    family=FAMILY,
    expected="refuted",
    kind="seed-statement",
    checks=(seed_surr_approx_exact, seed_surr_approx_symbolic),
    notes="Also: the sum over t is missing and the error term has a free t (Levine's form subtracts "
          "sum_t 2 eps t C).",
)


claim(
    id="SEED-S1-SURROGATE-APPROX-CORRECTED",
    title="Corrected: J(theta') - J(theta) = L - J(theta) + O(alpha^2), with TRPO eq. (44) as the rigorous error",
    statement=r"J(\theta')-J(\theta)=\sum_s\rho_\theta(s)\sum_a\pi_{\theta'}(a|s)A^{\pi_\theta}(s,a)+E,\ "
              r"|E|\le\tfrac{4\alpha^2\gamma\epsilon}{(1-\gamma)(1-\gamma(1-\alpha))}",
    source=Source("TRPO (Schulman et al. 2015) eq. (3) and App. A eq. (44); CPO Corollary 1"),
    family=FAMILY,
    expected="verified",
    kind="correction",
    corrects="SEED-S1-SURROGATE-APPROX",
    checks=(trpo_fixtures, trpo_symbolic, surr_error_property),
    conventions=(CONV_TV, CONV_A, CONV_RHO),
    uses=("TRPO-BOUND", "SURR-APPROX-ERROR"),
)


@check("exact")
def seed_proxy_lower_bound_exact(ctx: Context) -> Evidence:
    """Escape chain (gamma = 0.9, eps = 1): L(new) > eta(new) for every alpha in (0, 1]; maximizing L over the
    mixture family picks alpha = 1, where J = eps(1-2 gamma)/(1-gamma) = -8 < J(old) = 0. Same with a
    full-support old policy (beta = 0.2)."""
    rows = []
    for a in (0.01, 0.1, 0.5, 1.0):
        ec = fixtures.escape_chain(0.9, a)
        diff = a * (ec.pi_other - ec.pi_old)
        L = M.expected_return(ec.mdp, ec.pi_old) + surrogate_gain(ec.mdp, ec.pi_old, diff)
        eta = M.expected_return(ec.mdp, ec.pi_new)
        rows.append({"alpha": a, "L": L, "eta": eta, "L_minus_eta": -exact_gap(ec.mdp, ec.pi_old, ec.pi_new, diff)})
    argmax = max(rows, key=lambda r: r["L"])
    m, old, new, diff = _smoothed_escape(0.2, 0.3)
    smooth = {"beta": 0.2, "alpha": 0.3, "L": M.expected_return(m, old) + surrogate_gain(m, old, diff),
              "eta": M.expected_return(m, new), "J_old": M.expected_return(m, old)}
    not_lower = [r for r in rows if r["L"] > r["eta"]]
    ec0 = fixtures.escape_chain(0.9, 0.0)
    worse = argmax["eta"] < M.expected_return(ec0.mdp, ec0.pi_old)
    passed = not not_lower and not worse and smooth["L"] <= smooth["eta"]
    return Evidence("exact", passed,
                    f"L exceeds eta at every alpha (alpha=0.1: L - eta = {rows[1]['L_minus_eta']:.4f}); the proxy's "
                    f"argmax alpha=1 gives J = {argmax['eta']:.3f} < J(old) = 0",
                    {"rows": rows, "proxy_argmax": argmax, "full_support_case": smooth},
                    counterexample={"alpha": 0.1, "L": rows[1]["L"], "eta": rows[1]["eta"]})


@check("symbolic")
def seed_proxy_lower_bound_symbolic(ctx: Context) -> Evidence:
    """sympy: on the escape chain eta - L = -2 g alpha^2 eps/((1-g)(1-g(1-alpha))) < 0; at gamma = 9/10,
    alpha = 1/10, eps = 1 it is exactly -18/19."""
    E = sympy_escape_chain()
    val = sp.nsimplify(E["gap"].subs({E["g"]: sp.Rational(9, 10), E["a"]: sp.Rational(1, 10), E["e"]: 1}))
    return Evidence("symbolic", bool(val >= 0), f"eta - L = {val} < 0 exactly: the proxy is not a lower bound",
                    {"eta_minus_L": str(val), "closed_form": str(sp.factor(E["gap"]))},
                    counterexample={"gamma": "9/10", "alpha": "1/10", "eps": 1, "eta_minus_L": str(val)})


claim(
    id="SEED-S1-PROXY-LOWER-BOUND",
    title="S1: 'This proxy objective is also a lower bound, optimizing this optimizes the original objective.'",
    statement=r"L_\theta(\theta')\le J(\theta')\ \text{for all }\theta'\ \text{and}\ \arg\max L\ \text{improves}\ J",
    source=Source(seed_citation(S1, "line 422 (repeated at line 438)"),
                  quote="This proxy objective is also a lower bound, optimizing this optimizes the original objective.",
                  seed_file=S1),
    family=FAMILY,
    expected="refuted",
    kind="seed-statement",
    checks=(seed_proxy_lower_bound_exact, seed_proxy_lower_bound_symbolic),
    notes="Only the proxy minus the penalty (TRPO eq. 8-10, CPO Cor. 1) is a lower bound (a minorizer, MM).",
)


@check("property")
def minorizer_property(ctx: Context) -> Evidence:
    """Hypothesis MDPs/pairs: M(new) = L(new) - C max_s KL(old||new) <= eta(new), M(old) = eta(old)
    (reference surrogate), and the MM step argmax over {old} u {mixtures} of M never decreases eta."""
    worst = [0.0]

    def body(x: tuple[Any, ...]) -> float:
        mdp, old, _new, other, _a, _d = x
        g = mdp.gamma
        eps = float(np.max(np.abs(M.advantages(mdp, old))))
        C = 4 * eps * g / (1 - g) ** 2
        J_old = M.expected_return(mdp, old)
        if abs(G.surrogate(mdp, np.log(old), np.log(old)) - J_old) > 1e-10 * _scale(mdp):
            raise Violation("M(old) != eta(old)")
        best, best_val = old, J_old
        for a in (0.0, 1e-3, 1e-2, 0.05, 0.1, 0.3, 1.0):
            diff = a * (other - old)
            new = old + diff
            Lv = J_old + surrogate_gain(mdp, old, diff)
            Mv = Lv - C * float(np.max(kl_rows(old, new)))
            gap = exact_gap(mdp, old, new, diff)
            if Mv > Lv + gap + 1e-10 * _scale(mdp):
                raise Violation("minorizer above eta", alpha=a, M=Mv, eta=Lv + gap)
            if Mv > best_val:
                best, best_val = new, Mv
        improvement = M.expected_return(mdp, best) - J_old
        if improvement < -1e-10 * _scale(mdp):
            raise Violation("MM step decreased eta", improvement=improvement)
        worst[0] = max(worst[0], -improvement)
        return 0.0

    ev = property_evidence(ctx, mixture_cases(), body, summary="L - C KL_max is a minorizer touching at old; "
                           "maximizing it never decreases eta (TRPO eq. 10)")
    ev.figures["largest_decrease"] = worst[0]
    return ev


@check("high-precision")
def minorizer_escape_chain(ctx: Context) -> Evidence:
    """Escape chain in mpmath (gamma = 0.9, eps = 1): M_TV(alpha) = L - 4 eps g alpha^2/(1-g)^2 is maximized
    at alpha* = (1-g)/(8g); eta(alpha*) > eta(old) = 0 and M_TV <= eta on an alpha grid."""
    with mp.workdps(DPS):
        g = mp.mpf(9) / 10
        a_star = (1 - g) / (8 * g)
        worst = mp.mpf(-1)
        for a in [a_star, mp.mpf(1) / 100, mp.mpf(1) / 10, mp.mpf(1) / 2, mp.mpf(1)]:
            mm, old, new, _ = mp_escape_chain(g, a)
            L = mm.ret(old) + a * mp.fsum(mm.visitation(old)[s] * mm.advantages(old)[s][1] for s in range(1))
            Mv = L - 4 * g * a**2 / (1 - g) ** 2
            worst = max(worst, Mv - mm.ret(new))
        mm, old, new, _ = mp_escape_chain(g, a_star)
        gain = mm.ret(new) - mm.ret(old)
    ok = worst <= 0 and gain > 0
    return Evidence("high-precision", bool(ok),
                    f"MM step alpha* = {float(a_star):.5f} improves eta by {float(gain):.4g}; "
                    "the penalized proxy stays below eta", {"alpha_star": float(a_star), "eta_gain": float(gain),
                                                           "max_M_minus_eta": float(worst), "dps": DPS})


claim(
    id="SEED-S1-PROXY-LOWER-BOUND-CORRECTED",
    title="Corrected: the proxy minus the KL (or TV^2) penalty is a minorizer; maximizing it improves J",
    statement=r"M_i(\pi)=L_{\pi_i}(\pi)-C\,D_{KL}^{\max}(\pi_i,\pi)\le\eta(\pi),\ M_i(\pi_i)=\eta(\pi_i)\Rightarrow"
              r"\eta(\arg\max M_i)\ge\eta(\pi_i),\ C=\tfrac{4\epsilon\gamma}{(1-\gamma)^2}",
    source=Source("TRPO (Schulman et al. 2015) eqs. (9)-(10) (minorization-maximization)"),
    family=FAMILY,
    expected="verified",
    kind="correction",
    corrects="SEED-S1-PROXY-LOWER-BOUND",
    checks=(minorizer_property, minorizer_escape_chain),
    conventions=("D_KL^max old-to-new", CONV_A),
    uses=("TRPO-BOUND",),
)


# =========================================================================== plot


@plot(FAMILY, "trust-region-escape-chain-bounds",
      "Escape chain E(gamma=0.9, alpha, eps=1): the exact surrogate error |eta - L| (mpmath, 50 digits) against "
      "the penalties of TRPO eq. (8), TRPO eq. (44), CPO Corollary 1 and the unsimplified Kakade-Langford (CPI) "
      "bound, as functions of the mixing weight alpha (= max and mean TV). CPI coincides with the actual gap; "
      "CPO Cor. 1 approaches it as alpha -> 0; TRPO eq. (44) stays exactly 2x above it.")
def escape_chain_bound_plot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    alphas = np.logspace(-4, np.log10(0.5), 25)
    series: dict[str, list[float]] = {"actual": [], "TRPO-8": [], "TRPO-44": [], "CPO-COR1": [], "CPI": []}
    with mp.workdps(DPS):
        for a in alphas:
            mm, old, new, other = mp_escape_chain(mp.mpf(9) / 10, mp.mpf(float(a)))
            r = mp_bound_ratios(mm, old, new, other)
            series["actual"].append(float(abs(r["gap"])))
            for k in ("TRPO-8", "TRPO-44", "CPO-COR1", "CPI"):
                series[k].append(float(r["penalties"][k]))
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot(1, 1, 1)
    styles = {"TRPO-8": ("TRPO eq. (8)", "-", "tab:red"), "TRPO-44": ("TRPO eq. (44)", "--", "tab:orange"),
              "CPO-COR1": ("CPO Cor. 1", "-.", "tab:blue"), "CPI": ("CPI (unsimplified)", ":", "tab:green")}
    for k, (lab, ls, col) in styles.items():
        ax.loglog(alphas, series[k], ls, color=col, label=lab, linewidth=1.6)
    ax.loglog(alphas, series["actual"], "o", color="black", markersize=3.5, label=r"actual $|\eta - L|$ (exact)")
    ax.set_xlabel(r"mixing weight $\alpha$ (max TV = mean TV, dimensionless)")
    ax.set_ylabel("surrogate gap or penalty (reward units)")
    ax.set_title(r"Escape chain, $\gamma$ = 0.9, $\epsilon$ = 1: bounds against the exact gap")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
