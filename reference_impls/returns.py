"""Value targets: discounted returns, GAE, lambda-returns, V-trace and Retrace (numpy, float64).

Conventions (CONTRACT.md; one way, everywhere):

* **Time axis last.** Every sequence argument has shape ``[..., T]`` (``T >= 1``); leading
  axes are batch. All sequence arguments of one call have the same shape; nothing is
  broadcast.
* **Episode ends (Gymnasium).** ``terminated[t]``: the episode ended at step t in a
  terminal state, so nothing is bootstrapped after it. ``truncated[t]``: it was cut at
  step t (time limit, segment end) and ``next_values[t]`` is bootstrapped. Either one
  stops every recursion and every trace after t. Both set at one step is an error.
  **The end of the array is a cut**: step ``T - 1`` bootstraps from
  ``next_values[..., T - 1]`` unless it is terminated.
* **Next values.** ``next_values[t] = V(s_{t+1})`` of the state step t actually led to (at
  a truncation, the final observation -- not the first state of the next episode).
* **Discount.** ``gamma`` and ``lam`` are scalars in ``[0, 1]`` (finite sequences, so 1 is
  allowed). Discounting is ``gamma^k`` for a reward k steps ahead.
* **Ratios** are passed as ``log_rhos = log pi(a_t|s_t) - log mu(a_t|s_t)`` (target over
  behaviour) and exponentiated here. Truncation levels may be ``numpy.inf`` (no clipping).
* **Precision.** Inputs of any real dtype are converted to float64; outputs are float64.

Implementation: every target here is the solution of one backward linear recurrence
``y_t = x_t + a_t y_{t+1}`` (``a_t = 0`` at episode ends and at ``T - 1``). When numba is
importable (the optional ``fast`` extra) the public targets run compiled kernels
(:mod:`reference_impls._returns_numba`): a few passes per block of rows, reading float32 or float64
inputs directly, validating in the same passes. Otherwise the inputs are prepared with whole-array
numpy operations and the recurrence is solved by :func:`reverse_linear_scan` (odd-even reduction
over time, vectorized over the batch; a time-major whole-batch loop is available as
``method="loop"``). The plain per-element loops in :mod:`reference_impls._returns_loop` are the
readable ground truth; tests and the path claims (``verify/claims/<family>/paths.py``) check that all agree.

**Choosing the path per call.** Every public target takes the keyword
``backend="auto" | "numba" | "numpy" | "loop"``: ``"auto"`` (the default) is the numba kernels when
numba is importable and the numpy implementation otherwise; ``"numba"`` without numba installed is
a ``ValueError`` naming ``backend``; ``"loop"`` validates the inputs exactly as the other paths do and
then runs the plain per-element loops (slow; the ground truth). Any other value is a ``ValueError``
naming ``backend``. Every path returns the same float64 results up to rounding.

Overflow (every path, tests/test_returns_edge_cases.py): an episode end *selects* -- it never
multiplies a later value by 0 -- so an ``inf`` from an overflow in a later episode never turns an
earlier one into NaN; and a product is exactly 0 when one factor is 0, also against an importance
ratio that overflowed to ``inf`` (it stands for a finite number): gamma or lambda 0 with
``c_bar = inf``, a zero TD error times an unclipped ratio. The numpy path (and the torch mirror)
run their fast scans and, only when a result is not finite, recompute it sequentially with
selection (the association of the loop ground truth). V-trace's pg advantages inside an episode
are ``r_t + gamma vs_{t+1} - values[t]``: ``next_values[t]`` drops out and is never subtracted
from ``vs_{t+1}`` (that cancels catastrophically when it is large).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from reference_impls import _returns_loop as _LOOP
from reference_impls._validation import as_flags, as_float_array, check_gamma

try:  # optional compiled CPU path (the `fast` extra)
    from reference_impls import _returns_numba as _NB
except ImportError:  # pragma: no cover - depends on the environment
    _NB = None  # type: ignore[assignment]

#: Whether numba is importable here (what ``backend="auto"`` picks); choose a path per call with ``backend=``.
_HAVE_NUMBA: bool = _NB is not None

#: The values of the ``backend`` keyword of the public targets.
BACKENDS = ("auto", "numba", "numpy", "loop")

__all__ = [
    "discounted_returns",
    "gae",
    "lambda_returns",
    "retrace",
    "reverse_linear_scan",
    "vtrace",
]


_F = TypeVar("_F", bound=Callable[..., Any])


def _quiet(fn: _F) -> _F:
    """Run ``fn`` without numpy's overflow / invalid-value warnings: an overflow from finite inputs is
    a valid result (module docstring) and every ``0 * inf`` is recomputed by selection."""

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(over="ignore", invalid="ignore"):
            return fn(*args, **kwargs)

    return inner  # type: ignore[return-value]


# --------------------------------------------------------------------------- validation


def _backend(backend: Any) -> str:
    """The path a call takes: ``"numba"``, ``"numpy"`` or ``"loop"`` (``"auto"`` resolved)."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "numba" if _HAVE_NUMBA else "numpy"
    if backend == "numba" and not _HAVE_NUMBA:
        raise ValueError("backend: 'numba' needs numba installed (the `fast` extra: pip install "
                         "'pg-verify[fast]'); numba is not importable here, got backend='numba'")
    return backend


def _check_sequences(floats: dict[str, Any], terminated: Any, truncated: Any, *, full: bool = True
                     ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Float sequences ``[..., T]`` of one shape (float32/float64 arrays as given, anything else as
    float64), and the two flag arrays (bool, same shape).

    ``full=False`` skips the two whole-array checks (finite values, both flags at one step) that the
    numba kernels make in their own passes; the checks that remain come in the same order.
    """
    arrs: dict[str, np.ndarray] = {}
    shape: tuple[int, ...] | None = None
    first = ""
    for name, x in floats.items():
        arr = _finite_float64(x, name) if full else _float_array(x, name)
        if shape is None:
            shape, first = arr.shape, name
            if arr.shape[-1] < 1:
                raise ValueError(f"{name}: expected at least one time step on the last axis, got shape {arr.shape}")
        elif arr.shape != shape:
            raise ValueError(f"{name}: expected shape {shape} (the shape of {first}), got {arr.shape}")
        arrs[name] = arr
    assert shape is not None
    flags = []
    for name, f in (("terminated", terminated), ("truncated", truncated)):
        b = as_flags(f, name)
        if b.shape != shape:
            raise ValueError(f"{name}: expected shape {shape} (the shape of {first}), got {b.shape}")
        flags.append(b)
    term, trunc = flags
    if not full:
        return arrs, term, trunc
    both = term & trunc
    if np.any(both):
        idx = tuple(int(i) for i in np.argwhere(both)[0])
        raise ValueError(f"truncated: expected at most one of terminated/truncated per step, "
                         f"got both set at index {idx}")
    return arrs, term, trunc


def _finite_float64(x: Any, name: str) -> np.ndarray:
    """``as_float_array(x, name, min_ndim=1)`` with a one-pass finiteness test; float32 and float64
    arrays are returned as they are (computations then run in float64 via ``dtype=``).

    The sum of an array is finite whenever every entry is finite, unless it overflows; only a
    non-finite sum (a NaN/inf entry, or overflow) triggers the exact entry-wise check, which
    then raises ``ValueError`` naming the argument (or passes, after an overflow).
    """
    arr = _float_array(x, name)
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(arr, axis=None)
    if not np.isfinite(total):
        as_float_array(arr, name)
    return arr


def _float_array(x: Any, name: str) -> np.ndarray:
    """float32 and float64 arrays (``ndim >= 1``) as they are (float32 is widened exactly inside the
    float64 computations: no copy here), anything else through ``as_float_array`` (no finiteness test)."""
    if isinstance(x, np.ndarray) and x.dtype in (np.float32, np.float64) and x.ndim >= 1:
        return x
    return as_float_array(x, name, min_ndim=1, finite=False)


def _fast_inputs(floats: dict[str, Any], terminated: Any, truncated: Any, scalars: Callable[[], tuple[float, ...]]
                 ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, tuple[int, ...], tuple[float, ...]]:
    """Inputs of a numba kernel: the float sequences and flags as C-contiguous ``[B, T]`` arrays (all
    float32, or all float64 when the dtypes differ), the original shape, and the checked scalars.

    The whole-array checks are left to the kernel (:func:`_fast_status`). On any error this runs the
    numpy path's validation first, so that the error raised is the one the numpy path raises.
    """
    try:
        arrs, term, trunc = _check_sequences(floats, terminated, truncated, full=False)
        vals = scalars()
    except ValueError:
        _check_sequences(floats, terminated, truncated)  # raises the numpy path's (first) error, if any
        raise
    seqs = list(arrs.values())
    shape = seqs[0].shape
    T = shape[-1]
    dtype = np.float32 if all(a.dtype == np.float32 for a in seqs) else np.float64
    flat = [np.ascontiguousarray(a, dtype=dtype).reshape(-1, T) for a in seqs]
    te = np.ascontiguousarray(term).reshape(-1, T)
    tr = np.ascontiguousarray(trunc).reshape(-1, T)
    return flat, te, tr, shape, vals


def _fast_status(status: int, floats: dict[str, Any], terminated: Any, truncated: Any) -> None:
    """After a kernel: a non-zero status (a non-finite input, both flags at one step, or a result that
    overflowed) runs the numpy validation, which raises its ``ValueError`` naming the argument; an
    overflow from finite inputs passes, and the result stands (as on the numpy path)."""
    if status:
        _check_sequences(floats, terminated, truncated)


def _check_unit(x: Any, name: str) -> float:
    """A scalar in [0, 1] (gamma or lambda of a finite sequence)."""
    return check_gamma(x, name, allow_one=True)


def _check_level(x: Any, name: str) -> float:
    """A truncation level: a non-negative scalar, ``inf`` allowed (no clipping)."""
    if type(x) is float and x >= 0.0:
        return x  # the common case, answered at once (NaN fails the comparison; the checks below agree)
    if isinstance(x, bool | np.bool_) or np.ndim(x) != 0:
        raise ValueError(f"{name}: expected a non-negative real scalar (inf allowed), got {x!r}")
    try:
        v = float(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a non-negative real scalar (inf allowed), got {x!r}") from exc
    if np.isnan(v) or v < 0:
        raise ValueError(f"{name}: expected a non-negative real scalar (inf allowed), got {v!r}")
    return v


# --------------------------------------------------------------------------- the scan


def _scan_loop_tb(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """y[t] = x[t] + a[t] * y[t + 1] on time-major ``[T, B]`` arrays, one whole-batch step per t."""
    y = np.empty_like(x)
    y[-1] = x[-1]
    mul, add = np.multiply, np.add
    for t in range(x.shape[0] - 2, -1, -1):
        yt = y[t]
        mul(a[t], y[t + 1], out=yt)
        add(yt, x[t], out=yt)
    return y


def _scan_loop_inplace(x: np.ndarray, a: np.ndarray, col: np.ndarray) -> None:
    """``x[:, t] += a[:, t] * x[:, t + 1]`` for t = T-2 .. 0 on ``[B, T]`` views (x becomes y);
    ``col`` is a ``[B]`` scratch column."""
    mul, add = np.multiply, np.add
    for t in range(x.shape[1] - 2, -1, -1):
        xt = x[:, t]
        mul(a[:, t], x[:, t + 1], out=col)
        add(xt, col, out=xt)


def _scan_reduction_inplace(x: np.ndarray, a: np.ndarray, tmp: np.ndarray, stop: int = 16) -> None:
    """The recurrence by odd-even (cyclic) reduction, in place on ``[B, T]`` views: x becomes y, a is
    overwritten, ``tmp`` is a ``[B, >= T // 2]`` scratch buffer. No transposes, no allocations.

    Eliminating the odd steps gives a recurrence of half the length on the even steps,
    ``y[2m] = (x[2m] + a[2m] x[2m+1]) + (a[2m] a[2m+1]) y[2m+2]``; it is solved the same way
    (recursively on the strided even columns, until ``T <= stop``), and then every odd step is
    filled in at once, ``y[2m+1] = x[2m+1] + a[2m+1] y[2m+2]``. About ``stop`` Python-level steps
    plus a few whole-array passes per level instead of ``T`` steps; the same products and sums,
    associated differently (no division, no logarithm, so zeros in ``a`` are harmless).
    """
    T = x.shape[1]
    if T <= stop:
        _scan_loop_inplace(x, a, tmp[:, 0])
        return
    n_odd = T // 2
    xe, ae, xo, ao = x[:, 0::2], a[:, 0::2], x[:, 1::2], a[:, 1::2]
    t = tmp[:, :n_odd]
    np.multiply(ae[:, :n_odd], xo, out=t)
    xe[:, :n_odd] += t
    ae[:, :n_odd] *= ao
    _scan_reduction_inplace(xe, ae, tmp, stop)  # xe now holds y at the even steps
    k = min(n_odd, xe.shape[1] - 1)  # when T is even the last odd step reads y[T] = 0: unchanged
    np.multiply(ao[:, :k], xe[:, 1:k + 1], out=t[:, :k])
    xo[:, :k] += t[:, :k]


def reverse_linear_scan(x: Any, a: Any, *, method: str = "reduction") -> np.ndarray:
    """Solve ``y[..., t] = x[..., t] + a[..., t] * y[..., t + 1]`` backward in time, ``y[..., T] = 0``.

    Args:
      x, a: float arrays of one shape ``[..., T]`` (time last).
      method: ``"loop"`` (time-major contiguous ``[T, B]`` copy, one whole-batch step per
        time step) or ``"reduction"`` (odd-even reduction on the batch-major array, no
        transposes; the default and what the public targets use).

    Returns: float64 ``y`` of the same shape. Both methods equal the plain per-element loop
    up to rounding (tests/test_returns.py).
    """
    xa = as_float_array(x, "x", min_ndim=1)
    aa = as_float_array(a, "a", min_ndim=1)
    if aa.shape != xa.shape:
        raise ValueError(f"a: expected shape {xa.shape} (the shape of x), got {aa.shape}")
    if method not in ("loop", "reduction"):
        raise ValueError(f"method: expected 'loop' or 'reduction', got {method!r}")
    if xa.shape[-1] < 1:
        raise ValueError(f"x: expected at least one time step on the last axis, got shape {xa.shape}")
    return _scan_bt(xa, aa, method)


@_quiet
def _scan_bt(x: np.ndarray, a: np.ndarray, method: str = "reduction", *, owned: bool = False) -> np.ndarray:
    """:func:`reverse_linear_scan` without validation; ``[..., T]`` in, ``[..., T]`` float64 out.

    With ``owned=True`` (x and a are float64 temporaries of the caller) the reduction runs in place:
    the result is ``x`` itself and ``a`` is destroyed.
    """
    shape = x.shape
    T = shape[-1]
    if method == "loop":
        # time-major, contiguous: each step then reads and writes whole contiguous rows
        xt = np.ascontiguousarray(x.reshape(-1, T).T, dtype=np.float64)
        at = np.ascontiguousarray(a.reshape(-1, T).T, dtype=np.float64)
        return np.ascontiguousarray(_scan_loop_tb(xt, at).T).reshape(shape)
    if not owned:
        x = np.array(x, dtype=np.float64)
        a = np.array(a, dtype=np.float64)
    x2, a2 = x.reshape(-1, T), a.reshape(-1, T)
    _scan_reduction_inplace(x2, a2, np.empty((x2.shape[0], max(1, T // 2))))
    return x


@_quiet
def _times(a: Any, b: Any) -> np.ndarray:
    """``a * b`` (float64), exactly 0 where either factor is 0: a 0 (an episode cut, gamma or lambda)
    removes its term whatever the other factor, and an importance ratio that overflowed to ``inf``
    stands for a finite number, so it times 0 is 0 (``0 * inf`` would be NaN)."""
    p = np.multiply(a, b, dtype=np.float64)
    np.copyto(p, 0.0, where=(np.equal(a, 0) | np.equal(b, 0)))
    return p


@_quiet
def _scan_safe(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The recurrence ``y_t = x_t + a_t y_{t+1}`` sequentially in time (as the loop ground truth and
    the numba kernels associate it), each product through :func:`_times`: an ``inf`` or NaN in
    ``y_{t+1}`` stays out of ``y_t`` where ``a_t = 0`` (episode cuts). ``[..., T]`` in, float64 out."""
    shape = x.shape
    T = shape[-1]
    xt = np.ascontiguousarray(x.reshape(-1, T).T, dtype=np.float64)
    at = np.ascontiguousarray(a.reshape(-1, T).T, dtype=np.float64)
    for t in range(T - 2, -1, -1):
        xt[t] += _times(at[t], xt[t + 1])
    return np.ascontiguousarray(xt.T).reshape(shape)


def _finite(*arrs: np.ndarray) -> bool:
    """Whether every entry is finite (a finite sum proves it; an overflowing sum is a false alarm)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return all(bool(np.isfinite(np.add.reduce(a, axis=None))) for a in arrs)


def _continue_mask(term: np.ndarray, trunc: np.ndarray) -> np.ndarray:
    """True where the recursion at t reads t + 1: no episode end at t and t < T - 1."""
    cont = ~(term | trunc)
    cont[..., -1] = False
    return cont


def _continue_coeff(cont: np.ndarray, value: float = 1.0) -> np.ndarray:
    """``value`` where ``cont``, else 0.0 (float64)."""
    out = np.zeros(cont.shape)
    np.copyto(out, value, where=cont)
    return out


@_quiet
def _td(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, term: np.ndarray,
        gamma: float) -> np.ndarray:
    """``r + gamma (1 - terminated) next_values - values``, in place on one new array."""
    out = np.multiply(next_values, gamma, dtype=np.float64)
    np.copyto(out, 0.0, where=term)
    out += rewards
    out -= values
    return out


# --------------------------------------------------------------------------- public targets


def discounted_returns(rewards: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float, *,
                       backend: str = "auto") -> np.ndarray:
    """Bootstrapped discounted returns ``G_t``, shape ``[..., T]``, float64.

    ``G_t = r_t + gamma * G_{t+1}`` inside an episode; ``G_t = r_t + gamma * next_values[t]``
    at a truncation or at the last step ``T - 1``; ``G_t = r_t`` at a termination.
    Raises ``ValueError`` (naming the argument) on mismatched shapes, non-boolean flags,
    both flags set at one step, ``gamma`` outside ``[0, 1]``, or an unknown ``backend`` (the
    path: ``"auto"``, ``"numba"``, ``"numpy"`` or ``"loop"``; module docstring).
    """
    floats = {"rewards": rewards, "next_values": next_values}
    path = _backend(backend)
    if path == "numba":
        (r, nv), te, tr, shape, (g,) = _fast_inputs(floats, terminated, truncated,
                                                    lambda: (_check_unit(gamma, "gamma"),))
        out = np.empty(r.shape)
        _fast_status(_NB.discounted_returns_kernel(r, nv, te, tr, g, out), floats, terminated, truncated)
        return out.reshape(shape)
    arrs, term, trunc = _check_sequences(floats, terminated, truncated)
    g = _check_unit(gamma, "gamma")
    if path == "loop":
        return _LOOP.discounted_returns_loop(arrs["rewards"], arrs["next_values"], term, trunc, g)
    cont = _continue_mask(term, trunc)

    @_quiet
    def coefficients() -> tuple[np.ndarray, np.ndarray]:
        # x_t = r_t + gamma * next_values[t] where step t ends by truncation (or is the last step), else r_t
        x = np.multiply(arrs["next_values"], g, dtype=np.float64)
        np.copyto(x, 0.0, where=term)
        np.copyto(x, 0.0, where=cont)
        x += arrs["rewards"]
        return x, _continue_coeff(cont, g)

    out = _scan_bt(*coefficients(), owned=True)
    if not _finite(out):  # an overflow: episode cuts must select, not multiply by 0 (see _scan_safe)
        out = _scan_safe(*coefficients())
    return out


def gae(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
        lam: float, *, backend: str = "auto") -> np.ndarray:
    """Generalized advantage estimates (Schulman et al. 2016, eqs. 11-16), shape ``[..., T]``.

    ``delta_t = r_t + gamma (1 - terminated_t) next_values[t] - values[t]`` and
    ``A_t = delta_t + gamma lam A_{t+1}`` inside an episode, ``A_t = delta_t`` at an episode end
    (terminated or truncated) and at ``T - 1``. ``values + gae(...)`` are the lambda-returns
    (see :func:`lambda_returns`). Identities (claim GAE-IDENTITIES): ``lam = 0`` gives the TD
    errors; ``lam = 1`` gives ``discounted_returns(...) - values`` when
    ``next_values[t] == values[t + 1]`` inside episodes.
    Raises ``ValueError`` naming the argument on bad input (as :func:`discounted_returns`;
    ``lam`` must lie in ``[0, 1]``). ``backend`` picks the path (module docstring).
    """
    floats = {"rewards": rewards, "values": values, "next_values": next_values}
    path = _backend(backend)
    if path == "numba":
        (r, v, nv), te, tr, shape, (g, lm) = _fast_inputs(
            floats, terminated, truncated, lambda: (_check_unit(gamma, "gamma"), _check_unit(lam, "lam")))
        out = np.empty(r.shape)
        _fast_status(_NB.gae_kernel(r, v, nv, te, tr, g, g * lm, out), floats, terminated, truncated)
        return out.reshape(shape)
    arrs, term, trunc = _check_sequences(floats, terminated, truncated)
    g = _check_unit(gamma, "gamma")
    lm = _check_unit(lam, "lam")
    if path == "loop":
        return _LOOP.gae_loop(arrs["rewards"], arrs["values"], arrs["next_values"], term, trunc, g, lm)
    delta = _td(arrs["rewards"], arrs["values"], arrs["next_values"], term, g)
    a = _continue_coeff(_continue_mask(term, trunc), g * lm)
    out = _scan_bt(delta, a, owned=True)
    if not _finite(out):  # an overflow: episode cuts must select, not multiply by 0 (see _scan_safe)
        out = _scan_safe(_td(arrs["rewards"], arrs["values"], arrs["next_values"], term, g),
                         _continue_coeff(_continue_mask(term, trunc), g * lm))
    return out


def lambda_returns(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
                   lam: float, *, backend: str = "auto") -> np.ndarray:
    """The lambda-returns ``values + gae(...)`` (same arguments as :func:`gae`, ``backend`` included).

    When ``next_values[t] == values[t + 1]`` inside episodes they satisfy the recursion
    ``G^lam_t = r_t + gamma [(1 - lam) V(s_{t+1}) + lam G^lam_{t+1}]`` inside an episode and
    ``G^lam_t = r_t + gamma (1 - terminated_t) next_values[t]`` at its end (Sutton & Barto
    2018, eq. 12.18 with bootstrapping at cuts).
    """
    path = _backend(backend)
    if path == "numba":
        floats = {"rewards": rewards, "values": values, "next_values": next_values}
        (r, v, nv), te, tr, shape, (g, lm) = _fast_inputs(
            floats, terminated, truncated, lambda: (_check_unit(gamma, "gamma"), _check_unit(lam, "lam")))
        out = np.empty(r.shape)
        _fast_status(_NB.lambda_returns_kernel(r, v, nv, te, tr, g, g * lm, out), floats, terminated, truncated)
        return out.reshape(shape)
    adv = gae(rewards, values, next_values, terminated, truncated, gamma, lam, backend=path)
    with np.errstate(over="ignore", invalid="ignore"):
        adv += np.asarray(values, dtype=np.float64)
    return adv


def vtrace(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any, truncated: Any,
           gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0,
           pg_rho_bar: float = 1.0, *, backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """V-trace targets and policy-gradient advantages (Espeholt et al. 2018, eq. 1, Remarks 1-2).

    With ``ratio_t = exp(log_rhos[t]) = pi(a_t|s_t) / mu(a_t|s_t)``:
    ``rho_t = min(rho_bar, ratio_t)``, ``c_t = lam * min(c_bar, ratio_t)``,
    ``delta_t = rho_t (r_t + gamma (1 - terminated_t) next_values[t] - values[t])``, and

    * ``vs_t = values[t] + delta_t + gamma c_t (vs_{t+1} - values[t+1])`` inside an episode,
      ``vs_t = values[t] + delta_t`` at its end and at ``T - 1``; equivalently (eq. 1)
      ``vs_s = V(x_s) + sum_{t=s}^{e} gamma^{t-s} (prod_{i=s}^{t-1} c_i) delta_t`` with e the episode end;
    * ``pg_advantages_t = min(pg_rho_bar, ratio_t) (r_t + gamma (1 - terminated_t) q_t - values[t])``
      with ``q_t = vs_{t+1}`` inside an episode and ``q_t = next_values[t]`` at a truncation or
      at ``T - 1`` (never the next episode's ``vs``).

    Levels may be ``numpy.inf``. The IMPALA theorem assumes ``rho_bar >= c_bar``; other values
    are computed as written. Returns ``(vs, pg_advantages)``, each float64 ``[..., T]``.
    ``backend`` picks the path (module docstring).
    Raises ``ValueError`` naming the argument on bad input.
    """
    floats = {"rewards": rewards, "values": values, "next_values": next_values, "log_rhos": log_rhos}

    def scalars() -> tuple[float, ...]:
        return (_check_unit(gamma, "gamma"), _check_unit(lam, "lam"), _check_level(rho_bar, "rho_bar"),
                _check_level(c_bar, "c_bar"), _check_level(pg_rho_bar, "pg_rho_bar"))

    path = _backend(backend)
    if path == "numba":
        (r32, v32, nv32, lr32), te, tr, shape, levels = _fast_inputs(floats, terminated, truncated, scalars)
        # one block for both outputs: two separate fresh blocks are returned to the OS on free by glibc's
        # heap trimming and page-faulted in again on every call (measured: 4x the kernel's time at 1024 x 256)
        vs_out, pg_out = np.empty((2, *r32.shape))
        _fast_status(_NB.vtrace_kernel(r32, v32, nv32, lr32, te, tr, *levels, vs_out, pg_out),
                     floats, terminated, truncated)
        return vs_out.reshape(shape), pg_out.reshape(shape)
    arrs, term, trunc = _check_sequences(floats, terminated, truncated)
    g, lm, rb, cb, pb = scalars()
    r, v, nv = arrs["rewards"], arrs["values"], arrs["next_values"]
    if path == "loop":
        return _LOOP.vtrace_loop(r, v, nv, arrs["log_rhos"], term, trunc, g, lm, rb, cb, pb)
    with np.errstate(over="ignore"):  # exp overflow -> inf ratio, clipped below when a level is finite
        ratio = np.exp(arrs["log_rhos"], dtype=np.float64)
    cont = _continue_mask(term, trunc)
    vs, pg = _vtrace_numpy(r, v, nv, ratio, term, cont, g, lm, rb, cb, pb, safe=False)
    if not _finite(vs, pg):  # an overflow (or an inf ratio with an inf level): recompute selecting
        vs, pg = _vtrace_numpy(r, v, nv, ratio, term, cont, g, lm, rb, cb, pb, safe=True)
    return vs, pg


@_quiet
def _vtrace_numpy(r: np.ndarray, v: np.ndarray, nv: np.ndarray, ratio: np.ndarray, term: np.ndarray,
                  cont: np.ndarray, g: float, lm: float, rb: float, cb: float, pb: float, *, safe: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """V-trace on validated arrays. ``safe=False``: whole-array products and the odd-even reduction
    (NaN where ``0 * inf`` occurs). ``safe=True``: every product through :func:`_times` and the
    sequential :func:`_scan_safe`, the association of the loop ground truth (for overflows)."""
    td = _td(r, v, nv, term, g)
    if safe:
        a = np.where(cont, _times(g * lm, np.minimum(ratio, cb)), 0.0)
        dv = _scan_safe(_times(np.minimum(ratio, rb), td), a)
    else:
        a = _continue_coeff(cont, g * lm)
        a *= np.minimum(ratio, cb)  # trace coefficients gamma lam c_t, 0 at episode ends
        work = np.minimum(ratio, rb)
        work *= td  # rho_t * TD error
        dv = _scan_bt(work, a, owned=True)  # vs - values
    vs = dv
    vs += v
    # pg advantages: r_t + gamma vs_{t+1} - values[t] inside an episode (next_values[t] drops out: it is never
    # formed as td_t + gamma (vs_{t+1} - next_values[t]), which cancels catastrophically), td_t at its end
    q = _times(g, vs[..., 1:]) if safe else np.multiply(vs[..., 1:], g)
    q += r[..., :-1]
    q -= v[..., :-1]
    np.copyto(td[..., :-1], q, where=cont[..., :-1])
    pg = _times(np.minimum(ratio, pb), td) if safe else np.minimum(ratio, pb) * td
    return vs, pg


def retrace(rewards: Any, q_values: Any, next_expected_q: Any, log_rhos: Any, terminated: Any, truncated: Any,
            gamma: float, lam: float = 1.0, c_bar: float = 1.0, *, backend: str = "auto") -> np.ndarray:
    """Retrace(lambda) targets for ``Q(s_t, a_t)`` (Munos et al. 2016, eq. 3), shape ``[..., T]``.

    Args:
      rewards: ``r_t``.
      q_values: ``Q(s_t, a_t)`` of the action taken.
      next_expected_q: ``sum_b pi(b|s_{t+1}) Q(s_{t+1}, b)`` for the state step t led to (at a
        truncation, the final observation).
      log_rhos: ``log pi(a_t|s_t) - log mu(a_t|s_t)``. Entry ``t = 0`` of each sequence is not
        used: the trace of step t is ``c_t = lam * min(c_bar, ratio_t)`` and it weights the
        correction from step t onward of the target of step ``t - 1``.
      terminated, truncated: episode ends (module docstring).
      gamma, lam: scalars in ``[0, 1]``; ``c_bar`` the trace level (1 in the paper).
      backend: the path (``"auto"``, ``"numba"``, ``"numpy"``, ``"loop"``; module docstring).

    ``delta_t = r_t + gamma (1 - terminated_t) next_expected_q[t] - q_values[t]``;
    ``G_t = q_values[t] + delta_t + gamma c_{t+1} (G_{t+1} - q_values[t+1])`` inside an
    episode, ``G_t = q_values[t] + delta_t`` at its end and at ``T - 1``. Equivalently
    ``G_s = Q(s_s, a_s) + sum_{t>=s} gamma^{t-s} (prod_{i=s+1}^{t} c_i) delta_t``. Unlike V-trace
    its expected operator has fixed point ``Q^pi`` for any traces in ``[0, pi/mu]``.
    Raises ``ValueError`` naming the argument on bad input.
    """
    floats = {"rewards": rewards, "q_values": q_values, "next_expected_q": next_expected_q, "log_rhos": log_rhos}

    def scalars() -> tuple[float, ...]:
        return _check_unit(gamma, "gamma"), _check_unit(lam, "lam"), _check_level(c_bar, "c_bar")

    path = _backend(backend)
    if path == "numba":
        (r32, q32, nq32, lr32), te, tr, shape, (g, lm, cb) = _fast_inputs(floats, terminated, truncated, scalars)
        out = np.empty(r32.shape)
        _fast_status(_NB.retrace_kernel(r32, q32, nq32, lr32, te, tr, g, lm, cb, out), floats, terminated, truncated)
        return out.reshape(shape)
    arrs, term, trunc = _check_sequences(floats, terminated, truncated)
    g, lm, cb = scalars()
    r, q, nq = arrs["rewards"], arrs["q_values"], arrs["next_expected_q"]
    if path == "loop":
        return _LOOP.retrace_loop(r, q, nq, arrs["log_rhos"], term, trunc, g, lm, cb)
    with np.errstate(over="ignore"):
        ratio = np.exp(arrs["log_rhos"], dtype=np.float64)
    cont = _continue_mask(term, trunc)
    out = _retrace_numpy(r, q, nq, ratio, term, cont, g, lm, cb, safe=False)
    if not _finite(out):  # an overflow (or an inf ratio with c_bar = inf): recompute selecting
        out = _retrace_numpy(r, q, nq, ratio, term, cont, g, lm, cb, safe=True)
    return out


@_quiet
def _retrace_numpy(r: np.ndarray, q: np.ndarray, nq: np.ndarray, ratio: np.ndarray, term: np.ndarray,
                   cont: np.ndarray, g: float, lm: float, cb: float, *, safe: bool) -> np.ndarray:
    """Retrace on validated arrays (``safe`` as in :func:`_vtrace_numpy`)."""
    if safe:
        a = np.zeros(cont.shape)
        a[..., :-1] = _times(g * lm, np.minimum(ratio[..., 1:], cb))
        np.copyto(a, 0.0, where=~cont)
        out = _scan_safe(_td(r, q, nq, term, g), a)
    else:
        a = _continue_coeff(cont, g * lm)
        a[..., :-1] *= np.minimum(ratio[..., 1:], cb)
        out = _scan_bt(_td(r, q, nq, term, g), a, owned=True)
    out += q
    return out
