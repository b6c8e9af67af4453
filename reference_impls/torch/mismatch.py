"""Torch mirror of :mod:`reference_impls.mismatch` (same semantics; keeps dtype and device).

Every function computes in the dtype of ``learner_log_probs`` (or ``log_probs``) on its
device; ``mask`` may be a bool tensor or a numeric tensor holding exactly 0/1. See the numpy
module for the definitions, conventions and references.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from reference_impls._validation import check_scalar
from reference_impls.mismatch import ENVIRONMENT, PADDING, POLICY
from reference_impls.torch._validation import as_float_tensor, check_same_shape

__all__ = [
    "gspo_ratio",
    "policy_token_mask",
    "sequence_is_weights",
    "sequence_log_is_weights",
    "sequence_mask_weights",
    "token_is_weights",
    "token_log_ratios",
]


def _check_mask(mask: Any, like: torch.Tensor) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"mask: expected a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        if mask.is_complex():
            raise ValueError(f"mask: expected 0/1 values (bool, int or float), got dtype {mask.dtype}")
        bad = ~((mask == 0) | (mask == 1))
        if bool(bad.any()):
            raise ValueError(f"mask: expected only 0/1 values, got {int(bad.sum())} other entries")
        mask = mask != 0
    if mask.shape != like.shape:
        raise ValueError(f"mask: expected shape {tuple(like.shape)} (the shape of the log-probs), "
                         f"got {tuple(mask.shape)}")
    if mask.device != like.device:
        raise ValueError(f"mask: expected device {like.device}, got {mask.device}")
    return mask


def _inputs(a: Any, b: Any, mask: Any,
            names: tuple[str, str] = ("learner_log_probs", "sampler_log_probs")) -> tuple[torch.Tensor, torch.Tensor]:
    a = as_float_tensor(a, names[0], min_ndim=1)
    b = as_float_tensor(b, names[1], min_ndim=1)
    check_same_shape(**{names[0]: a, names[1]: b})
    if b.dtype != a.dtype:
        raise ValueError(f"{names[1]}: expected dtype {a.dtype} (the dtype of {names[0]}), got {b.dtype}")
    if a.shape[-1] == 0:
        raise ValueError(f"{names[0]}: expected a non-empty time axis, got shape {tuple(a.shape)}")
    m = _check_mask(mask, a)
    return torch.where(m, a - b, torch.zeros((), dtype=a.dtype, device=a.device)), m


def _check_rows(m: torch.Tensor) -> None:
    empty = ~m.any(dim=-1)
    if bool(empty.any()):
        idx = tuple(int(i) for i in torch.nonzero(empty)[0].tolist())
        raise ValueError(f"mask: expected at least one policy token per sequence for a sequence weight, "
                         f"got an all-zero row at index {idx}")


def _log_cap(cap: Any) -> float:
    if isinstance(cap, str | bytes):
        raise ValueError(f"cap: expected a real scalar > 0, got {type(cap).__name__} {cap!r}")
    return math.log(check_scalar(cap, "cap", lo=0.0, lo_open=True))


def token_log_ratios(learner_log_probs: Any, sampler_log_probs: Any, mask: Any) -> torch.Tensor:
    """log ρ_t on policy tokens, 0 where ``mask`` is 0."""
    lr, _ = _inputs(learner_log_probs, sampler_log_probs, mask)
    return lr


def token_is_weights(learner_log_probs: Any, sampler_log_probs: Any, mask: Any,
                     cap: float | None = None) -> torch.Tensor:
    """Per-token ratios, min(ρ_t, cap) when ``cap`` is given; 0 where ``mask`` is 0."""
    lr, m = _inputs(learner_log_probs, sampler_log_probs, mask)
    if cap is not None:
        lr = torch.clamp(lr, max=_log_cap(cap))
    return torch.where(m, torch.exp(lr), torch.zeros((), dtype=lr.dtype, device=lr.device))


def sequence_log_is_weights(learner_log_probs: Any, sampler_log_probs: Any, mask: Any) -> torch.Tensor:
    """log w(y) = Σ_t mask_t (log π_t − log μ_t), shape ``[...]``."""
    lr, m = _inputs(learner_log_probs, sampler_log_probs, mask)
    _check_rows(m)
    return lr.sum(dim=-1)


def sequence_is_weights(learner_log_probs: Any, sampler_log_probs: Any, mask: Any,
                        cap: float | None = None) -> torch.Tensor:
    """w(y) = Π_t ρ_t over policy tokens, min(w, cap) when ``cap`` is given; shape ``[...]``."""
    lw = sequence_log_is_weights(learner_log_probs, sampler_log_probs, mask)
    if cap is not None:
        lw = torch.clamp(lw, max=_log_cap(cap))
    return torch.exp(lw)


def sequence_mask_weights(learner_log_probs: Any, sampler_log_probs: Any, mask: Any, low: float,
                          high: float) -> torch.Tensor:
    """Masked IS: w where low ≤ w ≤ high, 0 elsewhere."""
    for nm, v in (("low", low), ("high", high)):
        if isinstance(v, str | bytes):
            raise ValueError(f"{nm}: expected a real scalar, got {type(v).__name__} {v!r}")
    lo = check_scalar(low, "low", lo=0.0)
    hi = check_scalar(high, "high", lo=0.0, lo_open=True)
    if lo > hi:
        raise ValueError(f"low: expected low <= high, got low={lo!r} > high={hi!r}")
    lw = sequence_log_is_weights(learner_log_probs, sampler_log_probs, mask)
    log_lo = -math.inf if lo == 0.0 else math.log(lo)
    keep = (lw >= log_lo) & (lw <= math.log(hi))
    zero = torch.zeros((), dtype=lw.dtype, device=lw.device)
    return torch.where(keep, torch.exp(torch.where(keep, lw, zero)), zero)


def gspo_ratio(log_probs: Any, old_log_probs: Any, mask: Any) -> torch.Tensor:
    """GSPO's length-normalized ratio exp(mean of masked log-ratios); not an importance weight.

    E_old[s] ≤ 1 holds only when every response has the same number of policy tokens
    (Jensen with one exponent 1/L); with variable lengths it can exceed 1. See
    :func:`reference_impls.mismatch.gspo_ratio`.
    """
    lr, m = _inputs(log_probs, old_log_probs, mask, names=("log_probs", "old_log_probs"))
    _check_rows(m)
    return torch.exp(lr.sum(dim=-1) / m.sum(dim=-1).to(lr.dtype))


def policy_token_mask(token_source: Any, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """0/1 mask (of ``dtype``, on ``token_source``'s device) of tokens with source code POLICY (1)."""
    if not isinstance(token_source, torch.Tensor):
        raise ValueError(f"token_source: expected a torch.Tensor, got {type(token_source).__name__}")
    if token_source.dtype == torch.bool or torch.is_floating_point(token_source) or token_source.is_complex():
        raise ValueError(f"token_source: expected integer codes 0 (padding), 1 (policy), 2 (environment), "
                         f"got dtype {token_source.dtype}")
    if token_source.ndim < 1:
        raise ValueError(f"token_source: expected at least 1 dimension, got shape {tuple(token_source.shape)}")
    ok = (token_source == PADDING) | (token_source == POLICY) | (token_source == ENVIRONMENT)
    if not bool(ok.all()):
        raise ValueError(f"token_source: expected codes in {{0, 1, 2}}, got {int(token_source[~ok][0])!r}")
    return (token_source == POLICY).to(dtype)
