"""Pertinacity (PERTINACITY)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import token_models as TM
from verify.claims.mismatch._common import FAMILY, K_BLOG, S3, blog_coefficients, flow_fraction
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation


@check("exact")
def pertinacity_exact(ctx: Context) -> Evidence:
    """Blog example, rational arithmetic: uniform pi over 10 actions, c = w r = (1/2, 4/5):
    dpi/eta = (37/1000, 67/1000, -13/1000 x 8) exactly, and token_models.first_order_flow reproduces it;
    the meh outcome y1 gains 67/37 times the good one's gain."""
    pi = [Fraction(1, K_BLOG)] * K_BLOG
    c = blog_coefficients(baseline=False)
    fl = flow_fraction(pi, (0, 1), c)
    expected = [Fraction(37, 1000), Fraction(67, 1000)] + [Fraction(-13, 1000)] * 8  # hand derivation: 0.1 * dz
    f64 = TM.first_order_flow(np.full(K_BLOG, 0.1), np.array([0, 1]), np.array([float(x) for x in c]))
    err = float(np.max(np.abs(f64 - np.array([float(x) for x in fl]))))
    passed = fl == expected and err < 1e-15 and fl[1] > fl[0]
    return Evidence("exact", passed, "pertinacity: the meh outcome (large w, small r) gains more probability",
                    {"coefficients": [str(x) for x in c], "flow": [str(x) for x in fl[:3]],
                     "gain_ratio_meh_over_good": float(fl[1] / fl[0]), "float64_max_error": err})


@check("symbolic")
def pertinacity_symbolic(ctx: Context) -> Evidence:
    """sympy: with pi(y0) = pi(y1) = p (4 actions, others symbolic), dpi1 - dpi0 = p (c1 - c0) identically, so
    dpi1 > dpi0 iff w1 r1 > w0 r0."""
    p, q2, c0, c1 = sp.symbols("p q2 c0 c1", positive=True)
    probs = [p, p, q2, 1 - 2 * p - q2]
    c = [c0, c1]
    C = c0 + c1
    dz = [-C * x for x in probs]
    dz[0] += c0
    dz[1] += c1
    m = sum(x * d for x, d in zip(probs, dz))
    dpi = [x * (d - m) for x, d in zip(probs, dz)]
    return symbolic_evidence(sp.expand(dpi[1] - dpi[0] - p * (c[1] - c[0])), "dpi1 - dpi0 = p (c1 - c0) (sympy)")


@check("property")
def pertinacity_property(ctx: Context) -> Evidence:
    """Hypothesis over (pi with pi(y0) = pi(y1), w, r >= 0): w1 r1 > w0 r0 implies dpi(y1) > dpi(y0)."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
        K = draw(st.integers(3, 8))
        p = draw(st.floats(0.01, 0.45))
        rest = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=K - 2, max_size=K - 2)))
        probs = np.concatenate([[p, p], (1 - 2 * p) * rest / rest.sum()])
        w = np.array(draw(st.lists(st.floats(0.01, 10.0), min_size=2, max_size=2)))
        r = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=2)))
        return probs, w * r

    def body(x: tuple[np.ndarray, np.ndarray]) -> float:
        probs, c = x
        fl = TM.first_order_flow(probs, np.array([0, 1]), c)
        margin = float(fl[1] - fl[0])
        want = probs[0] * (c[1] - c[0])
        if abs(margin - want) > 1e-12 or (c[1] > c[0] + 1e-9 and margin <= 0):
            raise Violation(f"dpi1 - dpi0 = {margin!r}, expected {want!r}", c=c.tolist())
        return -abs(margin)

    return property_evidence(ctx, strat(), body, summary="equal probabilities: larger w r gains more probability",
                             target_label="neg_margin")


claim(
    id="PERTINACITY",
    title="Pertinacity: importance weights can push more probability onto the worse sampled outcome",
    statement=r"\Delta z=\eta\sum_i c_i(e_{y_i}-\pi),\ c_i=w_ir_i;\ "
              r"d\pi=\pi\odot(\Delta z-(\pi\cdot\Delta z)\mathbf 1);"
              r"\ \pi(y_0)=\pi(y_1)\Rightarrow d\pi_{y_1}-d\pi_{y_0}=\eta\,\pi(y_0)(w_1r_1-w_0r_0)",
    source=Source(seed_citation(S3, "line 39 ('Pertinacity')"),
                  quote="Instead we are more aggressively moving probability onto a meh outcome ($r_1$) just because "
                        "the ratio of our probability to the logging probability is much bigger for the meh outcome "
                        "($w_1$).",
                  seed_file=S3),
    family=FAMILY,
    expected="verified",
    checks=(pertinacity_exact, pertinacity_symbolic, pertinacity_property),
    conventions=("softmax over K actions, gradient ascent on the logits, first order in eta",),
)
