"""Argument checks for the torch mirror (same messages as :mod:`reference_impls._validation`)."""

from __future__ import annotations

from typing import Any

import torch


def as_float_tensor(x: Any, name: str, *, ndim: int | None = None, min_ndim: int | None = None,
                    finite: bool = True) -> torch.Tensor:
    """Check that ``x`` is a floating-point tensor (dtype and device are kept)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise ValueError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d tensor, got shape {tuple(x.shape)}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dimension(s), got shape {tuple(x.shape)}")
    if finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: expected finite values, got NaN/inf entries")
    return x


def as_bool_tensor(x: Any, name: str, like: torch.Tensor) -> torch.Tensor:
    """Bool tensor (or 0/1 integers) with the shape and device of ``like``."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype != torch.bool:
        if torch.is_floating_point(x) or not bool(((x == 0) | (x == 1)).all()):
            raise ValueError(f"{name}: expected booleans (or 0/1 integers), got dtype {x.dtype}")
        x = x.bool()
    if x.shape != like.shape:
        raise ValueError(f"{name}: expected shape {tuple(like.shape)}, got {tuple(x.shape)}")
    if x.device != like.device:
        raise ValueError(f"{name}: expected device {like.device}, got {x.device}")
    return x


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
