"""The KL's second-order (Fisher) model (KL-FISHER-2ND-ORDER), the slides' versions of it, and the Gaussian
"small parameter steps != small policy updates" example.
"""

from __future__ import annotations

import functools
import math
import zlib
from typing import Any

import mpmath as mp
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import gradients as G
from reference_impls import mdp as M
from reference_impls import trust_region as T
from verify import strategies as vst
from verify.claims.trust_region._common import DPS, FAMILY, S1
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.highprec import MpMDP, mpf_array
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

# =========================================================================== KL-FISHER-2ND-ORDER


@functools.lru_cache(maxsize=1)
def _kl_series() -> dict[str, Any]:
    """Series in h of both KL directions between softmax(z) and softmax(z + h v), p = (1/2, 1/3, 1/6)."""
    h = sp.symbols("h")
    v = sp.symbols("v0:3")
    p = [sp.Rational(1, 2), sp.Rational(1, 3), sp.Rational(1, 6)]
    Z = sum(p[i] * sp.exp(h * v[i]) for i in range(3))
    m1 = sum(p[i] * v[i] for i in range(3))
    k2 = sum(p[i] * (v[i] - m1) ** 2 for i in range(3))
    k3 = sum(p[i] * (v[i] - m1) ** 3 for i in range(3))
    fwd = -h * m1 + sp.log(Z)  # KL(p || p_h)
    rev = h * sum(p[i] * sp.exp(h * v[i]) * v[i] for i in range(3)) / Z - sp.log(Z)  # KL(p_h || p)
    sf = sp.expand(sp.series(fwd, h, 0, 4).removeO())
    sr = sp.expand(sp.series(rev, h, 0, 4).removeO())
    # vF v with the softmax Fisher diag(p) - p p^T
    Fq = sum(p[i] * v[i] ** 2 for i in range(3)) - m1**2
    return {"h": h, "sf": sf, "sr": sr, "k2": k2, "k3": k3, "vFv": Fq}


@check("symbolic")
def kl_fisher_symbolic(ctx: Context) -> Evidence:
    """sympy: KL(p||p_{z+hv}) = 1/2 v^T(diag p - pp^T)v h^2 + k3/6 h^3 + ..., KL(p_{z+hv}||p) has the same
    h^2 term and k3/3 h^3; no h^0, h^1 terms (k3 = third central moment of v under p)."""
    S = _kl_series()
    h, sf, sr = S["h"], S["sf"], S["sr"]
    terms = [sf.coeff(h, 0), sf.coeff(h, 1), sr.coeff(h, 0), sr.coeff(h, 1),
             sf.coeff(h, 2) - S["vFv"] / 2, sr.coeff(h, 2) - S["vFv"] / 2,
             sf.coeff(h, 3) - S["k3"] / 6, sr.coeff(h, 3) - S["k3"] / 3]
    return symbolic_evidence(sum(sp.expand(t) ** 2 for t in terms),
                             "KL series: h^2 coefficient 1/2 v^T F v (both directions), h^3: k3/6 vs k3/3")


@check("property")
def kl_fisher_property(ctx: Context) -> Evidence:
    """Hypothesis MDPs: the reference fisher_matrix equals the definition E_{s~d,a~pi}[grad log pi grad log pi^T]
    (outer products) and the central second difference of the reference mean KL at Delta = 0."""
    worst = [0.0, 0.0]

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[Any, ...]:
        m = draw(vst.finite_mdps(gamma=st.sampled_from((0.0, 0.5, 0.9))))
        return m, draw(vst.logits(m.n_states, m.n_actions, bound=2.0))

    def body(x: tuple[Any, ...]) -> float:
        mdp, z = x
        S, A = z.shape
        F = G.fisher_matrix(mdp, z)
        pi = M.softmax(z)
        d = M.occupancy(mdp, pi)
        F_def = np.zeros((S * A, S * A))
        for s in range(S):
            for a in range(A):
                score = np.zeros(S * A)
                score[s * A:(s + 1) * A] = np.eye(A)[a] - pi[s]
                F_def += d[s] * pi[s, a] * np.outer(score, score)
        e1 = float(np.max(np.abs(F - F_def)))
        # Hessian of mean KL by central second differences along random directions
        rng = np.random.default_rng(zlib.crc32(z.tobytes()))
        e2 = 0.0
        h = 1e-4
        for _ in range(3):
            v = rng.normal(size=(S, A))
            kp = T.mean_kl(mdp, z, z + h * v)
            km = T.mean_kl(mdp, z, z - h * v)
            quad = float(v.ravel() @ F @ v.ravel())
            e2 = max(e2, abs((kp + km) / h**2 - quad) / max(1.0, abs(quad)))
        worst[0], worst[1] = max(worst[0], e1), max(worst[1], e2)
        if e1 > 1e-12 or e2 > 1e-5:
            raise Violation("Fisher mismatch", definition_error=e1, hessian_error=e2)
        return e2

    ev = property_evidence(ctx, strat(), body, summary="fisher_matrix = E[score score^T] = Hessian of mean KL",
                           target_label="hessian_error")
    ev.figures.update({"max_definition_error": worst[0], "max_hessian_fd_error": worst[1], "fd_step": 1e-4})
    return ev


@check("high-precision")
def kl_fisher_high_precision(ctx: Context) -> Evidence:
    """mpmath (50 digits): mean KL(old||old+t v) / (1/2 t^2 v^T F v) - 1 = O(t): |deviation| / t stays bounded
    as t = 1e-2 ... 1e-5 shrinks (and the deviation tends to 0), on random MDPs with the reference Fisher."""
    rng = ctx.rng()
    rows = []
    ok = True
    with mp.workdps(DPS):
        for _ in range(3):
            mdp = M.random_mdp(rng, 3, 3, 0.9)
            z = rng.normal(size=(3, 3))
            v = rng.normal(size=(3, 3))
            F = G.fisher_matrix(mdp, z)
            quad = mp.mpf(float(v.ravel() @ F @ v.ravel()))
            mm = MpMDP(mdp)
            zm, vm = mpf_array(z), mpf_array(v)
            p = mm.softmax_policy(zm)
            rho = mm.visitation(p)
            dist = [(1 - mm.gamma) * r for r in rho]
            devs = []
            for k in range(2, 6):
                t = mp.mpf(10) ** -k
                q = mm.softmax_policy([[zm[s][a] + t * vm[s][a] for a in range(3)] for s in range(3)])
                kl = mp.fsum(dist[s] * p[s][a] * mp.log(p[s][a] / q[s][a]) for s in range(3) for a in range(3))
                devs.append(kl / (t**2 * quad / 2) - 1)
            slopes = [float(devs[i] / devs[i + 1]) for i in range(len(devs) - 1)]
            # O(t): |dev(t)| / t stays bounded (constant when the cubic term is generic, shrinking when it
            # happens to vanish); a wrong quadratic constant would make |dev| / t grow 10x per decade.
            per_t = [float(abs(devs[i]) * mp.mpf(10) ** (i + 2)) for i in range(len(devs))]
            rows.append({"deviation_at_t": [float(x) for x in devs], "successive_ratio": slopes,
                         "abs_deviation_over_t": per_t})
            ok = ok and max(per_t[1:]) <= 1.5 * per_t[0] + 1e-9 and abs(devs[-1]) < 1e-3
    return Evidence("high-precision", bool(ok), "KL/(1/2 Delta^T F Delta) - 1 = O(|Delta|) (linear decay; "
                    "float64 Fisher is accurate to ~1e-16, far below the deviations)", {"rows": rows, "dps": DPS})


claim(
    id="KL-FISHER-2ND-ORDER",
    title="KL is 1/2 Delta^T F Delta to second order",
    statement=r"D_{KL}(\pi_\theta\|\pi_{\theta+\Delta})=\tfrac12\Delta^\top F(\theta)\Delta+O(\|\Delta\|^3),\ "
              r"F=\mathbb{E}_{s\sim d,a\sim\pi}[\nabla\log\pi\nabla\log\pi^\top]=\nabla^2_\Delta\,\overline{D}_{KL}|_0",
    source=Source("TRPO (Schulman et al. 2015) eq. (17) and App. C; exponential-family cumulant expansion"),
    family=FAMILY,
    expected="verified",
    checks=(kl_fisher_symbolic, kl_fisher_property, kl_fisher_high_precision),
    conventions=("mean KL under the normalized occupancy d of the old policy, old-to-new",
                 "Fisher row-major over logits[s, a]"),
    notes="Both KL directions share 1/2 Delta^T F Delta; the cubic terms differ (k3/6 vs k3/3).",
)


# --------------------------------------------------------------------------- S1 KL ~ ||Delta||_F^2 (no 1/2)


@check("symbolic")
def seed_kl_no_half_symbolic(ctx: Context) -> Evidence:
    """sympy: the h^2 coefficient of KL(p_{z+hv} || p_z) (the slide's direction) is 1/2 v^T F v, not v^T F v."""
    S = _kl_series()
    resid = sp.expand(S["sr"].coeff(S["h"], 2) - S["vFv"])
    out = symbolic_evidence(resid, "KL(pi_theta'||pi_theta) ~ (theta'-theta)^T F (theta'-theta) at second order")
    out.figures["exact_factor"] = "KL / (Delta^T F Delta) -> 1/2"
    return out


@check("high-precision")
def seed_kl_no_half_high_precision(ctx: Context) -> Evidence:
    """mpmath on a random MDP (reference Fisher): mean KL(new||old) / (Delta^T F Delta) = 0.5000x at |Delta| = 1e-6,
    so the slide's approximation is off by exactly a factor 2."""
    rng = ctx.rng()
    mdp = M.random_mdp(rng, 3, 3, 0.9)
    z, v = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    F = G.fisher_matrix(mdp, z)
    with mp.workdps(DPS):
        mm = MpMDP(mdp)
        zm, vm = mpf_array(z), mpf_array(v)
        p = mm.softmax_policy(zm)
        d = [(1 - mm.gamma) * r for r in mm.visitation(p)]
        t = mp.mpf(10) ** -6
        q = mm.softmax_policy([[zm[s][a] + t * vm[s][a] for a in range(3)] for s in range(3)])
        kl = mp.fsum(d[s] * q[s][a] * mp.log(q[s][a] / p[s][a]) for s in range(3) for a in range(3))
        ratio = kl / (t**2 * mp.mpf(float(v.ravel() @ F @ v.ravel())))
    passed = abs(ratio - 1) < 1e-3
    return Evidence("high-precision", bool(passed), f"KL / (Delta^T F Delta) = {float(ratio):.8f}: factor 1/2 missing",
                    {"ratio": float(ratio), "step": 1e-6, "dps": DPS, "seed": ctx.seed},
                    counterexample=None if passed else {"ratio": float(ratio)})


claim(
    id="SEED-S1-KL-FISHER-NO-HALF",
    title="S1: 'D_KL(pi_theta'||pi_theta) ~ ||pi_theta' - pi_theta||^2_{F_theta}'",
    statement=r"D_{KL}(\pi_{\theta'}\|\pi_\theta)\approx\|\pi_{\theta'}-\pi_\theta\|^2_{F_\theta}",
    source=Source(seed_citation(S1, "line 526 (again at line 619)"),
                  quote=r"subject to $D_{\mathrm{KL}}(\pi_{\theta'}||\pi_{\theta}) \approx ||\pi_{\theta'} - "
                        r"\pi_{\theta}||_{F_{\theta}}^{2} < \delta$",
                  seed_file=S1),
    family=FAMILY,
    expected="refuted",
    kind="seed-statement",
    checks=(seed_kl_no_half_symbolic, seed_kl_no_half_high_precision),
    conventions=("read with the norm on theta' - theta (F is a metric on parameters)",),
    notes="Exact factor: KL / ||theta'-theta||_F^2 -> 1/2. Read literally on probabilities the expression is "
          "ill-typed (F acts on parameters).",
)


claim(
    id="SEED-S1-KL-FISHER-NO-HALF-CORRECTED",
    title="Corrected: D_KL ~ 1/2 (theta'-theta)^T F (theta'-theta)",
    statement=r"D_{KL}(\pi_{\theta}\|\pi_{\theta+\Delta})=\tfrac12\Delta^\top F\Delta+O(\|\Delta\|^3)\ "
              r"(\text{either direction})",
    source=Source("TRPO (Schulman et al. 2015) eq. (17), App. C"),
    family=FAMILY,
    expected="verified",
    kind="correction",
    corrects="SEED-S1-KL-FISHER-NO-HALF",
    checks=(kl_fisher_symbolic, kl_fisher_high_precision),
    uses=("KL-FISHER-2ND-ORDER",),
)


@check("exact")
def seed_kl_norm_exact(ctx: Context) -> Evidence:
    """'||x-x_k||_F = (x-x_k)^T F (x-x_k)': with F = I, x - x_k = (2, 0) the norm is 2 and the quadratic form 4;
    and KL / (x-x_k)^T F (x-x_k) -> 1/2 (softmax, h = 1e-4), KL / ||x-x_k||_F -> 0."""
    d = np.array([2.0, 0.0])
    norm, quad = float(np.sqrt(d @ d)), float(d @ d)
    z = np.array([[0.3, -0.2, 0.5]])
    v = np.array([[1.0, 0.0, -1.0]])
    mdp = M.FiniteMDP(np.ones((1, 3, 1)), np.zeros((1, 3)), np.ones(1), 0.0)
    F = G.fisher_matrix(mdp, z)
    h = 1e-4
    kl = T.mean_kl(mdp, z, z + h * v)
    qf = float((h * v).ravel() @ F @ (h * v).ravel())
    return Evidence("exact", abs(norm - quad) < 1e-12 and abs(kl / qf - 1) < 1e-2,
                    f"norm {norm} != quadratic form {quad}; KL/quadratic form = {kl / qf:.5f} (1/2 missing); "
                    f"KL/norm_F = {kl / math.sqrt(qf):.2e}",
                    {"norm": norm, "quadratic_form": quad, "kl_over_quadratic_form": kl / qf,
                     "kl_over_norm": kl / math.sqrt(qf), "h": h},
                    counterexample={"x_minus_xk": d.tolist(), "F": "I", "norm": norm, "quadratic_form": quad})


claim(
    id="SEED-S1-KL-FISHER-NORM",
    title="S1: 'D_KL(x|x_k) ~ ||x - x_k||_F = (x - x_k)^T F (x - x_k)'",
    statement=r"D_{KL}(x|x_k)\approx\|x-x_k\|_F=(x-x_k)^\top F(x-x_k)",
    source=Source(seed_citation(S1, "line 567"),
                  quote=r"$$U_k := \{ x : D_{\mathrm{KL}}(x|x_k) \approx ||x - x_k||_F = (x - x_k)^T F(x - x_k) "
                        r"\le \Delta \},$$",
                  seed_file=S1),
    family=FAMILY,
    expected="refuted",
    kind="seed-statement",
    checks=(seed_kl_norm_exact, seed_kl_no_half_symbolic),
    notes="Two errors: a norm is confused with its square, and the 1/2 is missing.",
)


claim(
    id="SEED-S1-KL-FISHER-NORM-CORRECTED",
    title="Corrected: D_KL(x|x_k) ~ 1/2 ||x - x_k||_F^2 = 1/2 (x - x_k)^T F (x - x_k)",
    statement=r"D_{KL}\approx\tfrac12\|x-x_k\|_F^2=\tfrac12(x-x_k)^\top F(x-x_k),\ \|y\|_F=\sqrt{y^\top Fy}",
    source=Source("TRPO (Schulman et al. 2015) eq. (17), App. C"),
    family=FAMILY,
    expected="verified",
    kind="correction",
    corrects="SEED-S1-KL-FISHER-NORM",
    checks=(kl_fisher_symbolic, kl_fisher_property),
    uses=("KL-FISHER-2ND-ORDER",),
)


# =========================================================================== small parameter steps != small updates


def _gauss_tv_kl_closed(dmu: Any, sigma: Any) -> tuple[Any, Any]:
    """TV and KL between N(0, sigma^2) and N(dmu, sigma^2): 2 Phi(dmu / (2 sigma)) - 1 = erf(dmu / (2 sqrt 2 sigma))
    and dmu^2 / (2 sigma^2)."""
    return mp.erf(dmu / (2 * mp.sqrt(2) * sigma)), dmu**2 / (2 * sigma**2)


@check("high-precision")
def gaussian_example_high_precision(ctx: Context) -> Evidence:
    """mpmath (30 digits): TV = 1/2 int |p - q| and KL = int p log(p/q) by numerical quadrature for the slide's two
    cases (theta = (mu, sigma), Delta mu = 1, ||theta - theta'|| = 1): sigma = 0.3 gives TV 0.904, KL 5.56; sigma = 3
    gives TV 0.133, KL 0.0556 -- the same parameter step, a 100x different KL. Quadrature matches the closed forms."""
    rows = []
    worst = mp.mpf(0)
    with mp.workdps(30):
        for sigma in (mp.mpf("0.3"), mp.mpf(3)):
            p = lambda x, s=sigma: mp.npdf(x, 0, s)  # noqa: E731
            q = lambda x, s=sigma: mp.npdf(x, 1, s)  # noqa: E731
            lim = 1 + 12 * sigma
            tv = mp.quad(lambda x: abs(p(x) - q(x)), [-lim, mp.mpf(1) / 2, 1 + lim]) / 2
            kl = mp.quad(lambda x: p(x) * (mp.log(p(x)) - mp.log(q(x))), [-lim, 0, lim])
            tv_c, kl_c = _gauss_tv_kl_closed(mp.mpf(1), sigma)
            worst = max(worst, abs(tv - tv_c), abs(kl - kl_c) / kl_c)
            rows.append({"sigma": float(sigma), "param_step_norm": 1.0, "tv": float(tv), "kl": float(kl)})
    kl_ratio = rows[0]["kl"] / rows[1]["kl"]
    passed = worst < 1e-15 and abs(kl_ratio - 100) < 1e-9 and rows[0]["tv"] > 5 * rows[1]["tv"]
    return Evidence("high-precision", bool(passed),
                    f"same ||Delta theta|| = 1: TV {rows[0]['tv']:.4f} vs {rows[1]['tv']:.4f}, KL {rows[0]['kl']:.4f} "
                    f"vs {rows[1]['kl']:.4f} (ratio {kl_ratio:.1f})", {"rows": rows, "max_quadrature_vs_closed_form":
                                                                        float(worst), "dps": 30})


@check("symbolic")
def gaussian_example_symbolic(ctx: Context) -> Evidence:
    """sympy: KL(N(m, s^2) || N(m + d, s^2)) = d^2 / (2 s^2) by integration; at d = 1 the slide's two cases differ
    by the factor (3 / 0.3)^2 = 100 although ||Delta theta|| = 1 in both."""
    x = sp.Symbol("x", real=True)
    m, d = sp.symbols("m d", real=True)
    s = sp.Symbol("s", positive=True)
    p = sp.exp(-(x - m) ** 2 / (2 * s**2)) / sp.sqrt(2 * sp.pi * s**2)
    log_ratio = sp.expand((-(x - m) ** 2 + (x - m - d) ** 2) / (2 * s**2))
    kl = sp.simplify(sp.integrate(p * log_ratio, (x, -sp.oo, sp.oo)))
    ev = symbolic_evidence(sp.simplify(kl - d**2 / (2 * s**2)), "KL between equal-variance Gaussians = d^2/(2 s^2)")
    ratio = (kl.subs({d: 1, s: sp.Rational(3, 10)}) / kl.subs({d: 1, s: 3}))
    ev.figures["kl_ratio_sigma_0.3_vs_3"] = str(sp.nsimplify(ratio))
    if ev.passed and sp.nsimplify(ratio) != 100:
        ev.passed = False
    return ev


GAUSS_QUOTE = ("SMALL PARAMETER STEPS! = SMALL POLICY UPDATES. … Gaussian w/ mean (θ_1) and std (θ_2) : "
               r"$\|\theta - \theta'\| = 1$ for both cases … $$\Delta \mu = 1$$ , $\sigma_1 = \sigma_2 = 0.3$ … "
               r"$$\Delta \mu = 1$$ , $\sigma_1 = \sigma_2 = 3$")


claim(
    id="SEED-S1-GAUSSIAN-PARAM-STEP",
    title="S1: 'small parameter steps != small policy updates' (Gaussian, ||Delta theta|| = 1, sigma = 0.3 vs 3)",
    statement=r"\|\Delta\theta\|=1\ (\Delta\mu=1):\ D_{KL}=\tfrac{1}{2\sigma^2}=5.56\ (\sigma=0.3)\ \text{vs}\ 0.0556\ "
              r"(\sigma=3);\ D_{TV}=\operatorname{erf}\big(\tfrac{1}{2\sqrt2\sigma}\big)=0.904\ \text{vs}\ 0.133",
    source=Source(seed_citation(S1, "lines 447-458 ('KEEPING POLICY UPDATES CLOSE')"), quote=GAUSS_QUOTE,
                  seed_file=S1),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(gaussian_example_high_precision, gaussian_example_symbolic),
    conventions=("theta = (mean, std); the two cases share the step Delta mu = 1 and differ in sigma",
                 "TV = 1/2 L1; KL in nats, either direction (equal variances make it symmetric)"),
    reading="'! =' is read as 'not equal' (the slide's heading). The example asserts that one parameter distance can "
            "mean very different policy changes; it does: a 100-fold KL and a 7-fold TV difference.",
)
