"""PUKE's redistribution (PUKE-REDISTRIBUTION)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import token_models as TM
from verify.claims.mismatch._common import FAMILY, S3, flow_fraction
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation


@check("symbolic")
def redistribution_symbolic(ctx: Context) -> Evidence:
    """sympy, K = 5 with symbolic probabilities: for two sampled actions, dpi_b/eta = pi_b (C S2 - C pi_b -
    sum_i c_i pi_{y_i}) for every unsampled b (C = sum c, S2 = sum pi^2); for a single negative update a on y,
    dpi_v = a pi_v (pi_v + pi_y - S2); the logit push is dz_b = -pi_b C."""
    p = sp.symbols("p0:4", positive=True)
    probs = [*p, 1 - sum(p)]
    c0, c1, a = sp.symbols("c0 c1 a", real=True)
    C = c0 + c1
    S2 = sum(x**2 for x in probs)

    def flow(cs: dict[int, Any]) -> tuple[list[Any], list[Any]]:
        Ct = sum(cs.values())
        dz = [-Ct * x for x in probs]
        for k, v in cs.items():
            dz[k] += v
        m = sum(x * d for x, d in zip(probs, dz))
        return [x * (d - m) for x, d in zip(probs, dz)], dz

    fl, dz = flow({0: c0, 1: c1})
    e1 = sum((fl[b] - probs[b] * (C * S2 - C * probs[b] - (c0 * probs[0] + c1 * probs[1]))) ** 2 for b in (2, 3, 4))
    e2 = sum((dz[b] + probs[b] * C) ** 2 for b in (2, 3, 4))
    fl1, _ = flow({3: -a})
    e3 = sum((fl1[v] - a * probs[v] * (probs[v] + probs[3] - S2)) ** 2 for v in (0, 1, 2, 4))
    return symbolic_evidence(sp.expand(e1 + e2 + e3), "first-order redistribution formulas (sympy)")


@check("exact")
def redistribution_exact(ctx: Context) -> Evidence:
    """Worked example, rational: pi = (0.6, 0.2, 0.1, 0.05, 0.03, 0.02), a unit negative update on the 0.03 token:
    dpi = pi_v (pi_v + 0.03 - sum pi^2) = (+0.1297, -0.0368, -0.0284, -0.0173, -0.0406, -0.0074) (rounded): the top
    token gains 3.2x the ejected mass, every other token loses."""
    pi = [Fraction(x).limit_denominator(1000) for x in (0.6, 0.2, 0.1, 0.05, 0.03, 0.02)]
    fl = flow_fraction(pi, (4,), [Fraction(-1)])
    S2 = sum(x * x for x in pi)
    formula = [x * (x + pi[4] - S2) for x in pi]
    ok_formula = all(fl[v] == formula[v] for v in range(6) if v != 4)
    signs = [1 if x > 0 else -1 for x in fl]
    passed = ok_formula and signs == [1, -1, -1, -1, -1, -1]
    return Evidence("exact", passed, "rich get richer: the negative update feeds the likeliest token",
                    {"flow": [round(float(x), 4) for x in fl], "sum_pi_sq": float(S2),
                     "top_gain_over_ejected": float(fl[0] / (-fl[4]))})


@check("property")
def redistribution_property(ctx: Context) -> Evidence:
    """Hypothesis over (pi, two sampled actions, c): token_models.first_order_flow on every unsampled action equals
    pi_b (C S2 - C pi_b - sum_i c_i pi_{y_i}), logit_step gives -pi_b C, and the flow sums to 0."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
        K = draw(st.integers(3, 8))
        raw = np.array(draw(st.lists(st.floats(0.01, 1.0), min_size=K, max_size=K)))
        c = np.array(draw(st.lists(st.floats(-5.0, 5.0), min_size=2, max_size=2)))
        return raw / raw.sum(), c

    def body(x: tuple[np.ndarray, np.ndarray]) -> float:
        p, c = x
        acts = np.array([0, 1])
        fl = TM.first_order_flow(p, acts, c)
        dz = TM.logit_step(p, acts, c)
        C, S2 = c.sum(), p @ p
        pred = p[2:] * (C * S2 - C * p[2:] - (c[0] * p[0] + c[1] * p[1]))
        err = max(float(np.max(np.abs(fl[2:] - pred))), float(np.max(np.abs(dz[2:] + p[2:] * C))), abs(fl.sum()))
        if err > 1e-12:
            raise Violation(f"error {err:.3g}", p=p.tolist(), c=c.tolist())
        return err

    return property_evidence(ctx, strat(), body, summary="first-order redistribution formula", target_label="error")


claim(
    id="PUKE-REDISTRIBUTION",
    title="Where the puke goes: a deterministic, rich-get-richer first-order flow",
    statement=r"d\pi_b/\eta=\pi_b\big(C\textstyle\sum_v\pi_v^2-C\pi_b-\sum_ic_i\pi_{y_i}\big)\ (b\text{ unsampled},\ "
              r"C=\sum_ic_i);\ \text{single negative update }-a\text{ on }y:\ d\pi_v/\eta=a\,\pi_v(\pi_v+\pi_y-"
              r"\textstyle\sum\pi^2)",
    source=Source("Derived here: first-order softmax flow of a two-sample update (corrects "
                  + seed_citation(S3, "line 53") + ")"),
    family=FAMILY,
    kind="theorem",
    expected="verified",
    checks=(redistribution_symbolic, redistribution_exact, redistribution_property),
    conventions=("softmax logits, first order in eta",),
    notes="Uniform only when the unsampled probabilities are equal. In logit space every unsampled logit moves by "
          "-eta pi_b C, which is SAPO's 'negative updates increase the logits of many inappropriate tokens'.",
)
