"""The gradients of the estimators used as losses (KL-ESTIMATORS-GRADIENT)."""

from __future__ import annotations

from typing import Any

import mpmath as mp
import numpy as np

from reference_impls import mdp as M
from reference_impls.token_models import TokenTree, token_tree
from verify.claims.kl_estimators._common import (
    FAMILY,
    KINDS,
    categorical_pairs,
    expected_loss_gradients,
    grad_kl_forward,
    grad_kl_reverse,
)
from verify.claims.ppo_grpo._common import torch_mirrors, tree_logits
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim


def sequence_gradients(tree: TokenTree, z: np.ndarray, z_ref: np.ndarray) -> dict[str, np.ndarray]:
    """Token tree: exact E_{y ~ pi}[grad sum_t k(y_t)] (per-token losses) for each kind, the exact
    grad KL(pi(y) || ref(y)) (autograd of the enumerated sequence KL) and the full-gradient
    estimator E[sum_t grad log pi_t sum_{s >= t} l_s] (numpy, closed-form scores)."""
    torch, _, TD = torch_mirrors()
    probs = tree.seq_probs(z)
    lref = torch.tensor(tree.token_log_probs(z_ref))
    m = torch.as_tensor(tree.mask)
    out: dict[str, np.ndarray] = {}
    for k in KINDS:
        zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        lp = tree.token_log_probs_torch(torch, zt)
        est = torch.where(m, TD.kl_estimator(lp, lref, k), torch.zeros((), dtype=torch.float64)).sum(-1)
        (torch.tensor(probs) * est).sum().backward()
        out[f"per-token {k}"] = zt.grad.numpy().ravel().copy()
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    seq_lp = tree.token_log_probs_torch(torch, zt).sum(-1)
    kl_seq = (torch.exp(seq_lp) * (seq_lp - lref.sum(-1))).sum()
    kl_seq.backward()
    out["grad KL(pi(y)||ref(y))"] = zt.grad.numpy().ravel().copy()
    ell = tree.token_log_probs(z) - tree.token_log_probs(z_ref)
    to_go = np.cumsum(ell[:, ::-1], axis=1)[:, ::-1]
    scores = tree.token_scores(z)
    out["full estimator"] = np.einsum("n,nt,ntd->d", probs, to_go, scores)
    return out


@check("exact")
def gradient_exact(ctx: Context) -> Evidence:
    """Categorical (random 5-way softmax, exact enumeration): E[grad k1] = 0, E[grad k2] =
    grad KL(pi||ref), E[grad k3] = grad KL(ref||pi) (forward), E_old[grad (pi/pi_old) k3] =
    grad KL(pi||ref). Token tree (vocab 2 + EOS, T = 3): per-token k1 -> 0; per-token k2 is the
    partial gradient and differs from grad KL(pi(y)||ref(y)); the reward-to-go form is exact."""
    rng = ctx.rng()
    worst = 0.0
    k3_gap = []
    for _ in range(5):
        z, z_ref, z_old = rng.normal(size=5), rng.normal(size=5), rng.normal(size=5)
        pi, ref = M.softmax(z), M.softmax(z_ref)
        g = expected_loss_gradients(z, ref, z_old)
        rev, fwd = grad_kl_reverse(pi, ref), grad_kl_forward(pi, ref)
        worst = max(worst, float(np.max(np.abs(g["k1"]))), float(np.max(np.abs(g["k2"] - rev))),
                    float(np.max(np.abs(g["k3"] - fwd))), float(np.max(np.abs(g["k3 importance-corrected"] - rev))))
        k3_gap.append(float(np.max(np.abs(g["k3"] - rev))))
    tree = token_tree()
    z, z_ref = tree_logits(tree, rng), tree_logits(tree, rng)
    sg = sequence_gradients(tree, z, z_ref)
    full = sg["grad KL(pi(y)||ref(y))"]
    seq_err = max(float(np.max(np.abs(sg["per-token k1"]))), float(np.max(np.abs(sg["full estimator"] - full))))
    partial_gap = float(np.max(np.abs(sg["per-token k2"] - full)) / np.max(np.abs(full)))
    ok = worst < 1e-14 and seq_err < 1e-13 and partial_gap > 1e-3 and min(k3_gap) > 1e-3
    return Evidence("exact", ok, "expected loss gradients: k1 -> 0, k2 -> reverse KL, k3 -> forward KL, "
                    "IS-corrected k3 -> reverse KL; per-token k2 misses the future terms "
                    f"(relative gap {partial_gap:.3g})",
                    {"max_abs_error_categorical": worst, "k3_vs_reverse_gap": k3_gap,
                     "sequence_max_abs_error (k1, full estimator)": seq_err,
                     "per-token k2 vs full sequence gradient, relative gap": partial_gap,
                     "tree": "vocab 2 + EOS, T = 3, 15 responses"})


@check("high-precision")
def gradient_central_differences(ctx: Context) -> Evidence:
    """mpmath (40 digits) central differences of KL(pi_z||ref) and KL(ref||pi_z) equal the
    autograd expected gradients of k2 and k3 (and of the IS-corrected k3)."""
    rng = ctx.rng()
    worst = 0.0
    with mp.workdps(40):
        h = mp.mpf(10) ** -15
        for _ in range(4):
            z, z_ref, z_old = rng.normal(size=4), rng.normal(size=4), rng.normal(size=4)
            ref = M.softmax(z_ref)
            g = expected_loss_gradients(z, ref, z_old)
            refm = [mp.mpf(v) for v in ref]

            def soft(zz: list[Any]) -> list[Any]:
                e = [mp.exp(v) for v in zz]
                s = mp.fsum(e)
                return [v / s for v in e]

            def rev(zz: list[Any], refm: list[Any] = refm) -> Any:
                p = soft(zz)
                return mp.fsum(a * mp.log(a / b) for a, b in zip(p, refm))

            def fwd(zz: list[Any], refm: list[Any] = refm) -> Any:
                p = soft(zz)
                return mp.fsum(b * mp.log(b / a) for a, b in zip(p, refm))

            zm = [mp.mpf(v) for v in z]
            for j in range(4):
                up, dn = list(zm), list(zm)
                up[j] += h
                dn[j] -= h
                d_rev = float((rev(up) - rev(dn)) / (2 * h))
                d_fwd = float((fwd(up) - fwd(dn)) / (2 * h))
                worst = max(worst, abs(g["k2"][j] - d_rev), abs(g["k3"][j] - d_fwd),
                            abs(g["k3 importance-corrected"][j] - d_rev))
    return Evidence("high-precision", worst < 1e-13, "central differences of both KL directions == expected "
                    "autograd gradients of k2, k3, IS-corrected k3", {"max_abs_error": worst, "dps": 40})


@check("property")
def gradient_property(ctx: Context) -> Evidence:
    """Hypothesis over categorical pairs: the three expected-gradient identities (closed forms)."""
    def body(x: tuple[np.ndarray, np.ndarray]) -> float:
        pi, ref = x
        z = np.log(pi)
        g = expected_loss_gradients(z, ref)
        err = max(float(np.max(np.abs(g["k1"]))), float(np.max(np.abs(g["k2"] - grad_kl_reverse(pi, ref)))),
                  float(np.max(np.abs(g["k3"] - grad_kl_forward(pi, ref)))))
        if err > 1e-12:
            raise Violation("expected gradient identity fails", error=err, pi=pi.tolist(), ref=ref.tolist())
        return err

    return property_evidence(ctx, categorical_pairs(), body, target_label="error",
                             summary="E[grad k1] = 0, E[grad k2] = grad KL(pi||ref), E[grad k3] = grad KL(ref||pi)")


claim(
    id="KL-ESTIMATORS-GRADIENT",
    title="As on-policy losses: k1 has zero expected gradient, k2 gives the reverse-KL gradient, k3 the forward",
    statement=r"x\sim\pi_\theta,\ r=\pi_{ref}/\pi_\theta:\ \mathbb E[\nabla k_1]=0,\ \mathbb E[\nabla k_2]="
              r"\nabla KL(\pi_\theta\|\pi_{ref}),\ \mathbb E[\nabla k_3]=\nabla KL(\pi_{ref}\|\pi_\theta),\ "
              r"\mathbb E_{\pi_{old}}[\nabla(\tfrac{\pi_\theta}{\pi_{old}}k_3)]=\nabla KL(\pi_\theta\|\pi_{ref});\ "
              r"\text{sequences: }\mathbb E[\nabla\textstyle\sum_t k_2(y_t)]\ne\nabla KL(\pi_\theta(y)\|\pi_{ref}(y))="
              r"\mathbb E[\sum_t\nabla\log\pi_t\sum_{s\ge t}\ell_s]",
    source=Source("Tang & Munos (2025), 'On a few pitfalls in KL divergence gradient estimation for RL', "
                  "arXiv:2506.09477"),
    family=FAMILY,
    expected="verified",
    checks=(gradient_exact, gradient_central_differences, gradient_property),
    conventions=("no gradient through the sampling distribution (standard autograd usage)",
                 "l_s = log pi(y_s|.) - log pi_ref(y_s|.)"),
    uses=("KL-ESTIMATORS-VALUE",),
)
