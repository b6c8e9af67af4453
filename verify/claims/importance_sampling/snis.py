"""The bias of self-normalized importance sampling (SNIS-BIAS)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import Any

import mpmath as mp
import numpy as np

from reference_impls import importance as I
from reference_impls import sampling as SM
from verify import stats as VS
from verify.claims.importance_sampling._common import FAMILY, _mc_evidence
from verify.harness import check
from verify.registry import Context, Evidence, Source, claim, plot

# =========================================================================== SNIS-BIAS

#: Worked example: q uniform on 3 points, p = (0.6, 0.3, 0.1), f = (1, 0, -1): mu = 1/2, E_q[w^2 (f - mu)] = 9/25.
SNIS_Q = (Fraction(1, 3),) * 3


SNIS_P = (Fraction(3, 5), Fraction(3, 10), Fraction(1, 10))


SNIS_F = (Fraction(1), Fraction(0), Fraction(-1))


def _compositions(n: int, k: int = 3) -> list[tuple[int, ...]]:
    """All count vectors (c_1, ..., c_k) of non-negative integers summing to n."""
    return [(*c, n - sum(c)) for c in itertools.product(range(n + 1), repeat=k - 1) if sum(c) <= n]


def _snis_moments_exact(n: int) -> tuple[Any, Any]:
    """E[SNIS_n] and E[SNIS_n^2] by enumerating multinomial counts, in rationals."""
    w = [p / q for p, q in zip(SNIS_P, SNIS_Q)]
    m1: Any = Fraction(0)
    m2: Any = Fraction(0)
    for c in _compositions(n):
        prob = Fraction(math.factorial(n), math.prod(math.factorial(x) for x in c)) * math.prod(
            q**x for q, x in zip(SNIS_Q, c))
        val = sum(x * wi * fi for x, wi, fi in zip(c, w, SNIS_F)) / sum(x * wi for x, wi in zip(c, w))
        m1 += prob * val
        m2 += prob * val * val
    return m1, m2


@check("exact")
def snis_bias_exact(ctx: Context) -> Evidence:
    """Rational enumeration of multinomial counts: n*bias = -1/2 (n = 1, the behaviour mean), -0.497, -0.466 (n = 2,
    3), ..., -0.400 (n = 8); |n*bias + 9/25| decreases; the leading term is -E_q[w^2 (f - mu)] = -9/25 exactly; the
    reference self-normalized estimator reproduces the exact expectation at n <= 4."""
    mu = sum(p * f for p, f in zip(SNIS_P, SNIS_F))
    lead = sum(q * (p / q) ** 2 * (f - mu) for p, q, f in zip(SNIS_P, SNIS_Q, SNIS_F))
    nb = {}
    for n in range(1, 9):
        nb[n] = n * (_snis_moments_exact(n)[0] - mu)
    decreasing = all(abs(nb[n + 1] + lead) < abs(nb[n] + lead) for n in range(1, 8))
    # the reference estimator on every sample configuration (ordered samples), n <= 4
    worst = 0.0
    logp = np.log([float(x) for x in SNIS_P])
    logq = np.log([float(x) for x in SNIS_Q])
    fv = np.array([float(x) for x in SNIS_F])
    for n in range(1, 5):
        xs = np.array(list(itertools.product(range(3), repeat=n)))
        est = I.self_normalized_is(fv[xs], logp[xs], logq[xs])
        worst = max(worst, abs(float(est.mean()) - float(_snis_moments_exact(n)[0])))  # q uniform: plain mean
    cat = {1: -0.5, 2: -0.497, 3: -0.466, 8: -0.400}
    cat_ok = all(abs(float(nb[n]) - v) < 5e-4 for n, v in cat.items())
    passed = (mu == Fraction(1, 2) and lead == Fraction(9, 25) and nb[1] == Fraction(-1, 2) and decreasing
              and cat_ok and worst < 1e-14)
    return Evidence("exact", bool(passed),
                    f"n*bias = {', '.join(f'{float(nb[n]):.4f}' for n in range(1, 9))} (n=1..8) -> -9/25; "
                    f"reference SNIS matches the rational expectation to {worst:.1e}",
                    {"n_times_bias": {n: str(v) for n, v in nb.items()},
                     "n_times_bias_float": {n: float(v) for n, v in nb.items()}, "leading_term": str(-lead),
                     "mu": str(mu), "max_reference_error": worst, "published_values_match": cat_ok})


@check("high-precision")
def snis_bias_high_precision(ctx: Context) -> Evidence:
    """mpmath (30 digits): exact E[SNIS_n] for n = 16..256 by summing over all multinomial counts; n*bias -> -0.36
    (Richardson 2 b(256) - b(128) within 1e-3) and bias -> 0 (consistency)."""
    out = {}
    with mp.workdps(30):
        p = [mp.mpf(3) / 5, mp.mpf(3) / 10, mp.mpf(1) / 10]
        q = mp.mpf(1) / 3
        w = [x / q for x in p]
        f = [1, 0, -1]
        for n in (16, 32, 64, 128, 256):
            lq = n * mp.log(q)
            lf = [mp.loggamma(k + 1) for k in range(n + 1)]
            tot = mp.mpf(0)
            for c0 in range(n + 1):
                for c1 in range(n + 1 - c0):
                    c2 = n - c0 - c1
                    prob = mp.exp(lf[n] - lf[c0] - lf[c1] - lf[c2] + lq)
                    num = c0 * w[0] * f[0] + c2 * w[2] * f[2]
                    den = c0 * w[0] + c1 * w[1] + c2 * w[2]
                    tot += prob * num / den
            out[n] = n * (tot - mp.mpf(1) / 2)
        rich = 2 * out[256] - out[128]
    vals = {n: float(v) for n, v in out.items()}
    mono = all(abs(vals[b] + 0.36) < abs(vals[a] + 0.36) for a, b in zip(sorted(vals), sorted(vals)[1:]))
    passed = mono and abs(float(rich) + 0.36) < 1e-3 and abs(vals[256] / 256) < 2e-3
    return Evidence("high-precision", bool(passed),
                    f"n*bias at n=16..256: {', '.join(f'{v:.5f}' for v in vals.values())}; Richardson limit "
                    f"{float(rich):.5f} (theory -0.36); bias at n=256 is {vals[256] / 256:.2e}",
                    {"n_times_bias": vals, "richardson_limit": float(rich), "dps": 30})


@check("monte-carlo")
def snis_bias_mc(ctx: Context) -> Evidence:
    """Sampled SNIS at n = 3 (reference sampler on a one-state MDP): mean vs the exact rational E[SNIS_3] with the
    exact sigma; control: ordinary IS (mean mu = 1/2), which the same test must reject (SNIS is biased)."""
    name = "SNIS-BIAS:mc_snis_n3"
    rng = ctx.rng()
    n = 3
    m1, m2 = _snis_moments_exact(n)
    sigma = math.sqrt(float(m2 - m1 * m1))
    # control: ordinary IS over n = 3 draws, mean 1/2, variance Var_q(w f)/3 (w f = 1.8, 0, -0.3 w.p. 1/3)
    sigma_ctl = math.sqrt((1.8**2 + 0.3**2) / 3 - 0.25) / math.sqrt(n)
    alpha = VS.alpha_for(name)
    R = max(int(4000 * ctx.profile.mc_scale), VS.samples_for_control(0.5 - float(m1), alpha, sigma=sigma_ctl))
    q = np.array([[[1 / 3, 1 / 3, 1 / 3]]])
    tr = SM.sample_batched(np.ones((1, 1, 3, 1)), np.ones((1, 1)), q, 1, R * n, rng)
    x = tr.actions[0, :, 0].reshape(R, n)
    logp = np.log([0.6, 0.3, 0.1])
    fv = np.array([1.0, 0.0, -1.0])
    sn = I.self_normalized_is(fv[x], logp[x], np.log(q[0, 0])[x])
    oi = I.ordinary_is(fv[x], logp[x], np.log(q[0, 0])[x])
    res = VS.z_test(float(sn.mean()), R, float(m1), sigma, alpha)
    ctl = VS.z_test(float(oi.mean()), R, float(m1), sigma_ctl, alpha)
    return _mc_evidence(ctx, name, f"mean of {R} SNIS estimates (n=3) vs exact E[SNIS_3] = {float(m1):.5f}", res, ctl,
                        "ordinary IS, unbiased for mu = 1/2", 0.5 - float(m1), 0.5 - float(m1), exact_mean=str(m1))


claim(
    id="SNIS-BIAS",
    title="Self-normalized IS is biased at O(1/n) and consistent",
    statement=r"\mathbb{E}[\hat\mu_{SN}]-\mu=-\tfrac1n\mathbb{E}_q[w^2(f-\mu)]+o(1/n),\ "
              r"\hat\mu_{SN}=\frac{\sum_i w_if(x_i)}{\sum_i w_i}\to\mu\text{ a.s.};\ n=1:\ \mathbb{E}\hat\mu_{SN}="
              r"\mathbb{E}_q f",
    source=Source("Hesterberg (1988) eq. 2.63; Owen (2013) ch. 9.2"),
    family=FAMILY,
    expected="verified",
    checks=(snis_bias_exact, snis_bias_high_precision, snis_bias_mc),
    conventions=("x_i ~ q i.i.d., w = p/q with E_q w = 1",),
    assumptions=("p << q, E_p|f| < infinity",),
)


@plot(FAMILY, "snis_bias_vs_n",
      "Exact bias of self-normalized IS (q uniform on 3 points, p = (0.6, 0.3, 0.1), f = (1, 0, -1)) by enumerating "
      "multinomial counts, against the leading term -E_q[w^2 (f - mu)]/n = -0.36/n.")
def _plot_snis_bias() -> Any:
    import matplotlib.pyplot as plt

    ns = list(range(1, 31))
    logq = math.log(1 / 3)
    w = [1.8, 0.9, 0.3]
    f = [1.0, 0.0, -1.0]
    bias = []
    for n in ns:
        tot = 0.0
        for c in _compositions(n):
            lp = math.lgamma(n + 1) - sum(math.lgamma(x + 1) for x in c) + n * logq
            tot += math.exp(lp) * sum(x * a * b for x, a, b in zip(c, w, f)) / sum(x * a for x, a in zip(c, w))
        bias.append(tot - 0.5)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ns, bias, "o-", label=r"exact bias $E[\mathrm{SNIS}_n] - \mu$")
    ax.plot(ns, [-0.36 / n for n in ns], "--", label="leading term −0.36 / n")
    ax.set_title("Self-normalized IS: bias shrinks like 1/n")
    ax.set_xlabel("sample size n (draws)")
    ax.set_ylabel("bias (units of f)")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
