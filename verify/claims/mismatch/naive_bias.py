"""The naive estimator's bias is linear in the mismatch (MISMATCH-NAIVE-BIAS-LINEAR)."""

from __future__ import annotations

from typing import Any

import mpmath as mp
import numpy as np
from hypothesis import strategies as st

from reference_impls import token_models as TM
from verify.claims.mismatch._common import (
    CONVENTIONS,
    ESTIMATOR_WORDS,
    FAMILY,
    PLOT_ESTIMATORS,
    S0,
    MpTokenModel,
    _kw,
    _mp,
    _mp_diff,
    _mp_norm,
    _pyplot,
    instance,
)
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim, plot
from verify.seeds import seed_citation

# =========================================================================== naive bias linear


def _naive_bias_and_slope(task: TM.TokenTask, z: np.ndarray, D: np.ndarray) -> np.ndarray:
    """First-order coefficient b1 of the naive bias b(eps) for mu = softmax(z + eps D):
    b1 = sum_y pi(y) (d/d eps log mu(y))|_0 R(y) score(y)."""
    scores = TM.token_scores(task, z)                      # [N, T, P, V]
    dlogmu = np.einsum("ntpv,pv->n", scores, D)           # directional derivative of log mu at eps=0
    p = TM.sequence_probs(task, z)
    return np.einsum("n,npv->pv", p * dlogmu * task.rewards, scores.sum(axis=1))


@check("exact")
def naive_linear_exact(ctx: Context) -> Evidence:
    """mu = softmax(z + eps D): log-log slope of ||bias(eps)|| over eps in [1e-6, 1e-1] is 1 (|slope-1| < 0.01),
    bias/eps -> the exact first-order coefficient, and ||bias|| <= 2 TV(mu_seq, pi_seq) sup||R score|| at every eps."""
    rng = ctx.rng()
    task, z, _ = instance(rng, 3, 3)
    D = rng.normal(size=z.shape)
    eps = np.logspace(-6, -1, 11)
    ref = TM.true_gradient(task, z)
    norms, ratios = [], []
    sup = float(np.max(np.linalg.norm(TM.estimator_terms(task, z, z, "naive").reshape(task.n_sequences, -1), axis=1)))
    for e in eps:
        b = TM.expected_gradient(task, z, z + e * D, "naive") - ref
        norms.append(float(np.linalg.norm(b)))
        tv = 0.5 * float(np.sum(np.abs(TM.sequence_probs(task, z + e * D) - TM.sequence_probs(task, z))))
        ratios.append(norms[-1] / (2 * tv * sup))
    slope = float(np.polyfit(np.log(eps), np.log(norms), 1)[0])
    b1 = _naive_bias_and_slope(task, z, D)
    e_small = 1e-5
    lin_err = float(np.linalg.norm((TM.expected_gradient(task, z, z + e_small * D, "naive") - ref) / e_small - b1)
                    / np.linalg.norm(b1))
    passed = abs(slope - 1) < 0.01 and lin_err < 1e-3 and max(ratios) <= 1.0
    return Evidence("exact", passed, "naive bias is first order in the mismatch and within the TV bound",
                    {"loglog_slope": slope, "eps_range": [1e-6, 1e-1], "relative_gap_bias/eps_vs_b1_at_1e-5": lin_err,
                     "worst_bias_over_TV_bound": max(ratios), "seed": ctx.seed})


@check("high-precision")
def naive_linear_high_precision(ctx: Context) -> Evidence:
    """mpmath (60 digits): ||bias(eps)/eps - b1|| / ||b1|| shrinks proportionally to eps for eps = 1e-10, 1e-15,
    1e-20 (second-order remainder), so the bias is exactly linear to leading order."""
    rng = ctx.rng()
    task, z, _ = instance(rng, 3, 2)
    D = rng.normal(size=z.shape)
    b1 = _naive_bias_and_slope(task, z, D)
    gaps = []
    with mp.workdps(60):
        mm = MpTokenModel(task)
        zp = _mp(z)
        gJ = mm.expectation(zp, zp, "naive")  # on-policy naive = grad J exactly (score-function identity)
        b1m = _mp(b1)
        for k in (10, 15, 20):
            e = mp.mpf(10) ** -k
            zq = [[zp[r][a] + e * mp.mpf(float(D[r, a])) for a in range(task.vocab_size)] for r in range(len(zp))]
            b = _mp_diff(mm.expectation(zp, zq, "naive"), gJ)
            gaps.append(float(_mp_norm(_mp_diff([[v / e for v in row] for row in b], b1m)) / _mp_norm(b1m)))
    # float64 b1 limits the agreement to ~1e-13; the remainder must shrink by >= 1e4 per 1e-5 in eps until then
    passed = gaps[0] < 1e-8 and all(g < 1e-12 for g in gaps[1:])
    return Evidence("high-precision", passed, "bias/eps -> b1 with an O(eps) remainder (60 digits)",
                    {"relative_gap_at_eps": dict(zip(["1e-10", "1e-15", "1e-20"], gaps)), "dps": 60, "seed": ctx.seed})


@check("property")
def naive_tv_bound_property(ctx: Context) -> Evidence:
    """Hypothesis over random instances and mismatch sizes:
    ||E_mu[R grad log pi] - grad J|| <= 2 TV(mu, pi) sup||R grad log pi||."""

    def body(x: tuple[int, int, int, float]) -> float:
        seed, V, T, noise = x
        task, z, zm = instance(np.random.default_rng(seed), V, T, noise=noise)
        b = float(np.linalg.norm(TM.expected_gradient(task, z, zm, "naive") - TM.true_gradient(task, z)))
        tv = 0.5 * float(np.sum(np.abs(TM.sequence_probs(task, zm) - TM.sequence_probs(task, z))))
        sup = float(np.max(np.linalg.norm(TM.estimator_terms(task, z, zm, "naive").reshape(task.n_sequences, -1),
                                          axis=1)))
        r = b / (2 * tv * sup)
        if r > 1 + 1e-12:
            raise Violation(f"bias/bound = {r:.6g}", seed=seed, V=V, T=T, noise=noise)
        return r

    strat = st.tuples(st.integers(0, 2**31), st.sampled_from([2, 3]), st.integers(1, 3), st.floats(1e-3, 3.0))
    return property_evidence(ctx, strat, body, summary="naive bias within 2 TV sup||R score|| (worst ratio reported)")


claim(
    id="MISMATCH-NAIVE-BIAS-LINEAR",
    title="Ignoring the mismatch gives a bias that vanishes linearly with it",
    statement=r"\|\mathbb{E}_{\mu_\epsilon}[R\nabla\log\pi]-\nabla J\|=\epsilon\|b_1\|+O(\epsilon^2)\le "
              r"2D_{TV}(\mu_\epsilon,\pi)\sup_y\|R(y)\nabla\log\pi(y)\|,\ \mu_\epsilon=\mathrm{softmax}(z+\epsilon D)",
    source=Source(seed_citation(S0, "line 12: 'this naive adoption works well when the mismatch is small'")),
    family=FAMILY,
    expected="verified",
    checks=(naive_linear_exact, naive_linear_high_precision, naive_tv_bound_property),
    conventions=(*CONVENTIONS, "TV = 1/2 L1 over whole sequences"),
)


@plot(FAMILY, "mismatch_bias_vs_size",
      "Exact relative bias ||E_mu[g] - grad J|| / ||grad J|| of each estimator against the mismatch size eps "
      "(sampler logits = learner + eps D; V = 3, T = 3; sequence TIS with cap 2). Sequence IS and prefix-product "
      "IS with the learner's Q sit at machine precision; sequence TIS is exact until some weight exceeds the cap; "
      "the others are first order in eps.")
def plot_bias_vs_size() -> Any:
    rng = np.random.default_rng(8)
    task, z, _ = instance(rng, 3, 3)
    D = rng.normal(size=z.shape)
    eps = np.logspace(-4, 0.5, 19)
    fig, ax = _pyplot().subplots(figsize=(6.5, 4.2))
    for e in PLOT_ESTIMATORS:
        vals = [max(TM.relative_bias(task, z, z + x * D, e, **_kw(e)), 1e-17) for x in eps]
        ax.loglog(eps, vals, marker="o", ms=3, label=ESTIMATOR_WORDS[e])
    ax.loglog(eps, eps, "k:", lw=1, label="slope 1 (first order)")
    ax.set_title("Exact gradient bias against learner-sampler mismatch")
    ax.set_xlabel(r"mismatch size $\epsilon$ (logit units)")
    ax.set_ylabel("relative bias of the gradient (dimensionless)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
