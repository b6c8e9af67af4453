"""Learner–sampler mismatch corrections for sequence models (numpy, float64 ground truth).

An LLM RL step samples a response with an inference engine (the *sampler* μ) and
differentiates the training engine's copy of the policy (the *learner* π). Even with
identical weights the two disagree token by token. The corrections in use weight each
sample by ratios of the two:

* token-level IS (Yao et al. 2025, "Your efficient RL framework secretly brings you
  off-policy RL training", TIS):  ρ_t = π(y_t | y_<t) / μ(y_t | y_<t), optionally
  truncated at ``cap``: min(ρ_t, cap);
* sequence-level IS:  w(y) = Π_t ρ_t over the tokens the policy generated, optionally
  truncated (sequence TIS): min(w, cap);
* masked IS (MIS, Liu et al. 2025 "When speed kills stability", Part 3):
  w · 1{low ≤ w ≤ high};
* GSPO's ratio (Zheng et al. 2025, arXiv:2507.18071, eq. (7)): s = w^{1/|y|}, the
  geometric mean of the token ratios. It is *not* an importance weight: E_μ[s f] ≠ E_π[f]
  in general. **When every response has the same number of policy tokens** L, Jensen gives
  E_μ[s] = E_μ[w^{1/L}] ≤ (E_μ[w])^{1/L} ≤ 1, with equality iff w ≡ 1. With variable
  lengths the exponent 1/|y| differs between responses and there is no such bound:
  E_μ[s] can exceed 1 (claim GSPO-RATIO exhibits a case).

Conventions (CONTRACT.md):

* inputs are token log-probabilities with time on the last axis, shape ``[..., T]``;
  ratios are formed in log space (a sum of log-ratios, exponentiated once at the end,
  with truncation applied to the log), so long sequences and extreme log-probs do not
  overflow or underflow in intermediate products;
* ``mask`` is 1 on tokens the policy generated and 0 on padding *and* on environment /
  tool tokens. Environment tokens have the same distribution under learner and sampler
  (neither generated them), so they cancel from every ratio and must be masked out —
  see :func:`policy_token_mask`;
* ``mask`` may be bool or numeric but must hold exactly 0/1 values; nothing is broadcast;
* a sequence-level weight of a row whose mask is all zero is an error (a response with no
  policy tokens has no ratio to speak of, and silently returning 1 hides a masking bug).

Without ``cap`` a weight whose true value exceeds the float64 range is returned as ``inf``;
:func:`token_log_ratios` and :func:`sequence_log_is_weights` return the logs, which never
overflow.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference_impls._validation import _describe, as_float_array, check_same_shape, check_scalar

__all__ = [
    "ENVIRONMENT",
    "PADDING",
    "POLICY",
    "gspo_ratio",
    "policy_token_mask",
    "sequence_is_weights",
    "sequence_log_is_weights",
    "sequence_mask_weights",
    "token_is_weights",
    "token_log_ratios",
]

#: Token-source codes for :func:`policy_token_mask`.
PADDING = 0
POLICY = 1
ENVIRONMENT = 2


def _check_mask(mask: Any, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    """``mask`` as a bool array of the given shape; values must be exactly 0 or 1."""
    arr = np.asarray(mask)
    if arr.dtype != bool:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"{name}: expected 0/1 values (bool, int or float), got {_describe(arr)}")
        bad = ~((arr == 0) | (arr == 1))
        if np.any(bad):
            first = arr[bad].ravel()[0]
            raise ValueError(f"{name}: expected only 0/1 values, got {int(np.count_nonzero(bad))} other "
                             f"entr{'y' if np.count_nonzero(bad) == 1 else 'ies'} (e.g. {first!r})")
        arr = arr.astype(bool)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} (the shape of the log-probs), got {arr.shape}")
    return arr


def _inputs(learner_log_probs: Any, sampler_log_probs: Any, mask: Any,
            names: tuple[str, str] = ("learner_log_probs", "sampler_log_probs")) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(log_ratio, mask)``; the log-ratio is 0 where the mask is 0."""
    a = as_float_array(learner_log_probs, names[0], min_ndim=1)
    b = as_float_array(sampler_log_probs, names[1], min_ndim=1)
    check_same_shape(**{names[0]: a, names[1]: b})
    if a.shape[-1] == 0:
        raise ValueError(f"{names[0]}: expected a non-empty time axis, got shape {a.shape}")
    m = _check_mask(mask, a.shape)
    return np.where(m, a - b, 0.0), m


def _check_rows(m: np.ndarray) -> None:
    empty = ~np.any(m, axis=-1)
    if np.any(empty):
        idx = tuple(int(i) for i in np.argwhere(empty)[0])
        raise ValueError(f"mask: expected at least one policy token per sequence for a sequence weight, "
                         f"got an all-zero row at index {idx}")


def _log_cap(cap: Any) -> float:
    if isinstance(cap, str | bytes):
        raise ValueError(f"cap: expected a real scalar > 0, got {type(cap).__name__} {cap!r}")
    return float(np.log(check_scalar(cap, "cap", lo=0.0, lo_open=True)))


def token_log_ratios(learner_log_probs: Any, sampler_log_probs: Any, mask: Any) -> np.ndarray:
    """log ρ_t = log π(y_t|·) − log μ(y_t|·) on policy tokens, 0 where ``mask`` is 0. Shape ``[..., T]``."""
    lr, _ = _inputs(learner_log_probs, sampler_log_probs, mask)
    return lr


def token_is_weights(learner_log_probs: Any, sampler_log_probs: Any, mask: Any, cap: float | None = None) -> np.ndarray:
    """Per-token importance ratios ρ_t = π/μ, truncated to min(ρ_t, cap) when ``cap`` is given (token TIS).

    Returns float64 ``[..., T]`` with 0 where ``mask`` is 0. ``cap`` must be > 0.
    Truncation is applied in log space (min(log ρ, log cap)), so a capped weight never overflows.
    """
    lr, m = _inputs(learner_log_probs, sampler_log_probs, mask)
    if cap is not None:
        lr = np.minimum(lr, _log_cap(cap))
    with np.errstate(over="ignore"):
        return np.where(m, np.exp(lr), 0.0)


def sequence_log_is_weights(learner_log_probs: Any, sampler_log_probs: Any, mask: Any) -> np.ndarray:
    """log w(y) = Σ_t mask_t (log π_t − log μ_t), shape ``[...]``. Every row needs a policy token."""
    lr, m = _inputs(learner_log_probs, sampler_log_probs, mask)
    _check_rows(m)
    return np.sum(lr, axis=-1)


def sequence_is_weights(learner_log_probs: Any, sampler_log_probs: Any, mask: Any,
                        cap: float | None = None) -> np.ndarray:
    """Sequence importance weight w(y) = Π_t ρ_t over the masked (policy) tokens, shape ``[...]``.

    With ``cap`` (> 0) it is truncated, min(w, cap) (sequence TIS); the truncation is applied
    to log w. With supp π ⊆ supp μ, E_μ[w(y) f(y)] = E_π[f(y)] exactly (the environment
    tokens cancel because both sides assign them the same probability).
    """
    lw = sequence_log_is_weights(learner_log_probs, sampler_log_probs, mask)
    if cap is not None:
        lw = np.minimum(lw, _log_cap(cap))
    with np.errstate(over="ignore"):
        return np.exp(lw)


def sequence_mask_weights(learner_log_probs: Any, sampler_log_probs: Any, mask: Any, low: float,
                          high: float) -> np.ndarray:
    """Masked IS (MIS): w(y) where low ≤ w(y) ≤ high (closed interval), 0 elsewhere; shape ``[...]``.

    ``low`` ≥ 0, ``high`` > 0 and ``low`` ≤ ``high``. The comparison is made on log w, so a
    weight that would overflow is correctly rejected. Bias: E_μ[MIS·f] − E_π[f] =
    −E_π[f·1{w ∉ [low, high]}].
    """
    for nm, v in (("low", low), ("high", high)):
        if isinstance(v, str | bytes):
            raise ValueError(f"{nm}: expected a real scalar, got {type(v).__name__} {v!r}")
    lo = check_scalar(low, "low", lo=0.0)
    hi = check_scalar(high, "high", lo=0.0, lo_open=True)
    if lo > hi:
        raise ValueError(f"low: expected low <= high, got low={lo!r} > high={hi!r}")
    lw = sequence_log_is_weights(learner_log_probs, sampler_log_probs, mask)
    log_lo = -np.inf if lo == 0.0 else float(np.log(lo))
    keep = (lw >= log_lo) & (lw <= float(np.log(hi)))
    return np.where(keep, np.exp(np.where(keep, lw, 0.0)), 0.0)


def gspo_ratio(log_probs: Any, old_log_probs: Any, mask: Any) -> np.ndarray:
    """GSPO's sequence ratio s = exp((1/|y|) Σ_t mask_t (log π_t − log π_old,t)), shape ``[...]``.

    |y| is the number of masked tokens of the row. This is the geometric mean of the token
    ratios, **not** an importance weight. If every response has the same length |y| = L,
    concavity of x ↦ x^{1/L} gives E_old[s] ≤ (E_old[w])^{1/L} ≤ 1; with variable lengths
    E_old[s] is not bounded by 1 (claim GSPO-RATIO exhibits a case).
    """
    lr, m = _inputs(log_probs, old_log_probs, mask, names=("log_probs", "old_log_probs"))
    _check_rows(m)
    with np.errstate(over="ignore"):  # a ratio beyond the float64 range is returned as inf (module docstring)
        return np.exp(np.sum(lr, axis=-1) / np.sum(m, axis=-1))


def policy_token_mask(token_source: Any) -> np.ndarray:
    """The 0/1 mask (float64) of policy-generated tokens from per-token source codes.

    ``token_source`` holds integers: :data:`POLICY` (1) for tokens the policy sampled,
    :data:`ENVIRONMENT` (2) for environment / tool / user tokens inserted between turns,
    :data:`PADDING` (0) for padding. Only policy tokens enter an importance ratio.
    """
    arr = np.asarray(token_source)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"token_source: expected integer codes 0 (padding), 1 (policy), 2 (environment), "
                         f"got {_describe(arr)}")
    bad = ~np.isin(arr, (PADDING, POLICY, ENVIRONMENT))
    if np.any(bad):
        raise ValueError(f"token_source: expected codes in {{0, 1, 2}}, got {arr[bad].ravel()[0]!r}")
    if arr.ndim < 1:
        raise ValueError(f"token_source: expected at least 1 dimension, got shape {arr.shape}")
    return (arr == POLICY).astype(np.float64)
