"""Multi-turn trajectory IS (MISMATCH-MULTITURN-TRAJ-IS)."""

from __future__ import annotations

import itertools

import mpmath as mp
import numpy as np

from reference_impls import mismatch as MM
from reference_impls import token_models as TM
from verify.claims.mismatch._common import (
    CONVENTIONS,
    FAMILY,
    S0,
    MpTokenModel,
    _mp,
    _mp_diff,
    _mp_norm,
    constant_chi2_task,
    instance,
)
from verify.harness import check
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

# =========================================================================== multi-turn trajectory IS

MULTI_TURN_ROLES = ((True, False, True), (True, False, True, False), (True, True, False, True),
                    (False, True, False, True))


@check("exact")
def multiturn_exact(ctx: Context) -> Evidence:
    """Multi-turn tasks (environment tokens at masked positions): the product of learner/sampler ratios over the
    model's tokens equals P_pi(y)/P_mu(y) (environment terms cancel) and sequence IS is exact; token IS is biased."""
    rng = ctx.rng()
    worst, min_tok = 0.0, np.inf
    for roles in MULTI_TURN_ROLES:
        for _ in range(2):
            task, z, zm = instance(rng, 3, len(roles), roles=roles, noise=0.5)
            w = MM.sequence_is_weights(TM.token_log_probs(task, z), TM.token_log_probs(task, zm), TM.policy_mask(task))
            full = TM.sequence_probs(task, z) / TM.sequence_probs(task, zm)
            worst = max(worst, float(np.max(np.abs(np.asarray(w) / full - 1))),
                        TM.relative_bias(task, z, zm, "sequence_is"))
            if sum(roles) >= 2:
                min_tok = min(min_tok, TM.relative_bias(task, z, zm, "token_is"))
    passed = worst < 1e-12 and min_tok > 1e-3
    return Evidence("exact", passed, "multi-turn trajectory IS over model tokens is exact; token IS is not",
                    {"max_relative_error": worst, "min_token_is_relative_bias": min_tok,
                     "roles": [list(r) for r in MULTI_TURN_ROLES], "seed": ctx.seed})


@check("exact")
def multiturn_variance_exact(ctx: Context) -> Evidence:
    """Second moment of the trajectory weight: E_mu[w^2] = (1 + chi2(p||q))^n exactly for n = 1..5 policy tokens
    (interleaved with environment tokens), and the trace of the sequence-IS gradient covariance increases with n."""
    p, q = np.array([0.8, 0.2]), np.array([0.6, 0.4])
    chi2 = float(np.sum((p - q) ** 2 / q))
    errs, traces = [], []
    for n in range(1, 6):
        task, z, zm = constant_chi2_task(n, p, q)
        w = MM.sequence_is_weights(TM.token_log_probs(task, z), TM.token_log_probs(task, zm), TM.policy_mask(task))
        m2 = float(TM.sequence_probs(task, zm) @ np.asarray(w) ** 2)
        errs.append(abs(m2 / (1 + chi2) ** n - 1))
        _, cov = TM.estimator_covariance(task, z, zm, "sequence_is")
        traces.append(float(np.trace(cov)))
    passed = max(errs) < 1e-12 and all(b > a for a, b in itertools.pairwise(traces))
    return Evidence("exact", passed,
                    "E_mu[w^2] = (1 + chi2)^n; gradient variance grows with the number of model tokens",
                    {"chi2": chi2, "max_relative_error_second_moment": max(errs), "trace_cov_by_n": traces,
                     "log_growth_per_token": float(np.log1p(chi2))})


@check("high-precision")
def multiturn_high_precision(ctx: Context) -> Evidence:
    """mpmath (60 digits): multi-turn sequence-IS expectation == finite-difference grad J; token IS is not."""
    rng = ctx.rng()
    with mp.workdps(60):
        task, z, zm = instance(rng, 3, 3, roles=(True, False, True), noise=0.5)
        mm = MpTokenModel(task)
        zp, zq = _mp(z), _mp(zm)
        gJ = mm.grad_fd(zp, mp.mpf(10) ** -20)
        nJ = _mp_norm(gJ)
        r_is = _mp_norm(_mp_diff(mm.expectation(zp, zq, "sequence_is"), gJ)) / nJ
        r_tok = _mp_norm(_mp_diff(mm.expectation(zp, zq, "token_is"), gJ)) / nJ
    passed = r_is < mp.mpf(10) ** -30 and r_tok > 1e-3
    return Evidence("high-precision", bool(passed), "multi-turn trajectory IS exact at 60 digits",
                    {"relative_error_sequence_is": float(r_is), "relative_bias_token_is": float(r_tok), "dps": 60,
                     "seed": ctx.seed})


claim(
    id="MISMATCH-MULTITURN-TRAJ-IS",
    title="Multi-turn: trajectory IS over model tokens is exact (environment terms cancel), at exponential variance",
    statement=r"\frac{P_\pi(y)}{P_\mu(y)}=\prod_{t\in\text{model}}\frac{\pi(y_t|y_{<t})}{\mu(y_t|y_{<t})},\quad "
              r"\mathbb{E}_\mu[w R\nabla\log P_\pi]=\nabla J,\quad \mathbb{E}_\mu[w^2]=(1+\chi^2)^{n}"
              r"\ \text{(constant per-token }\chi^2)",
    source=Source(seed_citation(S0, "lines 10-14") + "; Precup, Sutton & Singh (2000) (per-decision weights)"),
    family=FAMILY,
    expected="verified",
    checks=(multiturn_exact, multiturn_variance_exact, multiturn_high_precision),
    conventions=(*CONVENTIONS, "chi2(p||q) = sum (p-q)^2/q"),
    assumptions=("environment next-token distributions do not depend on the policy parameters",),
)
