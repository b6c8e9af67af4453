"""GRPO's objective and its expected gradient (GRPO-OBJECTIVE)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from reference_impls import losses as L
from reference_impls.token_models import TokenTree, token_tree
from verify.claims.ppo_grpo._common import (
    FAMILY,
    MODES,
    _cos,
    _grpo_group_grad,
    _rel,
    agg_token_weights,
    group_expectation,
    torch_mirrors,
    tree_logits,
)
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim


@check("exact")
def grpo_autograd_weights(ctx: Context) -> Evidence:
    """On a token tree (vocab 2 + EOS, T = 3, 15 responses), for random groups of G = 4: the autograd
    gradient at theta_old of aggregate(ppo_clip_objective) equals sum_i A_i w_i grad log pi(o_i) with
    the exact per-token weight w_i of each aggregation mode (GRPO: 1/(G |o_i|))."""
    torch, TL, _ = torch_mirrors()
    rng = ctx.rng()
    tree = token_tree()
    logits = tree_logits(tree, rng)
    rewards = rng.uniform(size=tree.n_seq)
    scores = tree.token_scores(logits).sum(axis=1)
    worst = 0.0
    for _ in range(6):
        idx = rng.integers(0, tree.n_seq, size=4)
        adv = L.grpo_advantages(rewards[idx], std="sample")
        for mode in MODES:
            w = agg_token_weights([int(v) for v in tree.lengths[idx]], tree.horizon, mode)
            want = sum(adv[i] * float(w[i]) * scores[idx[i]] for i in range(4))
            worst = max(worst, float(np.max(np.abs(_grpo_group_grad(torch, TL, tree, logits, idx, adv, mode) - want))))
    return Evidence("exact", worst < 1e-14, "autograd of aggregate(ppo_clip_objective) at theta_old == "
                    "sum_i A_i w_i grad log pi(o_i), all four modes, 6 groups", {"max_abs_error": worst, "G": 4})


def _grpo_expectations(tree: TokenTree, logits: np.ndarray, rewards: np.ndarray, group: int) -> dict[str, np.ndarray]:
    """Exact expected gradients at theta_old over i.i.d. groups, per advantage x aggregation."""
    lengths = tree.lengths.astype(float)
    probs = tree.seq_probs(logits)
    scores = tree.token_scores(logits).sum(axis=1)
    true = (probs * rewards) @ scores

    def coef(adv_fn: Any, per_len: bool) -> Any:
        def f(idx: np.ndarray) -> np.ndarray:
            a = adv_fn(rewards[idx])
            return a / group / (lengths[idx] if per_len else 1.0)
        return f

    out = {"grad E[r]": true}
    out["RLOO, seq-mean-token-sum"] = group_expectation(tree, logits, group, coef(L.rloo_advantages, False))
    out["RLOO, seq-mean-token-mean"] = group_expectation(tree, logits, group, coef(L.rloo_advantages, True))
    for std in ("sample", "population"):
        out[f"GRPO std={std}, seq-mean-token-mean"] = group_expectation(
            tree, logits, group, coef(lambda r, s=std: L.grpo_advantages(r, std=s), True))
    return out


@check("exact")
def grpo_expected_gradient(ctx: Context) -> Evidence:
    """Exact expectation over all N^G groups (G = 3): RLOO with token sums is unbiased for grad E[r];
    GRPO's 1/|o| (seq-mean-token-mean) turns it into a length-reweighted gradient whose direction
    differs unless all responses have one length (then it is exactly grad E[r] / T); the std
    normalisation changes the direction again."""
    rng = ctx.rng()
    figs: dict[str, Any] = {}
    tree = token_tree()
    logits = tree_logits(tree, rng)
    rewards = rng.uniform(size=tree.n_seq)
    ex = _grpo_expectations(tree, logits, rewards, 3)
    true = ex["grad E[r]"]
    rloo_err = _rel(ex["RLOO, seq-mean-token-sum"], true)
    cos = {k: _cos(v, true) for k, v in ex.items()}
    figs["cosine_with_grad_E[r] (variable lengths 1..3)"] = cos
    figs["RLOO token-sum relative error"] = rloo_err
    flat = token_tree(eos=False)
    lf = tree_logits(flat, rng)
    rf = rng.uniform(size=flat.n_seq)
    exf = _grpo_expectations(flat, lf, rf, 3)
    eq_err = _rel(exf["RLOO, seq-mean-token-mean"] * flat.horizon, exf["grad E[r]"])
    figs["equal lengths: T * RLOO seq-mean-token-mean vs grad E[r], relative error"] = eq_err
    figs["equal lengths: cosine of GRPO std=sample with grad E[r]"] = _cos(exf["GRPO std=sample, seq-mean-token-mean"],
                                                                          exf["grad E[r]"])
    ok = rloo_err < 1e-12 and eq_err < 1e-12 and cos["RLOO, seq-mean-token-mean"] < 1 - 1e-6
    return Evidence("exact", ok, "RLOO unbiased; 1/|o| changes the direction only when lengths differ "
                    f"(cosine {cos['RLOO, seq-mean-token-mean']:.6f})", figs)


@check("property")
def grpo_property(ctx: Context) -> Evidence:
    """Hypothesis (random logits and rewards on the token tree, G = 2): RLOO token-sum is exactly
    unbiased; advantage conventions: A_pop (sd_pop + eps) == A_sample (sd_sample + eps) == r - mean,
    RLOO == G/(G-1) (r - mean), group advantages sum to 0."""
    tree = token_tree()

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_l = len(tree.prefixes) * tree.n_tokens
        z = np.array(draw(st.lists(st.floats(-3, 3), min_size=n_l, max_size=n_l))).reshape(len(tree.prefixes), -1)
        r = np.array(draw(st.lists(st.floats(-2, 2), min_size=tree.n_seq, max_size=tree.n_seq)))
        g = np.array(draw(st.lists(st.floats(-5, 5), min_size=2, max_size=6)))
        return z, r, g

    def body(x: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
        z, r, grp = x
        ex = _grpo_expectations(tree, z, r, 2)
        err = float(np.max(np.abs(ex["RLOO, seq-mean-token-sum"] - ex["grad E[r]"])))
        if err > 1e-12:
            raise Violation("RLOO expected gradient != grad E[r]", error=err)
        c = grp - grp.mean()
        g = len(grp)
        eps = 1e-6
        a_pop, a_s = L.grpo_advantages(grp, std="population", eps=eps), L.grpo_advantages(grp, std="sample", eps=eps)
        e2 = max(float(np.max(np.abs(a_pop * (np.std(grp) + eps) - c))),
                 float(np.max(np.abs(a_s * (np.std(grp, ddof=1) + eps) - c))),
                 float(np.max(np.abs(L.rloo_advantages(grp) - g / (g - 1) * c))), abs(float(a_s.sum())))
        if e2 > 1e-12:
            raise Violation("advantage convention identity fails", group=grp.tolist(), error=e2)
        return max(err, e2)

    return property_evidence(ctx, strat(), body, target_label="error",
                             summary="RLOO unbiased (exact enumeration); std conventions and RLOO identities")


claim(
    id="GRPO-OBJECTIVE",
    title="GRPO objective at theta_old: a length- and std-reweighted policy gradient (RLOO is unbiased)",
    statement=r"\nabla J_{GRPO}|_{\theta_{old},\beta=0}=\mathbb E\Big[\tfrac1G\sum_i\hat A_i\tfrac1{|o_i|}"
              r"\nabla\log\pi(o_i|q)\Big],\ \hat A_i=\tfrac{r_i-\mathrm{mean}(r)}{\mathrm{std}(r)+\varepsilon};\ "
              r"\mathbb E\Big[\tfrac1G\sum_i(r_i-\tfrac1{G-1}\textstyle\sum_{j\ne i}r_j)\nabla\log\pi(o_i)\Big]"
              r"=\nabla\mathbb E[r]",
    source=Source("Shao et al. (2024) DeepSeekMath/GRPO, sec. 4.1, eq. (3); Liu et al. (2025) Dr. GRPO; "
                  "Ahmadian et al. (2024) RLOO"),
    family=FAMILY,
    expected="verified",
    checks=(grpo_autograd_weights, grpo_expected_gradient, grpo_property),
    conventions=("std 'sample' (ddof 1, torch.std, verl, OpenRLHF) or 'population' (ddof 0); eps added to the std",
                 "groups of i.i.d. responses; exact expectation over all N^G groups"),
    uses=("PPO-CLIP-OBJECTIVE", "LOSS-AGG-LENGTH-BIAS"),
)
