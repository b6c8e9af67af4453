"""The decomposition of the mismatch bias (MISMATCH-DECOMPOSITION)."""

from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import mismatch as MM
from reference_impls import token_models as TM
from verify.claims.mismatch._common import CONVENTIONS, FAMILY, instance
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim

# =========================================================================== MISMATCH-DECOMPOSITION


@st.composite
def _three_logprob_arrays(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    B = draw(st.integers(1, 3))
    T = draw(st.integers(1, 6))
    f = st.floats(-30.0, 0.0, allow_nan=False)
    arrs = [np.array(draw(st.lists(f, min_size=B * T, max_size=B * T))).reshape(B, T) for _ in range(3)]
    mask = np.array(draw(st.lists(st.booleans(), min_size=B * T, max_size=B * T))).reshape(B, T)
    mask[:, 0] = True
    return arrs[0], arrs[1], arrs[2], mask


@check("property")
def decomposition_property(ctx: Context) -> Evidence:
    """pi_theta/mu_old = (pi_old/mu_old)(pi_theta/pi_old) token by token and for the sequence weight, for random
    log-probs in [-30, 0] and masks (relative error <= 1e-12)."""
    worst = [0.0]

    def body(x: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> float:
        lt, lo, lm, mask = x
        tok = MM.token_is_weights(lt, lm, mask)
        prod = MM.token_is_weights(lo, lm, mask) * MM.token_is_weights(lt, lo, mask)
        seq = MM.sequence_is_weights(lt, lm, mask)
        sprod = MM.sequence_is_weights(lo, lm, mask) * MM.sequence_is_weights(lt, lo, mask)
        err = max(float(np.max(np.abs(tok - prod) / np.maximum(tok, 1e-300))),
                  float(np.max(np.abs(seq - sprod) / seq)))
        worst[0] = max(worst[0], err)
        if err > 1e-12:
            raise Violation(f"relative error {err:.3g}")
        return err

    ev = property_evidence(ctx, _three_logprob_arrays(), body,
                           summary="token and sequence weights factor into mismatch x staleness",
                           target_label="relative_error")
    ev.figures["max_relative_error"] = worst[0]
    return ev


@check("exact")
def decomposition_exact(ctx: Context) -> Evidence:
    """With staleness (theta != theta_old) and mismatch (mu_old != pi_old): the product of the mismatch factor
    w(pi_old/mu_old) and the staleness factor w(pi_theta/pi_old) is an exact IS weight for grad J(theta) under
    samples from mu_old; dropping the mismatch factor (plain PPO ratio) is biased."""
    rng = ctx.rng()
    worst, min_bias = 0.0, np.inf
    for _ in range(4):
        task, z_old, z_mu = instance(rng, 3, 3, noise=0.3)
        z_theta = z_old + rng.normal(0.0, 0.2, size=z_old.shape)
        lt, lo, lq = (TM.token_log_probs(task, x) for x in (z_theta, z_old, z_mu))
        m = TM.policy_mask(task)
        w_total = MM.sequence_is_weights(lo, lq, m) * MM.sequence_is_weights(lt, lo, m)
        w_ppo = MM.sequence_is_weights(lt, lo, m)
        score = TM.token_scores(task, z_theta).sum(axis=1)
        mu = TM.sequence_probs(task, z_mu)
        ref = TM.true_gradient(task, z_theta)
        g = np.einsum("n,npv->pv", mu * w_total * task.rewards, score)
        g_ppo = np.einsum("n,npv->pv", mu * w_ppo * task.rewards, score)
        worst = max(worst, float(np.linalg.norm(g - ref) / np.linalg.norm(ref)))
        min_bias = min(min_bias, float(np.linalg.norm(g_ppo - ref) / np.linalg.norm(ref)))
    passed = worst < 1e-12 and min_bias > 1e-3
    return Evidence("exact", passed, "mismatch x staleness weight is exact; staleness factor alone is biased",
                    {"max_relative_error_product": worst, "min_relative_bias_staleness_only": min_bias,
                     "instances": 4, "seed": ctx.seed})


@check("symbolic")
def decomposition_symbolic(ctx: Context) -> Evidence:
    """sympy: for two tokens with symbolic positive probabilities,
    prod_t pi_theta/mu - prod_t (pi_old/mu)(pi_theta/pi_old) == 0."""
    a = sp.symbols("p_theta0 p_theta1", positive=True)
    b = sp.symbols("p_old0 p_old1", positive=True)
    c = sp.symbols("q0 q1", positive=True)
    lhs = sp.exp(sum(sp.log(a[i]) - sp.log(c[i]) for i in range(2)))
    rhs = sp.exp(sum(sp.log(b[i]) - sp.log(c[i]) for i in range(2))) * sp.exp(
        sum(sp.log(a[i]) - sp.log(b[i]) for i in range(2)))
    return symbolic_evidence(sp.expand_log(lhs - rhs, force=True),
                             "log-space sequence weight factors into mismatch and staleness (sympy)")


claim(
    id="MISMATCH-DECOMPOSITION",
    title="The off-policy ratio factors into training-inference mismatch times policy staleness",
    statement=r"\frac{\pi_\theta}{\mu_{\rm old}}=\frac{\pi_{\rm old}}{\mu_{\rm old}}"
              r"\cdot\frac{\pi_\theta}{\pi_{\rm old}}",
    source=Source("Yao et al. (2025), 'Your efficient RL framework secretly brings you off-policy RL "
                  "training' (TIS blog)",
                  url="https://fengyao.notion.site/off-policy-rl"),
    family=FAMILY,
    expected="verified",
    checks=(decomposition_property, decomposition_exact, decomposition_symbolic),
    conventions=CONVENTIONS,
    notes="Yao et al. apply the first factor detached and truncated (token TIS, cap C = 2); that truncation is "
          "biased (see MISMATCH-SEQ-TIS-MIS-BIAS for the sequence-level bound).",
)
