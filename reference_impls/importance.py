"""Importance-sampling estimators, formed in log space (numpy, float64).

Conventions (CONTRACT.md):

* Ratios are never passed as ratios: every estimator takes ``log_probs`` (the target
  policy pi) and ``behavior_log_probs`` (the behaviour policy mu that generated the
  data) and forms ``log w = log_probs - behavior_log_probs`` before any ``exp``. Two
  log-probabilities of ``-800`` and ``-801`` give ``w = e`` exactly where the linear
  ratio ``exp(-800) / exp(-801)`` is ``0 / 0``.
* ``log_probs`` may be ``-inf`` (the target gives the sample probability 0, so its
  weight is 0); NaN and ``+inf`` are rejected. ``behavior_log_probs`` must be finite:
  a sample the behaviour policy could not have produced has an undefined ratio
  (``ValueError``, "zero support").
* Per-step sequences have time on the **last** axis, ``[..., T]``; leading axes are
  batch. Sample-level estimators (``ordinary_is``, ``self_normalized_is``,
  ``truncated_is``, ``effective_sample_size``) reduce the **last** axis, which holds
  the ``n`` samples (e.g. trajectory log-probabilities ``log_probs.sum(-1)``).
* ``gamma`` is a scalar in ``[0, 1]`` (``1`` allowed: sequences are finite); returns
  are ``sum_t gamma^t r_t`` with ``t = 0 .. T-1``.
* Products ``w * f`` are formed as ``sign(f) exp(log w + log|f|)`` so that a huge
  weight times a tiny value does not overflow spuriously, and ``0 * w = 0`` for any
  representable ``log w``.
* Sums of weighted terms (ordinary, truncated and per-decision IS, the weighted policy
  gradient) are formed around the largest log-weight when a term over- or underflows, so
  the result is finite wherever the true sum is. A sum whose true value exceeds the float64
  range is returned as ``+-inf`` (honest: a weight of e^1e4 times values of one sign), but
  never as ``inf - inf = NaN``: terms that cancel (``e^1e4 - e^1e4``) give 0.

References:
  Owen (2013), *Monte Carlo theory, methods and examples*, ch. 9 (IS, SNIS, ESS);
  Precup, Sutton & Singh (2000) (per-decision IS); Ionides (2008), JCGS 17(2):295-311
  (truncation at ``sqrt(n) * mean(w)``); Kong (1992) (ESS).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference_impls._validation import (
    as_float_array,
    check_count,
    check_gamma,
    check_horizon,
    check_same_shape,
    check_scalar,
    pow2_exponent,
)
from reference_impls.mdp import FiniteMDP, _check_mdp, validate_policy

__all__ = [
    "cumulative_importance_weights",
    "effective_sample_size",
    "effective_sample_size_log",
    "exact_is_moments",
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
    "trajectory_weight_second_moment",
    "truncated_is",
]


# --------------------------------------------------------------------------- validation


def _log_probs(x: Any, name: str, *, allow_neg_inf: bool) -> np.ndarray:
    """float64 log-probabilities: no NaN, no +inf, and -inf only where allowed."""
    arr = as_float_array(x, name, finite=False)
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name}: expected log-probabilities without NaN, got {int(np.isnan(arr).sum())} NaN entries")
    if np.any(arr == np.inf):
        raise ValueError(f"{name}: expected log-probabilities < +inf, got {int((arr == np.inf).sum())} +inf entries")
    if not allow_neg_inf and np.any(arr == -np.inf):
        raise ValueError(
            f"{name}: expected finite log-probabilities (zero support: the behaviour policy gives probability 0 "
            f"to a sample, so its importance ratio is undefined), got {int((arr == -np.inf).sum())} -inf entries"
        )
    return arr


def _log_ratio(log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    lp = _log_probs(log_probs, "log_probs", allow_neg_inf=True)
    blp = _log_probs(behavior_log_probs, "behavior_log_probs", allow_neg_inf=False)
    check_same_shape(log_probs=lp, behavior_log_probs=blp)
    return lp - blp


def _weighted(values: np.ndarray, log_w: np.ndarray) -> np.ndarray:
    """``values * exp(log_w)``, as ``sign(v) exp(log_w + log|v|)`` wherever ``exp(log_w)`` over- or underflows
    (0 where ``v == 0``); elsewhere the plain product, which is then exact to rounding."""
    values, log_w = np.asarray(values), np.asarray(log_w)
    with np.errstate(over="ignore", invalid="ignore"):
        ew = np.exp(log_w)
        out = np.asarray(values * ew)
    bad = ~np.isfinite(ew) | ((ew == 0.0) & (log_w > -np.inf))
    if np.any(bad):
        v, lw = np.broadcast_arrays(values, log_w)
        with np.errstate(divide="ignore", over="ignore"):
            mag = np.exp(lw[bad] + np.log(np.abs(v[bad])))
        out = out.copy() if out.ndim else out.reshape(1).copy()
        out.reshape(bad.shape)[bad] = np.where(v[bad] == 0.0, 0.0, np.sign(v[bad]) * mag)
        out = out.reshape(bad.shape)
    return out


#: log(2) split as in fdlibm: _LN2_HI has its 32 low mantissa bits zero, _LN2_HI + _LN2_LO = log 2.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10


def _weighted_sum(values: np.ndarray, log_w: np.ndarray, axis: int, divisor: float = 1.0,
                  exp2: int = 0) -> np.ndarray:
    """``2^exp2 / divisor * sum_axis values * exp(log_w)`` without spurious overflow or ``inf - inf``.

    The plain sum is returned wherever every term and the sum are finite (and no weight
    underflowed). Elsewhere the sum is formed around the largest log-weight of the non-zero
    values, ``M = q log 2 + f`` (integer ``q``, ``f`` in [0, log 2)), and the largest ``|value|``,
    ``2^k``: ``2^(q + k + exp2) * S e^f / divisor`` with ``S = sum (v / 2^k) exp(log w - M)``,
    the powers of two applied exactly by ``ldexp``. So the result is finite wherever the true
    sum is (to a few ulp), ``+-inf`` only when the true sum overflows (a weight of ``e^1e4``
    times values of one sign: an honest ``inf``), never ``inf - inf = NaN``, and terms whose
    value is 0 contribute 0 whatever their weight.
    """
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        ew = np.exp(log_w)
        terms = np.where(values == 0.0, 0.0, values * ew)
        plain = np.ldexp(np.sum(terms, axis=axis) / divisor, exp2)
    ok_terms = np.isfinite(terms) & ~((ew == 0.0) & (log_w > -np.inf) & (values != 0.0))
    ok = np.all(ok_terms, axis=axis) & np.isfinite(plain)
    if np.all(ok):
        return plain
    nz = values != 0.0
    lw = np.where(nz, log_w, -np.inf)
    M = np.max(lw, axis=axis, keepdims=True)
    M = np.where(np.isfinite(M), M, 0.0)
    # |q| <= 4000 covers every finite float64 result (2^-1074 .. 2^1024, times n and 2^k); beyond it
    # f stays large and exp(f) saturates to 0 or inf, which is then the answer
    q = np.clip(np.floor(M / _LN2_HI), -4000.0, 4000.0)
    f = (M - q * _LN2_HI) - q * _LN2_LO  # Cody-Waite: q * _LN2_HI is exact for |q| < 2^20
    k = pow2_exponent(np.where(nz, values, 0.0), axis=axis)
    with np.errstate(under="ignore"):
        S = np.sum(np.where(nz, np.ldexp(values, -k) * np.exp(lw - M), 0.0), axis=axis)
    shift = np.squeeze(q.astype(np.int64) + k, axis=axis) + exp2
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        robust = np.where(S == 0.0, 0.0, np.ldexp(S * np.exp(np.squeeze(f, axis=axis)) / divisor, shift))
    return np.where(ok, plain, robust)


def _samples_last(x: np.ndarray, name: str) -> int:
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"{name}: expected at least one sample on the last axis, got shape {x.shape}")
    return int(x.shape[-1])


def _logsumexp(lw: np.ndarray) -> np.ndarray:
    """log sum exp over the last axis; ``-inf`` for an all ``-inf`` row."""
    m = np.max(lw, axis=-1, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(lw - m_safe), axis=-1)) + m_safe[..., 0]


# --------------------------------------------------------------------------- weights


def log_importance_weights(log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    """Elementwise ``log w = log pi - log mu`` (same shape as the inputs; may be ``-inf``)."""
    return _log_ratio(log_probs, behavior_log_probs)


def importance_weights(log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    """Elementwise ratios ``w = exp(log pi - log mu)``, formed in log space."""
    with np.errstate(over="ignore"):
        return np.exp(_log_ratio(log_probs, behavior_log_probs))


def trajectory_log_weights(log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    """``log W = sum_t (log pi(a_t|s_t) - log mu(a_t|s_t))`` over the last (time) axis: ``[...]``.

    The start-state and transition terms of ``p(tau)/q(tau)`` cancel and are not needed.
    """
    lw = _log_ratio(log_probs, behavior_log_probs)
    if lw.ndim < 1:
        raise ValueError(f"log_probs: expected a time axis (shape [..., T]), got shape {lw.shape}")
    return lw.sum(axis=-1)


def trajectory_importance_weights(log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    """``W = prod_t pi(a_t|s_t) / mu(a_t|s_t)`` over the last axis: ``[...]`` (``exp`` of the log-sum)."""
    with np.errstate(over="ignore"):
        return np.exp(trajectory_log_weights(log_probs, behavior_log_probs))


def cumulative_importance_weights(log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    """Prefix products ``W_t = prod_{k <= t} pi(a_k|s_k) / mu(a_k|s_k)``, shape ``[..., T]``.

    One cumulative sum of the log-ratios: O(T) for all ``T`` prefixes (not O(T^2)).
    """
    lw = _log_ratio(log_probs, behavior_log_probs)
    if lw.ndim < 1:
        raise ValueError(f"log_probs: expected a time axis (shape [..., T]), got shape {lw.shape}")
    (lwt,), ax = _time_layout(lw)
    with np.errstate(over="ignore"):
        out = np.exp(np.cumsum(lwt, axis=ax))
    return out.T if ax == 0 else out


# --------------------------------------------------------------------------- per-trajectory estimators


def _returns_inputs(rewards: Any, log_probs: Any, behavior_log_probs: Any, gamma: Any
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = as_float_array(rewards, "rewards", min_ndim=1)
    lw = _log_ratio(log_probs, behavior_log_probs)
    check_same_shape(rewards=r, log_probs=lw)
    g = check_gamma(gamma, allow_one=True)
    disc = g ** np.arange(r.shape[-1], dtype=np.float64)
    return r, lw, disc


def _time_layout(*xs: np.ndarray) -> tuple[list[np.ndarray], int]:
    """Views in which the time axis is the slow one when the inputs are time-major in memory.

    Enumerated trajectories are transposed time-major buffers (``[N, T]`` with time strided); elementwise
    work broadcast along a strided time axis is several times slower than along rows, so such 2-d inputs
    are processed as their ``[T, N]`` transposes (views, no copy) with time on axis 0.
    """
    if xs[0].ndim == 2 and all(x.strides[0] < x.strides[1] for x in xs):
        return [x.T for x in xs], 0
    return list(xs), xs[0].ndim - 1


def trajectory_is(rewards: Any, log_probs: Any, behavior_log_probs: Any, gamma: float) -> np.ndarray:
    """Trajectory-level IS estimate of the target's return, one per trajectory: ``[...]``.

    ``W_T * sum_t gamma^t r_t`` with ``W_T = prod_{t<T} pi(a_t|s_t) / mu(a_t|s_t)``.
    Unbiased for ``E_pi[sum_t gamma^t r_t]`` when ``mu > 0`` wherever ``pi > 0``.
    """
    r, lw, disc = _returns_inputs(rewards, log_probs, behavior_log_probs, gamma)
    (r, lw), ax = _time_layout(r, lw)
    d = disc.reshape((-1,) + (1,) * (r.ndim - 1 - ax)) if ax == 0 else disc
    rd = r * d
    with np.errstate(over="ignore", invalid="ignore"):
        G = np.sum(rd, axis=ax)
    LW = np.sum(lw, axis=ax)
    if np.all(np.isfinite(G)):
        return _weighted(G, LW)
    # the return itself overflows (rewards near 1e308): W G = sum_t r_t gamma^t W, summed around log W
    return _weighted_sum(rd, np.broadcast_to(np.expand_dims(LW, ax), rd.shape), axis=ax)


def per_decision_is(rewards: Any, log_probs: Any, behavior_log_probs: Any, gamma: float) -> np.ndarray:
    """Per-decision IS (Precup, Sutton & Singh 2000): ``sum_t gamma^t W_t r_t``, ``[...]``.

    ``W_t = prod_{k <= t} pi/mu`` are prefix products (one cumulative sum in log space, O(T)).
    Each term weights reward ``r_t`` only by the ratios of the actions that produced it.
    """
    r, lw, disc = _returns_inputs(rewards, log_probs, behavior_log_probs, gamma)
    (r, lw), ax = _time_layout(r, lw)
    d = disc.reshape((-1,) + (1,) * (r.ndim - 1 - ax)) if ax == 0 else disc
    return _weighted_sum(r * d, np.cumsum(lw, axis=ax), axis=ax)


# --------------------------------------------------------------------------- sample-level estimators


def _sample_inputs(values: Any, log_probs: Any, behavior_log_probs: Any) -> tuple[np.ndarray, np.ndarray, int]:
    v = as_float_array(values, "values", min_ndim=1)
    lw = _log_ratio(log_probs, behavior_log_probs)
    check_same_shape(values=v, log_probs=lw)
    n = _samples_last(v, "values")
    return v, lw, n


def ordinary_is(values: Any, log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    """Ordinary IS mean over the last (sample) axis: ``(1/n) sum_i w_i f_i``; shape ``[...]``.

    Note the ``1/n`` (a sum without it, as on S1's "Sample Mean" slide, estimates ``n mu``).
    """
    v, lw, n = _sample_inputs(values, log_probs, behavior_log_probs)
    return _ordinary_mean(v, lw, n)


def _ordinary_mean(v: np.ndarray, lw: np.ndarray, n: int) -> np.ndarray:
    """``(1/n) sum_i v_i exp(lw_i)`` over the last axis (see :func:`_weighted_sum`)."""
    return _weighted_sum(v, lw, axis=-1, divisor=float(n))


def self_normalized_is(values: Any, log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    """Self-normalized (weighted) IS over the last axis: ``sum_i w_i f_i / sum_i w_i``.

    The normalized weights are a softmax of the log-weights (no overflow at any scale).
    Raises ``ValueError`` (``log_probs``) when every weight of a row is 0: the ratio is
    then undefined.
    """
    v, lw, _ = _sample_inputs(values, log_probs, behavior_log_probs)
    m = np.max(lw, axis=-1, keepdims=True)
    if np.any(m == -np.inf):
        raise ValueError("log_probs: zero-support weights: expected a non-zero weight in every row, "
                         "got a row whose weights are all 0 (all log_probs are -inf), "
                         "so the self-normalized ratio sum(w f) / sum(w) is undefined")
    e = np.exp(lw - m)
    return np.sum(e * v, axis=-1) / np.sum(e, axis=-1)


def ionides_level(log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    """Ionides' (2008) truncation level ``tau_n = sqrt(n) * mean(w)`` over the last axis: ``[...]``.

    It grows with ``n`` (so truncation at it is consistent); a fixed level (V-trace's
    ``rho_bar``) does not.
    """
    lw = _log_ratio(log_probs, behavior_log_probs)
    n = _samples_last(lw, "log_probs")
    with np.errstate(over="ignore"):
        return np.exp(_logsumexp(lw) - 0.5 * np.log(n))


def truncated_is(values: Any, log_probs: Any, behavior_log_probs: Any, level: float | str) -> np.ndarray:
    """Truncated IS mean over the last axis: ``(1/n) sum_i min(w_i, c) f_i``.

    ``level`` is a fixed ``c > 0`` or ``"ionides"`` for ``c = sqrt(n) * mean(w)`` computed
    per row from the same weights (Ionides 2008). Its bias is
    ``-E_q[(w - c)_+ f]`` (exact), so ``|bias| <= F * E_q[(w - c)_+]`` for ``|f| <= F``.
    """
    v, lw, n = _sample_inputs(values, log_probs, behavior_log_probs)
    if isinstance(level, str):
        if level != "ionides":
            raise ValueError(f"level: expected a positive number or 'ionides', got {level!r}")
        log_c = (_logsumexp(lw) - 0.5 * np.log(n))[..., None]
    else:
        c = check_scalar(level, "level", lo=0.0, lo_open=True)
        log_c = np.log(c)
    return _ordinary_mean(v, np.minimum(lw, log_c), n)


def effective_sample_size(weights: Any) -> np.ndarray:
    """Kong's effective sample size ``(sum w)^2 / sum w^2`` over the last axis: ``[...]``.

    Lies in ``[1, n]``; ``n`` iff all weights are equal, ``1`` iff exactly one is non-zero;
    invariant to scaling the weights. Weights must be finite and non-negative, and a row
    must have a non-zero weight (otherwise the ratio is undefined: ``ValueError``).
    """
    w = as_float_array(weights, "weights", min_ndim=1)
    _samples_last(w, "weights")
    if np.any(w < 0):
        raise ValueError(f"weights: expected non-negative weights, got minimum {w.min():.3g}")
    m = np.max(w, axis=-1, keepdims=True)
    if np.any(m == 0):
        raise ValueError("weights: zero-support weights: expected a non-zero weight in every row, "
                         "got a row whose weights are all 0, so (sum w)^2 / sum w^2 "
                         "is undefined")
    u = w / m  # scale invariance, and no overflow of w^2
    return np.sum(u, axis=-1) ** 2 / np.sum(u * u, axis=-1)


def effective_sample_size_log(log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    """:func:`effective_sample_size` of ``w = exp(log pi - log mu)``, computed without forming ``w``."""
    lw = _log_ratio(log_probs, behavior_log_probs)
    _samples_last(lw, "log_probs")
    m = np.max(lw, axis=-1, keepdims=True)
    if np.any(m == -np.inf):
        raise ValueError("log_probs: zero-support weights: expected a non-zero weight in every row, "
                         "got a row whose weights are all 0, so the ESS is undefined")
    u = np.exp(lw - m)
    return np.sum(u, axis=-1) ** 2 / np.sum(u * u, axis=-1)


# --------------------------------------------------------------------------- policy gradient (seed 003)


def importance_weighted_policy_gradient(rewards: Any, log_probs: Any, behavior_log_probs: Any, scores: Any,
                                        *, self_normalized: bool = False) -> np.ndarray:
    """The importance-weighted policy-gradient estimate of seed 003 (Mineiro, "Pertinacity and the Puke").

    ``(1/T) sum_t w_t r_t grad log pi(y_t|x_t)`` with ``w_t = pi(y_t|x_t) / h(y_t|x_t)``,
    or, with ``self_normalized=True``, S3's ``sum_t (w_t / sum_s w_s) r_t grad log pi(y_t|x_t)``.

    Shapes: ``rewards``, ``log_probs``, ``behavior_log_probs`` are ``[..., T]`` (samples on
    the last axis); ``scores[..., t, :]`` is ``grad_theta log pi(y_t|x_t)``, shape ``[..., T, D]``.
    Returns ``[..., D]``. The plain version is unbiased for
    ``grad V = E_h[w r grad log pi]`` when ``h > 0`` wherever ``pi > 0``.
    """
    r = as_float_array(rewards, "rewards", min_ndim=1)
    lw = _log_ratio(log_probs, behavior_log_probs)
    check_same_shape(rewards=r, log_probs=lw)
    n = _samples_last(r, "rewards")
    g = as_float_array(scores, "scores", min_ndim=2)
    if g.shape[:-1] != r.shape:
        raise ValueError(f"scores: expected shape {(*r.shape, 'D')} (rewards' shape plus a parameter axis), "
                         f"got {g.shape}")
    if not isinstance(self_normalized, bool):
        raise ValueError(f"self_normalized: expected a bool, got {self_normalized!r}")
    if self_normalized:
        m = np.max(lw, axis=-1, keepdims=True)
        if np.any(m == -np.inf):
            raise ValueError("log_probs: zero-support weights: expected a non-zero weight in every row, "
                             "got a row whose weights are all 0, so the "
                             "self-normalized weights are undefined")
        e = np.exp(lw - m)
        coef = r * e / e.sum(axis=-1, keepdims=True)
        return np.einsum("...t,...td->...d", coef, g)
    with np.errstate(over="ignore", invalid="ignore"):
        plain = np.einsum("...t,...td->...d", _weighted(r, lw) / n, g)
    if np.all(np.isfinite(plain)):
        return plain
    # a weight or a product overflowed: sum (r / 2^a)(g / 2^b) exp(lw) around the largest log-weight
    ka, kb = int(pow2_exponent(r)), int(pow2_exponent(g))
    u = np.ldexp(r, -ka)[..., None] * np.ldexp(g, -kb)
    robust = _weighted_sum(u, lw[..., None], axis=-2, divisor=float(n), exp2=ka + kb)
    return np.where(np.isfinite(plain), plain, robust)


def softmax_scores(logits: Any, states: Any, actions: Any) -> np.ndarray:
    """``grad_logits log pi(a|s)`` of a tabular softmax policy, per sample: ``[..., S, A]``.

    ``= e_s (e_a - pi(.|s))^T``: only row ``s`` is non-zero. ``states`` and ``actions``
    are integer arrays of one shape ``[...]``.
    """
    z = as_float_array(logits, "logits", ndim=2)
    S, A = z.shape
    s = np.asarray(states)
    a = np.asarray(actions)
    for nm, arr, k in (("states", s, S), ("actions", a, A)):
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{nm}: expected integers, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= k):
            raise ValueError(f"{nm}: expected values in [0, {k}), got range [{arr.min()}, {arr.max()}]")
    if s.shape != a.shape:
        raise ValueError(f"actions: expected shape {s.shape} (the shape of states), got {a.shape}")
    zz = z - z.max(axis=1, keepdims=True)
    pi = np.exp(zz) / np.exp(zz).sum(axis=1, keepdims=True)
    out = np.zeros((*s.shape, S, A))
    row = -pi[s]  # [..., A]
    np.put_along_axis(row, a[..., None], np.take_along_axis(row, a[..., None], axis=-1) + 1.0, axis=-1)
    idx = np.indices(s.shape)
    out[(*idx, s)] = row
    return out


# --------------------------------------------------------------------------- exact moments


#: Largest ``H S^2 A`` (multiply-adds of the backward recursions) accepted: about a second.
MAX_DP_WORK = 1_000_000_000


def _dp_horizon(horizon: Any, m: FiniteMDP) -> int:
    H = check_horizon(horizon)
    check_count("horizon", {"H": H, "S^2": m.n_states**2, "A": m.n_actions}, MAX_DP_WORK,
                "a backward-recursion cost")
    return H


def trajectory_weight_second_moment(mdp: FiniteMDP, policy: Any, behavior_policy: Any, horizon: int) -> float:
    """Exact ``E_mu[W_H^2]`` by the backward recursion (no enumeration), O(H S^2 A).

    ``M_H = 1``, ``M_t(s) = sum_a pi(a|s)^2 / mu(a|s) sum_s2 P(s2|s,a) M_{t+1}(s2)``, and
    ``E_mu[W_H^2] = sum_s initial(s) M_0(s)``. Needs ``mu > 0`` wherever ``pi > 0``
    (otherwise ``W`` is undefined on a positive-probability event and ``ValueError``).
    Per-state ``1 + chi2(pi(.|s) || mu(.|s)) = sum_a pi^2 / mu``, hence
    ``min_s(1 + chi2_s)^H <= E[W_H^2] <= max_s(1 + chi2_s)^H``.
    """
    m = _check_mdp(mdp)
    pi = validate_policy(m, policy, "policy")
    mu = validate_policy(m, behavior_policy, "behavior_policy")
    H = _dp_horizon(horizon, m)
    if np.any((mu == 0) & (pi > 0)):
        raise ValueError("behavior_policy: zero support: expected behavior_policy > 0 wherever policy > 0, "
                         "got probability 0 where policy is positive, "
                         "so the trajectory weight is undefined")
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(pi > 0, pi * pi / np.where(mu > 0, mu, 1.0), 0.0)  # [S, A]
    M = np.ones(m.n_states)
    for _ in range(H):
        M = np.einsum("sa,sat,t->s", k, m.transitions, M)
    return float(m.initial @ M)


def exact_is_moments(mdp: FiniteMDP, policy: Any, behavior_policy: Any, horizon: int,
                     gamma: float | None = None) -> dict[str, float]:
    """Exact mean and variances of trajectory IS and per-decision IS under ``behavior_policy``, by dynamic
    programming over states (O(H S^2 A), no enumeration).

    With ``k(s, a) = pi(a|s)^2 / mu(a|s)`` and ``E'[.] = sum_s2 P(s2|s,a) .(s2)``, backward from ``t = H``:

    * ``A_t(s) = E[W_{t:}^2 | s_t = s] = sum_a k E'[A_{t+1}]`` (``A_H = 1``),
    * ``B_t(s) = E[W_{t:}^2 G_{t:}] = sum_a k (r A' + g E'[B_{t+1}])``,
    * ``C_t(s) = E[W_{t:}^2 G_{t:}^2] = sum_a k (r^2 A' + 2 g r B' + g^2 C')``,
    * ``D_t(s) = E[PDIS_{t:}^2] = sum_a k (r^2 + 2 g r E'[V_{t+1}] + g^2 E'[D_{t+1}])``, using that
      ``E[PDIS_{t+1:} | s_{t+1}] = V^pi_{t+1}(s_{t+1})`` (unbiasedness).

    Returns ``mean`` (= J_H(pi)), ``var_is``, ``var_pdis`` and ``second_moment_weight`` (E[W_H^2]).
    """
    m = _check_mdp(mdp)
    pi = validate_policy(m, policy, "policy")
    mu = validate_policy(m, behavior_policy, "behavior_policy")
    H = _dp_horizon(horizon, m)
    g = m.gamma if gamma is None else check_gamma(gamma, allow_one=True)
    if np.any((mu == 0) & (pi > 0)):
        raise ValueError("behavior_policy: zero support: expected behavior_policy > 0 wherever policy > 0, "
                         "got probability 0 where policy is positive, "
                         "so the importance weights are undefined")
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(pi > 0, pi * pi / np.where(mu > 0, mu, 1.0), 0.0)
    P, R = m.transitions, m.rewards
    S = m.n_states
    A_, B_, C_, D_, V = np.ones(S), np.zeros(S), np.zeros(S), np.zeros(S), np.zeros(S)
    for _ in range(H):
        eA, eB, eC, eD, eV = (P @ x for x in (A_, B_, C_, D_, V))  # [S, A] expectations over s2
        A_, B_, C_, D_, V = (
            np.sum(k * eA, axis=1),
            np.sum(k * (R * eA + g * eB), axis=1),
            np.sum(k * (R * R * eA + 2 * g * R * eB + g * g * eC), axis=1),
            np.sum(k * (R * R + 2 * g * R * eV + g * g * eD), axis=1),
            np.sum(pi * (R + g * eV), axis=1),
        )
    mean = float(m.initial @ V)
    return {"mean": mean, "var_is": float(m.initial @ C_) - mean * mean,
            "var_pdis": float(m.initial @ D_) - mean * mean, "second_moment_weight": float(m.initial @ A_)}
