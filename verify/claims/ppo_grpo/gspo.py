"""GSPO's sequence ratio (GSPO-RATIO)."""

from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import losses as L
from reference_impls.token_models import TokenTree, token_tree
from verify.claims.ppo_grpo._common import FAMILY, _grpo_group_grad, torch_mirrors, tree_logits
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim

# =========================================================================== GSPO


def _gspo_expectations(tree: TokenTree, z_old: np.ndarray, z_new: np.ndarray) -> dict[str, float]:
    lp_new, lp_old = tree.token_log_probs(z_new), tree.token_log_probs(z_old)
    p_old = np.exp(lp_old.sum(axis=1))
    p_new = np.exp(lp_new.sum(axis=1))
    s = L.gspo_sequence_ratio(lp_new, lp_old, tree.mask)
    lengths = tree.lengths
    bound = 0.0
    for li in np.unique(lengths):
        sel = lengths == li
        po, pn = p_old[sel].sum(), p_new[sel].sum()
        bound += po * (pn / po) ** (1.0 / li)
    return {"E_old[s]": float(p_old @ s), "jensen_bound": float(bound), "min_s": float(s.min())}


@check("property")
def gspo_mean_ratio(ctx: Context) -> Evidence:
    """Hypothesis over logit pairs, exact enumeration: with equal lengths (no EOS, T = 3)
    E_old[s] <= 1; with variable lengths E_old[s] <= sum_L P_old(L) (P_new(L)/P_old(L))^(1/L)
    (Jensen within each length class)."""
    flat, tree = token_tree(eos=False), token_tree()

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
        out = []
        for tr in (flat, flat, tree, tree):
            n = len(tr.prefixes) * tr.n_tokens
            out.append(np.array(draw(st.lists(st.floats(-3, 3), min_size=n, max_size=n))).reshape(len(tr.prefixes), -1))
        return tuple(out)

    def body(x: tuple[np.ndarray, ...]) -> float:
        e_flat = _gspo_expectations(flat, x[0], x[1])
        e_var = _gspo_expectations(tree, x[2], x[3])
        if e_flat["E_old[s]"] > 1 + 1e-12:
            raise Violation("equal lengths: E_old[s] > 1", **e_flat)
        if e_var["E_old[s]"] > e_var["jensen_bound"] + 1e-12:
            raise Violation("E_old[s] above the per-length Jensen bound", **e_var)
        return e_flat["E_old[s]"]

    return property_evidence(ctx, strat(), body, target_label="E_old_s_equal_lengths",
                             summary="E_old[s] <= 1 (equal lengths) and <= per-length Jensen bound (variable lengths)")


@check("exact")
def gspo_not_importance_weight(ctx: Context) -> Evidence:
    """(1) With variable lengths E_old[s] can exceed 1 (vocab 1 + EOS, T = 3: old uniform, new
    favouring the 1-token response). (2) E_old[s f] != E_new[f] while the full sequence ratio w
    gives E_old[w f] == E_new[f] exactly. (3) At theta_old the GSPO gradient (autograd of the torch
    mirror, mean over the group) equals the GRPO seq-mean-token-mean gradient."""
    torch, TL, _ = torch_mirrors()
    tiny = token_tree(vocab=1, horizon=3)
    z_old = np.zeros((len(tiny.prefixes), 2))
    z_new = np.array([[0.0, 2.5], [0.0, 0.0], [0.0, 0.0]])  # root prefers EOS
    e = _gspo_expectations(tiny, z_old, z_new)
    rng = ctx.rng()
    tree = token_tree()
    zo, zn = tree_logits(tree, rng), tree_logits(tree, rng)
    f = rng.uniform(size=tree.n_seq)
    lpn, lpo = tree.token_log_probs(zn), tree.token_log_probs(zo)
    p_old, p_new = np.exp(lpo.sum(1)), np.exp(lpn.sum(1))
    s = L.gspo_sequence_ratio(lpn, lpo, tree.mask)
    w = np.exp(lpn.sum(1) - lpo.sum(1))
    is_gap = abs(float(p_old @ (w * f)) - float(p_new @ f))
    s_gap = abs(float(p_old @ (s * f)) - float(p_new @ f))
    worst = 0.0
    for _ in range(5):
        idx = rng.integers(0, tree.n_seq, size=4)
        adv = L.grpo_advantages(f[idx])
        zt = torch.tensor(zo, dtype=torch.float64, requires_grad=True)
        lp = tree.token_log_probs_torch(torch, zt)[torch.as_tensor(idx)]
        TL.gspo_objective(lp, lp.detach(), torch.tensor(adv), torch.as_tensor(tree.mask[idx]), 0.2).mean().backward()
        g_grpo = _grpo_group_grad(torch, TL, tree, zo, idx, adv, "seq-mean-token-mean")
        worst = max(worst, float(np.max(np.abs(zt.grad.numpy().ravel() - g_grpo))))
    ok = e["E_old[s]"] > 1 and is_gap < 1e-14 and s_gap > 1e-3 and worst < 1e-14
    return Evidence("exact", ok, f"variable lengths: E_old[s] = {e['E_old[s]']:.6f} > 1; E_old[s f] - E_new[f] = "
                    f"{s_gap:.4g} (full ratio: {is_gap:.2g}); GSPO grad == GRPO grad at theta_old",
                    {"variable_length_fixture": e, "s_gap": s_gap, "full_ratio_gap": is_gap,
                     "max_grad_difference_gspo_vs_grpo": worst})


@check("symbolic")
def gspo_symbolic(ctx: Context) -> Evidence:
    """sympy: d/dtheta (pi_theta(y)/pi_old(y))^(1/L) at theta = theta_old equals (1/L) d log pi_theta(y)/dtheta,
    and d^2/dx^2 x^(1/L) = (1/L)(1/L - 1) x^(1/L - 2) (<= 0 for L >= 1: concavity behind Jensen)."""
    th, th0, x = sp.symbols("theta theta0 x", positive=True)
    n = sp.symbols("L", positive=True, integer=True)
    ell = sp.Function("ell")  # log pi_theta(y)
    s = sp.exp((ell(th) - ell(th0)) / n)
    e1 = sp.diff(s, th).subs(th, th0) - sp.diff(ell(th), th).subs(th, th0) / n
    e2 = sp.diff(x ** (1 / n), x, 2) - (1 / n) * (1 / n - 1) * x ** (1 / n - 2)
    return symbolic_evidence(sp.simplify(e1) ** 2 + sp.simplify(e2) ** 2,
                             "grad s at theta_old == (1/L) grad log pi; second derivative of x^(1/L)")


claim(
    id="GSPO-RATIO",
    title="GSPO's geometric-mean sequence ratio is not an importance weight",
    statement=r"s(y)=\big(\pi_\theta(y|x)/\pi_{old}(y|x)\big)^{1/|y|};\ \text{equal lengths: } \mathbb E_{old}[s]\le 1;"
              r"\ \text{in general } \mathbb E_{old}[s]\le\sum_L P_{old}(L)(P_\theta(L)/P_{old}(L))^{1/L}"
              r"\ \text{(can exceed 1)};\ \mathbb E_{old}[sf]\ne\mathbb E_\theta[f];\ "
              r"\nabla s|_{\theta_{old}}=\tfrac1{|y|}\nabla\log\pi_\theta(y|x)",
    source=Source("Zheng et al. (2025) GSPO, arXiv:2507.18071, eqs. (5)-(7)"),
    family=FAMILY,
    expected="verified",
    checks=(gspo_mean_ratio, gspo_not_importance_weight, gspo_symbolic),
    conventions=("s uses the masked token mean of log-ratios (length-normalised)",),
    notes="The unconditional E_old[s] <= 1 holds for equal-length responses only: conditioned on the "
          "length class, Jensen gives (P_new(L)/P_old(L))^(1/L), which exceeds 1 when the new policy moves mass to "
          "that length. The exact check exhibits E_old[s] > 1 on a three-token tree.",
)
