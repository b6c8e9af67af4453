"""Seed 000's key takeaway, its correction, and its trajectory-ratio fix."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np

from reference_impls import token_models as TM
from verify.claims.mismatch._common import CONVENTIONS, FAMILY, S0, MpTokenModel, _mp, _mp_diff, _mp_norm, instance
from verify.claims.mismatch.multiturn import multiturn_high_precision, multiturn_variance_exact
from verify.harness import check
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

# =========================================================================== S0 key takeaway

S0_TAKEAWAY = ("Key Takeaway: Importance sampling can neutralize learner-sampler mismatch in the single-turn "
               "sequence-level formulation but not in the token-level or multi-turn sequence-level formulation.")


def _takeaway_rows(rng: np.random.Generator) -> dict[str, float]:
    st_task = instance(rng, 3, 3, noise=0.5)
    mt_task = instance(rng, 3, 4, roles=(True, False, True, False), noise=0.5)
    return {
        "single_turn_sequence_is": TM.relative_bias(*st_task, "sequence_is"),
        "token_level_per_token_is": TM.relative_bias(*st_task, "token_is"),
        "token_level_prefix_is_learner_q": TM.relative_bias(*st_task, "prefix_is_q"),
        "multi_turn_trajectory_is": TM.relative_bias(*mt_task, "sequence_is"),
        "multi_turn_per_token_is": TM.relative_bias(*mt_task, "token_is"),
    }


@check("exact")
def takeaway_exact(ctx: Context) -> Evidence:
    """Exact enumeration: the single-turn part holds (sequence IS exact), per-token ratios fail, but trajectory-level
    IS over the model's tokens is exact in the multi-turn formulation (and prefix-product IS with the learner's Q in
    the token-level one) — contradicting 'not in the ... multi-turn sequence-level formulation'."""
    rows = _takeaway_rows(ctx.rng())
    single_ok = rows["single_turn_sequence_is"] < 1e-12
    multi_fixable = rows["multi_turn_trajectory_is"] < 1e-12
    holds = single_ok and not multi_fixable
    return Evidence("exact", holds, "importance sampling (trajectory ratio over model tokens) is exact multi-turn",
                    {"relative_bias": rows, "seed": ctx.seed},
                    counterexample={"multi_turn_trajectory_is_relative_bias": rows["multi_turn_trajectory_is"]})


@check("high-precision")
def takeaway_high_precision(ctx: Context) -> Evidence:
    """mpmath (60 digits): on a multi-turn task (model, env, model) the trajectory-IS expectation equals the
    finite-difference grad J to < 1e-30 — IS neutralizes the mismatch there."""
    rng = ctx.rng()
    with mp.workdps(60):
        task, z, zm = instance(rng, 3, 3, roles=(True, False, True), noise=0.5)
        mm = MpTokenModel(task)
        zp, zq = _mp(z), _mp(zm)
        gJ = mm.grad_fd(zp, mp.mpf(10) ** -20)
        r = _mp_norm(_mp_diff(mm.expectation(zp, zq, "sequence_is"), gJ)) / _mp_norm(gJ)
    holds = not (r < mp.mpf(10) ** -30)
    return Evidence("high-precision", holds, "multi-turn trajectory IS is exact at 60 digits",
                    {"relative_error": float(r), "dps": 60, "seed": ctx.seed},
                    counterexample={"multi_turn_relative_error": float(r)})


claim(
    id="SEED-000-KEY-TAKEAWAY",
    title="S0: IS neutralizes the mismatch single-turn but not token-level or multi-turn",
    statement=r"\text{IS neutralizes the learner-sampler mismatch in the single-turn sequence-level formulation but "
              r"not in the token-level or multi-turn sequence-level formulation.}",
    source=Source(seed_citation(S0, "line 14 (key takeaway)"), quote=S0_TAKEAWAY, seed_file=S0),
    family=FAMILY,
    kind="seed-statement",
    expected="refuted",
    checks=(takeaway_exact, takeaway_high_precision),
    conventions=CONVENTIONS,
    notes="Overstated in its multi-turn part: environment/tool tokens have the same probability under learner and "
          "sampler, so the product of the model-token ratios is an exact trajectory IS weight (at exponential "
          "variance — S0's own caveat). Per-token ratios (PPO-style surrogates) do fail, as S0 says.",
)


@check("exact")
def takeaway_corrected_exact(ctx: Context) -> Evidence:
    """Exact enumeration of the corrected statement: trajectory IS exact single- and multi-turn, prefix-product IS
    with the learner's Q exact token-level, per-token ratios biased in both."""
    rows = _takeaway_rows(ctx.rng())
    exact = [rows[k] for k in ("single_turn_sequence_is", "token_level_prefix_is_learner_q",
                               "multi_turn_trajectory_is")]
    biased = [rows["token_level_per_token_is"], rows["multi_turn_per_token_is"]]
    passed = max(exact) < 1e-12 and min(biased) > 1e-3
    return Evidence("exact", passed, "trajectory-level corrections exact, per-token ones biased",
                    {"relative_bias": rows, "seed": ctx.seed})


claim(
    id="SEED-000-KEY-TAKEAWAY-CORRECTED",
    title="Trajectory-level IS neutralizes the mismatch in every formulation; per-token ratios do not",
    statement=r"\mathbb{E}_\mu\Big[\prod_{t\in\text{model}}\rho_t\,R\,\nabla\log\pi\Big]=\nabla J\ \text{single- and "
              r"multi-turn};\ \mathbb{E}_\mu\Big[\sum_t\rho_t\nabla\log\pi_tR\Big]\ne\nabla J;\ "
              r"\mathbb{E}_\mu[w^2]=\prod_t(1+\chi^2_t)\text{ grows exponentially}",
    source=Source("Corrects " + seed_citation(S0, "line 14 (key takeaway)") + "; Liu et al. (2025) 'When Speed Kills "
                  "Stability', Part 2"),
    family=FAMILY,
    kind="correction",
    corrects="SEED-000-KEY-TAKEAWAY",
    expected="verified",
    checks=(takeaway_corrected_exact, multiturn_high_precision, multiturn_variance_exact),
    conventions=CONVENTIONS,
    uses=("MISMATCH-SEQ-IS-FIXES", "MISMATCH-TOKEN-IS-FAILS", "MISMATCH-MULTITURN-TRAJ-IS"),
)


# =========================================================================== seed 000: trajectory-level ratio


@check("exact")
def s0_prefix_ratio_exact(ctx: Context) -> Evidence:
    """Exact enumeration on random tabular token models (single-turn T = 3, multi-turn with environment tokens):
    with the learner's advantage estimated unbiasedly (the learner's Q), the prefix-product ratio prod_{s<=t}
    pi_learner / pi_sampler -- a trajectory-level ratio up to t -- makes the sampler's expected gradient equal the
    learner's exactly; with the sampler's return in place of an unbiased learner estimate it does not (the 'certain
    cases' condition matters)."""
    rng = ctx.rng()
    fixed, unfixed = 0.0, math.inf
    for roles in (None, (True, False, True)):
        for _ in range(4):
            task, z, zm = instance(rng, 3, 3, roles=roles, noise=0.3)
            fixed = max(fixed, TM.relative_bias(task, z, zm, "prefix_is_q"))
            unfixed = min(unfixed, TM.relative_bias(task, z, zm, "prefix_is_return"))
    return Evidence("exact", bool(fixed < 1e-12 and unfixed > 1e-3),
                    f"prefix-product ratio with the learner's Q: relative bias <= {fixed:.1e}; the same ratio with the "
                    f"sampler's return: >= {unfixed:.3g}", {"max_bias_prefix_ratio_learner_q": fixed,
                                                            "min_bias_prefix_ratio_sampler_return": unfixed,
                                                            "instances": 8, "seed": ctx.seed})


@check("high-precision")
def s0_prefix_ratio_high_precision(ctx: Context) -> Evidence:
    """mpmath (50 digits, independent evaluator): on a multi-turn instance the prefix-ratio estimator's expected
    gradient equals the learner's gradient (central differences) to < 1e-30 relative."""
    rng = ctx.rng()
    task, z, zm = instance(rng, 3, 3, roles=(True, False, True), noise=0.3)
    with mp.workdps(50):
        mm = MpTokenModel(task)
        zp, zq = _mp(z), _mp(zm)
        gJ = mm.grad_fd(zp, mp.mpf(10) ** -20)
        rel = _mp_norm(_mp_diff(mm.expectation(zp, zq, "prefix_is_q"), gJ)) / _mp_norm(gJ)
    return Evidence("high-precision", bool(rel < mp.mpf(10) ** -30),
                    f"mpmath relative bias of the prefix-ratio estimator: {float(rel):.1e}",
                    {"relative_bias": float(rel), "dps": 50, "seed": ctx.seed})


S0_QUOTE = ("In certain cases when estimation for $A^{\\textcolor{red}{\\pi^{\\rm sampler}{\\theta{\\rm old}}}}(s,a)$ "
            "can be used to estimate $A^{\\pi^{\\rm learner}{\\theta{\\rm old}}}(s,a)$ unbiasedly, the two disparities "
            "here can be fixed via a term similar to trajectory-level importance ratio.")


claim(
    id="SEED-000-TRAJECTORY-RATIO-FIX",
    title="S0: when the learner's advantage can be estimated unbiasedly, a trajectory-level-like ratio fixes both "
          "disparities",
    statement=r"\mathbb E_{y\sim\mu}\Big[\sum_t\Big(\prod_{s\le t}\frac{\pi(y_s|y_{<s})}{\mu(y_s|y_{<s})}\Big)"
              r"\nabla\log\pi(y_t|y_{<t})\,\hat A_t\Big]=\nabla J(\pi)\ \text{when }\mathbb E[\hat A_t|y_{\le t}]="
              r"A^{\pi}(y_{\le t})\ (\text{e.g. }Q^\pi)",
    source=Source(seed_citation(S0, "line 11"), quote=S0_QUOTE, seed_file=S0),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(s0_prefix_ratio_exact, s0_prefix_ratio_high_precision),
    conventions=("token-level (and multi-turn) tabular models; pi the learner, mu the sampler",),
    reading="'A term similar to trajectory-level importance ratio' is read as the product of per-token ratios up to "
            "the current token (the trajectory ratio truncated at t), and 'in certain cases' as the stated "
            "condition, an unbiased estimate of the learner's advantage. So read, both disparities (state "
            "distribution and advantage) are fixed exactly.",
    uses=("MISMATCH-TOKEN-IS-FAILS",),
    notes="Without the condition (e.g. the sampler's return as the advantage estimate) the prefix ratio alone is "
          "biased; MISMATCH-TOKEN-IS-FAILS tabulates both.",
)
