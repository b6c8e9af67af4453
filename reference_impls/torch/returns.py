"""Torch mirror of :mod:`reference_impls.returns`: same names, arguments and semantics.

Every function keeps the dtype and device of its float inputs (float32 stays float32) and
runs on any device. Flags are bool tensors, or integer or float tensors holding exactly 0/1, on
the same device. Conventions (time axis last, Gymnasium ``terminated``/``truncated``, the end of
the array is a cut that bootstraps from ``next_values[..., T - 1]``, ratios as ``log_rhos``) are
those of :mod:`reference_impls.returns`; see its docstring.

**CPU tensors without autograd** (``method="auto"``, numba installed, float32 or float64 inputs on
the CPU, no input that requires a gradient while grad mode is on) run the compiled kernels of
:mod:`reference_impls._returns_numba` zero-copy: the kernels read the tensors' memory through numpy
views and write outputs of the input dtype (the recurrence runs in float64 registers). Every other
call -- autograd, CUDA, float16/bfloat16, or an explicit ``method="loop"``/``"scan"`` -- runs the
torch implementation below.

The backward recurrence ``y_t = x_t + a_t y_{t+1}`` is solved by

* ``method="scan"``: a Hillis-Steele doubling scan over the time axis -- ``ceil(log2 T)``
  rounds of whole-tensor operations, no Python loop over time (the GPU path; the default
  on CUDA);
* ``method="loop"``: a time-major ``[T, B]`` whole-batch loop (the default on CPU for 1024 or
  more sequences, where a sequential scan makes fewer passes over memory than the doubling
  scan; for fewer sequences the per-step overhead dominates and ``auto`` picks the scan).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from reference_impls._validation import check_gamma
from reference_impls.torch._validation import as_flags, as_float_tensor

try:  # the compiled CPU kernels (the optional `fast` extra)
    from reference_impls import _returns_numba as _NB
except ImportError:  # pragma: no cover - depends on the environment
    _NB = None  # type: ignore[assignment]

__all__ = ["discounted_returns", "gae", "lambda_returns", "retrace", "reverse_linear_scan", "vtrace"]

_METHODS = ("auto", "loop", "scan")


def _check_sequences(floats: dict[str, Any], terminated: Any, truncated: Any, *, full: bool = True
                     ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Validated sequences and flags. ``full=False`` leaves out the two whole-tensor checks (finite
    values, both flags at one step) that the compiled kernels make in their own pass."""
    out: dict[str, torch.Tensor] = {}
    first: torch.Tensor | None = None
    first_name = ""
    for name, x in floats.items():
        t = as_float_tensor(x, name, min_ndim=1, finite=full)
        if first is None:
            first, first_name = t, name
            if t.shape[-1] < 1:
                raise ValueError(f"{name}: expected at least one time step on the last axis, "
                                 f"got shape {tuple(t.shape)}")
        else:
            if t.shape != first.shape:
                raise ValueError(f"{name}: expected shape {tuple(first.shape)} (the shape of {first_name}), "
                                 f"got {tuple(t.shape)}")
            if t.dtype != first.dtype:
                raise ValueError(f"{name}: expected dtype {first.dtype} (the dtype of {first_name}), got {t.dtype}")
            if t.device != first.device:
                raise ValueError(f"{name}: expected device {first.device} (the device of {first_name}), "
                                 f"got {t.device}")
        out[name] = t
    assert first is not None
    term = as_flags(terminated, "terminated", first)
    trunc = as_flags(truncated, "truncated", first)
    if not full:
        return out, term, trunc
    both = term & trunc
    if bool(both.any()):
        idx = tuple(int(i) for i in torch.nonzero(both)[0].tolist())
        raise ValueError(f"truncated: expected at most one of terminated/truncated per step, "
                         f"got both set at index {idx}")
    return out, term, trunc


def _compiled(kernel: str, floats: dict[str, Any], terminated: Any, truncated: Any, method: str,
              scalars: Callable[[], tuple[float, ...]], n_out: int) -> tuple[torch.Tensor, ...] | None:
    """The compiled CPU kernel of :mod:`reference_impls._returns_numba`, zero-copy, for a call that
    needs no autograd: ``method="auto"``, numba installed, every input a CPU tensor of one float dtype
    (float32 or float64) with no gradient wanted. The kernel reads the tensors' memory through numpy
    views and writes outputs of the inputs' dtype (the recurrence itself runs in float64). Returns
    None when the call takes the torch implementation (autograd, CUDA, another dtype, or an
    explicit ``method``). Bad input raises the same ``ValueError`` as the torch path."""
    if _NB is None or method != "auto":
        return None
    ts = list(floats.values())
    if not all(isinstance(t, torch.Tensor) for t in ts):
        return None  # the torch path's validation names the argument
    if ts[0].dtype not in (torch.float32, torch.float64):
        return None
    grad = torch.is_grad_enabled()
    if any(t.device.type != "cpu" or (grad and t.requires_grad) for t in ts):
        return None
    try:
        arrs, term, trunc = _check_sequences(floats, terminated, truncated, full=False)
        vals = scalars()
    except ValueError:
        _check_sequences(floats, terminated, truncated)  # the torch path's first error, if it comes earlier
        raise
    first = next(iter(arrs.values()))
    shape = first.shape
    T = shape[-1]
    views = [a.detach().contiguous().numpy().reshape(-1, T) for a in arrs.values()]
    flags = [f.contiguous().numpy().reshape(-1, T) for f in (term, trunc)]
    # one block for all outputs (two fresh blocks are trimmed and page-faulted in again on every call)
    outs = torch.empty((n_out, *shape), dtype=first.dtype).unbind(0)
    status = getattr(_NB, kernel)(*views, *flags, *vals, *(o.numpy().reshape(-1, T) for o in outs))
    if status:  # a non-finite input or both flags at one step: the full checks raise (an overflow passes)
        _check_sequences(floats, terminated, truncated)
    return outs


def _check_level(x: Any, name: str) -> float:
    if isinstance(x, bool) or (isinstance(x, torch.Tensor) and x.ndim != 0):
        raise ValueError(f"{name}: expected a non-negative real scalar (inf allowed), got {x!r}")
    try:
        v = float(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a non-negative real scalar (inf allowed), got {x!r}") from exc
    if v != v or v < 0:
        raise ValueError(f"{name}: expected a non-negative real scalar (inf allowed), got {v!r}")
    return v


def _check_method(method: str, like: torch.Tensor) -> str:
    """``auto``: the doubling scan on accelerators and on CPU for small batches (fewer than 1024
    sequences, where the loop's per-step overhead dominates), the time-major loop otherwise."""
    if method not in _METHODS:
        raise ValueError(f"method: expected one of {_METHODS}, got {method!r}")
    if method == "auto":
        n_seq = like.numel() // max(1, like.shape[-1])
        return "loop" if (like.device.type == "cpu" and n_seq >= 1024) else "scan"
    return method


def _scan_doubling(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Hillis-Steele: after the round with offset d, ``y[t]`` sums the next ``2d`` terms and
    ``A[t]`` is the product of ``a`` over them; positions past the end contribute 0."""
    T = x.shape[-1]
    y, A = x, a
    d = 1
    while d < T:
        head = torch.addcmul(y[..., :-d], A[..., :-d], y[..., d:])
        y = torch.cat([head, y[..., -d:]], dim=-1)
        A = torch.cat([A[..., :-d] * A[..., d:], torch.zeros_like(A[..., -d:])], dim=-1)
        d *= 2
    return y


def _scan_loop(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    shape = x.shape
    T = shape[-1]
    xt = x.reshape(-1, T).t().contiguous()
    at = a.reshape(-1, T).t().contiguous()
    y = torch.empty_like(xt)
    y[-1] = xt[-1]
    for t in range(T - 2, -1, -1):
        torch.addcmul(xt[t], at[t], y[t + 1], out=y[t])
    return y.t().reshape(shape)


def _scan(x: torch.Tensor, a: torch.Tensor, method: str) -> torch.Tensor:
    return _scan_doubling(x, a) if method == "scan" else _scan_loop(x, a)


def _times(a: torch.Tensor | float, b: torch.Tensor) -> torch.Tensor:
    """``a * b``, exactly 0 where either factor is 0: a 0 (an episode cut, gamma or lambda) removes its
    term whatever the other factor, and an importance ratio that overflowed to ``inf`` stands for a
    finite number, so it times 0 is 0 (``0 * inf`` would be NaN). As in the numpy reference."""
    p = a * b
    zero = (b == 0) | (a == 0)
    return torch.where(zero, torch.zeros_like(p), p)


def _scan_safe(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The recurrence sequentially in time with every product through :func:`_times` (the association
    of the loop ground truth): an ``inf`` in a later episode stays out of an earlier one. Used when the
    fast scan's result is not finite (an overflow, or an inf ratio with an inf level)."""
    shape = x.shape
    T = shape[-1]
    xt = x.reshape(-1, T).t()
    at = a.reshape(-1, T).t()
    rows = [xt[T - 1]]
    for t in range(T - 2, -1, -1):
        rows.append(xt[t] + _times(at[t], rows[-1]))
    return torch.stack(rows[::-1], dim=0).t().reshape(shape)


def _finite(*ts: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in ts)


def reverse_linear_scan(x: torch.Tensor, a: torch.Tensor, *, method: str = "auto") -> torch.Tensor:
    """``y[..., t] = x[..., t] + a[..., t] y[..., t + 1]`` with ``y[..., T] = 0`` (time last)."""
    xs = as_float_tensor(x, "x", min_ndim=1)
    as_ = as_float_tensor(a, "a", min_ndim=1)
    if as_.shape != xs.shape or as_.dtype != xs.dtype or as_.device != xs.device:
        raise ValueError(f"a: expected shape {tuple(xs.shape)}, dtype {xs.dtype} and device {xs.device} (those of x), "
                         f"got {tuple(as_.shape)}, {as_.dtype}, {as_.device}")
    if xs.shape[-1] < 1:
        raise ValueError(f"x: expected at least one time step on the last axis, got shape {tuple(xs.shape)}")
    out = _scan(xs, as_, _check_method(method, xs))
    if not _finite(out):  # an overflow: a coefficient of exactly 0 must cut it off, never give 0 * inf = NaN
        out = _scan_safe(xs, as_)
    return out


def _gl(gamma: Any, lam: Any) -> tuple[float, float]:
    """``(gamma, gamma * lam)``, each checked in [0, 1] (the GAE kernels' scalars)."""
    g = check_gamma(gamma, "gamma", allow_one=True)
    return g, g * check_gamma(lam, "lam", allow_one=True)


def _continue_mask(term: torch.Tensor, trunc: torch.Tensor) -> torch.Tensor:
    cont = ~(term | trunc)
    cont[..., -1] = False
    return cont


def discounted_returns(rewards: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor,
                       truncated: torch.Tensor, gamma: float, *, method: str = "auto") -> torch.Tensor:
    """Mirror of :func:`reference_impls.returns.discounted_returns`."""
    floats = {"rewards": rewards, "next_values": next_values}
    fast = _compiled("discounted_returns_kernel", floats, terminated, truncated, method,
                     lambda: (check_gamma(gamma, "gamma", allow_one=True),), 1)
    if fast is not None:
        return fast[0]
    arrs, term, trunc = _check_sequences(floats, terminated, truncated)
    g = check_gamma(gamma, "gamma", allow_one=True)
    m = _check_method(method, arrs["rewards"])
    r, nv = arrs["rewards"], arrs["next_values"]
    cont = _continue_mask(term, trunc)
    boot = (~term & ~cont).to(r.dtype)
    x = r + g * boot * nv
    out = _scan(x, g * cont.to(r.dtype), m)
    if not _finite(out):  # an overflow: episode cuts must select, not multiply by 0
        out = _scan_safe(x, g * cont.to(r.dtype))
    return out


def gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor,
        truncated: torch.Tensor, gamma: float, lam: float, *, method: str = "auto") -> torch.Tensor:
    """Mirror of :func:`reference_impls.returns.gae`."""
    floats = {"rewards": rewards, "values": values, "next_values": next_values}
    fast = _compiled("gae_kernel", floats, terminated, truncated, method, lambda: _gl(gamma, lam), 1)
    if fast is not None:
        return fast[0]
    arrs, term, trunc = _check_sequences(floats, terminated, truncated)
    g = check_gamma(gamma, "gamma", allow_one=True)
    lm = check_gamma(lam, "lam", allow_one=True)
    r, v, nv = arrs["rewards"], arrs["values"], arrs["next_values"]
    m = _check_method(method, r)
    cont = _continue_mask(term, trunc)
    delta = r + g * (~term).to(r.dtype) * nv - v
    out = _scan(delta, (g * lm) * cont.to(r.dtype), m)
    if not _finite(out):  # an overflow: episode cuts must select, not multiply by 0
        out = _scan_safe(delta, (g * lm) * cont.to(r.dtype))
    return out


def lambda_returns(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
                   terminated: torch.Tensor, truncated: torch.Tensor, gamma: float, lam: float, *,
                   method: str = "auto") -> torch.Tensor:
    """Mirror of :func:`reference_impls.returns.lambda_returns` (``values + gae``)."""
    fast = _compiled("lambda_returns_kernel", {"rewards": rewards, "values": values, "next_values": next_values},
                     terminated, truncated, method, lambda: _gl(gamma, lam), 1)
    if fast is not None:
        return fast[0]
    return values + gae(rewards, values, next_values, terminated, truncated, gamma, lam, method=method)


def vtrace(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor, log_rhos: torch.Tensor,
           terminated: torch.Tensor, truncated: torch.Tensor, gamma: float, lam: float = 1.0,
           rho_bar: float = 1.0, c_bar: float = 1.0, pg_rho_bar: float = 1.0, *,
           method: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror of :func:`reference_impls.returns.vtrace`; returns ``(vs, pg_advantages)``."""
    floats = {"rewards": rewards, "values": values, "next_values": next_values, "log_rhos": log_rhos}

    def scalars() -> tuple[float, ...]:
        return (check_gamma(gamma, "gamma", allow_one=True), check_gamma(lam, "lam", allow_one=True),
                _check_level(rho_bar, "rho_bar"), _check_level(c_bar, "c_bar"), _check_level(pg_rho_bar, "pg_rho_bar"))

    fast = _compiled("vtrace_kernel", floats, terminated, truncated, method, scalars, 2)
    if fast is not None:
        return fast[0], fast[1]
    arrs, term, trunc = _check_sequences(floats, terminated, truncated)
    g, lm, rb, cb, pb = scalars()
    r, v, nv = arrs["rewards"], arrs["values"], arrs["next_values"]
    m = _check_method(method, r)
    ratio = torch.exp(arrs["log_rhos"])
    cont = _continue_mask(term, trunc)
    disc = g * (~term).to(r.dtype)
    td = r + disc * nv - v
    dv = _scan(ratio.clamp(max=rb) * td, (g * lm) * ratio.clamp(max=cb) * cont.to(r.dtype), m)
    vs = v + dv
    q = nv.clone()
    q[..., :-1] = torch.where(cont[..., :-1], vs[..., 1:], nv[..., :-1])
    pg = ratio.clamp(max=pb) * (r + disc * q - v)
    if not _finite(vs, pg):  # an overflow (or an inf ratio with an inf level): recompute selecting
        a = torch.where(cont, _times(g * lm, ratio.clamp(max=cb)), torch.zeros_like(ratio))
        vs = v + _scan_safe(_times(ratio.clamp(max=rb), td), a)
        q = nv.clone()
        q[..., :-1] = torch.where(cont[..., :-1], vs[..., 1:], nv[..., :-1])
        pg = _times(ratio.clamp(max=pb), r + _times(disc, q) - v)
    return vs, pg


def retrace(rewards: torch.Tensor, q_values: torch.Tensor, next_expected_q: torch.Tensor, log_rhos: torch.Tensor,
            terminated: torch.Tensor, truncated: torch.Tensor, gamma: float, lam: float = 1.0,
            c_bar: float = 1.0, *, method: str = "auto") -> torch.Tensor:
    """Mirror of :func:`reference_impls.returns.retrace`."""
    floats = {"rewards": rewards, "q_values": q_values, "next_expected_q": next_expected_q, "log_rhos": log_rhos}

    def scalars() -> tuple[float, ...]:
        return (check_gamma(gamma, "gamma", allow_one=True), check_gamma(lam, "lam", allow_one=True),
                _check_level(c_bar, "c_bar"))

    fast = _compiled("retrace_kernel", floats, terminated, truncated, method, scalars, 1)
    if fast is not None:
        return fast[0]
    arrs, term, trunc = _check_sequences(floats, terminated, truncated)
    g, lm, cb = scalars()
    r, q, nq = arrs["rewards"], arrs["q_values"], arrs["next_expected_q"]
    m = _check_method(method, r)
    ratio = torch.exp(arrs["log_rhos"])
    cont = _continue_mask(term, trunc)
    c_next = torch.zeros_like(ratio)
    c_next[..., :-1] = ratio[..., 1:].clamp(max=cb)
    delta = r + g * (~term).to(r.dtype) * nq - q
    out = q + _scan(delta, (g * lm) * c_next * cont.to(r.dtype), m)
    if not _finite(out):  # an overflow (or an inf ratio with c_bar = inf): recompute selecting
        a = torch.where(cont, _times(g * lm, c_next), torch.zeros_like(c_next))
        out = q + _scan_safe(delta, a)
    return out
