"""Compiled (numba) kernels for :mod:`reference_impls.returns`: the CPU fast path.

Private module; import it only through :mod:`reference_impls.returns`, which uses it when numba
is importable (``backend="auto"``; ``backend="numba"`` asks for it) and otherwise falls back to
its numpy implementation. The semantics are the module docstring of :mod:`reference_impls.returns`
(time axis last, Gymnasium ``terminated``/``truncated``, the end of the array is a cut); the plain loops of
:mod:`reference_impls._returns_loop` are the ground truth both paths are tested against.

Layout: inputs are C-contiguous ``[B, T]`` arrays (the wrapper reshapes leading batch axes
into ``B``), float32 or float64, read directly (float32 is widened exactly); flags are bool
``[B, T]``; outputs are float64 ``[B, T]``.

Every target is ``y_t = x_t + a_t y_{t+1}`` backward in time. A single row's recurrence is
latency-bound (one dependent multiply-add per step), so the kernels work on tiles of ``_ROWS``
(8) rows: one forward elementwise pass per row (vectorized by LLVM) writes ``x`` into the output
row, then one backward pass runs the 8 independent recurrences interleaved, then (V-trace,
Retrace, lambda-returns) one forward elementwise pass finishes the rows while they are in cache.

* GAE, lambda-returns and discounted returns have one coefficient ``c`` (gamma lambda, gamma)
  inside an episode: when at most 1 step in 8 of a tile has an episode end, the backward pass
  reads only ``x`` and a per-tile byte row "some row of the tile ends at t"; at such a step each
  row *selects* ``x_t`` (episode end) or ``x_t + c y_{t+1}`` -- no coefficient array, and no
  ``0 * y`` at a cut, so an ``inf`` from an overflow in a later episode never reaches an earlier
  one. With more episode ends (short episodes) the per-end branch would dominate, and the tile
  takes the V-trace route below with ``a_t`` in ``{0, c}``. ``c = 0`` is handled as "every step
  ends" (``0 * inf`` never formed).
* V-trace and Retrace have a coefficient per step (the traces), kept in an ``[8, T]`` scratch.
  The backward pass is a plain multiply-add (:func:`_scan8`); a non-finite value anywhere in a
  row of it reaches ``t = 0`` (``inf`` is carried back, and ``0 * inf`` at a cut is NaN, which is
  carried too), so one test per row finds every overflow. Such a tile (an overflow, or an
  ``inf`` ratio with ``c_bar = inf``) is recomputed with :func:`_times` in every product of the
  recurrence, the association of the loop ground truth: ``0`` times anything is ``0``, so
  episodes stay independent and an overflowed ratio times a zero trace or difference is 0. The
  ratio products outside the recurrence always go through :func:`_times` (a vector select).

Validation in the same passes: each kernel returns a status, 0 when the inputs are valid. The
forward pass counts the steps where ``x - x != 0`` (NaN exactly when an entry is NaN or inf; every
input enters ``x`` or is tested on its own) or both flags are set -- an integer sum, which LLVM
vectorizes (a float sum would be one serial add per element: measured, it more than doubled the
GAE kernel's time). A non-zero
status makes the wrapper run the numpy validation, which raises the exact ``ValueError`` of the
numpy path (naming the argument), or -- a false alarm from a finite overflow -- passes, and the
result stands (as on the numpy path).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

__all__ = ["discounted_returns_kernel", "gae_kernel", "lambda_returns_kernel", "retrace_kernel", "vtrace_kernel"]

#: Rows whose recurrences are interleaved in one backward pass (the kernels spell out 8 chains).
_ROWS = 8
#: ``contract`` only: allows fused multiply-add, keeps IEEE NaN/inf semantics (no ``x * 0 -> 0``).
_FM = {"contract"}

_jit: Any = numba.njit(cache=True, fastmath=_FM, nogil=True)
_jit_inline: Any = numba.njit(cache=True, fastmath=_FM, inline="always")


# --------------------------------------------------------------------------- products and scans


@_jit_inline
def _times(a: float, b: float) -> float:
    """``a * b``, exactly 0 when either factor is 0 (also against ``inf`` or an overflowed ratio)."""
    return a * b if (a != 0.0) & (b != 0.0) else 0.0


@_jit_inline
def _scan8(y: np.ndarray, a: np.ndarray, b0: int, T: int) -> None:
    """``y[b0 + j, t] += a[j, t] * y[b0 + j, t + 1]`` backward for the rows ``b0 .. b0 + 7``,
    interleaved (8 independent dependency chains); ``a[j, T - 1]`` must be finite (it multiplies 0)."""
    y0 = 0.0
    y1 = 0.0
    y2 = 0.0
    y3 = 0.0
    y4 = 0.0
    y5 = 0.0
    y6 = 0.0
    y7 = 0.0
    for t in range(T - 1, -1, -1):
        y0 = y[b0, t] + a[0, t] * y0
        y1 = y[b0 + 1, t] + a[1, t] * y1
        y2 = y[b0 + 2, t] + a[2, t] * y2
        y3 = y[b0 + 3, t] + a[3, t] * y3
        y4 = y[b0 + 4, t] + a[4, t] * y4
        y5 = y[b0 + 5, t] + a[5, t] * y5
        y6 = y[b0 + 6, t] + a[6, t] * y6
        y7 = y[b0 + 7, t] + a[7, t] * y7
        y[b0, t] = y0
        y[b0 + 1, t] = y1
        y[b0 + 2, t] = y2
        y[b0 + 3, t] = y3
        y[b0 + 4, t] = y4
        y[b0 + 5, t] = y5
        y[b0 + 6, t] = y6
        y[b0 + 7, t] = y7


@_jit_inline
def _scan_const8(y: np.ndarray, te: np.ndarray, tr: np.ndarray, anyend: np.ndarray, b0: int, T: int,
                 c: float) -> None:
    """Rows ``b0 .. b0 + 7`` of ``y`` (holding x): ``y_t = x_t`` at an episode end, else
    ``x_t + c y_{t+1}`` (``y_T = 0``). ``anyend[t]``: whether one of the 8 rows ends at t. No
    coefficient array is read, and an episode end selects (no ``0 * y``)."""
    y0 = 0.0
    y1 = 0.0
    y2 = 0.0
    y3 = 0.0
    y4 = 0.0
    y5 = 0.0
    y6 = 0.0
    y7 = 0.0
    for t in range(T - 1, -1, -1):
        if anyend[t]:
            y0 = y[b0, t] if te[b0, t] | tr[b0, t] else y[b0, t] + c * y0
            y1 = y[b0 + 1, t] if te[b0 + 1, t] | tr[b0 + 1, t] else y[b0 + 1, t] + c * y1
            y2 = y[b0 + 2, t] if te[b0 + 2, t] | tr[b0 + 2, t] else y[b0 + 2, t] + c * y2
            y3 = y[b0 + 3, t] if te[b0 + 3, t] | tr[b0 + 3, t] else y[b0 + 3, t] + c * y3
            y4 = y[b0 + 4, t] if te[b0 + 4, t] | tr[b0 + 4, t] else y[b0 + 4, t] + c * y4
            y5 = y[b0 + 5, t] if te[b0 + 5, t] | tr[b0 + 5, t] else y[b0 + 5, t] + c * y5
            y6 = y[b0 + 6, t] if te[b0 + 6, t] | tr[b0 + 6, t] else y[b0 + 6, t] + c * y6
            y7 = y[b0 + 7, t] if te[b0 + 7, t] | tr[b0 + 7, t] else y[b0 + 7, t] + c * y7
        else:
            y0 = y[b0, t] + c * y0
            y1 = y[b0 + 1, t] + c * y1
            y2 = y[b0 + 2, t] + c * y2
            y3 = y[b0 + 3, t] + c * y3
            y4 = y[b0 + 4, t] + c * y4
            y5 = y[b0 + 5, t] + c * y5
            y6 = y[b0 + 6, t] + c * y6
            y7 = y[b0 + 7, t] + c * y7
        y[b0, t] = y0
        y[b0 + 1, t] = y1
        y[b0 + 2, t] = y2
        y[b0 + 3, t] = y3
        y[b0 + 4, t] = y4
        y[b0 + 5, t] = y5
        y[b0 + 6, t] = y6
        y[b0 + 7, t] = y7


@_jit_inline
def _scan_select_rows(y: np.ndarray, te: np.ndarray, tr: np.ndarray, b0: int, nb: int, T: int, c: float) -> None:
    """The one-coefficient recurrence row by row, selecting ``x_t`` at episode ends (always safe)."""
    for j in range(nb):
        i = b0 + j
        acc = 0.0
        for t in range(T - 1, -1, -1):
            acc = y[i, t] if te[i, t] | tr[i, t] else y[i, t] + c * acc
            y[i, t] = acc


@_jit_inline
def _scan_const_tile(y: np.ndarray, te: np.ndarray, tr: np.ndarray, anyend: np.ndarray, a: np.ndarray, b0: int,
                     nb: int, T: int, c: float) -> bool:
    """The one-coefficient recurrence of a tile; whether the caller must redo it (x again, then
    :func:`_scan_select_rows`). ``c = 0``: ``y = x`` (every step ends; ``0 * inf`` never formed).

    Few episode ends in the tile (at most 1 step in 8 has one): :func:`_scan_const8`, selecting at
    them. Many (short episodes), where its per-end branch would dominate: the coefficients ``c`` or
    0 into ``a`` and the multiply-add :func:`_scan8`, whose overflows :func:`_scan_tile` detects."""
    if c == 0.0:
        return False
    if nb != _ROWS:
        _scan_select_rows(y, te, tr, b0, nb, T, c)
        return False
    n_any = np.int64(0)
    for t in range(T):
        n_any += np.int64(anyend[t])
    if 8 * n_any <= T:
        _scan_const8(y, te, tr, anyend, b0, T, c)
        return False
    for j in range(nb):
        i = b0 + j
        for t in range(T):
            a[j, t] = 0.0 if te[i, t] | tr[i, t] else c
    return _scan_tile(y, a, b0, nb, T)


@_jit_inline
def _scan1(y: np.ndarray, a: np.ndarray, i: int, j: int, T: int) -> None:
    """:func:`_scan8` for the single row i (coefficients row j)."""
    acc = 0.0
    for t in range(T - 1, -1, -1):
        acc = y[i, t] + a[j, t] * acc
        y[i, t] = acc


@_jit_inline
def _scan_safe1(y: np.ndarray, a: np.ndarray, i: int, j: int, T: int) -> None:
    """One row, every product through :func:`_times` (``a[j, t] = 0`` at episode ends selects ``x_t``)."""
    acc = 0.0
    for t in range(T - 1, -1, -1):
        acc = y[i, t] + _times(a[j, t], acc)
        y[i, t] = acc


@_jit_inline
def _scan_tile(y: np.ndarray, a: np.ndarray, b0: int, nb: int, T: int) -> bool:
    """The fast scan of a tile; whether it must be redone with :func:`_scan_safe1`.

    A non-finite value anywhere in a row of the fast scan reaches ``t = 0`` of that row: ``inf``
    is carried back by every positive coefficient, and at an episode end ``0 * inf`` is NaN, which
    every later step carries too. So one test per row finds every overflow and every ``0 * inf``."""
    if nb == _ROWS:
        _scan8(y, a, b0, T)
    else:
        for j in range(nb):
            _scan1(y, a, b0 + j, j, T)
    ok = True
    for j in range(nb):
        ok &= math.isfinite(y[b0 + j, 0])
    return not ok


# --------------------------------------------------------------------------- exp of a row

# Cody-Waite split of ln 2 (fdlibm's e_exp.c constants): LN2_HI has trailing zero bits, so k * LN2_HI is exact.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00


@_jit_inline
def _exp_row(lr: np.ndarray, i: int, T: int, ratio: np.ndarray, j: int, bits: np.ndarray) -> None:
    """``ratio[j, t] = exp(lr[i, t])`` for t < T, in float64, in a form LLVM vectorizes (numba's
    ``math.exp`` is a scalar libm call, about 10x slower here).

    ``exp(x) = 2^k exp(r)`` with ``k = round(x / ln 2)`` and ``r = x - k ln 2`` (Cody-Waite, |r| <= 0.35);
    ``exp(r)`` by its Taylor polynomial of degree 13 (remainder below ``0.35^14 / 14! < 1e-17``), and
    ``2^k`` assembled from its bits in an int64 scratch row. Relative error about 1 ulp of libm's
    (tests compare against ``math.exp``). Arguments outside ``[-708, 709]`` (a subnormal result,
    overflow to inf) are recomputed with ``math.exp``.
    """
    outside = False  # whether any argument lies outside [-708, 709]
    for t in range(T):
        x = np.float64(lr[i, t])
        outside |= bool((x > 709.0) | (x < -708.0))
        xc = min(max(x, -708.0), 709.0)
        kf = np.floor(xc * _INV_LN2 + 0.5)
        rr = (xc - kf * _LN2_HI) - kf * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * rr + 1.0 / 479001600.0
        p = p * rr + 1.0 / 39916800.0
        p = p * rr + 1.0 / 3628800.0
        p = p * rr + 1.0 / 362880.0
        p = p * rr + 1.0 / 40320.0
        p = p * rr + 1.0 / 5040.0
        p = p * rr + 1.0 / 720.0
        p = p * rr + 1.0 / 120.0
        p = p * rr + 1.0 / 24.0
        p = p * rr + 1.0 / 6.0
        p = p * rr + 0.5
        p = p * rr + 1.0
        p = p * rr + 1.0
        bits[t] = (np.int64(kf) + 1023) << 52  # the float64 2^k, k in [-1021, 1023]
        ratio[j, t] = p
    scale = bits.view(np.float64)
    for t in range(T):
        ratio[j, t] *= scale[t]
    if outside:
        for t in range(T):
            x = np.float64(lr[i, t])
            if x > 709.0 or x < -708.0:
                ratio[j, t] = math.exp(x)


# --------------------------------------------------------------------------- the targets


@_jit_inline
def _discounted_fill(r: np.ndarray, nv: np.ndarray, te: np.ndarray, tr: np.ndarray, g: float, out: np.ndarray,
                     anyend: np.ndarray, b0: int, nb: int, T: int) -> bool:
    """``x`` of the tile's rows into ``out``, ``anyend``; whether an input is bad."""
    for t in range(T):
        anyend[t] = False
    n_bad = np.int64(0)  # integer count: a sum reduction LLVM vectorizes (a bool |= reduction vectorizes worse)
    for j in range(nb):
        i = b0 + j
        for t in range(T):
            # bootstrap weight 1 at a truncation, 0 at a termination or inside an episode
            x = r[i, t] + (g * nv[i, t]) * tr[i, t]
            out[i, t] = x
            anyend[t] |= te[i, t] | tr[i, t]
            # both flags at one step; x - x is NaN iff x is not finite (nv enters x at every step)
            n_bad += np.int64(te[i, t] & tr[i, t]) + np.int64((x - x) != 0.0)
        t = T - 1  # the end of the array is a cut: bootstrap unless terminated
        x = r[i, t] + (g * nv[i, t]) * (1.0 - te[i, t])
        out[i, t] = x
        n_bad += np.int64((x - x) != 0.0)
    return bool(n_bad > 0)


@_jit
def discounted_returns_kernel(r: np.ndarray, nv: np.ndarray, te: np.ndarray, tr: np.ndarray, g: float,
                              out: np.ndarray) -> int:
    """``out = discounted_returns(...)``; returns 0 when the inputs are valid (module docstring)."""
    B, T = r.shape
    anyend = np.empty(T, dtype=np.bool_)
    a = np.empty((_ROWS, T))
    bad = False
    for b0 in range(0, B, _ROWS):
        nb = min(_ROWS, B - b0)
        bad |= _discounted_fill(r, nv, te, tr, g, out, anyend, b0, nb, T)
        if _scan_const_tile(out, te, tr, anyend, a, b0, nb, T, g):  # an overflow: redo selecting
            _discounted_redo(r, nv, te, tr, g, out, anyend, b0, nb, T)
    return 1 if bad else 0


@_jit
def _discounted_redo(r: np.ndarray, nv: np.ndarray, te: np.ndarray, tr: np.ndarray, g: float, out: np.ndarray,
                     anyend: np.ndarray, b0: int, nb: int, T: int) -> None:
    """The tile again, selecting (not inlined: it keeps the hot loops of the caller as they are)."""
    _discounted_fill(r, nv, te, tr, g, out, anyend, b0, nb, T)
    _scan_select_rows(out, te, tr, b0, nb, T, g)


@_jit_inline
def _gae_fill(r: np.ndarray, v: np.ndarray, nv: np.ndarray, te: np.ndarray, tr: np.ndarray, g: float,
              out: np.ndarray, anyend: np.ndarray, b0: int, nb: int, T: int) -> bool:
    """TD errors of the tile's rows into ``out``, ``anyend``; whether an input is bad."""
    for t in range(T):
        anyend[t] = False
    n_bad = np.int64(0)  # integer count: a sum reduction LLVM vectorizes (a bool |= reduction vectorizes worse)
    for j in range(nb):
        i = b0 + j
        for t in range(T):
            x = r[i, t] + (g * nv[i, t]) * (1.0 - te[i, t]) - v[i, t]
            out[i, t] = x
            anyend[t] |= te[i, t] | tr[i, t]
            # both flags at one step; x - x is NaN iff x is not finite (nv enters x at every step)
            n_bad += np.int64(te[i, t] & tr[i, t]) + np.int64((x - x) != 0.0)
    return bool(n_bad > 0)


@_jit
def _gae_redo(r: np.ndarray, v: np.ndarray, nv: np.ndarray, te: np.ndarray, tr: np.ndarray, g: float, gl: float,
              out: np.ndarray, anyend: np.ndarray, b0: int, nb: int, T: int) -> None:
    """The tile again, selecting (not inlined: it keeps the hot loops of the caller as they are)."""
    _gae_fill(r, v, nv, te, tr, g, out, anyend, b0, nb, T)
    _scan_select_rows(out, te, tr, b0, nb, T, gl)


@_jit
def gae_kernel(r: np.ndarray, v: np.ndarray, nv: np.ndarray, te: np.ndarray, tr: np.ndarray, g: float, gl: float,
               out: np.ndarray) -> int:
    """``out = gae(...)`` with ``gl = gamma * lam``; returns 0 when the inputs are valid."""
    B, T = r.shape
    anyend = np.empty(T, dtype=np.bool_)
    a = np.empty((_ROWS, T))
    bad = False
    for b0 in range(0, B, _ROWS):
        nb = min(_ROWS, B - b0)
        bad |= _gae_fill(r, v, nv, te, tr, g, out, anyend, b0, nb, T)
        if _scan_const_tile(out, te, tr, anyend, a, b0, nb, T, gl):  # an overflow: redo selecting
            _gae_redo(r, v, nv, te, tr, g, gl, out, anyend, b0, nb, T)
    return 1 if bad else 0


@_jit
def lambda_returns_kernel(r: np.ndarray, v: np.ndarray, nv: np.ndarray, te: np.ndarray, tr: np.ndarray, g: float,
                          gl: float, out: np.ndarray) -> int:
    """``out = lambda_returns(...) = values + gae(...)``; returns 0 when the inputs are valid."""
    B, T = r.shape
    anyend = np.empty(T, dtype=np.bool_)
    a = np.empty((_ROWS, T))
    bad = False
    for b0 in range(0, B, _ROWS):
        nb = min(_ROWS, B - b0)
        bad |= _gae_fill(r, v, nv, te, tr, g, out, anyend, b0, nb, T)
        if _scan_const_tile(out, te, tr, anyend, a, b0, nb, T, gl):  # an overflow: redo selecting
            _gae_redo(r, v, nv, te, tr, g, gl, out, anyend, b0, nb, T)
        _add_rows(out, v, b0, nb, T)
    return 1 if bad else 0


@_jit_inline
def _add_rows(out: np.ndarray, x: np.ndarray, b0: int, nb: int, T: int) -> None:
    """``out += x`` on the tile's rows (the baseline back onto the recurrence's result)."""
    for j in range(nb):
        i = b0 + j
        for t in range(T):
            out[i, t] += x[i, t]


@_jit_inline
def _vtrace_fill(r: np.ndarray, v: np.ndarray, nv: np.ndarray, lr: np.ndarray, te: np.ndarray, tr: np.ndarray,
                 g: float, gl: float, rho_bar: float, c_bar: float, vs: np.ndarray, pg: np.ndarray, a: np.ndarray,
                 ratio: np.ndarray, bits: np.ndarray, b0: int, nb: int, T: int) -> bool:
    """Ratios, TD errors (into ``pg``), ``rho_t td_t`` (into ``vs``) and traces of the tile's rows."""
    n_bad = np.int64(0)  # integer count: a sum reduction LLVM vectorizes (a bool |= reduction vectorizes worse)
    for j in range(nb):
        i = b0 + j
        _exp_row(lr, i, T, ratio, j, bits)
        for t in range(T):
            rt = ratio[j, t]
            td = r[i, t] + (g * nv[i, t]) * (1.0 - te[i, t]) - v[i, t]
            pg[i, t] = td
            vs[i, t] = _times(min(rho_bar, rt), td)
            a[j, t] = 0.0 if te[i, t] | tr[i, t] else _times(gl, min(c_bar, rt))
            n_bad += np.int64(te[i, t] & tr[i, t]) + np.int64(((td - td) + (lr[i, t] - lr[i, t])) != 0.0)
        a[j, T - 1] = 0.0  # the end of the array is a cut
    return bool(n_bad > 0)


@_jit
def _vtrace_redo(r: np.ndarray, v: np.ndarray, nv: np.ndarray, lr: np.ndarray, te: np.ndarray, tr: np.ndarray,
                 g: float, gl: float, rho_bar: float, c_bar: float, vs: np.ndarray, pg: np.ndarray, a: np.ndarray,
                 ratio: np.ndarray, bits: np.ndarray, b0: int, nb: int, T: int) -> None:
    """The tile's fill and scan again, selecting (not inlined: it keeps the hot loops of the caller)."""
    _vtrace_fill(r, v, nv, lr, te, tr, g, gl, rho_bar, c_bar, vs, pg, a, ratio, bits, b0, nb, T)
    for j in range(nb):
        _scan_safe1(vs, a, b0 + j, j, T)


@_jit
def vtrace_kernel(r: np.ndarray, v: np.ndarray, nv: np.ndarray, lr: np.ndarray, te: np.ndarray, tr: np.ndarray,
                  g: float, lam: float, rho_bar: float, c_bar: float, pg_rho_bar: float, vs: np.ndarray,
                  pg: np.ndarray) -> int:
    """``vs, pg = vtrace(...)``; returns 0 when the inputs are valid."""
    B, T = r.shape
    gl = g * lam
    a = np.empty((_ROWS, T))
    ratio = np.empty((_ROWS, T))
    bits = np.empty(T, dtype=np.int64)
    bad = False
    for b0 in range(0, B, _ROWS):
        nb = min(_ROWS, B - b0)
        bad |= _vtrace_fill(r, v, nv, lr, te, tr, g, gl, rho_bar, c_bar, vs, pg, a, ratio, bits, b0, nb, T)
        if _scan_tile(vs, a, b0, nb, T):  # vs - values; an overflow: redo selecting (module docstring)
            _vtrace_redo(r, v, nv, lr, te, tr, g, gl, rho_bar, c_bar, vs, pg, a, ratio, bits, b0, nb, T)
        _vtrace_finish(r, v, te, tr, g, pg_rho_bar, vs, pg, ratio, b0, nb, T)
    return 1 if bad else 0


@_jit_inline
def _vtrace_finish(r: np.ndarray, v: np.ndarray, te: np.ndarray, tr: np.ndarray, g: float, pg_rho_bar: float,
                   vs: np.ndarray, pg: np.ndarray, ratio: np.ndarray, b0: int, nb: int, T: int) -> None:
    """The tile's pg advantages (``pg`` holds the TD errors) and ``vs`` (holds ``vs - values``)."""
    for j in range(nb):
        i = b0 + j
        # pg_t = min(pg_rho_bar, ratio_t) (r_t + gamma vs_{t+1} - values[t]) inside an episode, its TD error
        # (in pg) at an end: next_values[t] drops out inside (never td_t + gamma (vs_{t+1} - next_values[t]))
        for t in range(T - 1):
            inside = r[i, t] + _times(g, vs[i, t + 1] + v[i, t + 1]) - v[i, t]
            adv = pg[i, t] if te[i, t] | tr[i, t] else inside
            pg[i, t] = _times(min(pg_rho_bar, ratio[j, t]), adv)
            vs[i, t] += v[i, t]
        t = T - 1
        pg[i, t] = _times(min(pg_rho_bar, ratio[j, t]), pg[i, t])
        vs[i, t] += v[i, t]


@_jit_inline
def _retrace_fill(r: np.ndarray, q: np.ndarray, nq: np.ndarray, lr: np.ndarray, te: np.ndarray, tr: np.ndarray,
                  g: float, gl: float, c_bar: float, out: np.ndarray, a: np.ndarray, ratio: np.ndarray,
                  bits: np.ndarray, b0: int, nb: int, T: int) -> bool:
    n_bad = np.int64(0)  # integer count: a sum reduction LLVM vectorizes (a bool |= reduction vectorizes worse)
    for j in range(nb):
        i = b0 + j
        _exp_row(lr, i, T, ratio, 0, bits)
        for t in range(T - 1):
            # the trace of the next action weights the correction from step t + 1 onward
            a[j, t] = 0.0 if te[i, t] | tr[i, t] else _times(gl, min(c_bar, ratio[0, t + 1]))
        a[j, T - 1] = 0.0
        for t in range(T):
            x = r[i, t] + (g * nq[i, t]) * (1.0 - te[i, t]) - q[i, t]
            out[i, t] = x
            n_bad += np.int64(te[i, t] & tr[i, t]) + np.int64(((x - x) + (lr[i, t] - lr[i, t])) != 0.0)
    return bool(n_bad > 0)


@_jit
def _retrace_redo(r: np.ndarray, q: np.ndarray, nq: np.ndarray, lr: np.ndarray, te: np.ndarray, tr: np.ndarray,
                  g: float, gl: float, c_bar: float, out: np.ndarray, a: np.ndarray, ratio: np.ndarray,
                  bits: np.ndarray, b0: int, nb: int, T: int) -> None:
    """The tile's fill and scan again, selecting (not inlined: it keeps the hot loops of the caller)."""
    _retrace_fill(r, q, nq, lr, te, tr, g, gl, c_bar, out, a, ratio, bits, b0, nb, T)
    for j in range(nb):
        _scan_safe1(out, a, b0 + j, j, T)


@_jit
def retrace_kernel(r: np.ndarray, q: np.ndarray, nq: np.ndarray, lr: np.ndarray, te: np.ndarray, tr: np.ndarray,
                   g: float, lam: float, c_bar: float, out: np.ndarray) -> int:
    """``out = retrace(...)``; returns 0 when the inputs are valid."""
    B, T = r.shape
    gl = g * lam
    a = np.empty((_ROWS, T))
    ratio = np.empty((1, T))
    bits = np.empty(T, dtype=np.int64)
    bad = False
    for b0 in range(0, B, _ROWS):
        nb = min(_ROWS, B - b0)
        bad |= _retrace_fill(r, q, nq, lr, te, tr, g, gl, c_bar, out, a, ratio, bits, b0, nb, T)
        if _scan_tile(out, a, b0, nb, T):  # target - q_values; an overflow: redo selecting (module docstring)
            _retrace_redo(r, q, nq, lr, te, tr, g, gl, c_bar, out, a, ratio, bits, b0, nb, T)
        _add_rows(out, q, b0, nb, T)
    return 1 if bad else 0
