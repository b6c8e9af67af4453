"""The IS sample mean (IS-SAMPLE-MEAN) and the slides' statement of it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from reference_impls import importance as I
from reference_impls import sampling as SM
from verify import stats as VS
from verify.claims.importance_sampling._common import (
    _S1_SAMPLE_MEAN_READING,
    FAMILY,
    S1,
    _frac_dist,
    _mc_evidence,
    _var_is_direct,
    _var_is_formula,
)
from verify.harness import check, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

# =========================================================================== S1: the sample mean without 1/|B|


def _batch_expectations(beh: Sequence[Any], tgt: Sequence[Any], r: Sequence[Any], size: int) -> tuple[Any, Any]:
    """Exact expectations of the slide's sum and of the batch mean over every ordered batch of ``size``."""
    e_sum = Fraction(0)
    for xs in itertools.product(range(len(beh)), repeat=size):
        prob = math.prod(beh[x] for x in xs)
        e_sum += prob * sum(tgt[x] / beh[x] * r[x] for x in xs)
    return e_sum, e_sum / size


@check("exact")
def s1_sample_means_exact(ctx: Context) -> Evidence:
    """Exact enumeration of every batch of size 1..3 on random rational instances: the IS sample mean
    (1/|B|) sum_B w r (behaviour batch) and the on-policy sample mean (1/|B|) sum_B' r (target batch) both have
    expectation mu, and they are different estimators: their variances differ (the '!=' of the slide)."""
    rng = ctx.rng()
    ok, differ = True, 0
    rows = []
    for _ in range(8):
        k = int(rng.integers(2, 5))
        beh, tgt = _frac_dist(rng, k), _frac_dist(rng, k)
        r = [Fraction(int(x), 3) for x in rng.integers(-4, 5, size=k)]
        mu = sum(t * x for t, x in zip(tgt, r))
        for size in (1, 2, 3):
            _, e_is = _batch_expectations(beh, tgt, r, size)
            _, e_on = _batch_expectations(tgt, tgt, r, size)
            ok &= e_is == mu == e_on
        var_is, var_on = _var_is_direct(tgt, beh, r), _var_is_direct(tgt, tgt, r)
        differ += var_is != var_on
        rows.append({"var_is_single": float(var_is), "var_on_policy_single": float(var_on)})
    return Evidence("exact", bool(ok and differ > 0),
                    f"E[IS sample mean] = E[on-policy sample mean] = mu for |B| = 1..3 on 8 instances; variances "
                    f"differ on {differ} of 8", {"rows": rows, "seed": ctx.seed})


@check("symbolic")
def s1_sample_means_symbolic(ctx: Context) -> Evidence:
    """sympy, 2 actions, symbolic behaviour b, target t and rewards: the IS mean over a batch of 2 has expectation
    t r0 + (1 - t) r1 = mu; and Var_IS - Var_on-policy is not identically 0 (different estimators)."""
    b, t = sp.symbols("b t", positive=True)
    r = sp.symbols("r0 r1", real=True)
    beh, tgt = [b, 1 - b], [t, 1 - t]
    mu = tgt[0] * r[0] + tgt[1] * r[1]
    e2 = sum(beh[i] * beh[j] * (tgt[i] / beh[i] * r[i] + tgt[j] / beh[j] * r[j]) / 2
             for i in range(2) for j in range(2))
    ev = symbolic_evidence(sp.simplify(e2 - mu), "E[(1/2) sum_B w r] == mu (batch of 2)")
    diff = sp.simplify(_var_is_formula(tgt, beh, list(r)) - _var_is_formula(tgt, tgt, list(r)))
    ev.figures["var_is_minus_var_on_policy_is_zero"] = bool(diff == 0)
    if ev.passed and diff == 0:
        ev.passed = False
    return ev


claim(
    id="SEED-S1-IS-SAMPLE-MEAN",
    title="S1: the IS 'Sample Mean' is sum over the batch of (pi'/pi) r",
    statement=r"\hat\mu_{\pi_\theta}=\sum_{(s,a,r)\in\mathcal B_{\pi_\theta}}\frac{\pi_{\theta'}(a|s)}"
              r"{\pi_\theta(a|s)}r(a,s)",
    source=Source(seed_citation(S1, "line 336 ('CHANGE OF VARIABLE - IMPORTANCE SAMPLING')"),
                  quote=r"$$\text{Sample Mean} \quad \hat{\mu}_{\pi_{\theta}} = \sum_{(s,a,r) \in "
                  r"\mathcal{B}_{\pi_{\theta}}} \frac{\pi_{\theta'}(a|s)}{\pi_{\theta}(a|s)} r(a,s) \neq \sum_{(s,a,r) "
                  r"\in \mathcal{B}_{\pi_{\theta'}}} r(a,s) = \hat{\mu}_{\pi_{\theta'}}$$", seed_file=S1),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(s1_sample_means_exact, s1_sample_means_symbolic),
    reading=_S1_SAMPLE_MEAN_READING,
    notes="As typeset, without $1/|\\mathcal B|$, each sum estimates $|\\mathcal B|\\,\\mu$; the label 'Sample Mean' "
          "fixes the meaning (IS-SAMPLE-MEAN states it with the factor).",
)


@check("exact")
def sample_mean_exact(ctx: Context) -> Evidence:
    """Exact enumeration of every batch of size 1..3 on random rational instances: E[(1/|B|) sum w r] = mu; the
    reference ordinary_is on each batch reproduces the rational expectation."""
    rng = ctx.rng()
    ok = True
    worst = 0.0
    for _ in range(10):
        k = int(rng.integers(2, 5))
        beh, tgt = _frac_dist(rng, k), _frac_dist(rng, k, positive=False)
        r = [Fraction(int(x), 3) for x in rng.integers(-4, 5, size=k)]
        mu = sum(t * x for t, x in zip(tgt, r))
        for size in (1, 2, 3):
            _, e_mean = _batch_expectations(beh, tgt, r, size)
            ok &= e_mean == mu
            xs = np.array(list(itertools.product(range(k), repeat=size)))
            bf = np.array([float(x) for x in beh])
            with np.errstate(divide="ignore"):
                est = I.ordinary_is(np.array([float(x) for x in r])[xs], np.log([float(x) for x in tgt])[xs],
                                    np.log(bf)[xs])
            probs = np.prod(bf[xs], axis=1)
            worst = max(worst, abs(float(probs @ est) - float(mu)))
    return Evidence("exact", bool(ok) and worst < 1e-12,
                    f"E[(1/|B|) sum_B w r] = mu exactly for |B| = 1, 2, 3 on 10 instances; "
                    f"reference within {worst:.1e}",
                    {"instances": 10, "batch_sizes": [1, 2, 3], "max_reference_error": worst, "seed": ctx.seed})


@check("monte-carlo")
def sample_mean_mc(ctx: Context) -> Evidence:
    """Batches of |B| = 4 from the reference sampler: the mean of (1/|B|) sum w r over batches vs mu with the exact
    sigma; control: the slide's sum without 1/|B| (mean |B| mu)."""
    name = "IS-SAMPLE-MEAN:mc_batch_mean"
    rng = ctx.rng()
    size = 4
    beh = np.array([0.5, 0.3, 0.2])
    tgt = np.array([0.2, 0.3, 0.5])
    r = np.array([1.0, -0.5, 0.25])
    w = tgt / beh
    mu = float(tgt @ r)
    sigma = math.sqrt(float(beh @ (w * r - mu) ** 2) / size)
    alpha = VS.alpha_for(name)
    nb = max(int(10_000 * ctx.profile.mc_scale),
             VS.samples_for_control(abs((size - 1) * mu), alpha, sigma=size * sigma))
    tr = SM.sample_batched(np.ones((1, 1, 3, 1)), np.ones((1, 1)), beh[None, None], 1, nb * size, rng)
    x = tr.actions[0, :, 0].reshape(nb, size)
    means = I.ordinary_is(r[x], np.log(tgt)[x], np.log(beh)[x])
    res = VS.z_test(float(means.mean()), nb, mu, sigma, alpha)
    ctl = VS.z_test(float((size * means).mean()), nb, mu, size * sigma, alpha)
    return _mc_evidence(ctx, name, f"{nb} batch means (|B|={size}) vs mu = {mu}", res, ctl,
                        "the slide's sum without 1/|B|", (size - 1) * mu, abs((size - 1) * mu))


claim(
    id="IS-SAMPLE-MEAN",
    title="The IS sample mean (1/|B|) sum_B (pi'/pi) r is unbiased",
    statement=r"\mathbb{E}\Big[\frac1{|\mathcal B|}\sum_{(s,a,r)\in\mathcal B}\frac{\pi_{\theta'}(a|s)}"
              r"{\pi_\theta(a|s)}r\Big]=\mathbb{E}_{a\sim\pi_{\theta'}}[r]",
    source=Source("Owen (2013) ch. 9.1, eq. (9.3) (the sample mean of the weighted values)"),
    family=FAMILY,
    kind="theorem",
    expected="verified",
    checks=(sample_mean_exact, sample_mean_mc),
    conventions=("batch B of i.i.d. transitions from the behaviour pi_theta in a fixed state",),
)
