"""Compiled (numba) kernels for :mod:`reference_impls.returns`: the CPU fast path.

Private module; import it only through :mod:`reference_impls.returns`, which uses it when numba
is importable (``returns._NUMBA``) and otherwise falls back to its numpy implementation. The
semantics are the module docstring of :mod:`reference_impls.returns` (time axis last, Gymnasium
``terminated``/``truncated``, the end of the array is a cut); the plain loops of
:mod:`reference_impls._returns_loop` are the ground truth both paths are tested against.

Layout: inputs are C-contiguous ``[B, T]`` arrays (the wrapper reshapes leading batch axes
into ``B``), float32 or float64, read directly (float32 is widened exactly); flags are bool
``[B, T]``; outputs are float64 ``[B, T]``.

Every target is ``y_t = x_t + a_t y_{t+1}`` backward in time. A single row's recurrence is
latency-bound (one dependent multiply-add per step), so each kernel works on blocks of
``_ROWS`` rows: for every row of the block, one forward elementwise pass (vectorized by LLVM)
computes ``x`` into the output row and ``a`` into a small scratch block; then one backward
pass runs the ``_ROWS`` independent recurrences interleaved (see :func:`_scan4`), which keeps the
FMA pipeline busy; a last forward pass adds values / forms the V-trace pg advantages.

Episode ends select, they never multiply: the recurrence adds ``a_t y_{t+1}`` through
:func:`_times`, which is exactly 0 when either factor is 0, so an ``inf`` from an overflow in a
later episode never turns an earlier one into NaN (``0 * inf``), and an importance ratio that
overflowed to ``inf`` (``c_bar = inf``) times a zero trace, TD error or difference is 0, as in
the loop ground truth.

Validation in the same passes: each kernel returns a status, 0 when the inputs are valid. The
forward pass accumulates ``x - x`` over every float input (NaN exactly when an entry is NaN or
inf) and OR-reduces "both flags at one step". A non-zero status makes the wrapper run the numpy
validation, which raises the exact ``ValueError`` of the numpy path (naming the argument). A
result that overflows from finite inputs is not an error (as on the numpy path).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

__all__ = ["discounted_returns_kernel", "gae_kernel", "retrace_kernel", "vtrace_kernel"]

#: Rows whose recurrences are interleaved in one backward pass.
_ROWS = 4
#: ``contract`` only: allows fused multiply-add, keeps IEEE NaN/inf semantics (no ``x * 0 -> 0``).
_FM = {"contract"}

_jit: Any = numba.njit(cache=True, fastmath=_FM, nogil=True)
_jit_inline: Any = numba.njit(cache=True, fastmath=_FM, inline="always")


# --------------------------------------------------------------------------- the scans


@_jit_inline
def _times(a: float, b: float) -> float:
    """``a * b``, exactly 0 when either factor is 0 (also against ``inf`` or an overflowed ratio)."""
    return a * b if (a != 0.0) & (b != 0.0) else 0.0


@_jit_inline
def _scan1(y: np.ndarray, a: np.ndarray, i: int, j: int, T: int) -> None:
    """``y[i, t] += a[j, t] * y[i, t + 1]`` for t = T-2 .. 0 (one row; ``a[j, T-1]`` is unused)."""
    acc = y[i, T - 1]
    for t in range(T - 2, -1, -1):
        acc = y[i, t] + _times(a[j, t], acc)
        y[i, t] = acc


@_jit_inline
def _scan4(y: np.ndarray, a: np.ndarray, b0: int, T: int) -> None:
    """:func:`_scan1` on rows ``b0 .. b0 + 3`` of ``y`` (coefficients rows 0..3 of ``a``), interleaved:
    four independent dependency chains per step instead of one."""
    y0 = y[b0, T - 1]
    y1 = y[b0 + 1, T - 1]
    y2 = y[b0 + 2, T - 1]
    y3 = y[b0 + 3, T - 1]
    for t in range(T - 2, -1, -1):
        y0 = y[b0, t] + _times(a[0, t], y0)
        y[b0, t] = y0
        y1 = y[b0 + 1, t] + _times(a[1, t], y1)
        y[b0 + 1, t] = y1
        y2 = y[b0 + 2, t] + _times(a[2, t], y2)
        y[b0 + 2, t] = y2
        y3 = y[b0 + 3, t] + _times(a[3, t], y3)
        y[b0 + 3, t] = y3


@_jit_inline
def _scan_block(y: np.ndarray, a: np.ndarray, b0: int, nb: int, T: int) -> None:
    if nb == _ROWS:
        _scan4(y, a, b0, T)
    else:
        for j in range(nb):
            _scan1(y, a, b0 + j, j, T)


@_jit_inline
def _row_bad4(x0: np.ndarray, x1: np.ndarray, x2: np.ndarray, x3: np.ndarray, te: np.ndarray, tr: np.ndarray,
              i: int, T: int) -> bool:
    """Whether row i of the inputs is bad: both flags at one step, or a non-finite entry of one of
    the four float inputs (``x - x`` is NaN exactly for NaN/inf)."""
    both = False
    chk = 0.0
    for t in range(T):
        both |= te[i, t] & tr[i, t]
        chk += (x0[i, t] - x0[i, t]) + (x1[i, t] - x1[i, t]) + (x2[i, t] - x2[i, t]) + (x3[i, t] - x3[i, t])
    return both or not math.isfinite(chk)


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


@_jit
def discounted_returns_kernel(r: np.ndarray, nv: np.ndarray, te: np.ndarray, tr: np.ndarray, g: float,
                              out: np.ndarray) -> int:
    """``out = discounted_returns(...)``; returns 0 when the inputs are valid (module docstring)."""
    B, T = r.shape
    a = np.empty((_ROWS, T))
    bad = False
    for b0 in range(0, B, _ROWS):
        nb = min(_ROWS, B - b0)
        for j in range(nb):
            i = b0 + j
            both = False
            chk = 0.0
            for t in range(T - 1):
                cont = 1.0 - (te[i, t] | tr[i, t])
                # bootstrap weight 1 at a truncation, 0 at a termination or inside an episode
                boot = (1.0 - te[i, t]) - cont
                out[i, t] = r[i, t] + (g * nv[i, t]) * boot
                a[j, t] = g * cont
                both |= te[i, t] & tr[i, t]
                chk += (r[i, t] - r[i, t]) + (nv[i, t] - nv[i, t])
            t = T - 1
            out[i, t] = r[i, t] + (g * nv[i, t]) * (1.0 - te[i, t])
            both |= te[i, t] & tr[i, t]
            chk += (r[i, t] - r[i, t]) + (nv[i, t] - nv[i, t])
            bad |= both or not math.isfinite(chk)
        _scan_block(out, a, b0, nb, T)
    return 1 if bad else 0


@_jit
def gae_kernel(r: np.ndarray, v: np.ndarray, nv: np.ndarray, te: np.ndarray, tr: np.ndarray, g: float, gl: float,
               out: np.ndarray) -> int:
    """``out = gae(...)`` with ``gl = gamma * lam``; returns 0 when the inputs are valid."""
    B, T = r.shape
    a = np.empty((_ROWS, T))
    bad = False
    for b0 in range(0, B, _ROWS):
        nb = min(_ROWS, B - b0)
        for j in range(nb):
            i = b0 + j
            both = False
            chk = 0.0
            for t in range(T):
                out[i, t] = r[i, t] + (g * nv[i, t]) * (1.0 - te[i, t]) - v[i, t]
                a[j, t] = gl * (1.0 - (te[i, t] | tr[i, t]))
                both |= te[i, t] & tr[i, t]
                chk += (r[i, t] - r[i, t]) + (v[i, t] - v[i, t]) + (nv[i, t] - nv[i, t])
            bad |= both or not math.isfinite(chk)
        _scan_block(out, a, b0, nb, T)
    return 1 if bad else 0


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
        for j in range(nb):
            i = b0 + j
            bad |= _row_bad4(r, v, nv, lr, te, tr, i, T)
            _exp_row(lr, i, T, ratio, j, bits)
            for t in range(T):
                rt = ratio[j, t]
                td = r[i, t] + (g * nv[i, t]) * (1.0 - te[i, t]) - v[i, t]
                pg[i, t] = td
                vs[i, t] = _times(min(rho_bar, rt), td)
                a[j, t] = _times(gl, min(c_bar, rt)) if not (te[i, t] | tr[i, t]) else 0.0
        _scan_block(vs, a, b0, nb, T)  # vs - values
        for j in range(nb):
            i = b0 + j
            # pg_t = min(pg_rho_bar, ratio_t) (r_t + gamma vs_{t+1} - values[t]) inside an episode (next_values[t]
            # drops out: never formed as td_t + gamma (vs_{t+1} - next_values[t]), which cancels), td_t at its end
            for t in range(T - 1):
                adv = pg[i, t]
                if not (te[i, t] | tr[i, t]):
                    adv = r[i, t] + _times(g, vs[i, t + 1] + v[i, t + 1]) - v[i, t]
                pg[i, t] = _times(min(pg_rho_bar, ratio[j, t]), adv)
                vs[i, t] += v[i, t]
            t = T - 1
            pg[i, t] = _times(min(pg_rho_bar, ratio[j, t]), pg[i, t])
            vs[i, t] += v[i, t]
    return 1 if bad else 0


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
        for j in range(nb):
            i = b0 + j
            bad |= _row_bad4(r, q, nq, lr, te, tr, i, T)
            _exp_row(lr, i, T, ratio, 0, bits)
            for t in range(T - 1):
                # the trace of the next action weights the correction from step t + 1 onward
                c = _times(gl, min(c_bar, ratio[0, t + 1]))
                a[j, t] = c if not (te[i, t] | tr[i, t]) else 0.0
            for t in range(T):
                out[i, t] = r[i, t] + (g * nq[i, t]) * (1.0 - te[i, t]) - q[i, t]
        _scan_block(out, a, b0, nb, T)  # target - q_values
        for j in range(nb):
            i = b0 + j
            for t in range(T):
                out[i, t] += q[i, t]
    return 1 if bad else 0
