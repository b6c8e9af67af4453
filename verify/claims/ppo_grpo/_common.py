"""Helpers shared by several ppo-grpo topic modules (fixtures, exact evaluators, constants)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import strategies as st

from reference_impls import losses as L
from reference_impls.token_models import TokenTree
from verify.registry import CheckSkipped

FAMILY = "ppo-grpo"


SEED_FILE = "001_7cd217662ff5462a.txt"


# --------------------------------------------------------------------------- shared pieces


def torch_or_skip() -> Any:
    """The torch module, or :class:`CheckSkipped` when torch is not installed."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed in CI
        raise CheckSkipped("needs torch (pip install pg-verify[torch])") from exc
    return torch


def torch_mirrors() -> tuple[Any, Any, Any]:
    """``(torch, reference_impls.torch.losses, reference_impls.torch.divergences)``, resolved
    at call time so a monkeypatched reference function is seen."""
    torch = torch_or_skip()
    import reference_impls.torch.divergences as TD
    import reference_impls.torch.losses as TL

    return torch, TL, TD


def case_objective(r: Any, a: Any, lo: Any, hi: Any, c: Any = None) -> Any:
    """The PPO objective by cases (the slides' value table, which is right), written
    independently of the reference: works for Fractions, mpmath numbers and floats.

    A > 0: (1+hi) A if r > 1+hi else r A.  A < 0: (1-lo) A if r < 1-lo else r A; with dual
    clip c: c A if r > c.  A == 0: 0.
    """
    if a > 0:
        return (1 + hi) * a if r > 1 + hi else r * a
    if a < 0:
        if c is not None and r > c:
            return c * a
        return (1 - lo) * a if r < 1 - lo else r * a
    return 0 * a


def case_grad_factor(r: float, a: float, lo: float, hi: float, c: float | None = None) -> float:
    """d objective / d log pi by cases: ``A r`` unless the clip is strictly active (then 0)."""
    zeroed = (a > 0 and r > 1 + hi) or (a < 0 and r < 1 - lo) or (c is not None and a < 0 and r > c)
    return 0.0 if zeroed else a * r






def tree_logits(tree: TokenTree, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    return scale * rng.normal(size=(len(tree.prefixes), tree.n_tokens))


def group_expectation(tree: TokenTree, logits: np.ndarray, group: int, coef_fn: Any) -> np.ndarray:
    """Exact ``E[sum_i c_i(group) score(y_i)]`` over i.i.d. groups of ``group`` responses.

    ``coef_fn(idx [M, G]) -> [M, G]`` gives the coefficient of each member's sequence score
    ``d log pi(y_i) / d logits`` for every one of the ``N^G`` groups.
    """
    probs = tree.seq_probs(logits)
    idx = np.stack(np.meshgrid(*[np.arange(tree.n_seq)] * group, indexing="ij"), -1).reshape(-1, group)
    w = np.prod(probs[idx], axis=-1)
    coef = coef_fn(idx) * w[:, None]
    per_seq = np.zeros(tree.n_seq)
    np.add.at(per_seq, idx.ravel(), coef.ravel())
    seq_scores = tree.token_scores(logits).sum(axis=1)
    return per_seq @ seq_scores


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(1e-300, float(np.max(np.abs(b)))))


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@st.composite
def ppo_batches(draw: st.DrawFn, n: int = 12) -> dict[str, Any]:
    """log-ratios in [-1, 1], advantages with both signs and zeros, eps (maybe asymmetric), dual clip."""
    log_r = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=n, max_size=n)))
    adv = np.array(draw(st.lists(st.one_of(st.floats(-3.0, 3.0), st.just(0.0)), min_size=n, max_size=n)))
    lo = draw(st.floats(0.01, 0.6))
    hi = draw(st.one_of(st.just(lo), st.floats(0.01, 0.6)))
    c = draw(st.one_of(st.none(), st.floats(1.05, 3.0)))
    old = np.array(draw(st.lists(st.floats(-3.0, 0.0), min_size=n, max_size=n)))
    return {"log_r": log_r, "adv": adv, "lo": lo, "hi": hi, "c": c, "old": old}


# ------------------------------------------ autograd of the clipped objective (clip_gradient, clip_fraction)


def _autograd_ppo(torch: Any, TL: Any, log_r: np.ndarray, adv: np.ndarray, old: np.ndarray, clip_eps: Any,
                  dual_clip: Any = None, dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
    dt = dtype or torch.float64
    lp = torch.tensor(old + log_r, dtype=dt, requires_grad=True)
    obj = TL.ppo_clip_objective(lp, torch.tensor(old, dtype=dt), torch.tensor(adv, dtype=dt), clip_eps,
                                dual_clip=dual_clip)
    obj.sum().backward()
    return obj.detach().numpy(), lp.grad.numpy()


# ------------------------------------------ the clip-fraction golden example (clip_fraction, peer_conventions)

#: golden example (eps = 0.2). ratio-outside: entries 0,1,2,3,6,7 -> 6/8; clipped-branch: entry 0
#: (A>0, r>1.2) and entry 3 (A<0, r<0.8) -> 2/8; with the last two masked out: 4/6 and 2/6.
_CF_R = np.array([1.3, 1.3, 0.7, 0.7, 1.1, 0.9, 1.3, 0.7])


_CF_A = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 0.0, 0.0])


# ------------------------------------------ GRPO and loss aggregation (grpo, loss_aggregation, gspo)

MODES = L.AGGREGATION_MODES


def agg_token_weights(lengths: list[int], horizon: int, mode: str, norm: int | None = None) -> list[Fraction]:
    """Exact weight of each token of sequence i in ``aggregate`` (one entry per sequence)."""
    b, total = len(lengths), sum(lengths)
    n = horizon if norm is None else norm
    if mode == "token-mean":
        return [Fraction(1, total)] * b
    if mode == "seq-mean-token-mean":
        return [Fraction(1, b * li) for li in lengths]
    if mode == "seq-mean-token-sum":
        return [Fraction(1, b)] * b
    return [Fraction(1, b * n)] * b


def _grpo_group_grad(torch: Any, TL: Any, tree: TokenTree, logits: np.ndarray, idx: np.ndarray, adv: np.ndarray,
                     mode: str) -> np.ndarray:
    """Autograd at theta = theta_old of aggregate(ppo_clip_objective(...), mode) for one group."""
    zt = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    lp = tree.token_log_probs_torch(torch, zt)[torch.as_tensor(idx)]
    m = torch.as_tensor(tree.mask[idx])
    a = torch.tensor(np.repeat(adv[:, None], tree.horizon, axis=1))
    obj = TL.ppo_clip_objective(lp, lp.detach(), a, 0.2)
    TL.aggregate(obj, m, mode).backward()
    return zt.grad.numpy().ravel()


S1 = "001_7cd217662ff5462a.txt"
