"""Seed statements about importance sampling not encoded before, judged under the reading rule
(:mod:`verify.reading_rule`): the slides' (seed 001) change of variable, their "mu = ... = E[r/r]" line and
their ESS rule of thumb. Claims register into the ``importance-sampling`` family page.

Notation as in :mod:`verify.claims.importance_sampling`: target ``p`` (the slides' pi_theta'), behaviour ``q``
(pi_theta) that draws the data, ``w = p / q``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import importance as I
from verify import strategies as vst
from verify.claims.importance_sampling import _frac_dist
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

FAMILY = "importance-sampling"
S1 = "001_7cd217662ff5462a.txt"

# =========================================================================== change of variable


def _is_mean_over_support(p: Sequence[Any], q: Sequence[Any], f: Sequence[Any]) -> Any:
    """E_{x~q}[(p/q) f]: the expectation over what q can draw (x with q(x) > 0)."""
    return sum(qi * (pi / qi) * fi for pi, qi, fi in zip(p, q, f) if qi != 0)


@check("exact")
def change_of_variable_exact(ctx: Context) -> Evidence:
    """Rationals: p = (1/2, 1/2), q = (1, 0), f = (0, 1): E_p[f] = 1/2 but E_q[(p/q) f] = 0 -- q never draws the
    second point. The reference ordinary_is over q's support (log q = -inf elsewhere) gives the same 0."""
    p, q, f = [Fraction(1, 2), Fraction(1, 2)], [Fraction(1), Fraction(0)], [Fraction(0), Fraction(1)]
    lhs = sum(a * b for a, b in zip(p, f))
    rhs = _is_mean_over_support(p, q, f)
    with np.errstate(divide="ignore"):
        ref = I.ordinary_is(np.array([0.0]), np.log([0.5]), np.log([1.0]))  # the only draw q can make
    equal = lhs == rhs and abs(float(ref[()]) - float(lhs)) < 1e-15
    return Evidence("exact", bool(equal), f"E_p[f] = {lhs}, E_q[(p/q) f] = {rhs} (reference: {float(ref[()])})",
                    {"p": [str(x) for x in p], "q": [str(x) for x in q], "f": [str(x) for x in f],
                     "E_p_f": str(lhs), "E_q_w_f": str(rhs), "reference_ordinary_is": float(ref[()])},
                    counterexample=None if equal else {"E_p_f": str(lhs), "E_q_w_f": str(rhs), "gap": str(lhs - rhs)})


@check("symbolic")
def change_of_variable_symbolic(ctx: Context) -> Evidence:
    """sympy, symbolic p, f on 3 points and q with q(x_3) = 0: E_p[f] - E_q[(p/q) f] = p_3 f_3, not identically 0."""
    p1, p2, q1 = sp.symbols("p1 p2 q1", positive=True)
    f = sp.symbols("f1:4", real=True)
    p, q = [p1, p2, 1 - p1 - p2], [q1, 1 - q1, 0]
    gap = sum(a * b for a, b in zip(p, f)) - _is_mean_over_support(p, q, f)
    return symbolic_evidence(sp.simplify(gap), "E_p[f] == E_q[(p/q) f] when q(x_3) = 0")


CHANGE_QUOTE = (r"$$\mathbb{E}_{x \sim p}[f(x)] = \sum_{x \in \mathcal{X}} p(x)f(x) = \sum_{x \in \mathcal{X}} q(x) "
                r"\frac{p(x)}{q(x)} f(x) = \mathbb{E}_{x \sim q} \left[\frac{p(x)}{q(x)} f(x) \right]$$")

claim(
    id="SEED-S1-CHANGE-OF-VARIABLE",
    title="S1: for two densities p and q, E_p[f] = sum q (p/q) f = E_q[(p/q) f] (no support condition)",
    statement=r"\text{for any densities }p,q:\ \mathbb E_{x\sim p}[f(x)]=\mathbb E_{x\sim q}\Big[\frac{p(x)}{q(x)}"
              r"f(x)\Big]",
    source=Source(seed_citation(S1, "lines 315-317 ('Given two densities p and q:')"), quote=CHANGE_QUOTE,
                  seed_file=S1),
    family=FAMILY,
    kind="seed-statement",
    expected="refuted",
    checks=(change_of_variable_exact, change_of_variable_symbolic),
    reading="The slide states the identity for 'two densities p and q' with no condition. The missing condition "
            "(q > 0 wherever p f != 0) is not an unstated factor that changes no conclusion: without it the "
            "importance-sampling estimate is biased by E_p[f 1{q = 0}], which is exactly the RL failure the "
            "slides go on to warn about (a behaviour policy that never takes an action the new policy takes). "
            "So the statement as given is refuted, and the condition goes into the correction.",
    notes="The middle sum divides by q(x); where q(x) = 0 < p(x) it is undefined, and the expectation under q never "
          "visits x at all.",
)


@check("exact")
def change_of_variable_corrected_exact(ctx: Context) -> Evidence:
    """Random rational instances with zeros in q: E_q[(p/q) f] = E_p[f 1{q > 0}] exactly, and = E_p[f] exactly when
    p f = 0 wherever q = 0; the reference ordinary_is, averaged exactly over q's support, agrees."""
    rng = ctx.rng()
    ok = True
    worst = 0.0
    for _ in range(40):
        k = int(rng.integers(2, 6))
        p, q = _frac_dist(rng, k, positive=False), _frac_dist(rng, k, positive=False)
        f = [Fraction(int(x), 2) for x in rng.integers(-4, 5, size=k)]
        lhs = _is_mean_over_support(p, q, f)
        ok &= lhs == sum(a * b for a, b, c in zip(p, f, q) if c != 0)
        covered = all(a * b == 0 for a, b, c in zip(p, f, q) if c == 0)
        ok &= (lhs == sum(a * b for a, b in zip(p, f))) or not covered
        sup = [i for i in range(k) if q[i] != 0]
        with np.errstate(divide="ignore"):
            fs = np.array([float(f[i]) for i in sup])[:, None]
            lp, lq = np.log([float(p[i]) for i in sup])[:, None], np.log([float(q[i]) for i in sup])[:, None]
            vals = I.ordinary_is(fs, lp, lq)
        ref_mean = float(np.array([float(q[i]) for i in sup]) @ vals)
        worst = max(worst, abs(ref_mean - float(lhs)))
    return Evidence("exact", bool(ok) and worst < 1e-12,
                    "E_q[(p/q) f] = E_p[f 1{q > 0}] on 40 rational instances with zeros in q; equals E_p[f] under the "
                    "support condition", {"instances": 40, "max_reference_error": worst, "seed": ctx.seed})


@check("property")
def change_of_variable_corrected_property(ctx: Context) -> Evidence:
    """Hypothesis (p, q with zeros, f): |E_q[(p/q) f] - E_p[f]| == |E_p[f 1{q = 0}]| (the exact bias), in float64
    with the reference importance weights; targets the size of the bias."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = draw(st.integers(2, 6))
        p = draw(vst.distributions(k, zeros=True))
        q = draw(vst.distributions(k, zeros=True))
        f = np.array(draw(st.lists(st.floats(-5, 5), min_size=k, max_size=k)))
        return p, q, f

    def body(x: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
        p, q, f = x
        sup = q > 0
        with np.errstate(divide="ignore"):
            w = I.importance_weights(np.log(p[sup]), np.log(q[sup]))
        is_mean = float(q[sup] @ (w * f[sup]))
        bias = float(p[~sup] @ f[~sup])
        if abs((float(p @ f) - is_mean) - bias) > 1e-12 * (1 + float(np.abs(p * f).sum())):
            raise Violation("E_p f - E_q[w f] != E_p[f 1{q=0}]", p=p.tolist(), q=q.tolist(), f=f.tolist())
        return abs(bias)

    return property_evidence(ctx, strat(), body, target_label="|bias|",
                             summary="E_p[f] - E_q[(p/q) f] == E_p[f 1{q = 0}] (zero under the support condition)")


claim(
    id="SEED-S1-CHANGE-OF-VARIABLE-CORRECTED",
    title="Corrected change of variable: E_q[(p/q) f] = E_p[f 1{q > 0}], = E_p[f] iff p f = 0 where q = 0",
    statement=r"\mathbb E_{x\sim q}\Big[\frac{p(x)}{q(x)}f(x)\Big]=\mathbb E_{x\sim p}[f(x)\mathbb 1\{q(x)>0\}]"
              r"=\mathbb E_{x\sim p}[f(x)]-\mathbb E_{x\sim p}[f(x)\mathbb 1\{q(x)=0\}]",
    source=Source("Owen (2013) Monte Carlo theory, ch. 9.1, eq. (9.3) and its support condition"),
    family=FAMILY,
    kind="correction",
    corrects="SEED-S1-CHANGE-OF-VARIABLE",
    expected="verified",
    checks=(change_of_variable_corrected_exact, change_of_variable_corrected_property),
    assumptions=("q > 0 wherever p f != 0 for unbiasedness",),
    uses=("IS-UNBIASED",),
)

# =========================================================================== mu = E[r/r]


@check("exact")
def mu_r_over_r_exact(ctx: Context) -> Evidence:
    """Rationals, 40 random (pi_theta, pi_theta', r): E_{pi_theta}[(pi_theta'/pi_theta) r] == E_{pi_theta'}[r] exactly;
    the literal E[r/r] = 1 equals mu only by coincidence (figure: how many instances)."""
    rng = ctx.rng()
    ok, literal = True, 0
    for _ in range(40):
        k = int(rng.integers(2, 6))
        beh, tgt = _frac_dist(rng, k), _frac_dist(rng, k, positive=False)
        r = [Fraction(int(x), 3) for x in rng.integers(1, 9, size=k)]
        mu_is = sum(b * (t / b) * x for b, t, x in zip(beh, tgt, r))
        mu_on = sum(t * x for t, x in zip(tgt, r))
        ok &= mu_is == mu_on
        literal += mu_on == 1
    return Evidence("exact", bool(ok), "E_pi[(pi'/pi) r] == E_pi'[r] on 40 rational instances",
                    {"instances": 40, "instances_where_literal_r_over_r_would_also_hold": literal, "seed": ctx.seed})


@check("symbolic")
def mu_r_over_r_symbolic(ctx: Context) -> Evidence:
    """sympy, 3 actions, symbolic pi_theta, pi_theta', r: E_{pi_theta}[(pi_theta'/pi_theta) r] - E_{pi_theta'}[r]
    simplifies to 0."""
    b0, b1, t0, t1 = sp.symbols("b0 b1 t0 t1", positive=True)
    r = sp.symbols("r0:3", real=True)
    beh, tgt = [b0, b1, 1 - b0 - b1], [t0, t1, 1 - t0 - t1]
    return symbolic_evidence(sp.simplify(sum(b * (t / b) * x for b, t, x in zip(beh, tgt, r))
                                         - sum(t * x for t, x in zip(tgt, r))), "E_pi[(pi'/pi) r] == E_pi'[r]")


MU_QUOTE = (r"$$\text{True Mean} \quad \mu = \mathbb{E}_{(s,a,r) \sim \pi_{\theta}} \left[\frac{\pi_{\theta'}(\cdot|s)}"
            r"{\pi_{\theta}(\cdot|s)} r(\cdot,s) \right] = \mathbb{E}_{(s,a,r) \sim \pi_{\theta'}} "
            r"\left[\frac{r(\cdot,s)}{r(\cdot,s)} \right]")

claim(
    id="SEED-S1-IS-TRUE-MEAN",
    title="S1: the true mean mu = E_{pi_theta}[(pi_theta'/pi_theta) r] = E_{pi_theta'}[r] (typeset as r/r)",
    statement=r"\mu=\mathbb E_{a\sim\pi_\theta}\Big[\frac{\pi_{\theta'}(a|s)}{\pi_\theta(a|s)}r(a,s)\Big]="
              r"\mathbb E_{a\sim\pi_{\theta'}}[r(a,s)]",
    source=Source(seed_citation(S1, "line 332 ('CHANGE OF VARIABLE - IMPORTANCE SAMPLING'; the line is cut off "
                                    "in the seed)"), quote=MU_QUOTE, seed_file=S1),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(mu_r_over_r_exact, mu_r_over_r_symbolic),
    conventions=("one state s; pi_theta the behaviour that draws the data, pi_theta' the target",),
    reading="As typeset the second expectation is of r/r = 1, which would make every mean 1. Read as its author "
            "plausibly meant it -- the slide's own previous line computes the same mean as sum_a pi_theta'(a|s) "
            "r(a, s) -- the fraction is a garbled r, and the line states the change of variable E_pi[(pi'/pi) r] = "
            "E_pi'[r], which holds (support condition as in SEED-S1-CHANGE-OF-VARIABLE-CORRECTED).",
    notes="The line is truncated in the seed after a third '= E_{(s,a'.",
)

# =========================================================================== ESS rule of thumb


def _ordinary_is_variance(p: Sequence[Fraction], q: Sequence[Fraction], f: Sequence[Fraction]) -> Fraction:
    mu = sum((a * b for a, b in zip(p, f)), Fraction(0))
    return sum((c * (a / c * b) ** 2 for a, b, c in zip(p, f, q)), Fraction(0)) - mu * mu


@check("exact")
def ess_rule_exact(ctx: Context) -> Evidence:
    """Rationals. p uniform on two points, f = (1, 3), behaviour q = (1/4, 3/4) (proportional to p f): every
    weighted value w f equals 2, so the IS mean of n samples has variance 0, while ESS% = 1/E_q[w^2] = 3/4 and the
    rule predicts the on-policy error with 3n/4 samples, Var_p(f)/(3n/4) = 4/(3n) > 0. Conversely with f = (3, 1)
    the IS variance is 16/3 per sample against the rule's 4/3."""
    p = [Fraction(1, 2), Fraction(1, 2)]
    q = [Fraction(1, 4), Fraction(3, 4)]
    rows = []
    for f in ([Fraction(1), Fraction(3)], [Fraction(3), Fraction(1)]):
        mu = sum(a * b for a, b in zip(p, f))
        var_p = sum(a * (b - mu) ** 2 for a, b in zip(p, f))
        ess_frac = 1 / sum(c * (a / c) ** 2 for a, c in zip(p, q))
        var_is = _ordinary_is_variance(p, q, f)
        rule = var_p / ess_frac
        rows.append({"f": [str(x) for x in f], "var_is_per_sample": str(var_is), "rule_var_p_over_ess_frac": str(rule),
                     "ess_fraction": str(ess_frac), "ratio_actual_over_rule": str(var_is / rule)})
    # the reference ESS of the weights agrees with n / E_q[w^2] on a stratified sample (exact proportions)
    w = np.array([2.0] * 1 + [2 / 3] * 3)
    ess_ref = float(I.effective_sample_size(w)) / 4
    holds = all(Fraction(str(r["var_is_per_sample"])) == Fraction(str(r["rule_var_p_over_ess_frac"])) for r in rows)
    parts = [f"f = ({', '.join(r['f'])}): actual {r['var_is_per_sample']} vs rule {r['rule_var_p_over_ess_frac']}"
             for r in rows]
    return Evidence("exact", bool(holds) if abs(ess_ref - 0.75) < 1e-12 else None,
                    "IS error per sample vs the ESS rule: " + "; ".join(parts),
                    {"rows": rows, "reference_ess_fraction_stratified": ess_ref},
                    counterexample=None if holds else rows)


@check("symbolic")
def ess_rule_symbolic(ctx: Context) -> Evidence:
    """sympy, p = (1/2, 1/2), q = (b, 1-b), f = (f0, f1) symbolic: n Var(IS mean) - Var_p(f) E_q[w^2] is not
    identically 0."""
    b = sp.Symbol("b", positive=True)
    f0, f1 = sp.symbols("f0 f1", real=True)
    p, q, f = [sp.Rational(1, 2)] * 2, [b, 1 - b], [f0, f1]
    mu = sum(a * c for a, c in zip(p, f))
    var_is = sum(c * (a / c * x) ** 2 for a, c, x in zip(p, q, f)) - mu**2
    var_p = sum(a * (x - mu) ** 2 for a, x in zip(p, f))
    m2 = sum(c * (a / c) ** 2 for a, c in zip(p, q))
    return symbolic_evidence(sp.simplify(var_is - var_p * m2), "n Var(IS mean) == Var_p(f) n / ESS")


claim(
    id="SEED-S1-ESS-RULE",
    title="S1: with ESS of the IS ratios, 'error behaves as if \"ESS%\" less samples were taken'",
    statement=r"\operatorname{Var}_q\Big[\tfrac1n\textstyle\sum_i w_if(x_i)\Big]\approx\frac{\operatorname{Var}_p(f)}"
              r"{n\cdot\mathrm{ESS\%}},\quad\mathrm{ESS\%}=\frac{1}{\mathbb E_q[w^2]}",
    source=Source(seed_citation(S1, "line 735 ('PROXIMAL POLICY OPTIMIZATION: HEALTH MONITORING')"),
                  quote="Effective Sample Size (ESS) IS estimator ratios, error behaves as if \"ESS%\" less samples "
                        "were taken", seed_file=S1),
    family=FAMILY,
    kind="seed-statement",
    expected="refuted",
    checks=(ess_rule_exact, ess_rule_symbolic),
    conventions=("ESS% = ESS / n, in population form 1 / E_q[w^2]; error = variance of the IS mean",),
    reading="'As if ESS% less samples were taken' is read as its author plausibly meant it: the IS estimate's error "
            "is that of an on-policy average over ESS = n ESS% samples (reading it as n(1 - ESS%) samples only makes "
            "it worse). As a rule for the error of a given estimate it fails in both directions by factors that "
            "depend on f, not on the weights alone: an estimate with ESS% = 75% can have zero error, or four times "
            "the predicted one.",
    notes="ESS (Kong 1992; Kish) is a diagnostic of the weights; Elvira, Martino & Robert (2018) discuss how far "
          "it can be from the actual efficiency.",
)


@check("symbolic")
def ess_corrected_symbolic(ctx: Context) -> Evidence:
    """sympy, 3 points, symbolic p, q, f: n Var(IS mean) = E_q[w^2 f^2] - mu^2 = Var_p(f) E_q[w^2] + R with the
    remainder R = Cov_q(w^2, f^2) + E_q[f^2] E_q[w^2] - E_p[f^2] E_q[w^2] + mu^2 (E_q[w^2] - 1) identically."""
    q0, q1, p0, p1 = sp.symbols("q0 q1 p0 p1", positive=True)
    f = sp.symbols("f0:3", real=True)
    q, p = [q0, q1, 1 - q0 - q1], [p0, p1, 1 - p0 - p1]
    w = [a / c for a, c in zip(p, q)]
    Eq = lambda xs: sum(c * x for c, x in zip(q, xs))  # noqa: E731
    mu = sum(a * x for a, x in zip(p, f))
    m2 = Eq([x**2 for x in w])
    var_is = Eq([(a * x) ** 2 for a, x in zip(w, f)]) - mu**2
    var_p = sum(a * x**2 for a, x in zip(p, f)) - mu**2
    cov = Eq([(a * x) ** 2 for a, x in zip(w, f)]) - m2 * Eq([x**2 for x in f])
    R = cov + Eq([x**2 for x in f]) * m2 - sum(a * x**2 for a, x in zip(p, f)) * m2 + mu**2 * (m2 - 1)
    return symbolic_evidence(sp.simplify(var_is - (var_p * m2 + R)), "n Var(IS mean) = Var_p(f) E_q[w^2] + R")


@check("property")
def ess_corrected_property(ctx: Context) -> Evidence:
    """Hypothesis (p, q, f): the exact variance of the ordinary IS mean of n = 2 draws, by enumerating every ordered
    sample through the reference ordinary_is, equals (E_q[w^2 f^2] - mu^2)/n."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = draw(st.integers(2, 4))
        return (draw(vst.distributions(k)), draw(vst.distributions(k, floor=0.05)),
                np.array(draw(st.lists(st.floats(-3, 3), min_size=k, max_size=k))))

    def body(x: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
        p, q, f = x
        k = len(p)
        w = p / q
        mu = float(p @ f)
        formula = (float(q @ (w * f) ** 2) - mu**2) / 2
        idx = np.array([(i, j) for i in range(k) for j in range(k)])
        probs = q[idx[:, 0]] * q[idx[:, 1]]
        est = I.ordinary_is(f[idx], np.log(p)[idx], np.log(q)[idx])
        exact = float(probs @ (est - probs @ est) ** 2)
        if abs(exact - formula) > 1e-10 * max(1.0, abs(formula)):
            raise Violation("Var(IS mean) != (E_q[w^2 f^2] - mu^2)/n", exact=exact, formula=formula)
        return 0.0

    return property_evidence(ctx, strat(), body, summary="Var(IS mean of 2 draws) == (E_q[w^2 f^2] - mu^2)/2 "
                                                         "(enumeration through the reference ordinary_is)")


claim(
    id="SEED-S1-ESS-RULE-CORRECTED",
    title="Corrected: the IS error is (E_q[w^2 f^2] - mu^2)/n; ESS% describes the weights, not the error of a given f",
    statement=r"n\operatorname{Var}\Big[\tfrac1n\textstyle\sum_iw_if(x_i)\Big]=\mathbb E_q[w^2f^2]-\mu^2="
              r"\frac{\operatorname{Var}_p(f)}{\mathrm{ESS\%}}+R,\ R=\operatorname{Cov}_q(w^2,f^2)+(\mathbb E_q[f^2]-"
              r"\mathbb E_p[f^2])\mathbb E_q[w^2]+\mu^2(\mathbb E_q[w^2]-1)",
    source=Source("Owen (2013) ch. 9.1, eq. (9.3) (variance of the IS mean); Kong (1992) and Elvira, Martino & "
                  "Robert (2018) arXiv:1809.04129 (ESS as an approximation)"),
    family=FAMILY,
    kind="correction",
    corrects="SEED-S1-ESS-RULE",
    expected="verified",
    checks=(ess_corrected_symbolic, ess_corrected_property),
    uses=("IS-VARIANCE", "ESS"),
    notes="The rule is exact when the remainder R vanishes (for instance f independent of the weight under q with "
          "E_q[f^2] = E_p[f^2]); a small ESS% warns that the weights are uneven, not how large a given error is.",
)

