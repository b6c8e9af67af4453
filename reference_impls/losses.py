"""Policy-optimisation objectives of the PPO family and their LLM variants (numpy, float64).

Every objective here is returned **per element, to be maximised** (a loss is its
negative). Sequences have time on the last axis, ``[..., T]``; leading axes are batch.
Importance ratios are formed in log space, ``r = exp(log_probs - old_log_probs)``; no
log-ratio is clamped (peers clamp at +-20 or +-10, see :func:`ppo_clip_objective`).

Conventions (stated once, used everywhere in this module):

* ``clip_eps`` is a float ``eps`` (band ``[1 - eps, 1 + eps]``) or a pair
  ``(eps_low, eps_high)`` (band ``[1 - eps_low, 1 + eps_high]``, as in DAPO's
  "clip-higher"); every eps must lie in the open interval (0, 1).
* Dual clip (Ye et al. 2020, "Mastering Complex Control in MOBA Games with Deep RL",
  eq. 5) with constant ``c > 1`` lower-bounds the objective of **negative-advantage**
  elements by ``c * A``; elements with ``A >= 0`` are untouched (tianshou #433 applied it
  to ``A > 0`` too, which is a bug).
* Gradient tie convention (the torch mirror, which is differentiable): an element's
  gradient is zeroed only when the clip is *strictly* active -- ``A > 0 and r > 1 + eps_high``,
  ``A < 0 and r < 1 - eps_low``, or (dual clip) ``A < 0 and r > c``. At a tie
  (``r == 1 + eps_high`` etc.) the gradient is that of the unclipped branch, ``A * r``
  with respect to ``log_probs``. This is also what the textbook
  ``torch.minimum(r*A, torch.clamp(r, 1-eps, 1+eps)*A)`` returns in torch 2.x
  (``minimum`` splits the gradient 1/2 : 1/2 between equal inputs, pytorch#56734; ``clamp``
  passes the gradient at its bounds), so both halves carry ``A * r``.
* KL direction: PPO's penalty (Schulman et al. 2017, eq. 8) is KL(pi_old || pi_theta).
* GRPO std: ``"population"`` (= "biased", ddof = 0, numpy's default) or ``"sample"``
  (= "unbiased", ddof = 1, ``torch.std``'s default, used by verl and OpenRLHF).

References: Schulman et al. (2017) PPO, arXiv:1707.06347, eqs. (6)-(8); Shao et al. (2024)
DeepSeekMath/GRPO, arXiv:2402.03300, eq. (3); Liu et al. (2025) Dr. GRPO, arXiv:2503.20783;
Ahmadian et al. (2024) RLOO, arXiv:2402.14740; Zheng et al. (2025) GSPO, arXiv:2507.18071;
Gao et al. (2025) SAPO, arXiv:2511.20347.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference_impls._validation import (
    _describe,
    as_float_array,
    check_bool_array,
    check_choice,
    check_same_shape,
    check_scalar,
    pow2_exponent,
)

__all__ = [
    "AGGREGATION_MODES",
    "CLIP_FRACTION_DEFINITIONS",
    "STD_CONVENTIONS",
    "adaptive_kl_coefficient",
    "aggregate",
    "clip_bounds",
    "clip_fraction",
    "grpo_advantages",
    "gspo_objective",
    "gspo_sequence_ratio",
    "kl_penalized_objective",
    "ppo_clip_objective",
    "rloo_advantages",
    "sapo_objective",
]

AGGREGATION_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")
CLIP_FRACTION_DEFINITIONS = ("ratio-outside", "clipped-branch")
#: accepted spellings of the two std conventions -> ddof
STD_CONVENTIONS = {"population": 0, "biased": 0, "sample": 1, "unbiased": 1}


#: How far below zero a per-element KL may be (float64 rounding) before
#: :func:`kl_penalized_objective` rejects it as a sign error.
KL_ROUNDING_SLACK = 1e-12

# --------------------------------------------------------------------------- helpers


def clip_bounds(clip_eps: Any) -> tuple[float, float]:
    """``(eps_low, eps_high)`` from a float or a pair; each must lie in (0, 1)."""
    if isinstance(clip_eps, tuple | list) or (isinstance(clip_eps, np.ndarray) and clip_eps.ndim == 1):
        if len(clip_eps) != 2:
            raise ValueError(f"clip_eps: expected a float or a (low, high) pair, got {_describe(clip_eps)}")
        lo = check_scalar(clip_eps[0], "clip_eps", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        hi = check_scalar(clip_eps[1], "clip_eps", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        return lo, hi
    e = check_scalar(clip_eps, "clip_eps", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    return e, e


def _check_dual_clip(dual_clip: Any) -> float | None:
    if dual_clip is None:
        return None
    c = check_scalar(dual_clip, "dual_clip", lo=1.0, lo_open=True)
    return c


def _ratio_inputs(log_probs: Any, old_log_probs: Any, advantages: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lp = as_float_array(log_probs, "log_probs")
    old = as_float_array(old_log_probs, "old_log_probs")
    adv = as_float_array(advantages, "advantages")
    check_same_shape(log_probs=lp, old_log_probs=old, advantages=adv)
    return lp, old, adv


def _times(r: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``r * a`` with ``0 * inf = 0`` (an overflowed ratio times a zero advantage)."""
    with np.errstate(invalid="ignore", over="ignore"):
        out = r * a
    return np.where(a == 0.0, 0.0, out)


def _mask_for(mask: Any, like: np.ndarray, *, name: str = "mask") -> np.ndarray:
    m = check_bool_array(mask, name)
    if m.shape != like.shape:
        raise ValueError(f"{name}: expected shape {like.shape}, got {m.shape}")
    return m


# --------------------------------------------------------------------------- PPO


def ppo_clip_objective(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any,
                       dual_clip: float | None = None) -> np.ndarray:
    """Per-element PPO clipped objective (PPO eq. 7), to be maximised.

    ``L = min(r A, clip(r, 1 - eps_low, 1 + eps_high) A)`` with ``r = exp(log_probs -
    old_log_probs)``. With ``dual_clip = c > 1`` (Ye et al. 2020) the elements with
    ``A < 0`` become ``max(L, c A)``; elements with ``A >= 0`` are unchanged.

    Args:
      log_probs, old_log_probs, advantages: arrays of one shape ``[..., T]``.
      clip_eps: ``eps`` or ``(eps_low, eps_high)``, each in (0, 1).
      dual_clip: ``None`` or ``c > 1``.

    Returns the float64 per-element objective, same shape as the inputs. No log-ratio
    clamp is applied (verl and OpenRLHF clamp ``log r`` to +-20; the value differs from
    ours only where ``|log r| > 20``).
    """
    lp, old, adv = _ratio_inputs(log_probs, old_log_probs, advantages)
    lo, hi = clip_bounds(clip_eps)
    c = _check_dual_clip(dual_clip)
    with np.errstate(over="ignore"):
        r = np.exp(lp - old)
    clipped = np.clip(r, 1.0 - lo, 1.0 + hi)
    obj = np.minimum(_times(r, adv), clipped * adv)
    if c is not None:
        obj = np.where(adv < 0, np.maximum(obj, c * adv), obj)
    return obj


def clip_fraction(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any, mask: Any = None,
                  definition: str = "ratio-outside") -> float:
    """Fraction of (masked) elements counted as clipped, under one of two definitions.

    * ``"ratio-outside"``: ``r < 1 - eps_low or r > 1 + eps_high`` whatever the sign of A
      (OpenAI baselines ppo2 ``clipfrac = mean(|r - 1| > eps)``; torchrl, SB3, CleanRL).
    * ``"clipped-branch"``: the clipped branch is strictly active, so the element's
      gradient is zero: ``(A > 0 and r > 1 + eps_high) or (A < 0 and r < 1 - eps_low)``
      (verl ``pg_clipfrac``, OpenRLHF ``clip_ratio``, TRL ``clip_ratio/region_mean``). Dual
      clip is not counted here.

    Both are strict at the band edges. The clipped-branch set is a subset of the
    ratio-outside set. ``mask`` (bool or 0/1, same shape) selects the counted elements;
    it must select at least one.
    """
    lp, old, adv = _ratio_inputs(log_probs, old_log_probs, advantages)
    lo, hi = clip_bounds(clip_eps)
    check_choice(definition, "definition", CLIP_FRACTION_DEFINITIONS)
    if lp.size == 0:
        raise ValueError(f"log_probs: expected at least one element, got shape {lp.shape}")
    m = np.ones(lp.shape, dtype=bool) if mask is None else _mask_for(mask, lp)
    if not m.any():
        raise ValueError("mask: expected at least one selected element, got an all-zero mask")
    with np.errstate(over="ignore"):
        r = np.exp(lp - old)
    above, below = r > 1.0 + hi, r < 1.0 - lo
    ind = (above | below) if definition == "ratio-outside" else ((adv > 0) & above) | ((adv < 0) & below)
    return float(np.count_nonzero(ind & m) / np.count_nonzero(m))


def adaptive_kl_coefficient(beta: float, kl: float, target: float) -> float:
    """PPO's adaptive KL-penalty coefficient update (PPO sec. 4, eq. 8 and the rule below it).

    With ``d = kl`` the measured mean KL(pi_old || pi_theta) after the policy update:
    ``d < target / 1.5 -> beta / 2``; ``d > 1.5 * target -> 2 * beta``; otherwise ``beta``
    is unchanged. Both inequalities are strict (``d == 1.5 * target`` leaves beta as is).
    """
    b = check_scalar(beta, "beta", lo=0.0, lo_open=True)
    d = check_scalar(kl, "kl", lo=0.0)
    t = check_scalar(target, "target", lo=0.0, lo_open=True)
    if d < t / 1.5:
        return b / 2.0
    if d > 1.5 * t:
        return b * 2.0
    return b


def kl_penalized_objective(log_probs: Any, old_log_probs: Any, advantages: Any, kl: Any, beta: float) -> np.ndarray:
    """Per-element PPO KL-penalised objective (PPO eq. 8), to be maximised.

    ``r A - beta * kl`` with ``r = exp(log_probs - old_log_probs)`` and ``kl`` the
    per-element KL(pi_old(.|s_t) || pi_theta(.|s_t)) -- **old || new**, the direction PPO
    uses (e.g. ``divergences.kl(old_dist, new_dist)``). ``kl`` must be non-negative and
    have the shape of the other inputs; values down to ``-KL_ROUNDING_SLACK`` (1e-12) are
    accepted as they are (a KL of two nearly equal distributions computed as
    ``sum p log(p / q)`` can come out at -1e-16), anything more negative is a sign error.
    """
    lp, old, adv = _ratio_inputs(log_probs, old_log_probs, advantages)
    k = as_float_array(kl, "kl")
    check_same_shape(log_probs=lp, kl=k)
    if np.any(k < -KL_ROUNDING_SLACK):
        raise ValueError(f"kl: expected non-negative KL values (>= -{KL_ROUNDING_SLACK:g}), "
                         f"got minimum {float(k.min()):.3g}")
    b = check_scalar(beta, "beta", lo=0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.exp(lp - old)
        out = _times(r, adv) - b * k
    bad = ~np.isfinite(out)  # r A or beta kl overflowed (inf - inf, or an inf the true value is not)
    if np.any(bad):
        with np.errstate(divide="ignore"):
            la = (lp - old)[bad] + np.log(np.abs(adv[bad]))
            lb = np.log(b) + np.log(np.maximum(k[bad], 0.0))
        out[bad] = _exp_diff(la, np.sign(adv[bad]), lb)
    return out


#: log(2) split as in fdlibm (``_LN2_HI`` has its low 32 mantissa bits zero).
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10


def _exp_diff(la: np.ndarray, sa: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """``sa exp(la) - exp(lb)`` for large logs: ``2^q e^f (sa exp(la - M) - exp(lb - M))`` with ``M = max``
    split as ``q log 2 + f`` (exact powers of two by ldexp); ``+-inf`` only when the difference overflows."""
    M = np.maximum(la, lb)
    M = np.where(np.isfinite(M), M, 0.0)
    q = np.clip(np.floor(M / _LN2_HI), -4000.0, 4000.0)
    f = (M - q * _LN2_HI) - q * _LN2_LO
    d = sa * np.exp(la - M) - np.exp(lb - M)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return np.where(d == 0.0, 0.0, np.ldexp(d * np.exp(f), q.astype(np.int64)))


# --------------------------------------------------------------------------- aggregation


def aggregate(values: Any, mask: Any, mode: str, *, norm_length: float | None = None) -> float:
    """Reduce per-token values ``[..., T]`` to a scalar under a named aggregation mode.

    With ``m`` the mask, ``L_i = sum_t m[i, t]`` the length of sequence ``i`` (every
    leading index is a sequence; ``B`` of them) and ``v`` the values:

    * ``"token-mean"``: ``sum_{i,t} m v / sum_i L_i`` (every token weighs the same;
      a sequence's total weight is ``L_i / sum L``);
    * ``"seq-mean-token-mean"``: ``(1/B) sum_i (sum_t m v) / L_i`` (GRPO eq. 3; every
      sequence weighs ``1/B``, its tokens ``1/(B L_i)``);
    * ``"seq-mean-token-sum"``: ``(1/B) sum_i sum_t m v`` (sequence weight ``L_i / B``);
    * ``"seq-mean-token-sum-norm"``: ``(1/B) sum_i (sum_t m v) / N`` with a constant
      ``N = norm_length`` that does not depend on the batch's lengths (Dr. GRPO; TRL's
      ``dr_grpo`` is ``sum / (B * max_completion_length)``). ``N`` defaults to ``T``, the
      padded length (verl's default constant is the response length ``L_max``).

    Every sequence must have at least one unmasked token, in every mode: an empty row
    has no per-sequence mean, and counting it (seq modes) or silently dropping it
    (token-mean) would give the modes different batch sizes, so it is rejected
    (``ValueError`` naming ``mask``).
    """
    v = as_float_array(values, "values", min_ndim=1)
    m = _mask_for(mask, v)
    check_choice(mode, "mode", AGGREGATION_MODES)
    if v.shape[-1] == 0:
        raise ValueError(f"values: expected a non-empty time axis, got shape {v.shape}")
    if v.size == 0:
        raise ValueError(f"values: expected at least one sequence, got shape {v.shape}")
    lengths = m.sum(axis=-1)
    if np.any(lengths == 0):
        bad = tuple(int(i) for i in np.argwhere(lengths == 0)[0]) if lengths.ndim else ()
        raise ValueError(f"mask: expected at least one unmasked token per sequence, got an all-zero row at {bad}")
    n = float(v.shape[-1]) if norm_length is None else check_scalar(norm_length, "norm_length", lo=0.0, lo_open=True)
    # every mode is linear in v: reduce v / 2^e (|v / 2^e| < 1, exact) and scale back, so values
    # near the float64 limit give the finite mean instead of inf (sums of 1e308 overflow)
    e = int(pow2_exponent(np.where(m, v, 0.0)))
    mv = np.where(m, np.ldexp(v, -e), 0.0)
    sums = mv.sum(axis=-1)
    if mode == "token-mean":
        out = sums.sum() / lengths.sum()
    elif mode == "seq-mean-token-mean":
        out = np.mean(sums / lengths)
    elif mode == "seq-mean-token-sum":
        out = np.mean(sums)
    else:
        out = np.mean(sums) / n
    with np.errstate(over="ignore"):
        return float(np.ldexp(out, e))


# --------------------------------------------------------------------------- group advantages


def grpo_advantages(rewards: Any, std: str | None = "sample", eps: float = 1e-6) -> np.ndarray:
    """GRPO outcome advantages (Shao et al. 2024, sec. 4.1.2): ``(r_i - mean(r)) / (std(r) + eps)``.

    ``rewards`` is ``[..., G]``: the last axis is one group of G responses to a prompt.
    ``std`` names the convention: ``"population"`` (alias ``"biased"``, ddof 0) or
    ``"sample"`` (alias ``"unbiased"``, ddof 1; ``torch.std``; verl, OpenRLHF), or ``None``
    for no division (Dr. GRPO). For a group with spread, ``std_sample = std_population *
    sqrt(G / (G - 1))``. ``eps >= 0`` is added to the std (verl 1e-6, OpenRLHF 1e-9); with
    ``eps == 0`` a constant group is rejected (0/0).
    """
    r = as_float_array(rewards, "rewards", min_ndim=1)
    g = r.shape[-1]
    e = check_scalar(eps, "eps", lo=0.0)
    if std is not None and (not isinstance(std, str) or std not in STD_CONVENTIONS):
        raise ValueError(f"std: expected None or one of {sorted(STD_CONVENTIONS)}, got {_describe(std)}")
    if g < 1 or (std is not None and STD_CONVENTIONS[std] == 1 and g < 2):
        raise ValueError(f"rewards: expected a group axis of size >= {2 if std else 1}, got shape {r.shape}")
    # scale each group by a power of two (exact) so that its mean and std cannot overflow
    # (rewards of 1e308); the advantage (r - mean) / (std + eps) is then computed as
    # (r' - mean') / (std' + eps / 2^k), bit for bit the unscaled value where that one is finite
    k = pow2_exponent(r, axis=-1)
    rs = np.ldexp(r, -k)
    centred = rs - rs.mean(axis=-1, keepdims=True)
    if std is None:
        with np.errstate(over="ignore"):
            return np.ldexp(centred, k)
    with np.errstate(over="ignore"):  # eps / 2^k = inf for a group of subnormals: the advantage is then ~0
        s = np.std(rs, axis=-1, ddof=STD_CONVENTIONS[std], keepdims=True) + np.ldexp(e, -k)
    if np.any(s == 0):
        raise ValueError("eps: expected eps > 0 when a group has zero spread (0/0), got eps = 0")
    return centred / s


def rloo_advantages(rewards: Any) -> np.ndarray:
    """REINFORCE leave-one-out advantages: ``r_i - mean_{j != i} r_j = G/(G-1) (r_i - mean(r))``.

    ``rewards`` is ``[..., G]`` with ``G >= 2``. With i.i.d. responses the per-group
    estimate ``(1/G) sum_i A_i grad log pi(o_i)`` is unbiased for ``grad E[r]``.
    """
    r = as_float_array(rewards, "rewards", min_ndim=1)
    g = r.shape[-1]
    if g < 2:
        raise ValueError(f"rewards: expected a group axis of size >= 2, got shape {r.shape}")
    k = pow2_exponent(r, axis=-1)  # exact power-of-two scaling per group: the sum cannot overflow
    rs = np.ldexp(r, -k)
    total = rs.sum(axis=-1, keepdims=True)
    with np.errstate(over="ignore"):
        return np.ldexp(rs - (total - rs) / (g - 1), k)


# --------------------------------------------------------------------------- GSPO and SAPO


def gspo_sequence_ratio(log_probs: Any, old_log_probs: Any, mask: Any) -> np.ndarray:
    """GSPO's length-normalised sequence ratio ``s = exp(mean_t over mask of log r_t)``, shape ``[...]``.

    This is the geometric mean of the token ratios, ``(pi(y|x) / pi_old(y|x))^(1/|y|)``.
    It is **not** an importance weight: ``E_old[s f] != E_theta[f]`` in general.
    """
    lp = as_float_array(log_probs, "log_probs", min_ndim=1)
    old = as_float_array(old_log_probs, "old_log_probs", min_ndim=1)
    check_same_shape(log_probs=lp, old_log_probs=old)
    m = _mask_for(mask, lp)
    lengths = m.sum(axis=-1)
    if np.any(lengths == 0):
        raise ValueError("mask: expected at least one unmasked token per sequence, got an all-zero row")
    with np.errstate(over="ignore"):
        return np.exp(np.where(m, lp - old, 0.0).sum(axis=-1) / lengths)


def gspo_objective(log_probs: Any, old_log_probs: Any, advantages: Any, mask: Any, clip_eps: Any) -> np.ndarray:
    """Per-sequence GSPO objective ``min(s A, clip(s, 1 - eps_low, 1 + eps_high) A)``, shape ``[...]``.

    ``s`` is :func:`gspo_sequence_ratio`; ``advantages`` has one entry per sequence
    (shape ``[...]``, e.g. from :func:`grpo_advantages`). Zheng et al. (2025), eq. (5).
    """
    s = gspo_sequence_ratio(log_probs, old_log_probs, mask)
    adv = as_float_array(advantages, "advantages")
    if adv.shape != s.shape:
        raise ValueError(f"advantages: expected shape {s.shape} (one per sequence), got {adv.shape}")
    lo, hi = clip_bounds(clip_eps)
    return np.minimum(_times(s, adv), np.clip(s, 1.0 - lo, 1.0 + hi) * adv)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def sapo_objective(log_probs: Any, old_log_probs: Any, advantages: Any, tau_pos: float = 1.0,
                   tau_neg: float = 1.05) -> np.ndarray:
    """Per-element SAPO objective ``f_tau(r) A`` with the soft gate ``f_tau(r) = (4/tau) sigmoid(tau (r - 1))``.

    ``tau = tau_pos`` where ``A > 0`` and ``tau_neg`` otherwise (Gao et al. 2025; defaults
    as in the ms-swift docs). ``f_tau'(1) = 1`` for every tau, so at ``r = 1`` the gradient
    is the plain policy gradient ``A grad log pi``.
    """
    lp, old, adv = _ratio_inputs(log_probs, old_log_probs, advantages)
    tp = check_scalar(tau_pos, "tau_pos", lo=0.0, lo_open=True)
    tn = check_scalar(tau_neg, "tau_neg", lo=0.0, lo_open=True)
    tau = np.where(adv > 0, tp, tn)
    with np.errstate(over="ignore"):
        r = np.exp(lp - old)
    return (4.0 / tau) * _sigmoid(tau * (r - 1.0)) * adv
