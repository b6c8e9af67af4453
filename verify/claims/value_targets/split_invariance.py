"""Truncation split invariance (TRUNCATION-SPLIT-INVARIANCE)."""

from __future__ import annotations

from typing import Any

import numpy as np

from reference_impls import returns as R
from verify.claims.value_targets._common import (
    CONVENTIONS,
    FAMILY,
    _dyadic_instance,
    _fixed_boundary_example,
    _scale,
    _sequences,
)
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim

# --------------------------------------------------------------------------- TRUNCATION-SPLIT-INVARIANCE


def _all_targets(x: dict[str, Any], log_rhos: np.ndarray) -> dict[str, np.ndarray]:
    r, v, nv, te, tr, g = (x[k] for k in ("rewards", "values", "next_values", "terminated", "truncated", "gamma"))
    lam = x["lam"]
    vs, pg = R.vtrace(r, v, nv, log_rhos, te, tr, g, lam, 1.5, 0.7, 1.2)
    return {"discounted_returns": R.discounted_returns(r, nv, te, tr, g),
            "gae": R.gae(r, v, nv, te, tr, g, lam),
            "vtrace_vs": vs, "vtrace_pg": pg,
            "retrace": R.retrace(r, v, nv, log_rhos, te, tr, g, lam)}


def _split_gap(x: dict[str, Any], log_rhos: np.ndarray, exact: bool) -> tuple[float, int]:
    """Max |whole - pieces| over every cut at an interior episode end of row 0, and the number of cuts."""
    row = {k: (val[:1] if isinstance(val, np.ndarray) else val) for k, val in x.items()}
    lr = log_rhos[:1]
    whole = _all_targets(row, lr)
    ends = np.flatnonzero((row["terminated"] | row["truncated"])[0, :-1])
    gap = 0.0
    for e in ends:
        parts = []
        for sl in (slice(0, e + 1), slice(e + 1, None)):
            piece = {k: (val[:, sl] if isinstance(val, np.ndarray) else val) for k, val in row.items()}
            parts.append(_all_targets(piece, lr[:, sl]))
        for name, w in whole.items():
            joined = np.concatenate([parts[0][name], parts[1][name]], axis=-1)
            d = float(np.max(np.abs(w - joined)))
            gap = max(gap, d if not exact else float(np.any(w != joined)))
    return gap, len(ends)


@check("property")
def split_invariance_property(ctx: Context) -> Evidence:
    """Cutting a sequence at any episode end and processing the pieces separately changes no output of
    discounted_returns, gae, vtrace (vs and pg advantages) or retrace."""
    cuts = [0]
    worst = [0.0]

    def body(x: dict[str, Any]) -> float:
        gap, k = _split_gap(x, x["log_rhos"], exact=False)
        cuts[0] += k
        rel = gap / (_scale(x["rewards"], x["values"], x["next_values"]) * x["rewards"].shape[-1])
        worst[0] = max(worst[0], rel)
        if rel > 1e-12:
            raise Violation(f"whole vs pieces differ by {gap:.3g}", gap=gap)
        return rel

    ev = property_evidence(ctx, _sequences(min_T=2, max_T=12), body, examples=[_fixed_boundary_example()],
                           summary="whole-sequence targets equal the concatenated per-piece targets at every interior "
                                   "episode end (5 target functions), within 1e-12 relative", target_label="gap")
    ev.figures.update({"cuts_tested": cuts[0], "max_relative_gap": worst[0]})
    return ev


@check("exact")
def split_invariance_exact(ctx: Context) -> Evidence:
    """On dyadic inputs (exactly computable) whole and pieces agree bit for bit, for every cut."""
    rng = ctx.rng()
    cuts, differing = 0, 0
    for _ in range(40):
        d = _dyadic_instance(rng, 1, 10)
        x = {**{k: d[k] for k in ("rewards", "values", "next_values", "terminated", "truncated")},
             "gamma": 0.5, "lam": 0.5}
        gap, k = _split_gap(x, np.log(d["ratios"]), exact=True)
        cuts += k
        differing += int(gap > 0)
    return Evidence("exact", differing == 0 and cuts > 0,
                    f"{cuts} cuts at episode ends in 40 dyadic sequences: all 5 targets bit-identical whole vs pieces",
                    {"cuts": cuts, "sequences_with_a_difference": differing, "seed": ctx.seed})


claim(
    id="TRUNCATION-SPLIT-INVARIANCE",
    title="Cutting a batch at an episode end and processing the pieces separately changes nothing",
    statement=r"f(x_{0:T})=f(x_{0:e+1})\,\Vert\,f(x_{e+1:T})\ \text{for every episode end } e "
              r"(\text{terminated or truncated}),\ f\in\{G,\hat A^{GAE},v^{V\text{-trace}},A^{pg},G^{Retrace}\}",
    source=Source("Gymnasium terminated/truncated semantics (Towers et al. 2024); Pardo et al. (2018) "
                  "'Time limits in RL'; peer bugs: pytorch/rl #4209, tianshou #886, SB3 #633"),
    family=FAMILY,
    expected="verified",
    checks=(split_invariance_property, split_invariance_exact),
    conventions=CONVENTIONS,
    assumptions=("the piece ending at a truncation keeps its truncated flag (a piece's last step is a cut anyway)",),
)
