"""Torch mirror of :mod:`reference_impls.losses` (same semantics; dtype and device kept).

The objectives are differentiable. The PPO objectives are written with explicit case
masks (``torch.where``) rather than ``min``/``clamp``, so the gradient at a tie is fixed by
this module and not by the torch version: an element's gradient is zeroed only where the
clip is **strictly** active; at ``r == 1 +- eps`` (or ``r == c`` under dual clip) it is the
unclipped ``A * r`` (w.r.t. ``log_probs``). That coincides with what the textbook
``torch.minimum(r*A, torch.clamp(r, 1-eps, 1+eps)*A)`` returns in torch 2.x (minimum splits
1/2 : 1/2 at a tie and clamp passes the gradient at its bounds). See the numpy module for
the conventions and references.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from reference_impls import losses as _np_losses
from reference_impls._validation import check_choice, check_scalar
from reference_impls.torch._validation import (
    as_bool_tensor,
    as_float_tensor,
    check_same_dtype,
    check_same_shape,
    ldexp,
)

__all__ = [
    "adaptive_kl_coefficient",
    "aggregate",
    "clip_fraction",
    "grpo_advantages",
    "gspo_objective",
    "gspo_sequence_ratio",
    "kl_penalized_objective",
    "ppo_clip_objective",
    "rloo_advantages",
    "sapo_objective",
]


def _ratio_inputs(log_probs: Any, old_log_probs: Any, advantages: Any) -> tuple[torch.Tensor, ...]:
    lp = as_float_tensor(log_probs, "log_probs")
    old = as_float_tensor(old_log_probs, "old_log_probs")
    adv = as_float_tensor(advantages, "advantages")
    check_same_shape(log_probs=lp, old_log_probs=old, advantages=adv)
    check_same_dtype(log_probs=lp, old_log_probs=old, advantages=adv)
    return lp, old, adv


def _pow2_exponent(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Integer ``e`` with ``max |x| < 2**e`` over ``dim`` (kept), 0 where that max is 0 (no gradient)."""
    with torch.no_grad():
        if x.numel() == 0:
            return torch.zeros((), dtype=torch.int64, device=x.device)
        top = x.abs().amax() if dim is None else x.abs().amax(dim=dim, keepdim=True)
        return torch.frexp(top).exponent.to(torch.int64)


def _times(r: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return torch.where(a == 0, torch.zeros_like(a), r * a)


def ppo_clip_objective(log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
                       clip_eps: Any, dual_clip: float | None = None) -> torch.Tensor:
    """Per-element PPO clipped objective (to maximise); see :func:`reference_impls.losses.ppo_clip_objective`."""
    lp, old, adv = _ratio_inputs(log_probs, old_log_probs, advantages)
    lo, hi = _np_losses.clip_bounds(clip_eps)
    c = _np_losses._check_dual_clip(dual_clip)
    r = torch.exp(lp - old)
    clip_hi = (adv > 0) & (r > 1.0 + hi)
    clip_lo = (adv < 0) & (r < 1.0 - lo)
    obj = torch.where(clip_hi, (1.0 + hi) * adv, torch.where(clip_lo, (1.0 - lo) * adv, _times(r, adv)))
    if c is not None:
        obj = torch.where((adv < 0) & (r > c), c * adv, obj)
    return obj


def clip_fraction(log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor, clip_eps: Any,
                  mask: torch.Tensor | None = None, definition: str = "ratio-outside") -> torch.Tensor:
    """0-d tensor (dtype of ``log_probs``); see :func:`reference_impls.losses.clip_fraction`."""
    lp, old, adv = _ratio_inputs(log_probs, old_log_probs, advantages)
    lo, hi = _np_losses.clip_bounds(clip_eps)
    check_choice(definition, "definition", _np_losses.CLIP_FRACTION_DEFINITIONS)
    if lp.numel() == 0:
        raise ValueError(f"log_probs: expected at least one element, got shape {tuple(lp.shape)}")
    m = torch.ones_like(lp, dtype=torch.bool) if mask is None else as_bool_tensor(mask, "mask", lp)
    if not bool(m.any()):
        raise ValueError("mask: expected at least one selected element, got an all-zero mask")
    with torch.no_grad():
        r = torch.exp(lp - old)
        above, below = r > 1.0 + hi, r < 1.0 - lo
        ind = (above | below) if definition == "ratio-outside" else ((adv > 0) & above) | ((adv < 0) & below)
        return ((ind & m).sum().to(lp.dtype) / m.sum().to(lp.dtype))


def adaptive_kl_coefficient(beta: Any, kl: Any, target: Any) -> float:
    """PPO eq. 8 beta update on Python/0-d-tensor scalars; see the numpy version."""
    def f(x: Any) -> Any:
        return x.item() if isinstance(x, torch.Tensor) and x.ndim == 0 else x

    return _np_losses.adaptive_kl_coefficient(f(beta), f(kl), f(target))


def kl_penalized_objective(log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
                           kl: torch.Tensor, beta: float) -> torch.Tensor:
    """``r A - beta * kl`` with ``kl`` = KL(pi_old || pi_theta) per element (PPO eq. 8)."""
    lp, old, adv = _ratio_inputs(log_probs, old_log_probs, advantages)
    k = as_float_tensor(kl, "kl")
    check_same_shape(log_probs=lp, kl=k)
    check_same_dtype(log_probs=lp, kl=k)
    if bool((k < -_np_losses.KL_ROUNDING_SLACK).any()):
        raise ValueError(f"kl: expected non-negative KL values (>= -{_np_losses.KL_ROUNDING_SLACK:g}), "
                         f"got minimum {float(k.min()):.3g}")
    b = check_scalar(beta, "beta", lo=0.0)
    out = _times(torch.exp(lp - old), adv) - b * k
    with torch.no_grad():
        bad = ~torch.isfinite(out)  # r A or beta kl overflowed: recompute those entries in log space
    if not bool(bad.any()):
        return out
    with torch.no_grad():  # the overflowing entries carry no useful gradient; their value matches numpy's
        la = (lp - old + torch.log(adv.abs()))[bad].double().cpu().numpy()
        lb = (math.log(b) if b > 0 else -math.inf) + torch.log(k.clamp(min=0))[bad].double().cpu().numpy()
        exact = _np_losses._exp_diff(la, torch.sign(adv)[bad].double().cpu().numpy(), lb)
    fixed = torch.zeros_like(out)
    fixed[bad] = torch.from_numpy(exact).to(dtype=out.dtype, device=out.device)
    return torch.where(bad, fixed, out)


def aggregate(values: torch.Tensor, mask: torch.Tensor, mode: str, *, norm_length: float | None = None) -> torch.Tensor:
    """0-d tensor; see :func:`reference_impls.losses.aggregate` (same modes and checks)."""
    v = as_float_tensor(values, "values", min_ndim=1)
    m = as_bool_tensor(mask, "mask", v)
    check_choice(mode, "mode", _np_losses.AGGREGATION_MODES)
    if v.shape[-1] == 0:
        raise ValueError(f"values: expected a non-empty time axis, got shape {tuple(v.shape)}")
    if v.numel() == 0:
        raise ValueError(f"values: expected at least one sequence, got shape {tuple(v.shape)}")
    lengths = m.sum(dim=-1)
    if bool((lengths == 0).any()):
        raise ValueError("mask: expected at least one unmasked token per sequence, got an all-zero row")
    n = float(v.shape[-1]) if norm_length is None else check_scalar(norm_length, "norm_length", lo=0.0, lo_open=True)
    # linear in v: reduce v / 2^e (exact) and scale back, so values near the dtype's limit do not overflow
    zero = torch.zeros((), dtype=v.dtype, device=v.device)
    e = _pow2_exponent(torch.where(m, v, zero))
    sums = torch.where(m, ldexp(v, -e), zero).sum(dim=-1)
    lf = lengths.to(v.dtype)
    if mode == "token-mean":
        out = sums.sum() / lf.sum()
    elif mode == "seq-mean-token-mean":
        out = (sums / lf).mean()
    elif mode == "seq-mean-token-sum":
        out = sums.mean()
    else:
        out = sums.mean() / n
    return ldexp(out, e)


def grpo_advantages(rewards: torch.Tensor, std: str | None = "sample", eps: float = 1e-6) -> torch.Tensor:
    """See :func:`reference_impls.losses.grpo_advantages` (group on the last axis)."""
    r = as_float_tensor(rewards, "rewards", min_ndim=1)
    g = r.shape[-1]
    e = check_scalar(eps, "eps", lo=0.0)
    if std is not None and (not isinstance(std, str) or std not in _np_losses.STD_CONVENTIONS):
        raise ValueError(f"std: expected None or one of {sorted(_np_losses.STD_CONVENTIONS)}, "
                         f"got {type(std).__name__} {std!r:.80}")
    if g < 1 or (std is not None and _np_losses.STD_CONVENTIONS[std] == 1 and g < 2):
        raise ValueError(f"rewards: expected a group axis of size >= {2 if std else 1}, got shape {tuple(r.shape)}")
    # per-group power-of-two scaling (exact), as in the numpy version: no overflow of mean or std
    k = _pow2_exponent(r, dim=-1)
    rs = ldexp(r, -k)
    centred = rs - rs.mean(dim=-1, keepdim=True)
    if std is None:
        return ldexp(centred, k)
    eps_k = ldexp(torch.full_like(rs[..., :1], e), -k)
    s = torch.std(rs, dim=-1, correction=_np_losses.STD_CONVENTIONS[std], keepdim=True) + eps_k
    if bool((s == 0).any()):
        raise ValueError("eps: expected eps > 0 when a group has zero spread (0/0), got eps = 0")
    return centred / s


def rloo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """See :func:`reference_impls.losses.rloo_advantages`."""
    r = as_float_tensor(rewards, "rewards", min_ndim=1)
    g = r.shape[-1]
    if g < 2:
        raise ValueError(f"rewards: expected a group axis of size >= 2, got shape {tuple(r.shape)}")
    k = _pow2_exponent(r, dim=-1)
    rs = ldexp(r, -k)
    total = rs.sum(dim=-1, keepdim=True)
    return ldexp(rs - (total - rs) / (g - 1), k)


def gspo_sequence_ratio(log_probs: torch.Tensor, old_log_probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """See :func:`reference_impls.losses.gspo_sequence_ratio` (shape ``[...]``)."""
    lp = as_float_tensor(log_probs, "log_probs", min_ndim=1)
    old = as_float_tensor(old_log_probs, "old_log_probs", min_ndim=1)
    check_same_shape(log_probs=lp, old_log_probs=old)
    check_same_dtype(log_probs=lp, old_log_probs=old)
    m = as_bool_tensor(mask, "mask", lp)
    lengths = m.sum(dim=-1)
    if bool((lengths == 0).any()):
        raise ValueError("mask: expected at least one unmasked token per sequence, got an all-zero row")
    d = torch.where(m, lp - old, torch.zeros_like(lp))
    return torch.exp(d.sum(dim=-1) / lengths.to(lp.dtype))


def gspo_objective(log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
                   mask: torch.Tensor, clip_eps: Any) -> torch.Tensor:
    """Per-sequence GSPO objective with the strict tie convention of :func:`ppo_clip_objective`."""
    s = gspo_sequence_ratio(log_probs, old_log_probs, mask)
    adv = as_float_tensor(advantages, "advantages")
    if adv.shape != s.shape:
        raise ValueError(f"advantages: expected shape {tuple(s.shape)} (one per sequence), got {tuple(adv.shape)}")
    check_same_dtype(log_probs=s, advantages=adv)
    if adv.device != s.device:
        raise ValueError(f"advantages: expected device {s.device} (the device of log_probs), got {adv.device}")
    lo, hi = _np_losses.clip_bounds(clip_eps)
    clip_hi = (adv > 0) & (s > 1.0 + hi)
    clip_lo = (adv < 0) & (s < 1.0 - lo)
    return torch.where(clip_hi, (1.0 + hi) * adv, torch.where(clip_lo, (1.0 - lo) * adv, _times(s, adv)))


def sapo_objective(log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
                   tau_pos: float = 1.0, tau_neg: float = 1.05) -> torch.Tensor:
    """See :func:`reference_impls.losses.sapo_objective`."""
    lp, old, adv = _ratio_inputs(log_probs, old_log_probs, advantages)
    tp = check_scalar(tau_pos, "tau_pos", lo=0.0, lo_open=True)
    tn = check_scalar(tau_neg, "tau_neg", lo=0.0, lo_open=True)
    tau = torch.where(adv > 0, torch.full_like(adv, tp), torch.full_like(adv, tn))
    r = torch.exp(lp - old)
    return (4.0 / tau) * torch.sigmoid(tau * (r - 1.0)) * adv
