"""PUKE (PUKE) and seed 003's "arbitrary" statement."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath as mp
import numpy as np

from reference_impls import token_models as TM
from verify.claims.mismatch._common import (
    FAMILY,
    K_BLOG,
    R_BLOG,
    S3,
    W_BLOG,
    _pyplot,
    blog_coefficients,
    fd_flow_mp,
    flow_fraction,
    leak,
)
from verify.harness import check
from verify.registry import Context, Evidence, Source, claim, plot
from verify.seeds import seed_citation


@check("exact")
def puke_exact(ctx: Context) -> Evidence:
    """Blog example with the mean baseline, rational arithmetic: c = (1/5, -8/5), dpi/eta = (0.034, -0.146, 0.014 x 8),
    leak to the 8 unsampled actions = 56/73 (76.7%) of the mass ejected from y1; on-policy (w = 1) leak 0;
    self-normalized coefficients (divided by sum w = 9/2) give the same direction and the same 56/73;
    clipping w at 1/2 gives c = (1/5, -1/5) and zero leak."""
    pi = [Fraction(1, K_BLOG)] * K_BLOG
    c = blog_coefficients(baseline=True)
    fl = flow_fraction(pi, (0, 1), c)
    frac = leak(fl) / (-fl[1])
    c_on = [Fraction(1) * (R_BLOG[i] - (R_BLOG[0] + R_BLOG[1]) / 2) for i in range(2)]
    on = flow_fraction(pi, (0, 1), c_on)
    sw = W_BLOG[0] + W_BLOG[1]
    sn = flow_fraction(pi, (0, 1), [x / sw for x in c])
    sn_same_direction = all(a == b / sw for a, b in zip(sn, fl))
    cl = flow_fraction(pi, (0, 1), blog_coefficients(baseline=True, clip=Fraction(1, 2)))
    f64 = TM.first_order_flow(np.full(K_BLOG, 0.1), np.array([0, 1]), np.array([float(x) for x in c]))
    err = float(np.max(np.abs(f64 - np.array([float(x) for x in fl]))))
    passed = (c == [Fraction(1, 5), Fraction(-8, 5)] and fl[:3] == [Fraction(34, 1000), Fraction(-146, 1000),
                                                                    Fraction(14, 1000)]
              and frac == Fraction(56, 73) and leak(on) == 0 and on[0] == -on[1] and sn_same_direction
              and leak(sn) / (-sn[1]) == frac and leak(cl) == 0 and all(x == 0 for x in cl[2:]) and err < 1e-15)
    return Evidence("exact", passed, "the puke: 56/73 of the ejected mass leaks to unsampled actions",
                    {"coefficients": [str(x) for x in c], "flow_first3": [float(x) for x in fl[:3]],
                     "leak_fraction": str(frac), "leak_fraction_float": float(frac),
                     "on_policy_leak": float(leak(on)), "snis_leak_fraction": float(leak(sn) / (-sn[1])),
                     "clip_0.5_leak": float(leak(cl)), "float64_max_error": err})


@check("high-precision")
def puke_finite_difference(ctx: Context) -> Evidence:
    """mpmath (40 digits): an actual softmax step of size eta = 1e-6 moves probability as the first-order formula
    says (gap O(eta), < 1e-5 relative), and eta = 1e-20 reproduces it to 1e-18; the leak fraction of the actual
    step converges to 56/73."""
    c = [0.2, -1.6]
    formula = TM.first_order_flow(np.full(K_BLOG, 0.1), np.array([0, 1]), np.array(c))
    out = {}
    with mp.workdps(40):
        for label, eta in (("1e-6", mp.mpf(10) ** -6), ("1e-20", mp.mpf(10) ** -20)):
            fd = fd_flow_mp([0.1] * K_BLOG, (0, 1), c, eta)
            gap = max(abs(float(a) - b) for a, b in zip(fd, formula)) / float(np.max(np.abs(formula)))
            out[label] = {"relative_gap": gap, "leak_fraction": float(mp.fsum(fd[2:]) / (-fd[1]))}
    passed = (out["1e-6"]["relative_gap"] < 1e-5 and out["1e-20"]["relative_gap"] < 1e-15
              and abs(out["1e-20"]["leak_fraction"] - 56 / 73) < 1e-15)
    return Evidence("high-precision", passed, "finite softmax step agrees with the first-order flow",
                    {**out, "dps": 40})


claim(
    id="PUKE",
    title="The puke: a baseline-corrected IS update ejects mass that mostly leaks to unsampled actions",
    statement=r"c=(w_0(r_0-b),w_1(r_1-b)),\ b=\tfrac{r_0+r_1}2;\ \text{uniform }\pi,\ K=10,\ w=(\tfrac12,4),\ "
              r"r=(1,\tfrac15):\ d\pi/\eta=(0.034,-0.146,0.014\times8),\ \text{leak}=\tfrac{56}{73}\approx76.7\%",
    source=Source(seed_citation(S3, "line 53 ('The Puke')"),
                  quote="which is really bad, because we are ejecting a lot of probability from the meh outcome, but "
                        "we’re only absorbing a little probability into the good outcome.",
                  seed_file=S3),
    family=FAMILY,
    expected="verified",
    checks=(puke_exact, puke_finite_difference),
    conventions=("softmax over K actions, first order in the step size eta",
                 "leak = net first-order mass moved to unsampled actions / mass ejected from y1",
                 "self-normalization: coefficients c_i / sum_j w_j (the S3 'self-normalized version')"),
    uses=("PERTINACITY",),
    notes="On-policy (w = 1) the transport y1 -> y0 is exact. Self-normalization rescales every coefficient by the "
          "same positive 1/sum w, so the direction (and the 76.7% leak) is unchanged, as S3 says.",
)


# ---------------------------------------------------------------- S3 "distributed arbitrarily"

#: Blog setting (two samples, mean baseline, c = (1/5, -8/5)) on a non-uniform pi: sampled y0, y1 have 0.05 each.
NONUNIFORM_PI = (0.05, 0.05, 0.6, 0.15, 0.1, 0.05)


@check("exact")
def arbitrary_as_meant_exact(ctx: Context) -> Evidence:
    """Rational arithmetic, S3's own two-sample update with the mean baseline (c = (1/5, -8/5)), on a uniform pi over
    6 actions and on pi = (0.05, 0.05, 0.6, 0.15, 0.1, 0.05): y1 ejects more than y0 absorbs (on the second, y0 even
    loses a little), and exactly that difference lands on the unsampled actions (the flow sums to 0). The
    reference token_models.first_order_flow gives the same flow."""
    c = blog_coefficients(baseline=True)
    rows = []
    ok = True
    for name, probs in (("uniform", [Fraction(1, 6)] * 6),
                        ("non-uniform", [Fraction(x).limit_denominator(1000) for x in NONUNIFORM_PI])):
        fl = flow_fraction(probs, (0, 1), c)
        ejected, absorbed, lk = -fl[1], fl[0], leak(fl)
        ref = TM.first_order_flow(np.array([float(x) for x in probs]), np.array([0, 1]),
                                  np.array([float(x) for x in c]))
        ref_err = float(np.max(np.abs(ref - np.array([float(x) for x in fl]))))
        ok &= ejected > 0 and lk > 0 and lk == ejected - absorbed
        ok &= sum(fl) == 0 and ref_err < 1e-15
        rows.append({"pi": name, "ejected_from_y1": float(ejected), "absorbed_by_y0": float(absorbed),
                     "to_unsampled_actions": float(lk), "share_of_ejected": float(lk / ejected),
                     "unsampled_flows": [float(x) for x in fl[2:]], "reference_max_error": ref_err})
    return Evidence("exact", bool(ok), "the mass y1 ejects minus what y0 absorbs lands on the other actions ("
                    f"{rows[0]['share_of_ejected']:.1%} of the ejected mass, uniform pi)", {"rows": rows})


@check("high-precision")
def arbitrary_as_meant_finite_difference(ctx: Context) -> Evidence:
    """mpmath (40 digits): an actual softmax step (eta = 1e-8) with S3's coefficients moves net mass onto the
    unsampled actions equal to the first-order leak, on both policies."""
    c = [0.2, -1.6]
    rows = []
    ok = True
    with mp.workdps(40):
        for name, probs in (("uniform", [1 / 6] * 6), ("non-uniform", list(NONUNIFORM_PI))):
            fd = fd_flow_mp(probs, (0, 1), c, mp.mpf(10) ** -8)
            first = flow_fraction([Fraction(x).limit_denominator(1000) for x in probs], (0, 1),
                                  [Fraction(1, 5), Fraction(-8, 5)])
            net = mp.fsum(fd[2:])
            err = abs(net - mp.mpf(float(leak(first))))
            ok &= net > 0 and err < mp.mpf(10) ** -6
            rows.append({"pi": name, "net_gain_unsampled": float(net), "first_order_leak": float(leak(first)),
                         "abs_difference": float(err)})
    return Evidence("high-precision", bool(ok), "finite softmax step: the unsampled actions gain the leak",
                    {"rows": rows, "dps": 40, "eta": 1e-8})


claim(
    id="SEED-003-PUKE-ARBITRARY",
    title="S3: the puked probability 'gets distributed arbitrarily among all other actions'",
    statement=r"\text{The mass ejected from }y_1\text{ and not absorbed by }y_0\text{ is distributed arbitrarily among "
              r"all other actions.}",
    source=Source(seed_citation(S3, "line 53 ('The Puke')"),
                  quote="It gets distributed arbitrarily among all other actions.", seed_file=S3),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(arbitrary_as_meant_exact, arbitrary_as_meant_finite_difference),
    conventions=("first order in eta; softmax logits",),
    reading="'Where does the rest of the probability go? It gets distributed arbitrarily among all other actions': "
            "read in the post's argument, 'arbitrarily' means not steered toward the good outcome, and the sentence "
            "asserts that the mass y1 ejects and y0 does not absorb ends up on the other actions. That holds "
            "exactly. The earlier verdict refuted a literal reading ('spread over every other action', 'at random') "
            "that the post does not argue.",
    notes="How the leak is split is not random: it is the deterministic rich-get-richer flow of PUKE-REDISTRIBUTION "
          "(uniform only when the unsampled probabilities are equal; with non-uniform pi some low-probability "
          "actions even lose mass).",
)


@plot(FAMILY, "puke_probability_flow",
      "First-order probability flow dpi/eta in S3's example (uniform pi over 10 actions, w = (1/2, 4), r = (1, 1/5), "
      "mean baseline): IS weights eject 0.146 from y1 and 76.7% of it leaks to the 8 unsampled actions; on-policy "
      "(w = 1) and clipped at 1/2 the transport y1 -> y0 is exact.")
def plot_puke_flow() -> Any:
    pi = np.full(K_BLOG, 0.1)
    acts = np.array([0, 1])
    cases = {
        "IS weights": [float(x) for x in blog_coefficients(True)],
        "on-policy (w = 1)": [0.4, -0.4],
        "clipped at 1/2": [float(x) for x in blog_coefficients(True, Fraction(1, 2))],
    }
    fig, ax = _pyplot().subplots(figsize=(7.5, 4.2))
    width = 0.27
    x = np.arange(K_BLOG)
    for k, (label, c) in enumerate(cases.items()):
        ax.bar(x + (k - 1) * width, TM.first_order_flow(pi, acts, np.array(c)), width, label=label)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, ["y0\ngood", "y1\nmeh"] + [f"a{k}" for k in range(2, K_BLOG)], fontsize=8)
    ax.set_title("First-order probability flow per action (S3's example)")
    ax.set_xlabel("action (y0, y1 sampled; a2 to a9 unsampled)")
    ax.set_ylabel(r"$d\pi/d\eta$ (probability per unit step)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
