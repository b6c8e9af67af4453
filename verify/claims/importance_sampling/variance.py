"""The variance of the IS estimator (IS-VARIANCE) and the slides' error formula statements."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import importance as I
from verify import strategies as vst
from verify.claims.importance_sampling._common import (
    _S1_SAMPLE_MEAN_READING,
    FAMILY,
    S1,
    _chi2,
    _frac_dist,
    _var_is_direct,
    _var_is_formula,
)
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

# =========================================================================== IS-VARIANCE


@check("exact")
def is_variance_exact(ctx: Context) -> Evidence:
    """Rational arithmetic on random (p, q, f): Var_q(w f) = sum (pf - mu q)^2/q = E_q[w^2 f^2] - mu^2;
    f = c gives c^2 chi2; E_q[w^2] = 1 + chi2; the reference weights reproduce it in float64."""
    rng = ctx.rng()
    worst_float = 0.0
    n_inst = 40
    ok = True
    for _ in range(n_inst):
        k = int(rng.integers(2, 6))
        p, q = _frac_dist(rng, k, positive=False), _frac_dist(rng, k)
        f = [Fraction(int(x), int(rng.integers(1, 5))) for x in rng.integers(-6, 7, size=k)]
        mu = sum(pi * fi for pi, fi in zip(p, f))
        direct = _var_is_direct(p, q, f)
        ok &= direct == _var_is_formula(p, q, f)
        ok &= direct == sum(qi * (pi / qi * fi) ** 2 for pi, qi, fi in zip(p, q, f)) - mu**2
        c = Fraction(int(rng.integers(1, 9)), 3)
        ok &= _var_is_direct(p, q, [c] * k) == c * c * _chi2(p, q)
        ok &= sum(qi * (pi / qi) ** 2 for pi, qi in zip(p, q)) == 1 + _chi2(p, q)
        # float64 reference weights on the same instance
        pf = np.array([float(x) for x in p])
        qf = np.array([float(x) for x in q])
        with np.errstate(divide="ignore"):
            w = I.importance_weights(np.log(pf), np.log(qf))
        ff = np.array([float(x) for x in f])
        v = w * ff
        var_f = float(qf @ (v - qf @ v) ** 2)
        worst_float = max(worst_float, abs(var_f - float(direct)) / max(1.0, float(direct)))
    example = _chi2([Fraction(9, 10), Fraction(1, 10)], [Fraction(1, 2), Fraction(1, 2)])
    ok &= example == Fraction(16, 25)
    passed = bool(ok) and worst_float < 1e-12
    return Evidence("exact", passed,
                    f"identities exact on {n_inst} rational instances; chi2((0.9,0.1)||(1/2,1/2)) = {example}; "
                    f"float64 reference weights within {worst_float:.1e}",
                    {"instances": n_inst, "chi2_example": str(example), "max_float_rel_error": worst_float,
                     "seed": ctx.seed})


@check("symbolic")
def is_variance_symbolic(ctx: Context) -> Evidence:
    """sympy, 3 points: E_q[(pf/q)^2] - mu^2 - sum (pf - mu q)^2/q == 0, and with f = c it is c^2 chi2."""
    p0, p1, q0, q1 = sp.symbols("p0 p1 q0 q1", positive=True)
    p = [p0, p1, 1 - p0 - p1]
    q = [q0, q1, 1 - q0 - q1]
    f = sp.symbols("f0:3", real=True)
    c = sp.Symbol("c", real=True)
    mu = sum(p[i] * f[i] for i in range(3))
    lhs = sum(q[i] * (p[i] * f[i] / q[i]) ** 2 for i in range(3)) - mu**2
    rhs = sum((p[i] * f[i] - mu * q[i]) ** 2 / q[i] for i in range(3))
    const = sum(q[i] * (p[i] * c / q[i]) ** 2 for i in range(3)) - c**2 - c**2 * (sum(p[i] ** 2 / q[i]
                                                                                        for i in range(3)) - 1)
    return symbolic_evidence(sp.together(lhs - rhs) ** 2 + sp.together(const) ** 2,
                             "Var_q(w f) = sum (pf - mu q)^2/q and Var_q(w c) = c^2 chi2(p||q) (symbolic p, q, f)")


@check("property")
def is_variance_divergence_chain(ctx: Context) -> Evidence:
    """hypothesis: KL(p||q) <= log(1 + chi2) <= chi2; worst ratio KL/log(1+chi2) reported (equality when p
    is q restricted to a subset: p=(1,0), q=(1/2,1/2) gives KL = log 2 = log(1+chi2))."""
    strat = st.integers(2, 5).flatmap(
        lambda k: st.tuples(vst.distributions(k, zeros=True), vst.distributions(k, floor=1e-3)))

    def body(x: tuple[np.ndarray, np.ndarray]) -> float:
        p, q = x
        w = I.importance_weights(np.log(np.where(p > 0, p, 1.0)) + np.where(p > 0, 0.0, -np.inf), np.log(q))
        chi2 = float(q @ (w * w)) - 1.0
        pos = p > 0
        kl = float(np.sum(p[pos] * np.log(w[pos])))
        lg = math.log1p(chi2)
        if kl > lg + 1e-12 or lg > chi2 + 1e-12:
            raise Violation("KL <= log(1+chi2) <= chi2 fails", kl=kl, log1p_chi2=lg, chi2=chi2)
        return kl / lg if lg > 1e-9 else 0.0

    ev = property_evidence(ctx, strat, body, summary="KL <= log(1+chi2) <= chi2",
                           examples=[(np.array([1.0, 0.0]), np.array([0.5, 0.5]))])
    return ev


claim(
    id="IS-VARIANCE",
    title="Variance of the importance-sampling estimator; E_q[w^2] = 1 + chi2(p||q)",
    statement=r"\operatorname{Var}(\hat\mu_{IS})=\tfrac1n\Big(\mathbb{E}_q[w^2f^2]-\mu^2\Big)="
              r"\tfrac1n\sum_x\frac{(p(x)f(x)-\mu q(x))^2}{q(x)},\quad \mathbb{E}_q[w^2]=1+\chi^2(p\|q),\quad"
              r"\mathrm{KL}(p\|q)\le\log(1+\chi^2)\le\chi^2",
    source=Source("Owen (2013) ch. 9.1 eq. (9.3) and ch. 9.2 (chi-square form)"),
    family=FAMILY,
    expected="verified",
    checks=(is_variance_exact, is_variance_symbolic, is_variance_divergence_chain),
    conventions=("chi2(p||q) = sum p^2/q - 1 (Pearson, behaviour q in the denominator)",
                 "KL(p||q) in nats, target p first"),
    assumptions=("q > 0 wherever p > 0",),
)


# =========================================================================== S1: the IS error formula


def _s1_error_formula_instances(rng: np.random.Generator, n: int) -> list[tuple[list[Any], list[Any], list[Any]]]:
    out = []
    for _ in range(n):
        k = int(rng.integers(2, 6))
        beh, tgt = _frac_dist(rng, k), _frac_dist(rng, k, positive=False)
        r = [Fraction(int(x), int(rng.integers(1, 4))) for x in rng.integers(-5, 6, size=k)]
        out.append((beh, tgt, r))
    return out


@check("exact")
def s1_error_formula_exact(ctx: Context) -> Evidence:
    """Rational arithmetic: for one transition a ~ pi_theta, Var[pi'/pi r] = sum_a (r pi' - mu pi)^2 / pi
    exactly, on random rational (pi, pi', r); the float64 reference weights agree."""
    rng = ctx.rng()
    inst = _s1_error_formula_instances(rng, 50)
    ok = True
    worst = 0.0
    for beh, tgt, r in inst:
        direct = _var_is_direct(tgt, beh, r)
        ok &= direct == _var_is_formula(tgt, beh, r)
        b = np.array([float(x) for x in beh])
        t = np.array([float(x) for x in tgt])
        with np.errstate(divide="ignore"):
            w = I.importance_weights(np.log(t), np.log(b))
        v = w * np.array([float(x) for x in r])
        worst = max(worst, abs(float(b @ (v - b @ v) ** 2) - float(direct)) / max(1.0, float(direct)))
    # batch of |B| i.i.d. transitions: the sum has |B| times, the mean 1/|B| times this variance
    beh, tgt, r = inst[0]
    one = _var_is_direct(tgt, beh, r)
    k = len(beh)
    var_sum2 = Fraction(0)
    mean_sum2 = 2 * sum(tgt[i] * r[i] for i in range(k))
    for i, j in itertools.product(range(k), repeat=2):
        val = tgt[i] / beh[i] * r[i] + tgt[j] / beh[j] * r[j]
        var_sum2 += beh[i] * beh[j] * (val - mean_sum2) ** 2
    ok &= var_sum2 == 2 * one
    passed = bool(ok) and worst < 1e-12
    return Evidence("exact", passed,
                    f"formula exact on {len(inst)} rational instances (single transition); float64 weights within "
                    f"{worst:.1e}; for a batch of 2 the variance of the sum is 2x (of the mean 1/2x)",
                    {"instances": len(inst), "max_float_rel_error": worst, "batch2_sum_variance_ratio": 2,
                     "seed": ctx.seed})


@check("symbolic")
def s1_error_formula_symbolic(ctx: Context) -> Evidence:
    """sympy: Var_{a~pi}[(pi'/pi) r] - sum_a (r pi' - mu pi)^2/pi == 0 for symbolic 3-action pi, pi', r."""
    b0, b1, t0, t1 = sp.symbols("b0 b1 t0 t1", positive=True)
    beh = [b0, b1, 1 - b0 - b1]
    tgt = [t0, t1, 1 - t0 - t1]
    r = sp.symbols("r0:3", real=True)
    mu = sum(tgt[i] * r[i] for i in range(3))
    var = sum(beh[i] * (tgt[i] / beh[i] * r[i] - mu) ** 2 for i in range(3))
    formula = sum((r[i] * tgt[i] - mu * beh[i]) ** 2 / beh[i] for i in range(3))
    return symbolic_evidence(sp.together(var - formula), "Var_pi[(pi'/pi) r] equals the slide's integrand summed")


SEED_ERR_FORMULA = claim(
    id="SEED-S1-IS-ERROR-FORMULA",
    title="S1: the error of the re-centred IS estimator is int (r pi' - mu pi)^2 / pi",
    statement=r"\operatorname{Var}_{(s,a,r)\sim\pi_\theta}[\hat\mu_{\pi_\theta}]=\int_{\mathcal A}"
              r"\frac{(r(s,a)\pi_{\theta'}(s,a)-\mu\pi_\theta(s,a))^2}{\pi_\theta(s,a)}\,da",
    source=Source(seed_citation(S1, "line 345 ('IMPORTANCE SAMPLING - ERROR')"),
                  quote=r"Error of re-centered IS estimator: $\operatorname{Var}_{(s,a,r)\sim\pi_{\theta}}"
                  r"[\hat{\mu}_{\pi_{\theta}}] = \int_{\mathcal{A}} \frac{(r(s,a)\pi_{\theta'}(s,a) - "
                  r"\mu\pi_{\theta}(s,a))^2}{\pi_{\theta}(s,a)} da$", seed_file=S1),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(s1_error_formula_exact, s1_error_formula_symbolic),
    conventions=("pi_theta = behaviour (data), pi_theta' = target; one transition in a fixed state s",),
    reading=_S1_SAMPLE_MEAN_READING + " Under it the formula is the variance of one transition's estimate; the batch "
            "mean's variance is 1/|B| times it, an unstated factor, so the statement stands with a note.",
    notes="Exact for a single transition (the slides' '1-transition' estimator). For the sample mean of a batch "
          "$\\mathcal B$ the variance is $1/|\\mathcal B|$ times this.",
)


# =========================================================================== S1: error worse when pi << pi'


@check("exact")
def s1_error_worse_exact(ctx: Context) -> Evidence:
    """Rational arithmetic: behaviour (eps, 1-eps), target (1/2, 1/2), r = (1, 2): Var_IS grows without bound
    as eps -> 0 (eps * Var_IS -> (1/2)^2; monotone from eps = 1/4 down, whereas at eps = 1/4 IS beats on-policy:
    'typically') while the on-policy variance stays 1/4; with r constant the on-policy
    variance is 0 and Var_IS = r^2 chi2 grows with the policy distance along (1-alpha) mu + alpha pi'."""
    tgt = [Fraction(1, 2), Fraction(1, 2)]
    r = [Fraction(1), Fraction(2)]
    mu_t = sum(a * b for a, b in zip(tgt, r))
    var_on = sum(t * (x - mu_t) ** 2 for t, x in zip(tgt, r))
    eps_list = [Fraction(1, 2**k) for k in range(1, 12)]
    vars_is = [_var_is_direct(tgt, [e, 1 - e], r) for e in eps_list]
    # from eps = 1/4 down, every halving of the behaviour's mass on action 0 increases the variance; at
    # eps = 1/4 the behaviour is near the optimal proposal |f| p and IS *beats* on-policy sampling
    increasing = all(b > a for a, b in itertools.pairwise(vars_is[1:]))
    beats_on_policy = vars_is[1] < var_on
    scaled = [float(e * v) for e, v in zip(eps_list, vars_is)]
    # r nearly constant: r == 1; target far from behaviour along a mixture path
    beh = [Fraction(9, 10), Fraction(1, 10)]
    far = [Fraction(1, 10), Fraction(9, 10)]
    alphas = [Fraction(k, 10) for k in range(11)]
    chis = [_var_is_direct([(1 - a) * b + a * f for b, f in zip(beh, far)], beh, [Fraction(1)] * 2) for a in alphas]
    tv = [a * sum(abs(b - f) for b, f in zip(beh, far)) / 2 for a in alphas]
    chi_increasing = all(b > a for a, b in itertools.pairwise(chis))
    quad = all(c == a * a * chis[-1] for a, c in zip(alphas, chis))
    passed = (increasing and beats_on_policy and var_on == Fraction(1, 4) and abs(scaled[-1] - 0.25) < 1e-3
              and chi_increasing and quad)
    return Evidence("exact", bool(passed),
                    f"Var_IS at eps=1/2..1/2048 rises from {float(vars_is[0]):.3g} to {float(vars_is[-1]):.4g} "
                    f"(on-policy {float(var_on)}); with r = 1, Var_IS = chi2 = alpha^2 * {chis[-1]} rises with TV",
                    {"var_is": [float(v) for v in vars_is], "eps": [float(e) for e in eps_list],
                     "eps_times_var": scaled, "var_on_policy": float(var_on),
                     "is_beats_on_policy_at_eps_1_4": bool(beats_on_policy),
                     "constant_r_var_is": [float(c) for c in chis], "tv": [float(t) for t in tv]})


@check("symbolic")
def s1_error_worse_symbolic(ctx: Context) -> Evidence:
    """sympy: for behaviour (eps, 1-eps) and target (t, 1-t), eps * Var_IS -> (t r_0)^2 > 0 as eps -> 0, and
    chi2((1-a) q + a p || q) = a^2 chi2(p || q) for symbolic 3-point p, q."""
    eps, t = sp.symbols("epsilon t", positive=True)
    r0, r1 = sp.symbols("r0 r1", real=True)
    var = _var_is_formula([t, 1 - t], [eps, 1 - eps], [r0, r1])
    lim = sp.limit(eps * var, eps, 0)
    a = sp.Symbol("a", positive=True)
    p0, p1, q0, q1 = sp.symbols("p0 p1 q0 q1", positive=True)
    p = [p0, p1, 1 - p0 - p1]
    q = [q0, q1, 1 - q0 - q1]
    mix = [(1 - a) * q[i] + a * p[i] for i in range(3)]
    chi_mix = sum(mix[i] ** 2 / q[i] for i in range(3)) - 1
    chi_p = sum(p[i] ** 2 / q[i] for i in range(3)) - 1
    return symbolic_evidence(sp.together(lim - (t * r0) ** 2) ** 2 + sp.together(chi_mix - a**2 * chi_p) ** 2,
                             "eps Var_IS -> (t r0)^2 as eps -> 0; chi2 along the mixture path is a^2 chi2")


claim(
    id="SEED-S1-IS-ERROR-WORSE",
    title="S1: IS error is (much) worse when pi_theta << pi_theta', or when the policies differ and r is flat",
    statement=r"\text{Error is typically (much) worse when } \pi_\theta \ll \pi_{\theta'}\ \text{ or }\ "
              r"|\pi_\theta-\pi_{\theta'}|\text{ large (and } r \text{ nearly constant)}",
    source=Source(seed_citation(S1, "line 350 ('IMPORTANCE SAMPLING - ERROR')"),
                  quote=r"Error is typically (much) worse when: $\pi_{\theta} << \pi_{\theta'}$",
                  seed_file=S1),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(s1_error_worse_exact, s1_error_worse_symbolic),
    conventions=("'<<' read as 'much smaller than' (behaviour probability small where the target's is not)",
                 "error = variance of the single-transition IS estimate; on-policy = sampling from pi_theta'"),
    notes="Read as absolute continuity ($\\pi_\\theta \\ll \\pi_{\\theta'}$, behaviour support inside the target's), "
          "the failure is worse than variance: where the behaviour has zero mass the estimator is biased "
          "(IS-UNBIASED). With $r \\equiv c$ the on-policy estimator has zero variance while IS has $c^2\\chi^2$.",
)
