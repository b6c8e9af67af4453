"""Seed statements of 'Pertinacity and the Puke' (seed 003) and of the learner-sampler blog post (seed 000) not
encoded before, judged under the reading rule (:mod:`verify.reading_rule`). Registers into ``mismatch``."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import mpmath as mp
import numpy as np
from hypothesis import strategies as st

from reference_impls import importance as I
from reference_impls import mdp as M
from reference_impls import token_models as TM
from verify import strategies as vst
from verify.claims.mismatch import R_BLOG, W_BLOG, MpTokenModel, _mp, _mp_diff, _mp_norm, instance
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

FAMILY = "mismatch"
S0 = "000_df799f8b05dafca5.txt"
S3 = "003_aec5cba77cab1993.txt"

# =========================================================================== variance scales as E[w^2]


@check("exact")
def variance_ew2_exact(ctx: Context) -> Evidence:
    """Rationals, one context, K actions, per-sample term w r g (g = grad log pi component): Var_h[w r g] =
    E_h[w^2 r^2 g^2] - (E_pi[r g])^2 lies between (E_h[w^2] m^2 - M_pi^2) and E_h[w^2] G^2 (m, G the smallest and
    largest |r g|), so it grows in proportion to E_h[w^2]; along h_k = (1/k, ...) E_h[w^2] and the variance grow
    together (ratio bounded above and below)."""
    pi = [Fraction(1, 2), Fraction(1, 4), Fraction(1, 4)]
    rg = [Fraction(2), Fraction(3), Fraction(5, 2)]
    rows = []
    ok = True
    for k in (4, 16, 64, 256, 1024):
        h = [Fraction(1, k), (1 - Fraction(1, k)) / 2, (1 - Fraction(1, k)) / 2]
        w = [p / q for p, q in zip(pi, h)]
        m2 = sum(q * x * x for q, x in zip(h, w))
        mean = sum(p * x for p, x in zip(pi, rg))
        var = sum(q * (x * y) ** 2 for q, x, y in zip(h, w, rg)) - mean**2
        G, m = max(abs(x) for x in rg), min(abs(x) for x in rg)
        ok &= m2 * m * m - mean**2 <= var <= m2 * G * G
        rows.append({"k": k, "E_h_w2": float(m2), "variance": float(var), "variance_over_E_w2": float(var / m2)})
    ok &= rows[-1]["E_h_w2"] > 100 * rows[0]["E_h_w2"] and 1 <= rows[-1]["variance_over_E_w2"] <= 25
    # the reference estimator's per-sample terms reproduce the rational variance at k = 4
    h4 = np.array([0.25, 0.375, 0.375])
    terms = I.importance_weighted_policy_gradient(np.array([float(x) for x in rg])[:, None], np.log(np.array(
        [0.5, 0.25, 0.25]))[:, None], np.log(h4)[:, None], np.ones((3, 1, 1)))[:, 0]
    ref_var = float(h4 @ terms**2 - (h4 @ terms) ** 2)
    ok &= abs(ref_var - rows[0]["variance"]) < 1e-12
    return Evidence("exact", bool(ok), f"E_h[w^2] from {rows[0]['E_h_w2']:.3g} to {rows[-1]['E_h_w2']:.4g}: variance "
                    f"/ E_h[w^2] stays in [{min(r['variance_over_E_w2'] for r in rows):.2f}, "
                    f"{max(r['variance_over_E_w2'] for r in rows):.2f}]",
                    {"rows": rows, "reference_variance_k4": ref_var})


@check("property")
def variance_ew2_property(ctx: Context) -> Evidence:
    """Hypothesis (pi, h, per-sample values r g): Var_h[w r g] <= E_h[w^2] max(r g)^2 and
    >= E_h[w^2] min(r g)^2 - E_pi[r g]^2; targets the ratio to the upper bound (-> 1 for constant r g and large
    E_h[w^2])."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = draw(st.integers(2, 5))
        pi = draw(vst.distributions(k))
        h = draw(vst.distributions(k, floor=0.005))
        v = np.array(draw(st.lists(st.floats(0.1, 5.0), min_size=k, max_size=k)))
        return pi, h, v

    def body(x: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
        pi, h, v = x
        w = I.importance_weights(np.log(pi), np.log(h))
        m2 = float(h @ w**2)
        var = float(h @ (w * v) ** 2 - (h @ (w * v)) ** 2)
        hi, lo = m2 * float(np.max(v)) ** 2, m2 * float(np.min(v)) ** 2 - float(pi @ v) ** 2
        tol = 1e-9 * max(1.0, hi)
        if var > hi + tol or var < lo - tol:
            raise Violation("variance outside [E w^2 m^2 - mean^2, E w^2 G^2]", var=var, lo=lo, hi=hi)
        return var / hi

    return property_evidence(ctx, strat(), body, target_label="variance / (E_h[w^2] G^2)",
                             summary="E_h[w^2] m^2 - mean^2 <= Var_h[w r g] <= E_h[w^2] G^2")


claim(
    id="SEED-003-VARIANCE-EW2",
    title="S3: 'the variance of this estimator scales as E[w(theta)^2]'",
    statement=r"\mathbb E_h[w^2]\,m^2-\big(\mathbb E_\pi[rg]\big)^2\le T\operatorname{Var}_h"
              r"\big[\widehat{\nabla V}\big]\le\mathbb E_h[w^2]\,G^2,\quad m\le|r\,\partial\log\pi|\le G",
    source=Source(seed_citation(S3, "line 21"),
                  quote=r"statistically the variance of this estimator scales as $\mathbb{E}\left[w(\theta)^2\right]$",
                  seed_file=S3),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(variance_ew2_exact, variance_ew2_property),
    conventions=("one gradient component; per-sample term w r d log pi; T i.i.d. samples from h",),
    reading="'Scales as' is read as 'grows in proportion to': with the per-sample values r grad log pi bounded above "
            "and away from 0, the variance is sandwiched between multiples of E_h[w^2]. It holds; the constants "
            "(the range of r grad log pi) are unstated, a note.",
    notes="The exact variance is (E_h[w^2 r^2 g^2] - E_pi[r g]^2)/T; the weight's second moment E_h[w^2] = 1 + "
          "chi2(pi||h) is what blows up.",
)

# =========================================================================== self-normalization and pertinacity


@check("exact")
def self_normalization_exact(ctx: Context) -> Evidence:
    """Rationals, S3's example (w = (1/2, 4), r = (1, 1/5)): the coefficients w_i r_i = (1/2, 4/5) put more weight
    on the meh outcome; self-normalized, (w_i / sum w) r_i = (1/9, 8/45), the same order and the same ratio 8/5."""
    c = [w * r for w, r in zip(W_BLOG, R_BLOG)]
    s = sum(W_BLOG)
    sn = [w / s * r for w, r in zip(W_BLOG, R_BLOG)]
    still = (c[1] > c[0]) == (sn[1] > sn[0]) and sn[1] / sn[0] == c[1] / c[0] and c[1] > c[0]
    return Evidence("exact", bool(still), f"coefficients {[str(x) for x in c]} -> self-normalized "
                    f"{[str(x) for x in sn]}: the meh outcome still gets {sn[1] / sn[0]} times the push",
                    {"coefficients": [str(x) for x in c], "self_normalized": [str(x) for x in sn],
                     "ratio_meh_over_good": str(sn[1] / sn[0])})


@check("property")
def self_normalization_property(ctx: Context) -> Evidence:
    """Hypothesis (weights as log ratios, rewards, T <= 6): the reference importance_weighted_policy_gradient with
    and without self_normalized=True differ by one positive factor (T / sum w) on every per-sample coefficient
    (unit score vectors), so the ordering of the pushes -- the pertinacity -- is unchanged."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
        T = draw(st.integers(2, 6))
        lw = np.array(draw(st.lists(st.floats(-5, 5), min_size=T, max_size=T)))
        r = np.array(draw(st.lists(st.floats(-3, 3), min_size=T, max_size=T)))
        return lw, r

    def body(x: tuple[np.ndarray, np.ndarray]) -> float:
        lw, r = x
        T = len(r)
        eye = np.eye(T)[None]  # score of sample t = e_t: the output is the coefficient vector
        plain = I.importance_weighted_policy_gradient(r[None], lw[None], np.zeros((1, T)), eye)[0]
        sn = I.importance_weighted_policy_gradient(r[None], lw[None], np.zeros((1, T)), eye, self_normalized=True)[0]
        factor = T / float(np.exp(lw).sum())
        err = float(np.max(np.abs(sn - factor * plain))) / max(1e-300, float(np.max(np.abs(sn))))
        if err > 1e-12 or list(np.argsort(-sn, kind="stable")) != list(np.argsort(-factor * plain, kind="stable")):
            raise Violation("self-normalization changed the coefficients' shape", lw=lw.tolist(), r=r.tolist())
        return err

    return property_evidence(ctx, strat(), body, target_label="relative error",
                             summary="self-normalized coefficients = positive multiple of the plain ones")


claim(
    id="SEED-003-SELF-NORMALIZATION",
    title="S3: 'Self-normalization doesn't fix this' (the pertinacity ordering survives self-normalization)",
    statement=r"\frac{w_i}{\sum_sw_s}r_i=\frac{1}{\sum_sw_s}\,(w_ir_i):\ \text{same order and ratios of the pushes}",
    source=Source(seed_citation(S3, "line 45"), quote="Self-normalization doesn’t fix this.", seed_file=S3),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(self_normalization_exact, self_normalization_property),
    reading="'This' is the pertinacity of the paragraph before (the push on each sample ordered by w r rather than "
            "r). Self-normalization divides every coefficient by the same positive sum, so the ordering and the "
            "ratios stay: the sentence holds.",
    uses=("PERTINACITY",),
)

# =========================================================================== clipping mitigates if ranges allow


def _clip(w: Fraction, lo: Fraction, hi: Fraction) -> Fraction:
    return min(max(w, lo), hi)


@check("exact")
def clip_ranges_exact(ctx: Context) -> Evidence:
    """Rationals, S3's example (w = (1/2, 4), r = (1, 1/5), reward ratio 5): clipping the weights into [1/2, c]
    restores the reward ordering (w0 r0 > w1 r1) exactly when the clipped range ratio c / (1/2) is below the reward
    ratio 5, i.e. c < 5/2; at c = 5/2 the pushes tie, above it the meh outcome still wins."""
    lo = Fraction(1, 2)
    rows = []
    ok = True
    for c in (Fraction(1), Fraction(2), Fraction(5, 2), Fraction(3), Fraction(4)):
        a, b = _clip(W_BLOG[0], lo, c) * R_BLOG[0], _clip(W_BLOG[1], lo, c) * R_BLOG[1]
        dominated = (c / lo) < R_BLOG[0] / R_BLOG[1]
        ok &= (a > b) == dominated
        rows.append({"clip_high": str(c), "range_ratio": str(c / lo), "push_good": str(a), "push_meh": str(b),
                     "reward_order_restored": a > b})
    return Evidence("exact", bool(ok), "reward order restored iff clipped weight range ratio < reward ratio 5",
                    {"rows": rows})


@check("property")
def clip_ranges_property(ctx: Context) -> Evidence:
    """Hypothesis (weights w0, w1 > 0, clip range [a, b], rewards r0 > r1 > 0): if b / a < r0 / r1 the clipped
    pushes keep the reward order whatever the weights; if b / a > r0 / r1 the weights (a, b) reverse it (the
    condition cannot be weakened). Exact rationals."""
    f = st.fractions(Fraction(1, 20), Fraction(20), max_denominator=50)

    def body(x: tuple[Fraction, Fraction, Fraction, Fraction, Fraction, Fraction]) -> float | None:
        w0, w1, a, span, r1, gap = x
        b, r0 = a * (1 + span), r1 * (1 + gap)
        if b / a < r0 / r1:
            if not _clip(w0, a, b) * r0 > _clip(w1, a, b) * r1:
                raise Violation("order reversed although the ranges are dominated", w0=str(w0), w1=str(w1),
                                a=str(a), b=str(b), r0=str(r0), r1=str(r1))
        elif b / a > r0 / r1 and not a * r0 < b * r1:
            raise Violation("no reversing witness although the weight range is wider", a=str(a), b=str(b))
        return float((b / a) / (r0 / r1))

    return property_evidence(ctx, st.tuples(f, f, f, f, f, f), body, target_label="range ratio / reward ratio",
                             summary="clipped range dominated by the reward range => reward order kept")


claim(
    id="SEED-003-CLIP-RANGES",
    title="S3: clipping mitigates pertinacity 'if the clipped range of the importance weights is dominated by the "
          "range of the rewards'",
    statement=r"w_i\in[a,b]\ \text{after clipping},\ \frac ba<\frac{r_0}{r_1}\ (r_0>r_1>0)\Rightarrow "
              r"\operatorname{clip}(w_0)r_0>\operatorname{clip}(w_1)r_1\ \text{for all }w",
    source=Source(seed_citation(S3, "line 45"),
                  quote="Clipping can mitigate this to some degree if the clipped range of the importance weights is "
                        "dominated by the range of the rewards", seed_file=S3),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(clip_ranges_exact, clip_ranges_property),
    conventions=("'range' read multiplicatively: max/min of the clipped weights vs r0/r1, positive rewards",),
    reading="'Dominated by the range of the rewards' is read as the spread of the clipped weights (max/min) being "
            "smaller than the spread of the rewards (r0/r1), the comparison that decides the order of w r. So read, "
            "the clipped pushes follow the rewards for any weights, and the condition is sharp.",
    notes="The post adds that clipping still pushes the meh outcome up and draws probability from the other actions "
          "(SEED-003-PUKE-ARBITRARY, PUKE-REDISTRIBUTION).",
)

# =========================================================================== the self-normalized gradient


def _bandit_sn_bias(pi: np.ndarray, h: np.ndarray, r: np.ndarray, T: int) -> float:
    """|| E_h[sum_t (w_t / sum w) r_t grad log pi(y_t)] - grad V || over every ordered batch of T draws (reference
    estimator; grad w.r.t. the logits of pi)."""
    K = len(pi)
    scores = np.eye(K) - pi[None, :]  # grad_z log pi(y) for y = 0..K-1
    grad_v = (pi * r) @ scores
    batches = np.array(list(itertools.product(range(K), repeat=T)))
    probs = np.prod(h[batches], axis=1)
    est = I.importance_weighted_policy_gradient(r[batches], np.log(pi)[batches], np.log(h)[batches],
                                                scores[batches], self_normalized=True)
    return float(np.linalg.norm(probs @ est - grad_v))


@check("exact")
def sn_gradient_exact(ctx: Context) -> Evidence:
    """Bandit (pi = softmax, behaviour h, rewards r), every ordered batch of T = 1..6 draws enumerated through the
    reference estimator: the self-normalized gradient's bias shrinks like 1/T (T x bias settles), so it is a
    consistent estimate of grad V; its norm never exceeds max_t ||r_t grad log pi(y_t)||. It is not the derivative
    of the self-normalized value estimate: on a fixed batch that derivative (central differences) is
    sum_t wbar_t (r_t - Vhat_SN) grad log pi(y_t) -- the seed's expression minus Vhat_SN sum_t wbar_t grad log pi."""
    pi = M.softmax(np.array([0.3, -0.2, 0.5]))
    h = np.array([0.5, 0.3, 0.2])
    r = np.array([1.0, 0.2, -0.4])
    biases = [_bandit_sn_bias(pi, h, r, T) for T in range(1, 7)]
    t_bias = [(T + 1) * b for T, b in enumerate(biases)]
    consistent = all(b2 < b1 for b1, b2 in itertools.pairwise(biases)) and abs(t_bias[-1] / t_bias[-2] - 1) < 0.1
    # derivative of the SNIS value on one batch vs the seed's expression
    y = np.array([0, 2, 1, 2])
    z0 = np.array([0.3, -0.2, 0.5])

    def snis_value(z: np.ndarray) -> float:
        return float(I.self_normalized_is(r[y], M.log_softmax(z)[y], np.log(h[y])))

    fd = np.array([(snis_value(z0 + 1e-6 * e) - snis_value(z0 - 1e-6 * e)) / 2e-6 for e in np.eye(3)])
    scores = np.eye(3)[y] - pi[None, :]
    wbar = np.exp(M.log_softmax(z0)[y] - np.log(h[y]))
    wbar /= wbar.sum()
    vhat = float(wbar @ r[y])
    seed_expr = (wbar * r[y]) @ scores
    identity_gap = float(np.max(np.abs(fd - (seed_expr - vhat * (wbar @ scores)))))
    norm_ok = True
    for T in (2, 3):
        batches = np.array(list(itertools.product(range(3), repeat=T)))
        sc = (np.eye(3) - pi[None, :])[batches]
        est = I.importance_weighted_policy_gradient(r[batches], np.log(pi)[batches], np.log(h)[batches], sc,
                                                    self_normalized=True)
        cap = np.max(np.linalg.norm(r[batches][..., None] * sc, axis=-1), axis=-1)
        norm_ok &= bool(np.all(np.linalg.norm(est, axis=-1) <= cap * (1 + 1e-12)))
    passed = consistent and identity_gap < 1e-8 and norm_ok
    return Evidence("exact", bool(passed), f"bias of the self-normalized gradient {biases[0]:.3g} (T=1) -> "
                    f"{biases[-1]:.3g} (T=6), T x bias -> {t_bias[-1]:.4f}; derivative of the SNIS value differs from "
                    f"the seed's expression by Vhat_SN sum wbar grad log pi (gap {identity_gap:.1e})",
                    {"bias_by_T": biases, "T_times_bias": t_bias, "snis_derivative_identity_gap": identity_gap,
                     "seed_expression_minus_snis_derivative": (seed_expr - fd).tolist(),
                     "norm_bounded_by_max_term": norm_ok})


@check("high-precision")
def sn_gradient_high_precision(ctx: Context) -> Evidence:
    """mpmath (30 digits), the same bandit: the exact expectation of the self-normalized gradient over all batches
    of T = 8 and T = 16 draws (multinomial counts) -- its bias keeps shrinking like 1/T (T x bias within 10%)."""
    pi = [float(x) for x in M.softmax(np.array([0.3, -0.2, 0.5]))]
    h = [0.5, 0.3, 0.2]
    r = [1.0, 0.2, -0.4]
    out = {}
    with mp.workdps(30):
        P, H, Rw = [mp.mpf(x) for x in pi], [mp.mpf(x) for x in h], [mp.mpf(x) for x in r]
        W = [p / q for p, q in zip(P, H)]
        grad_v = [mp.fsum(P[y] * Rw[y] * ((1 if j == y else 0) - P[j]) for y in range(3)) for j in range(3)]
        for T in (8, 16):
            acc = [mp.mpf(0)] * 3
            for n0 in range(T + 1):
                for n1 in range(T + 1 - n0):
                    n = (n0, n1, T - n0 - n1)
                    multinomial = math.factorial(T) // (math.factorial(n[0]) * math.factorial(n[1])
                                                        * math.factorial(n[2]))
                    prob = mp.mpf(multinomial) * mp.fprod(H[y] ** n[y] for y in range(3))
                    sw = mp.fsum(n[y] * W[y] for y in range(3))
                    for j in range(3):
                        acc[j] += prob * mp.fsum(n[y] * W[y] / sw * Rw[y] * ((1 if j == y else 0) - P[j])
                                                 for y in range(3))
            out[T] = float(mp.sqrt(mp.fsum((a - g) ** 2 for a, g in zip(acc, grad_v))))
    ratio = (16 * out[16]) / (8 * out[8])
    return Evidence("high-precision", bool(out[16] < out[8] and abs(ratio - 1) < 0.1),
                    f"bias {out[8]:.4g} (T=8) -> {out[16]:.4g} (T=16); (16 bias_16)/(8 bias_8) = {ratio:.3f}",
                    {"bias_T8": out[8], "bias_T16": out[16], "T_bias_ratio": ratio, "dps": 30})


claim(
    id="SEED-003-SELF-NORMALIZED-GRADIENT",
    title="S3: the self-normalized version sum_t (w_t / sum w) r_t grad log pi estimates grad V with its magnitude "
          "under control",
    statement=r"\sum_t\frac{w_t}{\sum_sw_s}r_t\nabla\log\pi(y_t|x_t)\xrightarrow[T\to\infty]{}\nabla V(\theta),\ "
              r"\text{bias }O(1/T),\ \Big\|\cdot\Big\|\le\max_t\|r_t\nabla\log\pi(y_t|x_t)\|",
    source=Source(seed_citation(S3, "lines 21-25"),
                  quote="But if those were the only problems, you could easily fix this via the self-normalized "
                        "version … Basically, the magnitude is under control but the direction of the update sucks.",
                  seed_file=S3),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(sn_gradient_exact, sn_gradient_high_precision),
    conventions=("one context, softmax logits; T i.i.d. draws from h",),
    reading="The display is labelled 'grad V-hat(theta) ~': read as an estimator of the policy gradient grad V that "
            "fixes the instability (its magnitude is a convex combination of the per-sample terms), not as the "
            "derivative of some self-normalized value estimate. So read, it holds: consistent, with an O(1/T) "
            "bias, and bounded.",
    notes="It is not the gradient of the self-normalized value estimate sum w r / sum w, whose derivative is "
          "sum_t wbar_t (r_t - Vhat_SN) grad log pi: the self-normalized value comes with its own baseline. "
          "Optimizing that value with autograd therefore gives a different update from the seed's display.",
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
