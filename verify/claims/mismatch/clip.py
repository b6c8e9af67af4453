"""Clipping and PUKE: seed 003's clip statements and the clip condition (PUKE-CLIP-CONDITION)."""

from __future__ import annotations

from fractions import Fraction

import mpmath as mp
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import token_models as TM
from verify.claims.mismatch._common import FAMILY, R_BLOG, S3, W_BLOG, blog_coefficients, flow_fraction, leak
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

# ---------------------------------------------------------------- S3 "clip just the right amount"

#: pi(y0) = 0.05, pi(y1) = 0.3, the remaining 0.65 spread unevenly over 8 actions.
CLIP_PI = (0.05, 0.3, 0.2, 0.15, 0.1, 0.08, 0.05, 0.03, 0.02, 0.02)


def clipped_coefficients(tau: Fraction) -> list[Fraction]:
    return blog_coefficients(baseline=True, clip=tau)


@check("exact")
def clip_absorbs_exact(ctx: Context) -> Evidence:
    """Rational arithmetic. S3's own example (uniform pi): clipping w at 1/2 absorbs everything (holds). With
    pi(y0) = 0.05, pi(y1) = 0.3 and the other 0.65 unevenly spread: over every clip level tau (the coefficients are
    piecewise linear in tau: c = tau (2/5, -2/5) for tau <= 1/2, (1/5, -2 tau/5) for 1/2 <= tau <= 4, constant
    after), no tau gives zero flow to all unsampled actions, and the total leak has no zero either."""
    pi = [Fraction(x).limit_denominator(1000) for x in CLIP_PI]
    uni = flow_fraction([Fraction(1, 10)] * 10, (0, 1), clipped_coefficients(Fraction(1, 2)))
    blog_example_ok = all(x == 0 for x in uni[2:])

    def flows(tau: Fraction) -> list[Fraction]:
        return flow_fraction(pi, (0, 1), clipped_coefficients(tau))

    # tau <= 1/2: c = tau (2/5, -2/5), flow = tau * flow(1): the same non-zero pattern scaled
    f_half = flows(Fraction(1, 2))
    seg1_zero_possible = all(x == 0 for x in f_half[2:])
    # 1/2 <= tau <= 4: each unsampled flow is affine in tau; find its roots and the root of the total leak
    fa, fb = flows(Fraction(1, 2)), flows(Fraction(4))
    roots = []
    for k in range(2, 10):
        slope = (fb[k] - fa[k]) / Fraction(7, 2)
        roots.append(None if slope == 0 else Fraction(1, 2) - fa[k] / slope)
    common_root = len({r for r in roots}) == 1 and roots[0] is not None and Fraction(1, 2) <= roots[0] <= 4
    La, Lb = leak(fa), leak(fb)
    total_root = None if Lb == La else Fraction(1, 2) - La / ((Lb - La) / Fraction(7, 2))
    total_zero_in_range = total_root is not None and Fraction(1, 2) <= total_root <= 4
    holds_in_general = seg1_zero_possible or common_root or total_zero_in_range
    return Evidence("exact", holds_in_general,
                    "no clip level absorbs the puke when pi(y0) != pi(y1) and the other actions differ",
                    {"blog_uniform_example_tau_1/2_zero_leak": blog_example_ok, "pi": list(CLIP_PI),
                     "leak_at_tau_1/2": float(leak(fa)), "leak_at_tau_4": float(leak(fb)),
                     "total_leak_root_tau": None if total_root is None else float(total_root),
                     "leak_at_c=+-0.2": float(leak(flow_fraction(pi, (0, 1),
                                                                       [Fraction(1, 5), Fraction(-1, 5)])))},
                    counterexample={"pi": list(CLIP_PI), "tau_range": "(0, inf)",
                                    "min_abs_total_leak_on_[1/2,4]": float(min(abs(La), abs(Lb)))})


@check("high-precision")
def clip_absorbs_scan(ctx: Context) -> Evidence:
    """mpmath (30 digits) scan of 2000 clip levels tau in (0, 8] on the same pi: the largest flow to an unsampled
    action, relative to the mass ejected from y1, never drops to 0 (its minimum over the scan is reported)."""
    best = mp.inf
    best_tau = 0.0
    with mp.workdps(30):
        p = [mp.mpf(x) for x in CLIP_PI]
        S2 = mp.fsum(x * x for x in p)
        for k in range(1, 2001):
            tau = mp.mpf(8) * k / 2000
            c0 = min(mp.mpf("0.5"), tau) * mp.mpf("0.4")
            c1 = -min(mp.mpf(4), tau) * mp.mpf("0.4")
            C = c0 + c1
            m = c0 * p[0] + c1 * p[1]
            flows = [x * (C * S2 - C * x - m) for x in p[2:]]
            ejected = abs(p[1] * (c1 - C * p[1] - (m - C * S2)))  # |dpi(y1)|
            worst = max(abs(f) for f in flows) / ejected
            if worst < best:
                best, best_tau = worst, float(tau)
    holds = best < mp.mpf(10) ** -20
    return Evidence("high-precision", bool(holds), "scan over clip levels: some unsampled action always moves",
                    {"min_over_tau_of_max_unsampled_flow_over_ejected": float(best), "at_tau": best_tau, "dps": 30,
                     "grid": "tau = 8k/2000, k = 1..2000"},
                    counterexample={"min_max_flow": float(best)})


claim(
    id="SEED-003-CLIP-ABSORBS",
    title="S3: clipping 'just the right amount' makes y0 absorb all the probability puked by y1",
    statement=r"\exists\,\tau:\ \text{with } w\to\min(w,\tau),\ d\pi_b=0\ \text{for every unsampled }b",
    source=Source(seed_citation(S3, "line 57"),
                  quote="If we clip just the right amount, then all the probability puked by $(x, y_1)$ gets "
                                 "absorbed by $(x, y_0)$.", seed_file=S3),
    family=FAMILY,
    kind="seed-statement",
    expected="refuted",
    checks=(clip_absorbs_exact, clip_absorbs_scan),
    conventions=("first order in eta; mean baseline of the two samples; clip applied to both weights",),
    notes="True in S3's implicit uniform setting (tau = 1/2); false in general: see PUKE-CLIP-CONDITION.",
)


@check("symbolic")
def clip_condition_symbolic(ctx: Context) -> Evidence:
    """sympy: (i) with pi(y0) = pi(y1) = p and all unsampled equal, zero unsampled flow forces C = 0 (p > 0, q > 0);
    (ii) K = 3, pi = (1/2, 3/10, 1/5): c = (1/5, -8/15) (= clipping w1 at 4/3 in S3's example) gives zero flow to the
    unsampled action although pi(y0) != pi(y1) and C = -1/3 != 0."""
    p, c0, c1 = sp.symbols("p c0 c1", real=True)
    m = sp.Symbol("m", positive=True, integer=True)
    q = (1 - 2 * p) / m
    C = c0 + c1
    S2 = 2 * p**2 + m * q**2
    cond = sp.expand(q * (C * S2 - C * q - (c0 * p + c1 * p)))  # flow to each unsampled action
    # cond = -C p q (1 - 2p + 2q) ... factor shows C is a factor with a non-vanishing cofactor for 0 < p < 1/2
    cof = sp.factor(sp.cancel(cond / C))
    expected_cof = -p * q * (1 - 2 * p + 2 * q) + 0 * m
    e1 = sp.simplify(cof - sp.expand(expected_cof))
    pi = [sp.Rational(1, 2), sp.Rational(3, 10), sp.Rational(1, 5)]
    cc = [sp.Rational(1, 5), sp.Rational(-8, 15)]
    Ck = sum(cc)
    S2k = sum(x**2 for x in pi)
    flow_b = pi[2] * (Ck * S2k - Ck * pi[2] - (cc[0] * pi[0] + cc[1] * pi[1]))
    return symbolic_evidence(e1**2 + flow_b**2,
                             "equal sampled probs: unsampled flow = -C p q (1 - 2p + 2q) (vanishes only at C = 0); "
                             "K = 3 example has zero flow with C != 0")


@check("property")
def clip_condition_property(ctx: Context) -> Evidence:
    """Hypothesis over (pi, c), including constructed cases satisfying the condition (C = 0 with pi(y0) = pi(y1);
    K = 3 with c1 solved from the condition): the flow to every unsampled action vanishes iff for all unsampled b,
    pi_b C = C sum pi^2 - (c0 pi0 + c1 pi1)."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
        kind = draw(st.sampled_from(["random", "equal", "k3"]))
        c0 = draw(st.floats(0.05, 3.0))
        if kind == "k3":
            raw = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=3, max_size=3)))
            p = raw / raw.sum()
            S2, qb = p @ p, p[2]
            den = S2 - qb - p[1]
            if abs(den) < 1e-3:
                den = 1e-3
            return p, np.array([c0, c0 * (p[0] - S2 + qb) / den])
        K = draw(st.integers(4, 8))
        raw = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=K, max_size=K)))
        if kind == "equal":
            raw[1] = raw[0]
            return raw / raw.sum(), np.array([c0, -c0])
        return raw / raw.sum(), np.array([c0, draw(st.floats(-3.0, 3.0))])

    def body(x: tuple[np.ndarray, np.ndarray]) -> float:
        p, c = x
        fl = TM.first_order_flow(p, np.array([0, 1]), c)
        C, S2 = c.sum(), p @ p
        scale = max(1.0, float(np.max(np.abs(c))))
        resid = np.abs(p[2:] * C - (C * S2 - (c[0] * p[0] + c[1] * p[1])))
        cond = bool(np.all(resid < 1e-9 * scale))
        zero = bool(np.max(np.abs(fl[2:])) < 1e-9 * scale)
        if cond != zero:
            raise Violation("condition and zero flow disagree", p=p.tolist(), c=c.tolist())
        return None  # type: ignore[return-value]

    return property_evidence(ctx, strat(), body, summary="zero unsampled flow iff the exact condition holds")


@check("exact")
def clip_condition_exact(ctx: Context) -> Evidence:
    """Rational arithmetic: (a) S3's example (uniform, tau = 1/2): C = 0, pi0 = pi1, zero unsampled flow;
    (b) pi(y0) = 0.05, pi(y1) = 0.3, c = (1/5, -1/5): C = 0 but total leak +0.0325; (c) K = 3,
    pi = (1/2, 3/10, 1/5), S3's weights with w1 clipped at tau = 4/3: c = (1/5, -8/15), C = -1/3, zero flow to the
    unsampled action — the condition holds with C != 0 and pi(y0) != pi(y1)."""
    a = flow_fraction([Fraction(1, 10)] * 10, (0, 1), clipped_coefficients(Fraction(1, 2)))
    pi_b = [Fraction(1, 20), Fraction(3, 10)] + [Fraction(13, 160)] * 8
    b = flow_fraction(pi_b, (0, 1), [Fraction(1, 5), Fraction(-1, 5)])
    pi_c = [Fraction(1, 2), Fraction(3, 10), Fraction(1, 5)]
    cc = clipped_coefficients(Fraction(4, 3))
    c = flow_fraction(pi_c, (0, 1), cc)

    def cond(pi: list[Fraction], co: list[Fraction]) -> bool:
        C, S2 = co[0] + co[1], sum(x * x for x in pi)
        return all(pb * C == C * S2 - (co[0] * pi[0] + co[1] * pi[1]) for pb in pi[2:])

    passed = (all(x == 0 for x in a[2:]) and cond([Fraction(1, 10)] * 10, clipped_coefficients(Fraction(1, 2)))
              and leak(b) == Fraction(13, 400) and not cond(pi_b, [Fraction(1, 5), Fraction(-1, 5)])
              and cc == [Fraction(1, 5), Fraction(-8, 15)] and c[2] == 0 and c[0] == -c[1] and cond(pi_c, cc))
    return Evidence("exact", passed, "the exact condition decides every case; K = 3 absorbs with sum c != 0",
                    {"uniform_tau_1/2_leak": float(leak(a)), "leak_pi_y0_0.05_pi_y1_0.3": float(leak(b)),
                     "k3_coefficients": [str(x) for x in cc], "k3_flow": [str(x) for x in c]})


claim(
    id="PUKE-CLIP-CONDITION",
    title="Exactly when a coefficient choice (e.g. a clip level) makes y0 absorb all the puke",
    statement=r"d\pi_b=0\ \forall b\notin\{y_0,y_1\}\iff \pi_bC=C\textstyle\sum_v\pi_v^2-(c_0\pi_{y_0}+c_1\pi_{y_1})"
              r"\ \forall b;\ \text{if the unsampled }\pi_b\text{ are not all equal: }"
              r"\iff C=0\wedge\pi_{y_0}=\pi_{y_1}",
    source=Source("Derived here: when a clipped two-sample update sends no mass to the unsampled actions (Σc = 0 and "
                  "equal current probabilities)"),
    family=FAMILY,
    kind="correction",
    corrects="SEED-003-CLIP-ABSORBS",
    expected="verified",
    checks=(clip_condition_exact, clip_condition_symbolic, clip_condition_property),
    conventions=("first order in eta; c_0 != 0",),
    notes="The condition 'iff Σc_i = 0 AND π(y0) = π(y1)' is the condition when the unsampled actions have "
          "unequal probabilities (and it is always sufficient). When they all share one probability (e.g. K = 3) "
          "one linear equation in (c0, c1) suffices: pi = (1/2, 3/10, 1/5) with w1 clipped at 4/3 in S3's example "
          "absorbs everything with Σc = -1/3.",
)


# =========================================================================== clipping mitigates if ranges allow


def _clip(w: Fraction, lo: Fraction, hi: Fraction) -> Fraction:
    return min(max(w, lo), hi)


@check("exact")
def clip_ranges_exact(ctx: Context) -> Evidence:
    """Rationals, S3's example (w = (1/2, 4), r = (1, 1/5), reward ratio 5): clipping the weights into [1/2, c]
    restores the reward ordering (w0 r0 > w1 r1) exactly when the clipped range ratio c / (1/2) is below the reward
    ratio 5, i.e. c < 5/2; at c = 5/2 the pushes tie, above it the meh outcome still wins."""
    lo = Fraction(1, 2)
    rows = []
    ok = True
    for c in (Fraction(1), Fraction(2), Fraction(5, 2), Fraction(3), Fraction(4)):
        a, b = _clip(W_BLOG[0], lo, c) * R_BLOG[0], _clip(W_BLOG[1], lo, c) * R_BLOG[1]
        dominated = (c / lo) < R_BLOG[0] / R_BLOG[1]
        ok &= (a > b) == dominated
        rows.append({"clip_high": str(c), "range_ratio": str(c / lo), "push_good": str(a), "push_meh": str(b),
                     "reward_order_restored": a > b})
    return Evidence("exact", bool(ok), "reward order restored iff clipped weight range ratio < reward ratio 5",
                    {"rows": rows})


@check("property")
def clip_ranges_property(ctx: Context) -> Evidence:
    """Hypothesis (weights w0, w1 > 0, clip range [a, b], rewards r0 > r1 > 0): if b / a < r0 / r1 the clipped
    pushes keep the reward order whatever the weights; if b / a > r0 / r1 the weights (a, b) reverse it (the
    condition cannot be weakened). Exact rationals."""
    f = st.fractions(Fraction(1, 20), Fraction(20), max_denominator=50)

    def body(x: tuple[Fraction, Fraction, Fraction, Fraction, Fraction, Fraction]) -> float | None:
        w0, w1, a, span, r1, gap = x
        b, r0 = a * (1 + span), r1 * (1 + gap)
        if b / a < r0 / r1:
            if not _clip(w0, a, b) * r0 > _clip(w1, a, b) * r1:
                raise Violation("order reversed although the ranges are dominated", w0=str(w0), w1=str(w1),
                                a=str(a), b=str(b), r0=str(r0), r1=str(r1))
        elif b / a > r0 / r1 and not a * r0 < b * r1:
            raise Violation("no reversing witness although the weight range is wider", a=str(a), b=str(b))
        return float((b / a) / (r0 / r1))

    return property_evidence(ctx, st.tuples(f, f, f, f, f, f), body, target_label="range ratio / reward ratio",
                             summary="clipped range dominated by the reward range => reward order kept")


claim(
    id="SEED-003-CLIP-RANGES",
    title="S3: clipping mitigates pertinacity 'if the clipped range of the importance weights is dominated by the "
          "range of the rewards'",
    statement=r"w_i\in[a,b]\ \text{after clipping},\ \frac ba<\frac{r_0}{r_1}\ (r_0>r_1>0)\Rightarrow "
              r"\operatorname{clip}(w_0)r_0>\operatorname{clip}(w_1)r_1\ \text{for all }w",
    source=Source(seed_citation(S3, "line 45"),
                  quote="Clipping can mitigate this to some degree if the clipped range of the importance weights is "
                        "dominated by the range of the rewards", seed_file=S3),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(clip_ranges_exact, clip_ranges_property),
    conventions=("'range' read multiplicatively: max/min of the clipped weights vs r0/r1, positive rewards",),
    reading="'Dominated by the range of the rewards' is read as the spread of the clipped weights (max/min) being "
            "smaller than the spread of the rewards (r0/r1), the comparison that decides the order of w r. So read, "
            "the clipped pushes follow the rewards for any weights, and the condition is sharp.",
    notes="The post adds that clipping still pushes the meh outcome up and draws probability from the other actions "
          "(SEED-003-PUKE-ARBITRARY, PUKE-REDISTRIBUTION).",
)
