"""Argument validation shared by every public function of :mod:`reference_impls`.

Every check raises :class:`ValueError` whose message names the argument, states
what was expected and shows what was received. Nothing is broadcast, clipped or
renormalised on the caller's behalf.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Tolerance for "rows sum to one" (CONTRACT.md).
SIMPLEX_ATOL = 1e-9


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"[:200]


def _reject_non_real(x: Any, name: str, what: str) -> None:
    """Reject values that numpy would silently turn into reals (strings, complex, None, bools)."""
    if x is None:
        raise ValueError(f"{name}: expected {what}, got None")
    if isinstance(x, str | bytes):
        raise ValueError(f"{name}: expected {what}, got {_describe(x)}")


def _real_array(x: Any, name: str, what: str) -> np.ndarray:
    """``np.asarray(x)`` with a real (integer or floating) dtype, else a ValueError naming ``name``.

    Strings (``np.asarray(["1"], float)`` would parse them), complex numbers (numpy casts them
    to real with only a warning), booleans and ``None`` entries are rejected.
    """
    _reject_non_real(x, name, what)
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected {what}, got {_describe(x)}") from exc
    kind = raw.dtype.kind
    if kind == "b":
        raise ValueError(f"{name}: expected {what}, got booleans ({_describe(raw)})")
    if kind == "O":
        for item in raw.ravel():
            if item is None or isinstance(item, str | bytes | bool | np.bool_ | complex | np.complexfloating):
                raise ValueError(f"{name}: expected {what}, got an entry {item!r} ({_describe(raw)})")
    elif kind not in "iuf":
        raise ValueError(f"{name}: expected {what}, got {_describe(raw)}")
    return raw


def as_float_array(
    x: Any,
    name: str,
    *,
    ndim: int | None = None,
    min_ndim: int | None = None,
    shape: tuple[int | None, ...] | None = None,
    finite: bool = True,
) -> np.ndarray:
    """Return ``x`` as a float64 array after checking type, rank, shape and finiteness.

    Only integer and floating input is accepted: strings, complex numbers, booleans and
    ``None`` are a ``ValueError`` naming ``name`` (numpy would parse, cast or NaN them).
    """
    raw = _real_array(x, name, "an array of real numbers")
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name}: expected an array of real numbers, got {_describe(x)}") from exc
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {arr.shape}")
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dimension(s), got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(
            want is not None and got != want for got, want in zip(arr.shape, shape, strict=True)
        ):
            want_s = "(" + ", ".join("*" if w is None else str(w) for w in shape) + ")"
            raise ValueError(f"{name}: expected shape {want_s}, got {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name}: expected finite values, got {bad} NaN/inf entr{'y' if bad == 1 else 'ies'}")
    return arr


def as_flags(x: Any, name: str, *, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Return mask / episode flags ``x`` as a bool array.

    Accepted: bool arrays, and integer or floating arrays whose every entry is exactly 0 or 1
    (float masks are what torch users store). Anything else -- another value, NaN, strings,
    complex, ``None`` -- is a ``ValueError`` naming ``name``. With ``shape`` the result must
    have exactly that shape (nothing is broadcast).
    """
    _reject_non_real(x, name, "booleans or 0/1 values")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected booleans or 0/1 values, got {_describe(x)}") from exc
    if arr.dtype != bool:
        if arr.dtype.kind not in "iuf":
            raise ValueError(f"{name}: expected booleans or 0/1 values (bool, int or float), got {_describe(arr)}")
        bad = ~((arr == 0) | (arr == 1))
        if np.any(bad):
            n_bad = int(np.count_nonzero(bad))
            first = arr[bad].ravel()[0].item()
            raise ValueError(f"{name}: expected booleans or 0/1 values, got {n_bad} other "
                             f"entr{'y' if n_bad == 1 else 'ies'} (e.g. {first!r}) in {_describe(arr)}")
        arr = arr.astype(bool)
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {arr.shape}")
    return arr


def check_simplex(p: np.ndarray, name: str, *, atol: float = SIMPLEX_ATOL) -> np.ndarray:
    """Check that the last axis of ``p`` holds probability vectors."""
    if p.shape[-1:] == (0,):
        raise ValueError(f"{name}: expected a non-empty last axis, got shape {p.shape}")
    if np.any(p < 0):
        raise ValueError(f"{name}: expected non-negative probabilities, got minimum {p.min():.3g}")
    sums = p.sum(axis=-1)
    err = np.abs(sums - 1.0)
    if np.any(err > atol):
        idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
        raise ValueError(
            f"{name}: expected rows summing to 1 within {atol:g}, got sum {float(sums[idx]):.12g}"
            + (f" at index {tuple(int(i) for i in idx)}" if idx else "")
        )
    return p


def check_gamma(gamma: Any, name: str = "gamma", *, allow_one: bool = False) -> float:
    """Return ``gamma`` as a float after checking it lies in [0, 1) (or [0, 1] if allowed)."""
    if type(gamma) is float and 0.0 <= gamma and (gamma <= 1.0 if allow_one else gamma < 1.0):
        return gamma  # the common case, answered at once (NaN fails both comparisons; the checks below agree)
    if isinstance(gamma, bool | np.bool_ | str | bytes | complex | np.complexfloating) or gamma is None:
        raise ValueError(f"{name}: expected a real number, got {_describe(gamma)}")
    if np.ndim(gamma) != 0:
        raise ValueError(f"{name}: expected a scalar, got {_describe(gamma)}")
    try:
        g = float(gamma)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a real number, got {_describe(gamma)}") from exc
    if not np.isfinite(g):
        raise ValueError(f"{name}: expected a finite number, got {g!r}")
    hi_ok = g <= 1.0 if allow_one else g < 1.0
    if g < 0.0 or not hi_ok:
        interval = "[0, 1]" if allow_one else "[0, 1) (gamma == 1 is allowed only for finite sequences)"
        raise ValueError(f"{name}: expected a value in {interval}, got {g!r}")
    return g


def check_positive_int(n: Any, name: str) -> int:
    if isinstance(n, bool | np.bool_) or not isinstance(n, int | np.integer):
        raise ValueError(f"{name}: expected a positive integer, got {_describe(n)}")
    if n <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {n}")
    return int(n)


def check_nonneg_int(n: Any, name: str) -> int:
    if isinstance(n, bool | np.bool_) or not isinstance(n, int | np.integer):
        raise ValueError(f"{name}: expected a non-negative integer, got {_describe(n)}")
    if n < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {n}")
    return int(n)


def check_bool_array(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as a bool array: bool, or int/float holding exactly 0/1 (see :func:`as_flags`)."""
    return as_flags(x, name)


def check_same_shape(**arrays: np.ndarray) -> tuple[int, ...]:
    """Check that all arrays share one shape; nothing is broadcast."""
    items = list(arrays.items())
    first_name, first = items[0]
    for nm, arr in items[1:]:
        if arr.shape != first.shape:
            raise ValueError(f"{nm}: expected shape {first.shape} (the shape of {first_name}), got {arr.shape}")
    return tuple(first.shape)


def check_scalar(x: Any, name: str, *, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False, hi_open: bool = False) -> float:
    """Return ``x`` as a float after checking it is a finite scalar within the given interval."""
    if isinstance(x, bool | np.bool_ | str | bytes | complex | np.complexfloating) or x is None or np.ndim(x) != 0:
        raise ValueError(f"{name}: expected a real scalar, got {_describe(x)}")
    try:
        v = float(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a real scalar, got {_describe(x)}") from exc
    if not np.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")
    bad = (lo is not None and (v <= lo if lo_open else v < lo)) or (
        hi is not None and (v >= hi if hi_open else v > hi)
    )
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise ValueError(f"{name}: expected a value in {left}{lo_s}, {hi_s}{right}, got {v!r}")
    return v


def pow2_exponent(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Integer ``e`` with ``max |x| < 2**e`` over ``axis`` (kept as a size-1 axis), ``0`` where that max is 0.

    ``np.ldexp(x, -e)`` then lies in (-1, 1) and is exact (a power-of-two scaling), which lets
    sums and means of values near the float64 limit be formed without overflow and scaled
    back, bit for bit equal to the unscaled result wherever that one does not overflow.
    """
    top = np.max(np.abs(x), axis=axis, keepdims=axis is not None) if x.size else np.zeros(())
    _, e = np.frexp(top)
    return np.asarray(e, dtype=np.int64)


#: Longest horizon accepted by the backward-induction and matrix-power loops (one numpy step
#: each: ~1 s at this length), so that no call with a huge ``horizon`` runs for minutes.
MAX_HORIZON = 100_000

#: Largest number of array entries a function allocates for a horizon-indexed table or a
#: sampled batch (``8e8`` bytes of int64); larger requests are refused before any allocation.
MAX_TABLE_ENTRIES = 100_000_000


def check_count(name: str, factors: dict[str, int], limit: float, what: str) -> None:
    """Refuse ``prod(factors) > limit`` by comparing logarithms (no huge integer is formed).

    ``factors`` maps a description (e.g. ``"H + 1"``) to its value; the message names
    ``name``, shows the factors and the order of magnitude of their product.
    """
    log10 = sum(float(np.log10(v)) if v > 0 else -np.inf for v in factors.values())
    if log10 > float(np.log10(limit)) + 1e-12:
        desc = " * ".join(f"({k})" if " " in k else k for k in factors)
        vals = ", ".join(f"{k}={v:,}" for k, v in factors.items())
        raise ValueError(f"{name}: expected {what} ({desc}) at most {limit:,.0f}, got about 10^{log10:.1f} ({vals})")


def check_horizon(horizon: Any, name: str = "horizon", *, limit: int = MAX_HORIZON) -> int:
    """A non-negative integer horizon of at most ``limit`` steps."""
    H = check_nonneg_int(horizon, name)
    if H > limit:
        raise ValueError(f"{name}: expected at most {limit:,} steps (each is one pass of a loop), got {H:,}")
    return H


def check_choice(x: Any, name: str, choices: Any) -> str:
    """``x`` if it is one of the strings ``choices`` (a non-string is rejected before any comparison)."""
    options = tuple(choices)
    if not isinstance(x, str) or x not in options:
        raise ValueError(f"{name}: expected one of {options}, got {_describe(x)}")
    return x
