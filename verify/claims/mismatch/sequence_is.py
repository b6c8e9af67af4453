"""Sequence-level IS fixes the mismatch (MISMATCH-SEQ-IS-FIXES); seed 003's variance (E[w^2]) and self-
normalization statements.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath as mp
import numpy as np
from hypothesis import strategies as st

from reference_impls import importance as I
from reference_impls import mismatch as MM
from reference_impls import token_models as TM
from verify import stats as VS
from verify import strategies as vst
from verify.claims.mismatch._common import (
    CONVENTIONS,
    FAMILY,
    MC_TEST,
    R_BLOG,
    S0,
    S3,
    W_BLOG,
    MpTokenModel,
    _mp,
    _mp_diff,
    _mp_norm,
    _pyplot,
    constant_chi2_task,
    instance,
)
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim, plot
from verify.seeds import seed_citation

# =========================================================================== MISMATCH-SEQ-IS-FIXES


def weight_shape_problem(task: TM.TokenTask, z: np.ndarray, zm: np.ndarray) -> dict[str, Any] | None:
    """None if sequence_is_weights returns one weight per sequence on this task, else what it returned."""
    w = np.asarray(MM.sequence_is_weights(TM.token_log_probs(task, z), TM.token_log_probs(task, zm),
                                          TM.policy_mask(task)))
    if w.shape == (task.n_sequences,):
        return None
    return {"returned_shape": list(w.shape), "expected_shape": [task.n_sequences]}


SINGLE_TURN_SHAPES = ((2, 1), (2, 4), (3, 1), (3, 2), (3, 3), (3, 4))


@check("exact")
def seq_is_exact(ctx: Context) -> Evidence:
    """E_mu[w R grad log pi(y)] = grad J exactly on single-turn tasks (V, T) up to (3, 4), 3 instances each;
    the weight is one number per sequence; second moment E_mu[w^2 R^2 ||score||^2] reported."""
    rng = ctx.rng()
    worst, n = 0.0, 0
    second_moments = {}
    for V, T in SINGLE_TURN_SHAPES:
        for _ in range(3):
            task, z, zm = instance(rng, V, T, noise=0.5)
            lp, lq, m = TM.token_log_probs(task, z), TM.token_log_probs(task, zm), TM.policy_mask(task)
            w = np.asarray(MM.sequence_is_weights(lp, lq, m))
            if w.shape != (task.n_sequences,):
                return Evidence("exact", False, "sequence_is_weights does not return one weight per sequence",
                                {"shape": list(w.shape), "expected": [task.n_sequences]},
                                counterexample={"V": V, "T": T, "shape": list(w.shape)})
            full_ratio = TM.sequence_probs(task, z) / TM.sequence_probs(task, zm)
            err_w = float(np.max(np.abs(w / full_ratio - 1.0)))
            bias = TM.relative_bias(task, z, zm, "sequence_is")
            worst = max(worst, bias, err_w)
            n += 1
            terms = TM.estimator_terms(task, z, zm, "sequence_is").reshape(task.n_sequences, -1)
            second_moments[f"V={V},T={T}"] = float(TM.sequence_probs(task, zm) @ np.sum(terms**2, axis=1))
    passed = worst < 1e-12
    return Evidence("exact", passed,
                    f"sequence-IS expected gradient equals grad J on {n} single-turn instances (max relative error)",
                    {"max_relative_error": worst, "instances": n, "shapes": [list(s) for s in SINGLE_TURN_SHAPES],
                     "second_moment_E_mu[w^2 R^2 |score|^2]": second_moments, "seed": ctx.seed},
                    counterexample=None if passed else {"max_relative_error": worst})


@check("high-precision")
def seq_is_high_precision(ctx: Context) -> Evidence:
    """mpmath (60 digits): E_mu[w R score] equals central differences of J (h = 1e-20); the float64
    sequence-IS expectation agrees with it to 1e-12 (relative)."""
    rng = ctx.rng()
    worst_mp, worst_f = mp.mpf(0), 0.0
    with mp.workdps(60):
        for V, T in ((2, 3), (3, 3)):
            task, z, zm = instance(rng, V, T, noise=0.5)
            bad = weight_shape_problem(task, z, zm)
            if bad is not None:
                return Evidence("high-precision", False, "sequence_is_weights is not one weight per sequence", bad,
                                counterexample=bad)
            mm = MpTokenModel(task)
            zp, zq = _mp(z), _mp(zm)
            gJ = mm.grad_fd(zp, mp.mpf(10) ** -20)
            gIS = mm.expectation(zp, zq, "sequence_is")
            worst_mp = max(worst_mp, _mp_norm(_mp_diff(gJ, gIS)) / _mp_norm(gJ))
            g64 = TM.expected_gradient(task, z, zm, "sequence_is")
            ref = np.array([[float(v) for v in row] for row in gJ])
            worst_f = max(worst_f, float(np.linalg.norm(g64 - ref) / np.linalg.norm(ref)))
    passed = worst_mp < mp.mpf(10) ** -30 and worst_f < 1e-12
    return Evidence("high-precision", bool(passed),
                    "mpmath: sequence-IS expectation == finite-difference grad J at 60 digits; float64 agrees",
                    {"max_relative_gap_mpmath": float(worst_mp), "max_relative_gap_float64": worst_f, "dps": 60,
                     "h": 1e-20, "seed": ctx.seed})


@check("monte-carlo")
def seq_is_monte_carlo(ctx: Context) -> Evidence:
    """Samples y ~ mu, weights from sequence_is_weights on the sampled rows; chi^2 (Hotelling with the exact
    covariance) test of mean = grad J at the alpha drawn from the suite-wide budget (verify.stats). Negative
    control: the naive estimator on the same samples, tested with its own exact covariance; the sample size
    is raised until the test rejects the control with the design power (verdict by verify.stats.mc_verdict)."""
    rng = ctx.rng()
    task, z, zm = instance(rng, 3, 3, noise=0.5)
    alpha = VS.alpha_for(MC_TEST)
    target = TM.true_gradient(task, z).ravel()
    mean_naive, cov_naive = TM.estimator_covariance(task, z, zm, "naive")
    effect = VS.mahalanobis(mean_naive - target, cov_naive)
    rank = int(np.linalg.matrix_rank(cov_naive, tol=1e-10 * float(np.abs(cov_naive).max())))
    n = max(int(20000 * ctx.profile.mc_scale), VS.samples_for_control(effect, alpha, df=max(rank, 1)))
    idx = TM.sample_sequences(task, zm, rng, n)
    lp, lq, m = TM.token_log_probs(task, z)[idx], TM.token_log_probs(task, zm)[idx], TM.policy_mask(task)[idx]
    w = np.asarray(MM.sequence_is_weights(lp, lq, m))
    if w.shape != (n,):
        return Evidence("monte-carlo", False, "sequence_is_weights does not return one weight per sequence",
                        {"shape": list(w.shape)}, counterexample={"shape": list(w.shape)})
    _, cov = TM.estimator_covariance(task, z, zm, "sequence_is")  # after the shape check: it uses the weights
    score = TM.token_scores(task, z).sum(axis=1).reshape(task.n_sequences, -1)[idx]
    R = task.rewards[idx]
    est = (w * R)[:, None] * score
    naive = R[:, None] * score
    t_is = VS.chi2_mean_test(est.mean(axis=0), n, target, cov, alpha)
    t_naive = VS.chi2_mean_test(naive.mean(axis=0), n, target, cov_naive, alpha)
    verdict = VS.mc_verdict(t_is, t_naive, effect)
    return Evidence("monte-carlo", verdict["passed"],
                    f"{n} samples from mu: sequence-IS mean vs grad J, naive estimator as the negative control: "
                    f"{verdict['reason']} (alpha={alpha:.1e})",
                    {"test_name": MC_TEST, "alpha": alpha, "alpha_total_budget": VS.TOTAL_ALPHA, "samples": n,
                     "seed": ctx.seed, "statistic": t_is["statistic"], "critical": t_is["critical"],
                     "rank": t_is["df"], "min_detectable_mahalanobis": t_is["detectable_mahalanobis"],
                     "control_statistic": t_naive["statistic"], "control_rejected": t_naive["reject"],
                     "control_true_mahalanobis_bias": effect, "control_power": verdict["control_power"],
                     "control_detectable_effect": verdict["control_detectable"],
                     "verdict_reason": verdict["reason"], **VS.audit_figures(f"{ctx.claim_id}:{ctx.check_name}")},
                    counterexample=None if verdict["passed"] is not False else
                    {"statistic": t_is["statistic"], "critical": t_is["critical"]})


claim(
    id="MISMATCH-SEQ-IS-FIXES",
    title="The sequence importance ratio removes the learner-sampler mismatch (single turn)",
    statement=r"\mathbb{E}_{y\sim\mu}\big[w(y)R(y)\nabla\log\pi(y)\big]=\nabla J(\pi),\quad "
              r"w(y)=\prod_t \frac{\pi(y_t|y_{<t})}{\mu(y_t|y_{<t})},\ "
              r"\operatorname{supp}\pi\subseteq\operatorname{supp}\mu",
    source=Source("Yao et al. (2025), 'Your efficient RL framework secretly brings you off-policy RL "
                  "training' (sequence-level IS); " + seed_citation(S0, "line 14, key takeaway (single-turn part)")),
    family=FAMILY,
    expected="verified",
    checks=(seq_is_exact, seq_is_high_precision, seq_is_monte_carlo),
    conventions=CONVENTIONS,
    assumptions=("mu > 0 wherever pi > 0 (softmax policies: always)",),
    notes="The variance is E_mu[w^2 R^2 ||grad log pi||^2] (figures: second moments); see MISMATCH-MULTITURN-TRAJ-IS "
          "for its growth with length.",
)


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


@plot(FAMILY, "mismatch_seq_is_variance_vs_length",
      "Sequence-IS second moment E_mu[w^2] (exact) and trace of the gradient-estimate covariance against the number "
      "of model tokens n, in a multi-turn task whose model tokens all have learner p = (0.8, 0.2) and sampler "
      "q = (0.6, 0.4); the dashed line is (1 + chi2(p||q))^n.")
def plot_variance_vs_length() -> Any:
    p, q = np.array([0.8, 0.2]), np.array([0.6, 0.4])
    chi2 = float(np.sum((p - q) ** 2 / q))
    ns = np.arange(1, 6)
    m2, tr = [], []
    for n in ns:
        task, z, zm = constant_chi2_task(int(n), p, q)
        w = MM.sequence_is_weights(TM.token_log_probs(task, z), TM.token_log_probs(task, zm), TM.policy_mask(task))
        m2.append(float(TM.sequence_probs(task, zm) @ np.asarray(w) ** 2))
        tr.append(float(np.trace(TM.estimator_covariance(task, z, zm, "sequence_is")[1])))
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    ax.semilogy(ns, m2, "o-", label=r"second moment $E_\mu[w^2]$")
    ax.semilogy(ns, (1 + chi2) ** ns, "k--", label=r"$(1 + \chi^2)^n$")
    ax.semilogy(ns, tr, "s-", label="trace of the sequence-IS gradient covariance")
    ax.set_title("Sequence IS: variance grows geometrically with length")
    ax.set_xlabel("model tokens n (interleaved with environment tokens)")
    ax.set_ylabel("second moment / covariance trace (dimensionless)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
