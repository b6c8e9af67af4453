"""GSPO's weight is not an importance weight (MISMATCH-GSPO-NOT-IW)."""

from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import mismatch as MM
from reference_impls import token_models as TM
from verify.claims.mismatch._common import CONVENTIONS, FAMILY, instance
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim

# =========================================================================== GSPO's ratio


@check("exact")
def gspo_exact(ctx: Context) -> Evidence:
    """E_mu[s] < 1 for pi != mu (and = 1 at pi = mu) on single- and multi-turn instances; used as a weight,
    s R grad log pi is biased while w R grad log pi is exact."""
    rng = ctx.rng()
    means, biases = [], []
    for roles in ((True, True, True), (True, False, True, True)):
        for _ in range(3):
            task, z, zm = instance(rng, 3, len(roles), roles=roles, noise=0.5)
            s = MM.gspo_ratio(TM.token_log_probs(task, z), TM.token_log_probs(task, zm), TM.policy_mask(task))
            means.append(float(TM.sequence_probs(task, zm) @ s))
            biases.append(TM.relative_bias(task, z, zm, "gspo"))
    s_on = MM.gspo_ratio(TM.token_log_probs(task, z), TM.token_log_probs(task, z), TM.policy_mask(task))
    on_policy = float(TM.sequence_probs(task, z) @ s_on)
    passed = max(means) < 1 and abs(on_policy - 1) < 1e-14 and min(biases) > 1e-3
    return Evidence("exact", passed,
                    "GSPO's geometric-mean ratio has mean < 1 under the sampler and is a biased weight",
                    {"E_mu[s]": means, "relative_bias_as_weight": biases, "on_policy_mean": on_policy,
                     "seed": ctx.seed})


@check("property")
def gspo_property(ctx: Context) -> Evidence:
    """Hypothesis (targeted on E_mu[s]): E_mu[s] <= 1 for random learner/sampler pairs and shapes."""

    def body(x: tuple[int, int, int, float]) -> float:
        seed, V, T, noise = x
        task, z, zm = instance(np.random.default_rng(seed), V, T, noise=noise)
        s = MM.gspo_ratio(TM.token_log_probs(task, z), TM.token_log_probs(task, zm), TM.policy_mask(task))
        m = float(TM.sequence_probs(task, zm) @ s)
        if m > 1 + 1e-12:
            raise Violation(f"E_mu[s] = {m!r}", seed=seed, V=V, T=T, noise=noise)
        return m

    strat = st.tuples(st.integers(0, 2**31), st.sampled_from([2, 3]), st.integers(1, 4), st.floats(1e-4, 3.0))
    return property_evidence(ctx, strat, body, summary="E_mu[gspo_ratio] <= 1", target_label="mean_ratio")


@check("symbolic")
def gspo_symbolic(ctx: Context) -> Evidence:
    """sympy: for L = 2 tokens with sigmoid probabilities, d s/d x_i at x = x_old equals (1/L) d log pi(y_i)/d x_i,
    i.e. GSPO's gradient at theta_old is the length-normalized score (GRPO's), and s(x_old) = 1."""
    x = sp.symbols("x0 x1", real=True)
    xo = sp.symbols("u0 u1", real=True)
    p = [sp.exp(v) / (1 + sp.exp(v)) for v in x]
    po = [sp.exp(v) / (1 + sp.exp(v)) for v in xo]
    s = sp.exp((sp.log(p[0]) + sp.log(p[1]) - sp.log(po[0]) - sp.log(po[1])) / 2)
    at = {x[0]: xo[0], x[1]: xo[1]}
    expr = sum((sp.diff(s, x[i]) - sp.Rational(1, 2) * sp.diff(sp.log(p[i]), x[i])).subs(at) ** 2 for i in range(2))
    return symbolic_evidence(expr + (s.subs(at) - 1) ** 2, "grad s at theta_old = (1/L) sum_t grad log pi_t (sympy)")


claim(
    id="MISMATCH-GSPO-NOT-IW",
    title="GSPO's length-normalized ratio is not an importance weight",
    statement=r"s(y)=w(y)^{1/|y|},\quad \mathbb{E}_\mu[s]\le(\mathbb{E}_\mu[w])^{1/|y|}=1,\quad "
              r"\mathbb{E}_\mu[sR\nabla\log\pi]\ne\nabla J",
    source=Source("Zheng et al. (2025) GSPO, arXiv:2507.18071, eqs. (5)-(7)"),
    family=FAMILY,
    expected="verified",
    checks=(gspo_exact, gspo_property, gspo_symbolic),
    conventions=(*CONVENTIONS, "|y| = number of policy tokens"),
    assumptions=("every sequence has the same number of policy tokens (the token models have fixed length); with "
                 "variable lengths E_old[s] can exceed 1, see GSPO-RATIO",),
)
