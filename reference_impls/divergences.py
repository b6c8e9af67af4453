"""Divergences between discrete distributions and the sample KL estimators (numpy, float64).

Conventions:

* Distributions lie on the **last axis** (rows on the simplex within 1e-9); leading axes
  are batch and the result has the leading shape.
* ``kl(p, q)`` is KL(p || q) = sum_x p(x) log(p(x)/q(x)) in **nats**. Terms with
  ``p(x) = 0`` contribute 0 (``0 log 0 = 0``, ``0 log(0/q) = 0``); where ``q(x) = 0 < p(x)``
  the divergence is ``+inf`` (the exact value; p is not absolutely continuous w.r.t. q).
* ``tv(p, q)`` is total variation = 1/2 sum |p - q| in [0, 1] (TRPO/CPO convention);
  ``l1(p, q)`` is the plain norm sum |p - q| = 2 tv.
* ``chi2(p, q)`` is the Pearson chi-square divergence of p from q,
  sum_x p(x)^2 / q(x) - 1 = E_q[(p/q - 1)^2]; ``+inf`` where ``q(x) = 0 < p(x)``.
* ``kl_estimator(log_p, log_q, kind)``: the per-sample estimate of KL(p || q) from a sample
  ``x ~ p`` (Schulman 2020, "Approximating KL divergence"), with ``log r = log_q - log_p``
  (so ``r = q(x)/p(x)`` and ``E_p[r] = 1``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference_impls._validation import as_float_array, check_choice, check_same_shape, check_simplex

__all__ = ["KL_ESTIMATORS", "chi2", "kl", "kl_estimator", "l1", "tv"]

KL_ESTIMATORS = ("k1", "k2", "k3")


def _pair(p: Any, q: Any) -> tuple[np.ndarray, np.ndarray]:
    pa = check_simplex(as_float_array(p, "p", min_ndim=1), "p")
    qa = check_simplex(as_float_array(q, "q", min_ndim=1), "q")
    check_same_shape(p=pa, q=qa)
    return pa, qa


def _out(x: np.ndarray) -> Any:
    return float(x) if x.ndim == 0 else x


def kl(p: Any, q: Any) -> Any:
    """KL(p || q) in nats on the last axis; ``0 log 0 = 0``; ``+inf`` where ``q = 0 < p``."""
    pa, qa = _pair(p, q)
    pos = pa > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pos, pa * (np.log(np.where(pos, pa, 1.0)) - np.log(qa)), 0.0)
    return _out(terms.sum(axis=-1))


def tv(p: Any, q: Any) -> Any:
    """Total variation distance 1/2 sum |p - q| (in [0, 1]) on the last axis."""
    pa, qa = _pair(p, q)
    return _out(0.5 * np.abs(pa - qa).sum(axis=-1))


def l1(p: Any, q: Any) -> Any:
    """L1 distance sum |p - q| (in [0, 2]) on the last axis; equals ``2 * tv(p, q)``."""
    pa, qa = _pair(p, q)
    return _out(np.abs(pa - qa).sum(axis=-1))


def chi2(p: Any, q: Any) -> Any:
    """Pearson chi-square divergence sum p^2/q - 1 on the last axis; ``+inf`` where ``q = 0 < p``."""
    pa, qa = _pair(p, q)
    pos = pa > 0
    with np.errstate(divide="ignore"):
        terms = np.where(pos, pa * pa / np.where(pos, qa, 1.0), 0.0)
    return _out(terms.sum(axis=-1) - 1.0)


#: Taylor coefficients 1/n! for n = 2..19 of expm1(x) - x, used for |x| < 1/2.
_K3_SERIES = tuple(1.0 / float(np.prod(np.arange(1, n + 1, dtype=np.float64))) for n in range(2, 20))


def _expm1_minus_x(x: np.ndarray) -> np.ndarray:
    """``e^x - 1 - x`` without cancellation: a Taylor series (to x^19/19!) for |x| < 1/2."""
    small = np.abs(x) < 0.5
    xs = np.where(small, x, 0.0)
    acc = np.zeros_like(xs)
    for c in reversed(_K3_SERIES):
        acc = acc * xs + c
    series = acc * xs * xs
    with np.errstate(over="ignore"):
        direct = np.expm1(np.where(small, 0.0, x)) - x
    return np.where(small, series, direct)


def kl_estimator(log_p: Any, log_q: Any, kind: str) -> np.ndarray:
    """Per-sample estimate of KL(p || q) from samples ``x ~ p`` (Schulman 2020).

    ``log_p = log p(x)`` and ``log_q = log q(x)`` at the samples (same shape);
    ``log r = log_q - log_p``.

    * ``"k1"``: ``-log r``. Unbiased, ``E_p[k1] = KL(p||q)``; can be negative.
    * ``"k2"``: ``(log r)^2 / 2``. Biased (an f-divergence matching KL to second order);
      non-negative, low variance.
    * ``"k3"``: ``(r - 1) - log r``. Unbiased (``E_p[r] = 1``) and ``>= 0`` (``log x <= x - 1``),
      zero exactly at ``r = 1``; computed as ``expm1(log r) - log r`` with a series for
      ``|log r| < 1/2`` so there is no cancellation near ``r = 1``.

    Unbiasedness holds only under sampling from ``p``: with samples from another policy
    (e.g. GRPO's pi_old) an importance weight is needed.
    """
    lp = as_float_array(log_p, "log_p")
    lq = as_float_array(log_q, "log_q")
    check_same_shape(log_p=lp, log_q=lq)
    check_choice(kind, "kind", KL_ESTIMATORS)
    log_r = lq - lp
    if kind == "k1":
        return -log_r
    if kind == "k2":
        return 0.5 * log_r * log_r
    return _expm1_minus_x(log_r)
