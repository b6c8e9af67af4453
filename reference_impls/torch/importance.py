"""Torch mirror of :mod:`reference_impls.importance` (same names, semantics and conventions).

Inputs are floating-point tensors; results keep their dtype and device. ``gamma``,
``level`` and ``self_normalized`` are Python scalars. See the numpy module for the
conventions (log-space ratios, ``-inf`` allowed only in ``log_probs``, time or samples
on the last axis).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from reference_impls._validation import check_gamma, check_scalar
from reference_impls.torch._validation import as_float_tensor, check_same_shape, ldexp

__all__ = [
    "cumulative_importance_weights",
    "effective_sample_size",
    "effective_sample_size_log",
    "importance_weighted_policy_gradient",
    "importance_weights",
    "ionides_level",
    "log_importance_weights",
    "ordinary_is",
    "per_decision_is",
    "self_normalized_is",
    "softmax_scores",
    "trajectory_importance_weights",
    "trajectory_is",
    "trajectory_log_weights",
    "truncated_is",
]


def _log_probs(x: Any, name: str, *, allow_neg_inf: bool) -> torch.Tensor:
    t = as_float_tensor(x, name, finite=False)
    if bool(torch.isnan(t).any()):
        raise ValueError(f"{name}: expected log-probabilities without NaN, got {int(torch.isnan(t).sum())} NaN entries")
    if bool((t == math.inf).any()):
        raise ValueError(f"{name}: expected log-probabilities < +inf, got {int((t == math.inf).sum())} +inf entries")
    if not allow_neg_inf and bool((t == -math.inf).any()):
        raise ValueError(
            f"{name}: expected finite log-probabilities (zero support: the behaviour policy gives probability 0 "
            f"to a sample, so its importance ratio is undefined), got {int((t == -math.inf).sum())} -inf entries"
        )
    return t


def _log_ratio(log_probs: Any, behavior_log_probs: Any) -> torch.Tensor:
    lp = _log_probs(log_probs, "log_probs", allow_neg_inf=True)
    blp = _log_probs(behavior_log_probs, "behavior_log_probs", allow_neg_inf=False)
    check_same_shape(log_probs=lp, behavior_log_probs=blp)
    if lp.dtype != blp.dtype:
        raise ValueError(f"behavior_log_probs: expected dtype {lp.dtype} (the dtype of log_probs), got {blp.dtype}")
    return lp - blp


def _like(x: torch.Tensor, name: str, ref: torch.Tensor, ref_name: str) -> torch.Tensor:
    t = as_float_tensor(x, name)
    check_same_shape(**{ref_name: ref, name: t})
    if t.dtype != ref.dtype:
        raise ValueError(f"{name}: expected dtype {ref.dtype} (the dtype of {ref_name}), got {t.dtype}")
    return t


#: log(2) split as in fdlibm (see :mod:`reference_impls.importance`).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10


def _pow2_exponent(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Integer ``e`` with ``max |x| < 2**e`` over ``dim`` (kept), 0 where that max is 0 (no gradient)."""
    with torch.no_grad():
        top = x.abs().amax() if dim is None else x.abs().amax(dim=dim, keepdim=True)
        return torch.frexp(top).exponent.to(torch.int64)


def _weighted(values: torch.Tensor, log_w: torch.Tensor) -> torch.Tensor:
    """Elementwise ``values * exp(log_w)``; ``sign(v) exp(log_w + log|v|)`` where ``exp(log_w)`` over/underflows.

    Every branch is fed only the inputs it is selected for (the others get safe stand-ins), so
    no branch has an infinite local derivative: the gradient is finite at ``v == 0``, at
    ``log_w == -inf`` and where a weight overflows (``torch.where`` alone would give ``0 * inf``).
    """
    with torch.no_grad():
        ew = torch.exp(log_w)
        plain_ok = torch.isfinite(ew) & ((ew != 0) | (log_w == -math.inf))
    zero = torch.zeros((), dtype=values.dtype, device=values.device)
    one = torch.ones((), dtype=values.dtype, device=values.device)
    plain = values * torch.exp(torch.where(plain_ok, log_w, zero))
    nz = values != 0
    safe_v = torch.where(nz, values, one)
    use_log = ~plain_ok & nz
    mag = torch.exp(torch.where(use_log, log_w, zero) + torch.log(safe_v.abs()))
    logged = torch.where(use_log, torch.sign(safe_v) * mag, zero)
    return torch.where(plain_ok, plain, logged)


def _weighted_sum(values: torch.Tensor, log_w: torch.Tensor, dim: int, divisor: float = 1.0,
                  exp2: torch.Tensor | int = 0) -> torch.Tensor:
    """``2^exp2 / divisor * sum_dim values * exp(log_w)`` without spurious overflow or ``inf - inf``.

    As :func:`reference_impls.importance._weighted_sum`: the plain sum where every term and the sum
    are finite, else the sum around the largest log-weight ``M`` of the non-zero values and the
    largest ``|value|`` (powers of two applied by ``ldexp``). Differentiable, with a finite gradient
    at values of 0 and at overflowing weights (every branch gets only safe inputs).
    """
    zero = torch.zeros((), dtype=values.dtype, device=values.device)
    with torch.no_grad():
        ew = torch.exp(log_w)
        terms = torch.where(values == 0, zero, values * ew)
        plain_val = ldexp(terms.sum(dim=dim) / divisor, torch.as_tensor(exp2, device=values.device))
        ok_terms = torch.isfinite(terms) & ~((ew == 0) & (log_w > -math.inf) & (values != 0))
        ok = ok_terms.all(dim=dim) & torch.isfinite(plain_val)
    nz = values != 0
    # a zero value with an overflowing weight contributes 0: its exp gets a stand-in log-weight of 0
    lw_fin = torch.where(torch.isfinite(ew), log_w, zero)
    if bool(ok.all()):
        return ldexp((values * torch.exp(lw_fin)).sum(dim=dim) / divisor,
                           torch.as_tensor(exp2, device=values.device))
    with torch.no_grad():
        lw_nz = torch.where(nz, log_w, torch.full_like(log_w, -math.inf))
        M = lw_nz.amax(dim=dim, keepdim=True)
        M = torch.where(torch.isfinite(M), M, torch.zeros_like(M))
        q = torch.clamp(torch.floor(M / _LN2_HI), -4000.0, 4000.0)  # as in the numpy version
        f = (M - q * _LN2_HI) - q * _LN2_LO
        k = _pow2_exponent(torch.where(nz, values, zero), dim=dim)
        shift = (q.to(torch.int64) + k).squeeze(dim) + torch.as_tensor(exp2, device=values.device)
    row_ok = ok.unsqueeze(dim)
    # plain branch: only rows that are ok, with every other row's inputs replaced by zeros
    plain = ldexp((torch.where(row_ok, values, zero) * torch.exp(torch.where(row_ok, lw_fin, zero))).sum(dim=dim)
                        / divisor, torch.as_tensor(exp2, device=values.device))
    scaled = ldexp(values, -k)
    shifted = torch.where(nz & ~row_ok, log_w - M, torch.full_like(log_w, -math.inf))
    S = torch.where(nz & ~row_ok, scaled * torch.exp(shifted), zero).sum(dim=dim)
    e_f = torch.exp(f.squeeze(dim))
    robust = torch.where(S == 0, zero, ldexp(S * torch.where(S == 0, torch.ones_like(e_f), e_f) / divisor, shift))
    return torch.where(ok, plain, robust)


def _samples_last(x: torch.Tensor, name: str) -> int:
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"{name}: expected at least one sample on the last axis, got shape {tuple(x.shape)}")
    return int(x.shape[-1])


def _time_axis(lw: torch.Tensor) -> None:
    if lw.ndim < 1:
        raise ValueError(f"log_probs: expected a time axis (shape [..., T]), got shape {tuple(lw.shape)}")


def log_importance_weights(log_probs: torch.Tensor, behavior_log_probs: torch.Tensor) -> torch.Tensor:
    return _log_ratio(log_probs, behavior_log_probs)


def importance_weights(log_probs: torch.Tensor, behavior_log_probs: torch.Tensor) -> torch.Tensor:
    return torch.exp(_log_ratio(log_probs, behavior_log_probs))


def trajectory_log_weights(log_probs: torch.Tensor, behavior_log_probs: torch.Tensor) -> torch.Tensor:
    lw = _log_ratio(log_probs, behavior_log_probs)
    _time_axis(lw)
    return lw.sum(dim=-1)


def trajectory_importance_weights(log_probs: torch.Tensor, behavior_log_probs: torch.Tensor) -> torch.Tensor:
    return torch.exp(trajectory_log_weights(log_probs, behavior_log_probs))


def cumulative_importance_weights(log_probs: torch.Tensor, behavior_log_probs: torch.Tensor) -> torch.Tensor:
    lw = _log_ratio(log_probs, behavior_log_probs)
    _time_axis(lw)
    return torch.exp(torch.cumsum(lw, dim=-1))


def _returns_inputs(rewards: Any, log_probs: Any, behavior_log_probs: Any, gamma: Any
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    lw = _log_ratio(log_probs, behavior_log_probs)
    r = _like(rewards, "rewards", lw, "log_probs")
    if r.ndim < 1:
        raise ValueError(f"rewards: expected a time axis (shape [..., T]), got shape {tuple(r.shape)}")
    g = check_gamma(gamma, allow_one=True)
    disc = g ** torch.arange(r.shape[-1], dtype=r.dtype, device=r.device)
    return r, lw, disc


def trajectory_is(rewards: torch.Tensor, log_probs: torch.Tensor, behavior_log_probs: torch.Tensor,
                  gamma: float) -> torch.Tensor:
    r, lw, disc = _returns_inputs(rewards, log_probs, behavior_log_probs, gamma)
    rd = r * disc
    LW = lw.sum(dim=-1)
    with torch.no_grad():
        finite = bool(torch.isfinite(rd.sum(dim=-1)).all())
    if finite:
        return _weighted(rd.sum(dim=-1), LW)
    # the return itself overflows: W G = sum_t r_t gamma^t W, summed around log W
    return _weighted_sum(rd, LW.unsqueeze(-1).expand(rd.shape), dim=-1)


def per_decision_is(rewards: torch.Tensor, log_probs: torch.Tensor, behavior_log_probs: torch.Tensor,
                    gamma: float) -> torch.Tensor:
    r, lw, disc = _returns_inputs(rewards, log_probs, behavior_log_probs, gamma)
    return _weighted_sum(r * disc, torch.cumsum(lw, dim=-1), dim=-1)


def _sample_inputs(values: Any, log_probs: Any, behavior_log_probs: Any) -> tuple[torch.Tensor, torch.Tensor, int]:
    lw = _log_ratio(log_probs, behavior_log_probs)
    v = _like(values, "values", lw, "log_probs")
    n = _samples_last(v, "values")
    return v, lw, n


def ordinary_is(values: torch.Tensor, log_probs: torch.Tensor, behavior_log_probs: torch.Tensor) -> torch.Tensor:
    v, lw, n = _sample_inputs(values, log_probs, behavior_log_probs)
    return _weighted_sum(v, lw, dim=-1, divisor=float(n))


def _row_max(lw: torch.Tensor, what: str) -> torch.Tensor:
    m = lw.max(dim=-1, keepdim=True).values
    if bool((m == -math.inf).any()):
        raise ValueError(f"log_probs: zero-support weights: expected a non-zero weight in every row, "
                         f"got a row whose weights are all 0 (all log_probs are -inf), "
                         f"so {what} is undefined")
    return m


def self_normalized_is(values: torch.Tensor, log_probs: torch.Tensor,
                       behavior_log_probs: torch.Tensor) -> torch.Tensor:
    v, lw, _ = _sample_inputs(values, log_probs, behavior_log_probs)
    e = torch.exp(lw - _row_max(lw, "the self-normalized ratio sum(w f) / sum(w)"))
    return (e * v).sum(dim=-1) / e.sum(dim=-1)


def _log_ionides(lw: torch.Tensor, n: int) -> torch.Tensor:
    return torch.logsumexp(lw, dim=-1) - 0.5 * math.log(n)


def ionides_level(log_probs: torch.Tensor, behavior_log_probs: torch.Tensor) -> torch.Tensor:
    lw = _log_ratio(log_probs, behavior_log_probs)
    n = _samples_last(lw, "log_probs")
    return torch.exp(_log_ionides(lw, n))


def truncated_is(values: torch.Tensor, log_probs: torch.Tensor, behavior_log_probs: torch.Tensor,
                 level: float | str) -> torch.Tensor:
    v, lw, n = _sample_inputs(values, log_probs, behavior_log_probs)
    if isinstance(level, str):
        if level != "ionides":
            raise ValueError(f"level: expected a positive number or 'ionides', got {level!r}")
        log_c = _log_ionides(lw, n).unsqueeze(-1)
    else:
        c = check_scalar(level, "level", lo=0.0, lo_open=True)
        log_c = torch.full_like(lw[..., :1], math.log(c))
    # min(w, c) with the tie convention of the PPO objectives: at w == c the gradient is the unclipped one
    # (torch.minimum would split it 1/2 : 1/2 between w and c)
    return _weighted_sum(v, torch.where(lw > log_c, log_c, lw), dim=-1, divisor=float(n))


def effective_sample_size(weights: torch.Tensor) -> torch.Tensor:
    w = as_float_tensor(weights, "weights", min_ndim=1)
    _samples_last(w, "weights")
    if bool((w < 0).any()):
        raise ValueError(f"weights: expected non-negative weights, got minimum {float(w.min()):.3g}")
    m = w.max(dim=-1, keepdim=True).values
    if bool((m == 0).any()):
        raise ValueError("weights: zero-support weights: expected a non-zero weight in every row, "
                         "got a row whose weights are all 0, so (sum w)^2 / sum w^2 "
                         "is undefined")
    u = w / m
    return u.sum(dim=-1) ** 2 / (u * u).sum(dim=-1)


def effective_sample_size_log(log_probs: torch.Tensor, behavior_log_probs: torch.Tensor) -> torch.Tensor:
    lw = _log_ratio(log_probs, behavior_log_probs)
    _samples_last(lw, "log_probs")
    u = torch.exp(lw - _row_max(lw, "the ESS"))
    return u.sum(dim=-1) ** 2 / (u * u).sum(dim=-1)


def importance_weighted_policy_gradient(rewards: torch.Tensor, log_probs: torch.Tensor,
                                        behavior_log_probs: torch.Tensor, scores: torch.Tensor,
                                        *, self_normalized: bool = False) -> torch.Tensor:
    lw = _log_ratio(log_probs, behavior_log_probs)
    r = _like(rewards, "rewards", lw, "log_probs")
    n = _samples_last(r, "rewards")
    g = as_float_tensor(scores, "scores", min_ndim=2)
    if tuple(g.shape[:-1]) != tuple(r.shape):
        raise ValueError(f"scores: expected shape {(*r.shape, 'D')} (rewards' shape plus a parameter axis), "
                         f"got {tuple(g.shape)}")
    if g.dtype != r.dtype or g.device != r.device:
        raise ValueError(f"scores: expected dtype {r.dtype} on {r.device}, got {g.dtype} on {g.device}")
    if not isinstance(self_normalized, bool):
        raise ValueError(f"self_normalized: expected a bool, got {self_normalized!r}")
    if self_normalized:
        e = torch.exp(lw - _row_max(lw, "the self-normalized weights"))
        coef = r * e / e.sum(dim=-1, keepdim=True)
        return torch.einsum("...t,...td->...d", coef, g)
    plain = torch.einsum("...t,...td->...d", _weighted(r, lw) / n, g)
    with torch.no_grad():
        finite = torch.isfinite(plain)
    if bool(finite.all()):
        return plain
    # entries where a weight or a product overflowed: sum (r / 2^a)(g / 2^b) exp(lw) around the largest
    # log-weight, as the numpy version does (entries that were finite keep the plain value)
    ka, kb = _pow2_exponent(r), _pow2_exponent(g)
    u = ldexp(r, -ka).unsqueeze(-1) * ldexp(g, -kb)
    robust = _weighted_sum(u, lw.unsqueeze(-1).expand(u.shape), dim=-2, divisor=float(n), exp2=ka + kb)
    return torch.where(finite, plain, robust)


def softmax_scores(logits: torch.Tensor, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    z = as_float_tensor(logits, "logits", ndim=2)
    S, A = z.shape
    for nm, arr, k in (("states", states, S), ("actions", actions, A)):
        if not isinstance(arr, torch.Tensor) or arr.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8,
                                                                  torch.int8):
            raise ValueError(f"{nm}: expected an integer tensor, got {getattr(arr, 'dtype', type(arr).__name__)}")
        if arr.numel() and (int(arr.min()) < 0 or int(arr.max()) >= k):
            raise ValueError(f"{nm}: expected values in [0, {k}), got range [{int(arr.min())}, {int(arr.max())}]")
        if arr.device != z.device:
            raise ValueError(f"{nm}: expected device {z.device}, got {arr.device}")
    if states.shape != actions.shape:
        raise ValueError(f"actions: expected shape {tuple(states.shape)} (the shape of states), "
                         f"got {tuple(actions.shape)}")
    pi = torch.softmax(z, dim=-1)
    s, a = states.long(), actions.long()
    row = -pi[s] + torch.nn.functional.one_hot(a, A).to(z.dtype)  # [..., A]
    onehot_s = torch.nn.functional.one_hot(s, S).to(z.dtype)  # [..., S]
    return onehot_s.unsqueeze(-1) * row.unsqueeze(-2)
