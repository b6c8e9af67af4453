"""Trajectory-level IS: the variance explosion with the horizon, the slides' quadratic-cost statement and the
linear cost of prefix weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import mpmath as mp
import numpy as np
from hypothesis import strategies as st

from reference_impls import enumeration as E
from reference_impls import importance as I
from reference_impls import mdp as M
from reference_impls import sampling as SM
from verify import stats as VS
from verify.claims.importance_sampling._common import FAMILY, S1, _enum_logps, _frac_dist, _mc_evidence, _random_pair
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim, plot
from verify.seeds import seed_citation

# =========================================================================== TRAJ-IS-VARIANCE-EXPLODES

#: The constant-chi2 construction: in every state the target plays (9/10, 1/10) (actions permuted per
#: state), the behaviour (1/2, 1/2); chi2 = 0.64 per state, so E[W_H^2] = 1.64^H exactly.
CONST_TARGET = (0.9, 0.1)


CONST_CHI2 = Fraction(16, 25)


def _constant_chi2_instance(rng: np.random.Generator, S: int = 3) -> tuple[M.FiniteMDP, np.ndarray, np.ndarray]:
    mdp = M.random_mdp(rng, S, 2, 0.9)
    pi = np.array([CONST_TARGET if s % 2 == 0 else CONST_TARGET[::-1] for s in range(S)])
    mu = np.full((S, 2), 0.5)
    return mdp, pi, mu


def _rational_second_moment(P: list[list[list[Fraction]]], init: list[Fraction], pi: list[list[Fraction]],
                            mu: list[list[Fraction]], H: int) -> Any:
    """E_mu[W_H^2] by the backward recursion in exact rational arithmetic (independent of reference_impls)."""
    S, A = len(pi), len(pi[0])
    Mv: list[Any] = [Fraction(1)] * S
    for _ in range(H):
        Mv = [sum(pi[s][a] ** 2 / mu[s][a] * sum(P[s][a][t] * Mv[t] for t in range(S)) for a in range(A))
              for s in range(S)]
    return sum(init[s] * Mv[s] for s in range(S))


@check("exact")
def traj_is_second_moment_exact(ctx: Context) -> Evidence:
    """Recursion (reference) = enumeration for random 3x2 MDPs, H = 0..5, with E[W_H] = 1 and the per-state chi2
    bounds; in the constant-chi2 construction E[W_H^2] = 1.64^H exactly (rationals) and log E[W_H^2] is linear
    in H with slope log 1.64."""
    rng = ctx.rng()
    worst_rec, worst_mean, bound_ok = 0.0, 0.0, True
    for _ in range(4):
        mdp = M.random_mdp(rng, 3, 2, 0.9)
        pi, mu = _random_pair(rng, 3, 2, mix=0.4)
        chis = np.sum(pi * pi / mu, axis=1)
        for H in range(6):
            traj = E.enumerate_trajectories(mdp, mu, H)
            W = I.trajectory_importance_weights(*_enum_logps(traj, pi, mu))
            m2 = float(traj.expectation(W * W))
            rec = I.trajectory_weight_second_moment(mdp, pi, mu, H)
            worst_rec = max(worst_rec, abs(m2 - rec) / rec)
            worst_mean = max(worst_mean, abs(float(traj.expectation(W)) - 1.0))
            bound_ok &= chis.min() ** H * (1 - 1e-12) <= rec <= chis.max() ** H * (1 + 1e-12)
    # constant chi2: rational recursion with rational random dynamics
    S = 3
    Pq = [[_frac_dist(rng, S) for _ in range(2)] for _ in range(S)]
    init = _frac_dist(rng, S)
    t9, t1 = Fraction(9, 10), Fraction(1, 10)
    piq = [[t9, t1] if s % 2 == 0 else [t1, t9] for s in range(S)]
    muq = [[Fraction(1, 2)] * 2 for _ in range(S)]
    rational_ok = all(_rational_second_moment(Pq, init, piq, muq, H) == (1 + CONST_CHI2) ** H for H in range(13))
    mdp, pi, mu = _constant_chi2_instance(rng)
    Hs = np.arange(0, 31)
    logm = np.array([math.log(I.trajectory_weight_second_moment(mdp, pi, mu, int(H))) for H in Hs])
    slope, icpt = np.polyfit(Hs, logm, 1)
    resid = float(np.max(np.abs(logm - (slope * Hs + icpt))))
    m20 = I.trajectory_weight_second_moment(mdp, pi, mu, 20)
    passed = (worst_rec < 1e-12 and worst_mean < 1e-12 and bool(bound_ok) and rational_ok
              and abs(slope - math.log(1.64)) < 1e-12 and resid < 1e-10 and abs(m20 / 1.64**20 - 1) < 1e-12)
    return Evidence("exact", passed,
                    f"recursion = enumeration to {worst_rec:.1e}, E[W]=1 to {worst_mean:.1e}, chi2 bounds hold; "
                    f"constant chi2: E[W_H^2] = 1.64^H exactly (H <= 12, rationals), slope {slope:.15f} "
                    f"(log 1.64 = {math.log(1.64):.15f}), E[W_20^2] = {m20:.4g}",
                    {"max_recursion_vs_enumeration": worst_rec, "max_mean_weight_error": worst_mean,
                     "chi2_bounds_hold": bool(bound_ok), "rational_identity_H_max": 12, "slope": float(slope),
                     "log_1_plus_chi2": math.log(1.64), "linear_fit_residual": resid, "E_W20_sq": m20,
                     "seed": ctx.seed})


@check("high-precision")
def traj_is_second_moment_mpmath(ctx: Context) -> Evidence:
    """mpmath (50 digits, own recursion): log E[W_H^2] - H log(1 + chi2) = 0 for H = 1..40 in the constant-chi2
    construction with random dynamics; the typical weight exp(-H KL(mu||pi)) at H = 20 is ~3.7e-5."""
    rng = ctx.rng()
    mdp, _, _ = _constant_chi2_instance(rng)
    worst = mp.mpf(0)
    with mp.workdps(50):
        # float64 rows sum to 1 only to ~1e-16: renormalise them at 50 digits (still a random MDP)
        P = [[[mp.mpf(float(x)) / mp.fsum(mp.mpf(float(y)) for y in row) for x in row] for row in sa]
             for sa in mdp.transitions]
        init = [mp.mpf(float(x)) / mp.fsum(mp.mpf(float(y)) for y in mdp.initial) for x in mdp.initial]
        k = [[mp.mpf(9) / 10 if (a == 0) == (s % 2 == 0) else mp.mpf(1) / 10 for a in range(2)] for s in range(3)]
        Mv = [mp.mpf(1)] * 3
        for H in range(1, 41):
            Mv = [mp.fsum(k[s][a] ** 2 / mp.mpf("0.5") * mp.fsum(P[s][a][t] * Mv[t] for t in range(3))
                          for a in range(2)) for s in range(3)]
            val = mp.fsum(init[s] * Mv[s] for s in range(3))
            worst = max(worst, abs(mp.log(val) - H * mp.log(1 + mp.mpf(16) / 25)))
        kl = (mp.log(mp.mpf("0.5") / mp.mpf("0.9")) + mp.log(mp.mpf("0.5") / mp.mpf("0.1"))) / 2
        typical = mp.exp(-20 * kl)
        passed = worst < mp.mpf(10) ** -40 and abs(typical - mp.mpf("3.7e-5")) < mp.mpf("0.1e-5")
    return Evidence("high-precision", bool(passed),
                    f"|log E[W_H^2] - H log 1.64| <= {float(worst):.1e} for H <= 40 (50 digits); "
                    f"KL(mu||pi) = {float(kl):.4f}, typical W_20 = {float(typical):.3g} while E[W_20] = 1",
                    {"max_log_error": float(worst), "dps": 50, "H_max": 40, "kl_mu_pi": float(kl),
                     "typical_weight_H20": float(typical), "seed": ctx.seed})


@check("monte-carlo")
def traj_is_log_weight_mc(ctx: Context) -> Evidence:
    """Sampled log W_20 in the constant-chi2 construction: its mean is -H KL(mu||pi) (z-test with the exact
    sigma sqrt(H) (log 9)/2); control: log W with one step's ratio dropped (mean -(H-1) KL)."""
    name = "TRAJ-IS-VARIANCE-EXPLODES:mc_log_weight"
    rng = ctx.rng()
    mdp, pi, mu = _constant_chi2_instance(rng)
    H = 20
    kl = 0.5 * (math.log(0.5 / 0.9) + math.log(0.5 / 0.1))
    sigma = math.sqrt(H) * 0.5 * math.log(9.0)
    sigma_ctl = math.sqrt(H - 1) * 0.5 * math.log(9.0)
    alpha = VS.alpha_for(name)
    n = max(int(20_000 * ctx.profile.mc_scale), VS.samples_for_control(kl, alpha, sigma=sigma_ctl))
    tr = SM.sample_batched(mdp.transitions[None], mdp.initial[None], mu[None], H, n, rng)
    lp, blp = tr.gather(np.log(pi)[None])[0], tr.gather(np.log(mu)[None])[0]
    logw = I.trajectory_log_weights(lp, blp)
    logw_ctl = I.trajectory_log_weights(lp[:, 1:], blp[:, 1:])
    res = VS.z_test(float(logw.mean()), n, -H * kl, sigma, alpha)
    ctl = VS.z_test(float(logw_ctl.mean()), n, -H * kl, sigma_ctl, alpha)
    return _mc_evidence(ctx, name, f"mean of log W_{H} over {n} sampled trajectories vs -H KL(mu||pi)", res, ctl,
                        "log W with the first step's ratio dropped", kl, kl,
                        sample_median_log_weight=float(np.median(logw)), exact_mean_log_weight=-H * kl,
                        fraction_of_weights_below_1=float(np.mean(logw < 0)))


claim(
    id="TRAJ-IS-VARIANCE-EXPLODES",
    title="Trajectory IS: E[W_H^2] grows like (1 + chi2)^H",
    statement=r"\mathbb{E}_\mu[W_H]=1,\ \mathbb{E}_\mu[W_H^2]=\textstyle\sum_s\rho_0(s)M_0(s),\ "
              r"M_t(s)=\sum_a\frac{\pi(a|s)^2}{\mu(a|s)}\sum_{s'}P(s'|s,a)M_{t+1}(s'),\ "
              r"\min_s(1+\chi^2_s)^H\le\mathbb{E}[W_H^2]\le\max_s(1+\chi^2_s)^H",
    source=Source("Derived here (second moment of the product of per-step weights); cf. Liu, Bacon & Brunskill (2020) "
                  "arXiv:1910.06508"),
    family=FAMILY,
    expected="verified",
    checks=(traj_is_second_moment_exact, traj_is_second_moment_mpmath, traj_is_log_weight_mc),
    conventions=("chi2_s = chi2(pi(.|s) || mu(.|s)) = sum_a pi^2/mu - 1", "KL(mu||pi) in nats"),
    assumptions=("mu > 0 wherever pi > 0",),
    notes="With a constant per-state $\\chi^2$, $\\log\\mathbb{E}[W_H^2]=H\\log(1+\\chi^2)$ exactly, while "
          "$\\frac1H\\log W_H\\to-\\mathrm{KL}(\\mu\\|\\pi)$: the mean stays 1 and typical weights vanish.",
)


# =========================================================================== S1: quadratic cost (refuted)


class _Mul:
    """A rational that counts the multiplications performed on it."""

    count = 0

    def __init__(self, v: Fraction) -> None:
        self.v = v

    def __mul__(self, other: _Mul) -> _Mul:
        _Mul.count += 1
        return _Mul(self.v * other.v)


def _prefix_weights_linear(ratios: list[_Mul]) -> list[_Mul]:
    out = [ratios[0]]
    for r in ratios[1:]:
        out.append(out[-1] * r)
    return out


def _prefix_weights_naive(ratios: list[_Mul]) -> list[_Mul]:
    out = []
    for t in range(len(ratios)):
        w = ratios[0]
        for r in ratios[1:t + 1]:
            w = w * r
        out.append(w)
    return out


def _cost_counts(rng: np.random.Generator, Hs: Sequence[int]) -> tuple[list[int], list[int], bool]:
    lin, naive, same = [], [], True
    for H in Hs:
        ratios = [_Mul(Fraction(int(rng.integers(1, 20)), int(rng.integers(1, 20)))) for _ in range(H)]
        _Mul.count = 0
        a = _prefix_weights_linear(ratios)
        lin.append(_Mul.count)
        _Mul.count = 0
        b = _prefix_weights_naive(ratios)
        naive.append(_Mul.count)
        same &= [x.v for x in a] == [x.v for x in b]
    return lin, naive, same


@check("exact")
def s1_quadratic_cost_counterexample(ctx: Context) -> Evidence:
    """Counting multiplications: the prefix-product algorithm produces every per-step weight W_t (and hence the
    trajectory weight) with H - 1 multiplications, identical to the naive H(H-1)/2 recomputation."""
    Hs = [1, 2, 4, 8, 16, 32, 64]
    lin, naive, same = _cost_counts(ctx.rng(), Hs)
    linear = all(c == H - 1 for c, H in zip(lin, Hs))
    refuted = linear and same
    return Evidence("exact", False if refuted else None,
                    f"'quadratic cost' contradicted: H = {Hs[-1]} needs {lin[-1]} multiplications with prefix "
                    f"products vs {naive[-1]} naive, same weights" if refuted else "could not decide",
                    {"horizons": Hs, "prefix_multiplications": lin, "naive_multiplications": naive,
                     "identical_weights": same},
                    counterexample={"H": Hs[-1], "prefix_multiplications": lin[-1],
                                    "naive_multiplications": naive[-1]} if refuted else None)


SEED_QUAD = claim(
    id="SEED-S1-TRAJ-IS-QUADRATIC",
    title="S1: trajectory IS has quadratic compute cost in the trajectory length",
    statement=r"\text{Using the full path: quadratic compute cost (in trajectory length) to reweight each sample}",
    source=Source(seed_citation(S1, "line 400"),
                  quote="- Quadratic compute cost (in trajectory length) to reweight each sample",
                  seed_file=S1),
    family=FAMILY,
    kind="seed-statement",
    expected="refuted",
    checks=(s1_quadratic_cost_counterexample,),
    notes="Only a naive implementation that recomputes every prefix product is quadratic.",
)


@check("exact")
def linear_cost_exact(ctx: Context) -> Evidence:
    """Exact counts (H - 1 multiplications for all H prefix weights, H = 1..64) and rational equality with
    the naive products; the reference cumulative weights equal the naive float products."""
    rng = ctx.rng()
    Hs = list(range(1, 65))
    lin, _, same = _cost_counts(rng, Hs)
    linear = all(c == H - 1 for c, H in zip(lin, Hs))
    lp, blp = rng.normal(size=(32, 64)) * 0.3, rng.normal(size=(32, 64)) * 0.3
    ref = I.cumulative_importance_weights(lp, blp)
    ratio = np.exp(lp - blp)
    naive = np.array([[np.prod(row[: t + 1]) for t in range(64)] for row in ratio])
    err = float(np.max(np.abs(ref / naive - 1)))
    return Evidence("exact", bool(linear and same and err < 1e-12),
                    f"prefix products: exactly H - 1 multiplications for H = 1..64, identical rationals; reference "
                    f"cumulative weights match naive products to {err:.1e}",
                    {"max_multiplications": lin[-1], "linear": linear, "identical": same, "max_rel_error": err})


@check("property")
def linear_cost_property(ctx: Context) -> Evidence:
    """hypothesis: the O(H) reference per-decision and trajectory IS equal an O(H^2) loop that recomputes each
    prefix product (relative error <= 1e-12)."""
    strat = st.integers(1, 40).flatmap(lambda H: st.tuples(
        st.lists(st.floats(-3, 0), min_size=H, max_size=H), st.lists(st.floats(-3, 0), min_size=H, max_size=H),
        st.lists(st.floats(-1, 1), min_size=H, max_size=H), st.sampled_from([0.5, 0.9, 1.0])))

    def body(x: tuple[list[float], list[float], list[float], float]) -> float:
        lp, blp, r, g = (np.array(x[0]), np.array(x[1]), np.array(x[2]), x[3])
        H = len(r)
        pd_terms = [g**t * math.prod(math.exp(lp[k] - blp[k]) for k in range(t + 1)) * r[t] for t in range(H)]
        naive_pd = sum(pd_terms)
        w_H = math.prod(math.exp(lp[k] - blp[k]) for k in range(H))
        naive_tr = w_H * sum(g**t * r[t] for t in range(H))
        pd = float(I.per_decision_is(r, lp, blp, g))
        tr = float(I.trajectory_is(r, lp, blp, g))
        # the sums can cancel (rewards of both signs): measure errors against the sum of |terms|,
        # the scale that float64 rounding of either evaluation order is proportional to
        scale = max(1.0, sum(abs(v) for v in pd_terms), w_H * sum(g**t * abs(r[t]) for t in range(H)))
        err = max(abs(pd - naive_pd), abs(tr - naive_tr)) / scale
        if err > 1e-12:
            raise Violation(f"relative error {err:.3g}", pdis=pd, naive=naive_pd)
        return err

    return property_evidence(ctx, strat, body, summary="O(H) prefix-product IS equals the O(H^2) recomputation",
                             target_label="error")


claim(
    id="TRAJ-IS-LINEAR-COST",
    title="Trajectory and per-decision IS weights cost O(H) with prefix products",
    statement=r"W_t=W_{t-1}\,\frac{\pi(a_t|s_t)}{\mu(a_t|s_t)}:\ \text{all } W_0,\dots,W_{H-1}\text{ in } H-1"
              r"\text{ multiplications (one cumulative sum in log space)}",
    source=Source("Precup, Sutton & Singh (2000), per-decision importance sampling (weights of the "
                  "rewards so far only)"),
    family=FAMILY,
    kind="correction",
    corrects="SEED-S1-TRAJ-IS-QUADRATIC",
    expected="verified",
    checks=(linear_cost_exact, linear_cost_property),
)


# =========================================================================== plots


@plot(FAMILY, "is_variance_vs_horizon",
      "Exact variance (by enumeration, 2 states, 2 actions, gamma = 1) of trajectory IS, per-decision IS and "
      "trajectory IS with the weight truncated at c = 2, against the horizon; log scale. Trajectory IS grows "
      "geometrically, truncation caps the weight (at the price of bias).")
def _plot_variance_vs_horizon() -> Any:
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(5)
    mdp = M.random_mdp(rng, 2, 2, 0.9, reward_range=(0.0, 1.0))
    pi = np.array([[0.85, 0.15], [0.2, 0.8]])
    mu = np.full((2, 2), 0.5)
    Hs = list(range(1, 9))
    rows: dict[str, list[float]] = {"trajectory IS": [], "per-decision IS": [], "truncated IS (c = 2)": []}
    for H in Hs:
        traj = E.enumerate_trajectories(mdp, mu, H)
        lp, blp = _enum_logps(traj, pi, mu)
        rows["trajectory IS"].append(float(traj.variance(I.trajectory_is(traj.rewards, lp, blp, 1.0))))
        rows["per-decision IS"].append(float(traj.variance(I.per_decision_is(traj.rewards, lp, blp, 1.0))))
        W = I.trajectory_importance_weights(lp, blp)
        G = traj.discounted_returns(1.0)
        rows["truncated IS (c = 2)"].append(float(traj.variance(np.minimum(W, 2.0) * G)))
    fig, ax = plt.subplots(figsize=(6, 4))
    for (label, vals), mk in zip(rows.items(), "osd"):
        ax.semilogy(Hs, vals, marker=mk, label=label)
    ax.set_title("Exact variance of IS estimators against the horizon")
    ax.set_xlabel("horizon H (steps)")
    ax.set_ylabel("variance of a one-trajectory estimate (reward²)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
