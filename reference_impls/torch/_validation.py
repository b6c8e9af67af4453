"""Argument checks for the torch mirror (same messages as :mod:`reference_impls._validation`).

Dtype rule (one for every torch module): the float tensors of one call must share one dtype;
a mix (float32 with float64) is a ``ValueError`` naming the argument, never a silent promotion
(the numpy functions compute in float64 whatever comes in). Masks and episode flags are bool
tensors or integer / floating tensors holding exactly 0 and 1, in numpy and torch alike
(:func:`as_flags`).
"""

from __future__ import annotations

import math
from typing import Any

import torch


def as_float_tensor(x: Any, name: str, *, ndim: int | None = None, min_ndim: int | None = None,
                    finite: bool = True) -> torch.Tensor:
    """Check that ``x`` is a floating-point tensor (dtype and device are kept)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.is_complex() or not torch.is_floating_point(x):
        raise ValueError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d tensor, got shape {tuple(x.shape)}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dimension(s), got shape {tuple(x.shape)}")
    if finite and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name}: expected finite values, got {bad} NaN/inf entr{'y' if bad == 1 else 'ies'}")
    return x


def as_flags(x: Any, name: str, like: torch.Tensor | None = None) -> torch.Tensor:
    """Mask / episode flags as a bool tensor (shape and device of ``like`` when given).

    Accepted: bool tensors, and integer or floating tensors whose every entry is exactly 0
    or 1 (float masks are what torch users store). Anything else is a ``ValueError`` naming
    ``name``, as in :func:`reference_impls._validation.as_flags`.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of booleans or 0/1 values, got {type(x).__name__}")
    if x.dtype != torch.bool:
        if x.is_complex():
            raise ValueError(f"{name}: expected booleans or 0/1 values (bool, int or float), got dtype {x.dtype}")
        bad = ~((x == 0) | (x == 1))
        if bool(bad.any()):
            n_bad = int(bad.sum())
            first = x[bad].flatten()[0].item()
            raise ValueError(f"{name}: expected booleans or 0/1 values, got {n_bad} other "
                             f"entr{'y' if n_bad == 1 else 'ies'} (e.g. {first!r}) in a tensor of dtype {x.dtype}")
        x = x.bool()
    if like is not None:
        if x.shape != like.shape:
            raise ValueError(f"{name}: expected shape {tuple(like.shape)}, got {tuple(x.shape)}")
        if x.device != like.device:
            raise ValueError(f"{name}: expected device {like.device}, got {x.device}")
    return x


def as_bool_tensor(x: Any, name: str, like: torch.Tensor) -> torch.Tensor:
    """Bool tensor (or exact 0/1 integers or floats) with the shape and device of ``like``."""
    return as_flags(x, name, like)


def check_same_dtype(**tensors: torch.Tensor) -> torch.dtype:
    """One floating dtype for every tensor: mixed float dtypes are rejected, never promoted.

    The numpy functions compute in float64 whatever comes in; the torch functions keep the
    input's dtype, which is only defined when the inputs agree (``returns`` has always
    rejected a mix; every other torch module follows the same rule).
    """
    items = list(tensors.items())
    first_name, first = items[0]
    for nm, t in items[1:]:
        if t.dtype != first.dtype:
            raise ValueError(f"{nm}: expected dtype {first.dtype} (the dtype of {first_name}), got {t.dtype}")
    return first.dtype


def check_same_shape(**tensors: torch.Tensor) -> tuple[int, ...]:
    items = list(tensors.items())
    first_name, first = items[0]
    for nm, t in items[1:]:
        if t.shape != first.shape:
            raise ValueError(f"{nm}: expected shape {tuple(first.shape)} (the shape of {first_name}), "
                             f"got {tuple(t.shape)}")
        if t.device != first.device:
            raise ValueError(f"{nm}: expected device {first.device} (the device of {first_name}), got {t.device}")
    return tuple(first.shape)


def ldexp(x: torch.Tensor, e: Any) -> torch.Tensor:
    """``x * 2**e`` (``e`` an integer tensor or int), exact and differentiable in ``x``.

    ``torch.ldexp`` is not used: its backward returns a zero gradient for integer exponents
    (torch 2.13). ``e`` is clamped to the widest shift a finite value can need (beyond it the
    result saturates to 0 or inf either way) and applied as three equal-sign powers of two, each
    finite and non-zero in the dtype of ``x``; the intermediate products lie between ``x`` and
    the result, so nothing over- or underflows unless the result does, and no factor has an
    infinite derivative.
    """
    fi = torch.finfo(x.dtype)
    lim = int(math.log2(fi.max)) + 1 - int(math.log2(fi.tiny)) + fi.bits
    e_t = torch.clamp(torch.as_tensor(e, device=x.device).to(torch.int64), -lim, lim)
    third = torch.div(e_t, 3, rounding_mode="trunc")
    rest = e_t - 2 * third
    f1 = torch.exp2(third.to(x.dtype))
    f2 = torch.exp2(rest.to(x.dtype))
    return x * f1 * f1 * f2
