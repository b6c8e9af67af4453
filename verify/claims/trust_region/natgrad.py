"""The KKT natural-gradient step (KKT-NATGRAD-STEP) and the slides' constrained-Newton recipe: d_k, the boundary,
the update and the Euclidean step.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import gradients as G
from reference_impls import mdp as M
from reference_impls import trust_region as T
from verify.claims.trust_region._common import FAMILY, S1
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

# =========================================================================== KKT-NATGRAD-STEP


#: Fixed rational instances (F symmetric positive definite by construction B B^T + I, g) for the
#: symbolic KKT checks; delta stays a positive symbol.
_KKT_INSTANCES = (
    ([[2, 1, 0], [1, 3, 1], [0, 1, 2]], [1, -2, 3]),
    ([[5, -2], [-2, 1]], [sp.Rational(1, 3), 4]),
    ([[1, sp.Rational(1, 2), sp.Rational(1, 3)], [sp.Rational(1, 2), 1, sp.Rational(1, 4)],
      [sp.Rational(1, 3), sp.Rational(1, 4), 1]], [7, 0, -1]),
)


@functools.lru_cache(maxsize=1)
def _kkt_symbolic() -> list[dict[str, Any]]:
    """KKT quantities for each rational instance, delta a positive symbol."""
    dl = sp.symbols("delta", positive=True)
    out = []
    for Fl, gl in _KKT_INSTANCES:
        F = sp.Matrix(Fl)
        g = sp.Matrix(gl)
        y = F.LUsolve(g)
        q = (g.T * y)[0]
        s = sp.sqrt(2 * dl / q) * y
        lam = sp.sqrt(q / (2 * dl))
        out.append({"F": F, "g": g, "y": y, "q": q, "s": s, "lam": lam, "delta": dl})
    return out


@check("symbolic")
def kkt_symbolic(ctx: Context) -> Evidence:
    """sympy, rational positive-definite F and g, symbolic delta: stationarity g - lambda F s = 0, the active
    constraint 1/2 s^T F s = delta, g^T s = sqrt(2 delta g^T F^-1 g), and maximality via Cauchy-Schwarz in the
    F-inner product: g^T u <= sqrt(g^T F^-1 g) sqrt(u^T F u) for symbolic u (the gap is a sum of squares)."""
    expr = sp.Integer(0)
    for K in _kkt_symbolic():
        F, g, s, lam, dl, q = K["F"], K["g"], K["s"], K["lam"], K["delta"], K["q"]
        stat = g - lam * F * s
        active = (s.T * F * s)[0] / 2 - dl
        model = (g.T * s)[0] - sp.sqrt(2 * dl * q)
        expr += sum(sp.simplify(e) ** 2 for e in stat) + sp.simplify(active) ** 2 + sp.simplify(model) ** 2
        # Lagrange identity: (g^T F^-1 g)(u^T F u) - (g^T u)^2 = sum of squares (F = L L^T, g = L w)
        u = sp.Matrix(sp.symbols(f"u0:{F.shape[0]}"))
        L = F.cholesky(hermitian=False)
        w = L.LUsolve(g)
        v = L.T * u
        lagrange = sum((w[i] * v[j] - w[j] * v[i]) ** 2 for i in range(len(w)) for j in range(i + 1, len(w)))
        expr += sp.expand(q * (u.T * F * u)[0] - (g.T * u)[0] ** 2 - lagrange) ** 2
    return symbolic_evidence(expr, "KKT on 3 rational instances (symbolic delta): stationarity, active constraint, "
                             "model improvement, maximality (Lagrange identity)", instances=len(_KKT_INSTANCES))


def _random_spd(rng: np.random.Generator, n: int, rank: int | None = None) -> np.ndarray:
    B = rng.normal(size=(n, rank or n))
    return B @ B.T + (0.1 * np.eye(n) if rank is None else 0.0)


@check("property")
def kkt_property(ctx: Context) -> Evidence:
    """reference natural_gradient_step on hypothesis SPD F and tabular-softmax (singular) Fishers:
    1/2 s^T F s = delta, g^T s = sqrt(2 delta g^T F^+ g), and no random feasible s' does better."""
    worst = [0.0]

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[Any, ...]:
        seed = draw(st.integers(0, 2**31 - 1))
        delta = draw(st.sampled_from((1e-4, 1e-2, 1.0)))
        kind = draw(st.sampled_from(("spd", "tabular")))
        return seed, delta, kind

    def body(x: tuple[Any, ...]) -> float:
        seed, delta, kind = x
        rng = np.random.default_rng(seed)
        if kind == "spd":
            n = int(rng.integers(1, 6))
            F = _random_spd(rng, n)
            g = rng.normal(size=n)
        else:
            mdp = M.random_mdp(rng, int(rng.integers(1, 4)), int(rng.integers(2, 4)), 0.9)
            z = rng.normal(size=(mdp.n_states, mdp.n_actions))
            F = G.fisher_matrix(mdp, z)
            g = G.policy_gradient(mdp, z).ravel()
        s = np.asarray(T.natural_gradient_step(g, F, delta)).ravel()
        q = float(g @ np.linalg.pinv(F, rcond=1e-10, hermitian=True) @ g)
        e_active = abs(0.5 * s @ F @ s - delta) / delta
        e_model = abs(g @ s - math.sqrt(2 * delta * q)) / max(math.sqrt(2 * delta * q), 1e-300)
        # random feasible competitors, scaled onto the constraint boundary
        best_other = -math.inf
        for _ in range(20):
            u = rng.normal(size=g.size)
            quad = 0.5 * u @ F @ u
            if quad > 1e-12:
                best_other = max(best_other, float(g @ (u * math.sqrt(delta / quad))))
        err = max(e_active, e_model)
        worst[0] = max(worst[0], err)
        if err > 1e-8:
            raise Violation("step is not the KKT solution", active_error=e_active, model_error=e_model, kind=kind)
        if best_other > g @ s * (1 + 1e-9) + 1e-12:
            raise Violation("a feasible step improves the model more", best_other=best_other, g_s=float(g @ s))
        return err

    ev = property_evidence(ctx, strat(), body, summary="natural_gradient_step is the KKT maximizer (SPD and singular "
                           "tabular Fishers)", target_label="error")
    ev.figures["max_relative_error"] = worst[0]
    return ev


def gaussian_kl_equal_cov(mu1: np.ndarray, mu2: np.ndarray, cov: np.ndarray) -> float:
    """KL(N(mu1, C) || N(mu2, C)) by the general Gaussian formula (trace, quadratic and log-det terms)."""
    k = len(mu1)
    Ci = np.linalg.inv(cov)
    dm = mu2 - mu1
    _, ld = np.linalg.slogdet(cov)
    return float(0.5 * (np.trace(Ci @ cov) + dm @ Ci @ dm - k + ld - ld))


@check("exact")
def kkt_gaussian(ctx: Context) -> Evidence:
    """Gaussian-mean family (KL exactly quadratic, F = C^-1): the reference step lands on KL = delta; the
    slide's D_k step (sqrt(delta/g^T F^-1 g) F^-1 g) on KL = delta/2 (sqrt 2 too short)."""
    rng = ctx.rng()
    worst, worst_slide = 0.0, 0.0
    for _ in range(10):
        n = int(rng.integers(1, 5))
        C = _random_spd(rng, n)
        F = np.linalg.inv(C)
        g = rng.normal(size=n)
        delta = float(rng.choice([1e-3, 1e-2, 0.5]))
        mu = rng.normal(size=n)
        s = np.asarray(T.natural_gradient_step(g, F, delta))
        kl = gaussian_kl_equal_cov(mu, mu + s, C)
        worst = max(worst, abs(kl / delta - 1))
        s_slide = math.sqrt(delta / float(g @ C @ g)) * (C @ g)
        worst_slide = max(worst_slide, abs(gaussian_kl_equal_cov(mu, mu + s_slide, C) / delta - 0.5))
    ok = worst < 1e-10 and worst_slide < 1e-10
    return Evidence("exact", bool(ok), "Gaussian-mean family: KL(step) = delta exactly; the slide's step gives delta/2",
                    {"max_relative_error_trpo_step": worst, "max_error_slide_ratio_vs_half": worst_slide,
                     "instances": 10, "seed": ctx.seed})


claim(
    id="KKT-NATGRAD-STEP",
    title="The natural-gradient (KKT) step of the linear/quadratic trust-region model",
    statement=r"\max_s g^\top s\ \text{s.t.}\ \tfrac12 s^\top Fs\le\delta:\ s^*=\sqrt{\tfrac{2\delta}{g^\top F^{-1}g}}"
              r"F^{-1}g,\ \lambda^*=\sqrt{\tfrac{g^\top F^{-1}g}{2\delta}},\ g^\top s^*=\sqrt{2\delta g^\top F^{-1}g}",
    source=Source("TRPO (Schulman et al. 2015) App. C; Nocedal & Wright (KKT conditions)"),
    family=FAMILY,
    expected="verified",
    checks=(kkt_symbolic, kkt_property, kkt_gaussian),
    conventions=("delta is a KL budget for the quadratic model 1/2 s^T F s (not a radius)",
                 "F^-1 = pseudo-inverse on range(F) for the singular tabular-softmax Fisher"),
    uses=("KL-FISHER-2ND-ORDER",),
)


# --------------------------------------------------------------------------- S1 KKT normalizations


def _gaussian_cases(rng: np.random.Generator, n_cases: int = 8) -> list[tuple[np.ndarray, np.ndarray, float]]:
    out = []
    for _ in range(n_cases):
        n = int(rng.integers(1, 5))
        out.append((_random_spd(rng, n), rng.normal(size=n), float(rng.choice([1e-3, 1e-2, 0.5]))))
    return out


@check("exact")
def seed_kkt_dk_exact(ctx: Context) -> Evidence:
    """Gaussian-mean family (KL exactly 1/2 s^T C^-1 s): the slide's D_k step lands on KL = Delta/2, not on the
    boundary KL = Delta of its problem 'min f s.t. D_KL <= Delta'; its length is 1/sqrt 2 of the KKT step's."""
    ratios, lengths = [], []
    for C, g, delta in _gaussian_cases(ctx.rng()):
        s_slide = math.sqrt(delta / float(g @ C @ g)) * (C @ g)
        s_kkt = np.asarray(T.natural_gradient_step(g, np.linalg.inv(C), delta))
        ratios.append(gaussian_kl_equal_cov(np.zeros_like(g), s_slide, C) / delta)
        lengths.append(float(np.linalg.norm(s_slide) / np.linalg.norm(s_kkt)))
    ok = all(abs(r - 1) < 1e-9 for r in ratios)
    return Evidence("exact", ok, f"slide's step realizes KL = {ratios[0]:.6f} Delta (exactly 1/2); step "
                    f"{lengths[0]:.6f} x the KKT step (1/sqrt 2)",
                    {"kl_over_budget": ratios, "length_ratio": lengths, "exact_factor": "sqrt(2) too short"},
                    counterexample={"kl_over_budget": ratios[0], "length_ratio": lengths[0]})


@check("symbolic")
def seed_kkt_dk_symbolic(ctx: Context) -> Evidence:
    """sympy, rational instances, symbolic Delta: (D_k g)/s* = 1/sqrt(2) exactly, so D_k g - s* != 0."""
    expr = sp.Integer(0)
    for K in _kkt_symbolic():
        dl, y, q = K["delta"], K["y"], K["q"]
        s_slide = sp.sqrt(dl / q) * y
        expr += sum(sp.simplify(a - b) ** 2 for a, b in zip(s_slide, K["s"]))
    out = symbolic_evidence(expr, "slide D_k step equals the KKT step of 1/2 s^T F s <= Delta")
    out.figures["exact_factor"] = "1/sqrt(2)"
    return out


claim(
    id="SEED-S1-KKT-DK",
    title="S1: 'D_k = sqrt(Delta / (grad f^T F^-1 grad f)) F^-1' solves min f s.t. D_KL <= Delta",
    statement=r"x^*=x_k-D_k\nabla f,\ D_k=\sqrt{\tfrac{\Delta}{\nabla f^\top F^{-1}\nabla f}}F^{-1}",
    source=Source(seed_citation(S1, "line 581 (again at line 597), for the problem of line 561"),
                  quote=r"$$D_k = \sqrt{\frac{\Delta}{\nabla f(x_k)^T F^{-1}(x_k) \nabla f(x_k)}} F^{-1}(x_k)$$",
                  seed_file=S1),
    family=FAMILY,
    expected="refuted",
    kind="seed-statement",
    checks=(seed_kkt_dk_exact, seed_kkt_dk_symbolic),
    notes="Consistent with the slide's own 1/2-less model s^T F s <= Delta (line 567), but that model is the error: "
          "for D_KL <= Delta the step is sqrt(2) too short and realizes KL = Delta/2.",
)


claim(
    id="SEED-S1-KKT-DK-CORRECTED",
    title="Corrected: s* = sqrt(2 delta / g^T F^-1 g) F^-1 g for 1/2 s^T F s <= delta",
    statement=r"s^*=\sqrt{\tfrac{2\delta}{g^\top F^{-1}g}}F^{-1}g\ \text{(ascent; descent on }f\text{ flips the sign)}",
    source=Source("TRPO (Schulman et al. 2015) App. C"),
    family=FAMILY,
    expected="verified",
    kind="correction",
    corrects="SEED-S1-KKT-DK",
    checks=(kkt_symbolic, kkt_gaussian),
    uses=("KKT-NATGRAD-STEP",),
)


@check("symbolic")
def seed_kkt_boundary_symbolic(ctx: Context) -> Evidence:
    """sympy: with the slide's Lagrangian lambda(1/2 s^T F s - Delta^2) and 1/lambda = Delta/sqrt(g^T F^-1 g),
    s = -(1/lambda) F^-1 g gives 1/2 s^T F s - Delta^2 = -Delta^2/2 != 0: complementary slackness fails with
    lambda > 0, so it is not a KKT point (1/lambda must be sqrt 2 Delta / sqrt(g^T F^-1 g))."""
    D = sp.symbols("Delta", positive=True)
    expr = sp.Integer(0)
    vals = []
    for K in _kkt_symbolic():
        F, y, q = K["F"], K["y"], K["q"]
        s = -(D / sp.sqrt(q)) * y
        slack = sp.simplify((s.T * F * s)[0] / 2 - D**2)
        vals.append(str(slack))
        expr += slack**2
    return symbolic_evidence(expr, "complementary slackness of the slide's KKT solution", slack=vals)


@check("exact")
def seed_kkt_boundary_exact(ctx: Context) -> Evidence:
    """Random SPD F, g, Delta: the slide's s gives 1/2 s^T F s = Delta^2/2 (ratio 0.5 to the constraint level);
    the KKT point of its Lagrangian is the reference natural_gradient_step with max_kl = Delta^2 (1/lambda larger
    by sqrt 2)."""
    rng = ctx.rng()
    levels, factors = [], []
    for C, g, delta in _gaussian_cases(rng):
        F = np.linalg.inv(C)
        D = math.sqrt(delta)
        q = float(g @ C @ g)
        s_slide = (D / math.sqrt(q)) * (C @ g)
        s_kkt = np.asarray(T.natural_gradient_step(g, F, D**2))
        levels.append(0.5 * float(s_slide @ F @ s_slide) / D**2)
        factors.append(float(np.linalg.norm(s_kkt) / np.linalg.norm(s_slide)))
    ok = all(abs(lv - 1) < 1e-9 for lv in levels)
    return Evidence("exact", ok, f"1/2 s^T F s / Delta^2 = {levels[0]:.6f} (must be 1); KKT 1/lambda is "
                    f"{factors[0]:.6f} x the slide's", {"constraint_level_ratio": levels, "kkt_over_slide": factors},
                    counterexample={"constraint_level_ratio": levels[0]})


claim(
    id="SEED-S1-KKT-BOUNDARY",
    title="S1: Lagrangian lambda(1/2 s^T F s - Delta^2) with boundary 's^T F s = Delta^2 => 1/lambda = "
          "Delta/sqrt(g^T F^-1 g)'",
    statement=r"\mathcal L=g^\top s+\lambda(\tfrac12s^\top Fs-\Delta^2);\ s^{*\top}Fs^*=\Delta^2\Rightarrow"
              r"\tfrac1\lambda=\tfrac{\Delta}{\sqrt{g^\top F^{-1}g}}",
    source=Source(seed_citation(S1, "lines 601 and 613"),
                  quote=r"$$s^{*\top}Fs^* = \Delta^2 \Rightarrow \frac{1}{\lambda} = \frac{\Delta}{\sqrt{q^\top "
                        r"F^{-1}q}}$$",
                  seed_file=S1),
    family=FAMILY,
    expected="refuted",
    kind="seed-statement",
    checks=(seed_kkt_boundary_symbolic, seed_kkt_boundary_exact),
    notes="The Lagrangian's constraint is 1/2 s^T F s <= Delta^2 but the boundary used is s^T F s = Delta^2; "
          "'q' is a typo for g.",
)


@check("symbolic")
def kkt_boundary_corrected_symbolic(ctx: Context) -> Evidence:
    """sympy: for 1/2 s^T F s <= Delta^2, s = -(sqrt 2 Delta/sqrt(g^T F^-1 g)) F^-1 g, lambda = sqrt(g^T F^-1 g)/
    (sqrt 2 Delta) satisfies stationarity g + lambda F s = 0 and the active constraint."""
    D = sp.symbols("Delta", positive=True)
    expr = sp.Integer(0)
    for K in _kkt_symbolic():
        F, g, y, q = K["F"], K["g"], K["y"], K["q"]
        s = -(sp.sqrt(2) * D / sp.sqrt(q)) * y
        lam = sp.sqrt(q) / (sp.sqrt(2) * D)
        expr += sum(sp.simplify(e) ** 2 for e in (g + lam * F * s)) + sp.simplify((s.T * F * s)[0] / 2 - D**2) ** 2
    return symbolic_evidence(expr, "KKT of min g^T s s.t. 1/2 s^T F s <= Delta^2")


claim(
    id="SEED-S1-KKT-BOUNDARY-CORRECTED",
    title="Corrected: for 1/2 s^T F s <= Delta^2, 1/lambda = sqrt 2 Delta / sqrt(g^T F^-1 g)",
    statement=r"\tfrac12 s^{*\top}Fs^*=\Delta^2\Rightarrow\tfrac1\lambda=\tfrac{\sqrt2\Delta}{\sqrt{g^\top F^{-1}g}}",
    source=Source("Nocedal & Wright, KKT conditions; TRPO App. C"),
    family=FAMILY,
    expected="verified",
    kind="correction",
    corrects="SEED-S1-KKT-BOUNDARY",
    checks=(kkt_boundary_corrected_symbolic, kkt_property),
    uses=("KKT-NATGRAD-STEP",),
)


@check("exact")
def seed_kkt_update_exact(ctx: Context) -> Evidence:
    """Gaussian-mean family, Delta the KL budget of line 561: the update x_k - Delta F^-1 g/sqrt(g^T F^-1 g)
    realizes KL = Delta^2/2 (e.g. 5e-5 for Delta = 0.01), not Delta; it is sqrt(Delta) x the slide's own D_k step."""
    kl_ratio, kl_budget, vs_dk = [], [], []
    for C, g, delta in _gaussian_cases(ctx.rng()):
        q = float(g @ C @ g)
        s_upd = (delta / math.sqrt(q)) * (C @ g)
        s_dk = math.sqrt(delta / q) * (C @ g)
        kl = gaussian_kl_equal_cov(np.zeros_like(g), s_upd, C)
        kl_ratio.append(kl / (delta**2 / 2))
        kl_budget.append(kl / delta)
        vs_dk.append(float(np.linalg.norm(s_upd) / np.linalg.norm(s_dk) / math.sqrt(delta)))
    reaches_budget = all(abs(r - 1) < 1e-9 for r in kl_budget)
    return Evidence("exact", reaches_budget, "the update realizes KL = Delta^2/2 exactly (KL/(Delta^2/2) = "
                    f"{kl_ratio[0]:.6f}), not the budget Delta; it equals sqrt(Delta) x the D_k step",
                    {"kl_over_half_delta_squared": kl_ratio, "kl_over_budget": kl_budget,
                     "length_over_sqrt_delta_times_dk": vs_dk},
                    counterexample={"Delta": 0.01, "realized_KL": 0.01**2 / 2})


@check("symbolic")
def seed_kkt_update_symbolic(ctx: Context) -> Evidence:
    """sympy: quadratic KL of the update, 1/2 s^T F s with s = Delta F^-1 g/sqrt(g^T F^-1 g), equals Delta^2/2;
    minus the budget Delta it is not identically 0."""
    expr = sp.Integer(0)
    for K in _kkt_symbolic():
        dl, F, y, q = K["delta"], K["F"], K["y"], K["q"]
        s = (dl / sp.sqrt(q)) * y
        expr += sp.simplify((s.T * F * s)[0] / 2 - dl) ** 2
    return symbolic_evidence(expr, "KL model of the slide's update equals the budget Delta")


claim(
    id="SEED-S1-KKT-UPDATE",
    title="S1: 'x_{k+1} = x_k - Delta F^-1 grad f / sqrt(grad f^T F^-1 grad f)' for D_KL <= Delta",
    statement=r"x_{k+1}=x_k-\tfrac{\Delta}{\sqrt{\nabla f^\top F^{-1}\nabla f}}F^{-1}\nabla f",
    source=Source(seed_citation(S1, "line 610, for the problem of line 561"),
                  quote=r"$$x_{k+1} = x_k + s^* = x_k - \frac{\Delta}{\sqrt{\nabla f(x_k)^\top F(x_k)^{-1} "
                        r"\nabla f(x_k)}} F(x_k)^{-1} \nabla f(x_k).$$",
                  seed_file=S1),
    family=FAMILY,
    expected="refuted",
    kind="seed-statement",
    checks=(seed_kkt_update_exact, seed_kkt_update_symbolic),
    notes="Treats Delta as a radius (s^T F s <= Delta^2) while D_k (line 581) treats it as a KL budget without the "
          "1/2: the slides' three normalizations disagree by factors sqrt 2 and sqrt(Delta).",
)


@check("exact")
def kkt_radius_exact(ctx: Context) -> Evidence:
    """Gaussian-mean family: with Delta a radius, s = Delta F^-1 g / sqrt(g^T F^-1 g) has s^T F s = Delta^2 and
    KL = Delta^2/2; with Delta = sqrt(2 delta) it equals the reference natural_gradient_step(g, F, delta)."""
    worst = 0.0
    for C, g, delta in _gaussian_cases(ctx.rng()):
        F = np.linalg.inv(C)
        D = math.sqrt(2 * delta)
        s = (D / math.sqrt(float(g @ C @ g))) * (C @ g)
        worst = max(worst, abs(float(s @ F @ s) / D**2 - 1),
                    abs(gaussian_kl_equal_cov(np.zeros_like(g), s, C) / delta - 1),
                    float(np.max(np.abs(s - np.asarray(T.natural_gradient_step(g, F, delta)))))
                    / float(np.max(np.abs(s))))
    return Evidence("exact", worst < 1e-9, "radius form and KL-budget form agree with Delta = sqrt(2 delta)",
                    {"max_relative_error": worst})


@check("symbolic")
def kkt_radius_symbolic(ctx: Context) -> Evidence:
    """sympy: s = Delta F^-1 g / sqrt(g^T F^-1 g) satisfies s^T F s = Delta^2 and maximizes g^T s on it (it is the
    KKT step with delta = Delta^2/2)."""
    D = sp.symbols("Delta", positive=True)
    expr = sp.Integer(0)
    for K in _kkt_symbolic():
        F, y, q = K["F"], K["y"], K["q"]
        s = (D / sp.sqrt(q)) * y
        kkt = K["s"].subs(K["delta"], D**2 / 2)
        expr += sp.simplify((s.T * F * s)[0] - D**2) ** 2 + sum(sp.simplify(a - b) ** 2 for a, b in zip(s, kkt))
    return symbolic_evidence(expr, "radius-form step = KKT step with delta = Delta^2/2")


claim(
    id="SEED-S1-KKT-UPDATE-CORRECTED",
    title="Corrected: with Delta a radius (s^T F s <= Delta^2) the step is Delta F^-1 g/sqrt(g^T F^-1 g); for a KL "
          "budget delta use Delta = sqrt(2 delta)",
    statement=r"s^\top Fs\le\Delta^2:\ s^*=\tfrac{\Delta}{\sqrt{g^\top F^{-1}g}}F^{-1}g,\ D_{KL}\approx\Delta^2/2;"
              r"\ \Delta=\sqrt{2\delta}",
    source=Source("Schulman et al. (2015) TRPO, App. C (natural-gradient step on the KL boundary)"),
    family=FAMILY,
    expected="verified",
    kind="correction",
    corrects="SEED-S1-KKT-UPDATE",
    checks=(kkt_radius_exact, kkt_radius_symbolic),
    uses=("KKT-NATGRAD-STEP",),
)


# =========================================================================== Euclidean trust-region step


@check("property")
def euclidean_step_property(ctx: Context) -> Evidence:
    """Hypothesis (gradient g != 0, radius Delta, trial points in the ball): the linear model's value at
    x_k - Delta g/||g|| is -Delta ||g||, no trial point in the ball does better (Cauchy-Schwarz), and the step lies
    on the boundary; the literal denominator ||f(x)|| instead of ||grad f|| leaves the ball whenever |f| < ||g||."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, float, np.ndarray]:
        n = draw(st.integers(1, 5))
        g = np.array(draw(st.lists(st.floats(-5, 5), min_size=n, max_size=n)))
        trial = np.array(draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n)))
        return g, draw(st.floats(1e-3, 10.0)), trial

    def body(x: tuple[np.ndarray, float, np.ndarray]) -> float | None:
        g, radius, trial = x
        gn = float(np.linalg.norm(g))
        if gn < 1e-8:
            return None
        step = -radius * g / gn
        model = float(g @ step)
        if abs(model + radius * gn) > 1e-12 * radius * gn or abs(np.linalg.norm(step) - radius) > 1e-12 * radius:
            raise Violation("step value or length wrong", g=g.tolist(), radius=radius)
        tn = float(np.linalg.norm(trial))
        if tn > 0:
            y = trial * min(1.0, radius / tn)  # a point in the ball
            if float(g @ y) < model - 1e-12 * radius * gn:
                raise Violation("a point in the ball beats the step", g=g.tolist(), y=y.tolist())
            return float(g @ y) / model if model != 0 else None
        return None

    return property_evidence(ctx, strat(), body, target_label="trial model value / step model value",
                             summary="x_k - Delta grad f/||grad f|| minimizes the linear model on the ball")


@check("symbolic")
def euclidean_step_symbolic(ctx: Context) -> Evidence:
    """sympy, 2-D: the KKT system of min g.s s.t. |s|^2 = Delta^2 has the minimizer s = -Delta g/|g| (the root with
    the smaller model value)."""
    g1, g2, D = sp.symbols("g1 g2 Delta", positive=True)
    s1, s2, lam = sp.symbols("s1 s2 lam", real=True)
    sols = sp.solve([g1 + 2 * lam * s1, g2 + 2 * lam * s2, s1**2 + s2**2 - D**2], [s1, s2, lam], dict=True)
    best = min(sols, key=lambda so: float((g1 * so[s1] + g2 * so[s2]).subs({g1: 1.3, g2: 0.4, D: 0.7})))
    norm = sp.sqrt(g1**2 + g2**2)
    return symbolic_evidence(sp.simplify((best[s1] + D * g1 / norm) ** 2 + (best[s2] + D * g2 / norm) ** 2),
                             "KKT minimizer of the linear model on the ball == -Delta g/|g|")


EUCLID_QUOTE = "$$x^* = x_k - \\Delta_k \\frac{\nabla f(x)}{\\|f(x)\\|},$$"


claim(
    id="SEED-S1-EUCLIDEAN-STEP",
    title="S1: the Euclidean trust-region step x* = x_k - Delta_k grad f(x)/||f(x)|| (read: ||grad f(x_k)||)",
    statement=r"\arg\min_{\|x-x_k\|\le\Delta_k}f(x_k)+\nabla f(x_k)^\top(x-x_k)=x_k-\Delta_k\frac{\nabla f(x_k)}"
              r"{\|\nabla f(x_k)\|}",
    source=Source(seed_citation(S1, "lines 551-552 ('CONSTRAINED LINEAR UPDATE - EUCLIDEAN'; the '\\n' of '\\nabla' "
                                    "is a line break in the seed)"), quote=EUCLID_QUOTE, seed_file=S1),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(euclidean_step_property, euclidean_step_symbolic),
    reading="As typeset the denominator is ||f(x)||, a scalar's absolute value, and the gradient is taken at x. In "
            "the slide's own construction (minimize the linear model m_k at x_k over the ball U_k, 'farthest step "
            "down the line that stays in the radius') the author plainly means the unit gradient at x_k, "
            "grad f(x_k)/||grad f(x_k)||: the seed lost a symbol the same way it lost the '\\n' of '\\nabla'. So read, "
            "the step is exactly the minimizer.",
    notes="Taken literally, ||f(x)|| makes the step length Delta_k ||grad f|| / |f(x)|, which leaves the ball "
          "whenever |f(x)| < ||grad f(x)||.",
)
