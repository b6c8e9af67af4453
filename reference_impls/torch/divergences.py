"""Torch mirror of :mod:`reference_impls.divergences` (same conventions; dtype and device kept).

``kl`` is KL(p || q) in nats on the last axis (0 log 0 = 0, +inf where q = 0 < p); ``tv`` is
1/2 L1; ``chi2`` is sum p^2/q - 1; ``kl_estimator`` estimates KL(p || q) from samples of p
with ``log r = log_q - log_p`` (Schulman 2020). All are differentiable.
"""

from __future__ import annotations

import math

import torch

from reference_impls._validation import SIMPLEX_ATOL, check_choice
from reference_impls.divergences import KL_ESTIMATORS
from reference_impls.torch._validation import as_float_tensor, check_same_dtype, check_same_shape

__all__ = ["chi2", "kl", "kl_estimator", "l1", "tv"]


def _simplex(p: torch.Tensor, name: str) -> torch.Tensor:
    if p.shape[-1] == 0:
        raise ValueError(f"{name}: expected a non-empty last axis, got shape {tuple(p.shape)}")
    if bool((p < 0).any()):
        raise ValueError(f"{name}: expected non-negative probabilities, got minimum {float(p.min()):.3g}")
    atol = max(SIMPLEX_ATOL, 8 * torch.finfo(p.dtype).eps * p.shape[-1])
    err = (p.sum(dim=-1) - 1.0).abs()
    if bool((err > atol).any()):
        raise ValueError(f"{name}: expected rows summing to 1 within {atol:g}, got an error of {float(err.max()):.3g}")
    return p


def _pair(p: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pa = _simplex(as_float_tensor(p, "p", min_ndim=1), "p")
    qa = _simplex(as_float_tensor(q, "q", min_ndim=1), "q")
    check_same_shape(p=pa, q=qa)
    check_same_dtype(p=pa, q=qa)
    return pa, qa


def kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) in nats on the last axis."""
    pa, qa = _pair(p, q)
    pos = pa > 0
    one = torch.ones_like(pa)
    terms = torch.where(pos, pa * (torch.log(torch.where(pos, pa, one)) - torch.log(torch.where(pos, qa, one))),
                        torch.zeros_like(pa))
    terms = torch.where(pos & (qa == 0), torch.full_like(pa, math.inf), terms)
    return terms.sum(dim=-1)


def tv(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Total variation 1/2 sum |p - q|."""
    pa, qa = _pair(p, q)
    return 0.5 * (pa - qa).abs().sum(dim=-1)


def l1(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """L1 distance sum |p - q| = 2 tv."""
    pa, qa = _pair(p, q)
    return (pa - qa).abs().sum(dim=-1)


def chi2(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Pearson chi-square sum p^2/q - 1."""
    pa, qa = _pair(p, q)
    pos = pa > 0
    one = torch.ones_like(pa)
    terms = torch.where(pos, pa * pa / torch.where(pos, qa, one), torch.zeros_like(pa))
    return terms.sum(dim=-1) - 1.0


def _expm1_minus_x(x: torch.Tensor) -> torch.Tensor:
    small = x.abs() < 0.5
    xs = torch.where(small, x, torch.zeros_like(x))
    acc = torch.zeros_like(xs)
    for n in range(19, 1, -1):
        acc = acc * xs + 1.0 / math.factorial(n)
    series = acc * xs * xs
    direct = torch.expm1(torch.where(small, torch.zeros_like(x), x)) - x
    return torch.where(small, series, direct)


def kl_estimator(log_p: torch.Tensor, log_q: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-sample k1/k2/k3 estimate of KL(p || q) from samples of p; ``log r = log_q - log_p``."""
    lp = as_float_tensor(log_p, "log_p")
    lq = as_float_tensor(log_q, "log_q")
    check_same_shape(log_p=lp, log_q=lq)
    check_same_dtype(log_p=lp, log_q=lq)
    check_choice(kind, "kind", KL_ESTIMATORS)
    log_r = lq - lp
    if kind == "k1":
        return -log_r
    if kind == "k2":
        return 0.5 * log_r * log_r
    return _expm1_minus_x(log_r)
