"""The length bias of loss aggregation modes (LOSS-AGG-LENGTH-BIAS)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from reference_impls import losses as L
from verify.claims.ppo_grpo._common import FAMILY, MODES, agg_token_weights, torch_mirrors
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim


@check("exact")
def agg_weights_exact(ctx: Context) -> Evidence:
    """Per-token weights of each mode, read off the numpy reference (unit vectors) and the torch
    mirror (autograd), equal the exact rationals 1/sum L, 1/(B L_i), 1/B, 1/(B N)."""
    torch, TL, _ = torch_mirrors()
    lengths, horizon = [1, 2, 4], 5
    mask = np.zeros((3, horizon), dtype=bool)
    for i, li in enumerate(lengths):
        mask[i, :li] = True
    worst = 0.0
    table = {}
    for mode in MODES:
        w = agg_token_weights(lengths, horizon, mode)
        vt = torch.zeros((3, horizon), dtype=torch.float64, requires_grad=True)
        TL.aggregate(vt, torch.as_tensor(mask), mode).backward()
        for i in range(3):
            for t in range(lengths[i]):
                e = np.zeros((3, horizon))
                e[i, t] = 1.0
                worst = max(worst, abs(L.aggregate(e, mask, mode) - float(w[i])),
                            abs(float(vt.grad[i, t]) - float(w[i])))
        table[mode] = {"per-token": [str(x) for x in w], "per-sequence": [str(x * li) for x, li in zip(w, lengths)]}
    ok = worst <= 1e-16
    return Evidence("exact", ok, "aggregation weights (lengths 1, 2, 4; T = 5) == exact rationals", {
        "max_abs_error": worst, "weights": table})


@check("property")
def agg_property(ctx: Context) -> Evidence:
    """Hypothesis: aggregate == sum of the exact weights times the values (random masks without
    empty rows); with equal lengths L: token-mean == seq-mean-token-mean == seq-mean-token-sum / L."""
    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
        b, t = draw(st.integers(1, 4)), draw(st.integers(1, 6))
        v = np.array(draw(st.lists(st.floats(-5, 5), min_size=b * t, max_size=b * t))).reshape(b, t)
        m = np.array(draw(st.lists(st.booleans(), min_size=b * t, max_size=b * t))).reshape(b, t)
        m[np.arange(b), draw(st.lists(st.integers(0, t - 1), min_size=b, max_size=b))] = True
        return v, m

    def body(x: tuple[np.ndarray, np.ndarray]) -> float:
        v, m = x
        lengths = [int(s) for s in m.sum(axis=1)]
        worst = 0.0
        for mode in MODES:
            w = agg_token_weights(lengths, v.shape[1], mode)
            want = sum(float(w[i]) * float(v[i][m[i]].sum()) for i in range(len(lengths)))
            err = abs(L.aggregate(v, m, mode) - want)
            worst = max(worst, err)
            if err > 1e-12:
                raise Violation(f"{mode}: aggregate != weighted sum", got=L.aggregate(v, m, mode), want=want)
        full = np.ones_like(m)
        tm, sm, ss = (L.aggregate(v, full, md) for md in MODES[:3])
        if abs(tm - sm) > 1e-12 or abs(ss / v.shape[1] - tm) > 1e-12:
            raise Violation("equal lengths: modes do not coincide", token_mean=tm, seq_mean=sm, seq_sum=ss)
        return worst

    return property_evidence(ctx, strat(), body, target_label="error",
                             summary="aggregate == exact weighted sum; modes coincide for equal lengths")


claim(
    id="LOSS-AGG-LENGTH-BIAS",
    title="Loss aggregation modes weigh sequences by length differently (exact per-sequence weights)",
    statement=r"\text{per-sequence weight of } \textstyle\sum_t\ell_{i,t}:\ \text{token-mean } L_i/\sum_jL_j;\ "
              r"\text{seq-mean-token-mean } 1/B\ (\text{tokens } 1/(BL_i));\ \text{seq-mean-token-sum } L_i/B\ "
              r"(\text{tokens } 1/B);\ \text{seq-mean-token-sum-norm } L_i/(BN)",
    source=Source("Liu et al. (2025) Dr. GRPO, sec. 3; Yu et al. (2025) DAPO (token-level loss); verl agg_loss"),
    family=FAMILY,
    expected="verified",
    checks=(agg_weights_exact, agg_property),
    conventions=("time axis last; every leading index is a sequence (B of them); L_i = unmasked tokens of row i",
                 "seq-mean-token-sum-norm divides by a constant N (default: the padded length T)",
                 "an all-zero mask row is rejected in every mode"),
    notes="Under seq-mean-token-mean every response weighs 1/B whatever its length, so each token of a short "
          "response weighs more: with a positive advantage the short response's tokens are pushed harder, with a "
          "negative one the long response's tokens are penalised less (Dr. GRPO's length bias). token-mean couples "
          "every sequence's weight to the batch's total length.",
)
