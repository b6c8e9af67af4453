"""Token-level IS does not fix it (MISMATCH-TOKEN-IS-FAILS)."""

from __future__ import annotations

import mpmath as mp
import numpy as np

from reference_impls import token_models as TM
from verify.claims.mismatch._common import (
    CONVENTIONS,
    FAMILY,
    S0,
    TABLE,
    UNBIASED,
    MpTokenModel,
    _mp,
    _mp_diff,
    _mp_norm,
    instance,
)
from verify.harness import check
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

# =========================================================================== MISMATCH-TOKEN-IS-FAILS


def _table(task: TM.TokenTask, z: np.ndarray, zm: np.ndarray) -> dict[str, float]:
    return {e: TM.relative_bias(task, z, zm, e) for e in TABLE}


@check("exact")
def token_is_table_exact(ctx: Context) -> Evidence:
    """Reference instance (V=3, T=3, sampler = learner + N(0, 0.3^2)): exact relative bias of each estimator.
    Sequence IS and prefix-product IS with the learner's Q are unbiased (< 1e-12); token IS, prefix-product IS
    with the full return, token ratio with learner's Q and no correction are biased (> 1e-3), on 5 instances;
    token IS is exact at T = 1."""
    rng = ctx.rng()
    tables = [_table(*instance(rng, 3, 3, noise=0.3)) for _ in range(5)]
    unb = max(t[e] for t in tables for e in UNBIASED)
    biased_min = min(t[e] for t in tables for e in TABLE if e not in UNBIASED)
    t1 = max(TM.relative_bias(*instance(rng, 3, 1, noise=0.3), "token_is") for _ in range(3))
    passed = unb < 1e-12 and biased_min > 1e-3 and t1 < 1e-12
    return Evidence("exact", passed,
                    "exact relative bias ||E_mu[g] - grad J|| / ||grad J|| (first instance shown; min/max over 5)",
                    {"relative_bias_instance_0": tables[0], "max_unbiased": unb, "min_biased": biased_min,
                     "token_is_T1_max": t1, "seed": ctx.seed, "instances": 5},
                    counterexample=None if passed else {"tables": tables, "T1": t1})


@check("high-precision")
def token_is_table_high_precision(ctx: Context) -> Evidence:
    """mpmath (60 digits, independent evaluator): the same relative biases; the float64 table agrees to 1e-9 and
    the biased ones are non-zero at 60 digits, the unbiased ones < 1e-30."""
    rng = ctx.rng()
    task, z, zm = instance(rng, 3, 3, noise=0.3)
    f64 = _table(task, z, zm)
    out: dict[str, float] = {}
    with mp.workdps(60):
        mm = MpTokenModel(task)
        zp, zq = _mp(z), _mp(zm)
        gJ = mm.grad_fd(zp, mp.mpf(10) ** -20)
        nJ = _mp_norm(gJ)
        for e in TABLE:
            out[e] = float(_mp_norm(_mp_diff(mm.expectation(zp, zq, e), gJ)) / nJ)
    agree = max(abs(out[e] - f64[e]) for e in TABLE if e not in UNBIASED)
    passed = (agree < 1e-9 and all(out[e] < 1e-30 for e in UNBIASED)
              and all(out[e] > 1e-3 for e in TABLE if e not in UNBIASED))
    return Evidence("high-precision", passed, "mpmath relative biases reproduce the float64 table",
                    {"relative_bias_mpmath": out, "max_gap_vs_float64": agree, "dps": 60, "seed": ctx.seed})


claim(
    id="MISMATCH-TOKEN-IS-FAILS",
    title="Per-token ratios do not correct the learner-sampler mismatch beyond T = 1",
    statement=r"\mathbb{E}_{y\sim\mu}\Big[\sum_t\rho_t\nabla\log\pi(y_t|y_{<t})R(y)\Big]\neq\nabla J\ (T\ge2);\ "
              r"\mathbb{E}_{\mu}\Big[\sum_t\big(\textstyle\prod_{s\le t}\rho_s\big)\nabla\log\pi(y_t|y_{<t})"
              r"Q^{\pi}(y_{\le t})\Big]=\nabla J",
    source=Source("Liu et al. (2025) 'When Speed Kills Stability', Part 2; " + seed_citation(S0, "lines 10-14")),
    family=FAMILY,
    expected="verified",
    checks=(token_is_table_exact, token_is_table_high_precision),
    conventions=CONVENTIONS,
    notes="Token IS corrects only the current token's distribution, not the prefix distribution (d^mu vs d^pi) "
          "nor the continuation (the return is drawn from mu). Prefix products fix the former, the learner's Q "
          "the latter; both together are unbiased.",
)
