"""Bug classes of the numpy reference functions other than the value targets: divergences and KL
estimators, importance sampling, the PPO / GRPO losses, learner-sampler corrections, exact MDP quantities,
gradients and the trust-region solvers. Ids ``<function>:<bug>``; each is a plain function with the
reference's signature (it may call the captured original with the inputs the bug feeds it)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from reference_impls import divergences as D
from reference_impls import gradients as G
from reference_impls import importance as I
from reference_impls import losses as L
from reference_impls import mdp as M
from reference_impls import mismatch as MM
from reference_impls import trust_region as TR
from verify.mutants._core import mutant

_KLEST, _KL, _TV = D.kl_estimator, D.kl, D.tv
_OIS, _TRAJ_IS, _IW, _ESS, _TIS = I.ordinary_is, I.trajectory_is, I.importance_weights, I.effective_sample_size, \
    I.truncated_is
_PPO, _CLIPFRAC, _AGG, _AKL = L.ppo_clip_objective, L.clip_fraction, L.aggregate, L.adaptive_kl_coefficient
_GRPO, _GSPO_SEQ, _KLPEN = L.grpo_advantages, L.gspo_sequence_ratio, L.kl_penalized_objective
_SEQW, _TOKW, _GSPO, _SEQLW = MM.sequence_is_weights, MM.token_is_weights, MM.gspo_ratio, MM.sequence_log_is_weights
_VIS, _SOFTMAX = M.visitation, M.softmax
_PG, _SURR, _FISHER = G.policy_gradient, G.surrogate, G.fisher_matrix
_NGS = TR.natural_gradient_step


def _f(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# --------------------------------------------------------------------------- divergences (kl-estimators)

_D = "reference_impls.divergences"


@mutant("kl_estimator:k3-inverted-ratio", f"{_D}.kl_estimator", "kl-estimators",
        "k3 formed with r = p(x)/q(x) instead of q(x)/p(x): (r - 1) - log r then estimates KL(q||p) from samples "
        "of p (biased, still >= 0)")
def k3_inverted(log_p: Any, log_q: Any, kind: str) -> np.ndarray:
    return _KLEST(log_q, log_p, kind) if kind == "k3" else _KLEST(log_p, log_q, kind)


@mutant("kl_estimator:k1-sign-flipped", f"{_D}.kl_estimator", "kl-estimators",
        "k1 as log q(x) - log p(x) (the log-ratio's sign flipped; cf. the GRPO KL sign bug, verl PR #179)")
def k1_sign(log_p: Any, log_q: Any, kind: str) -> np.ndarray:
    out = _KLEST(log_p, log_q, kind)
    return -out if kind == "k1" else out


@mutant("kl_estimator:k2-missing-half", f"{_D}.kl_estimator", "kl-estimators",
        "k2 as (log r)^2 without the 1/2 (twice the second-order KL)")
def k2_no_half(log_p: Any, log_q: Any, kind: str) -> np.ndarray:
    out = _KLEST(log_p, log_q, kind)
    return 2.0 * out if kind == "k2" else out


@mutant("kl:reversed-direction", f"{_D}.kl", "kl-estimators",
        "KL(p||q) computed as KL(q||p) (direction swapped)")
def kl_reversed(p: Any, q: Any) -> Any:
    return _KL(q, p)


@mutant("tv:missing-half", f"{_D}.tv", "kl-estimators",
        "total variation computed as the plain L1 norm (TV = 1/2 L1 forgotten)")
def tv_no_half(p: Any, q: Any) -> Any:
    return 2.0 * _TV(p, q)


# --------------------------------------------------------------------------- importance sampling

_I = "reference_impls.importance"
_IS = "importance-sampling"


@mutant("ordinary_is:missing-1-over-n", f"{_I}.ordinary_is", _IS,
        "ordinary IS as sum_i w_i f_i without the 1/n (S1's 'Sample Mean' slide; estimates n mu)")
def ois_no_mean(values: Any, log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    return _OIS(values, log_probs, behavior_log_probs) * _f(values).shape[-1]


@mutant("self_normalized_is:unnormalized", f"{_I}.self_normalized_is", _IS,
        "'self-normalized' IS divides by n instead of by the sum of the weights (ordinary IS)")
def snis_unnormalized(values: Any, log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    return _OIS(values, log_probs, behavior_log_probs)


@mutant("per_decision_is:full-trajectory-weight", f"{_I}.per_decision_is", _IS,
        "per-decision IS weights every reward by the whole trajectory's ratio W_T (trajectory IS)")
def pdis_full_weight(rewards: Any, log_probs: Any, behavior_log_probs: Any, gamma: float) -> np.ndarray:
    return _TRAJ_IS(rewards, log_probs, behavior_log_probs, gamma)


@mutant("trajectory_is:last-ratio-only", f"{_I}.trajectory_is", _IS,
        "trajectory IS weighted by the last step's ratio only instead of the product over the trajectory")
def traj_last_ratio(rewards: Any, log_probs: Any, behavior_log_probs: Any, gamma: float) -> np.ndarray:
    r = _f(rewards)
    lw = _f(log_probs)[..., -1] - _f(behavior_log_probs)[..., -1]
    ret = np.sum(r * float(gamma) ** np.arange(r.shape[-1]), axis=-1)
    return np.exp(lw) * ret


@mutant("importance_weights:inverted-ratio", f"{_I}.importance_weights", _IS,
        "importance weights mu/pi instead of pi/mu")
def iw_inverted(log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    return _IW(behavior_log_probs, log_probs)


@mutant("effective_sample_size:inverted", f"{_I}.effective_sample_size", _IS,
        "Kong's ESS written as sum w^2 / (sum w)^2 (the reciprocal of the normalized form)")
def ess_inverted(weights: Any) -> np.ndarray:
    w = _f(weights)
    return np.sum(w * w, axis=-1) / np.sum(w, axis=-1) ** 2


@mutant("truncated_is:discard-above-level", f"{_I}.truncated_is", _IS,
        "truncated IS drops samples whose weight exceeds the level instead of clipping them to it")
def tis_discard(values: Any, log_probs: Any, behavior_log_probs: Any, level: float | str) -> np.ndarray:
    if isinstance(level, str):
        return _TIS(values, log_probs, behavior_log_probs, level)
    w = np.exp(_f(log_probs) - _f(behavior_log_probs))
    v = _f(values)
    return np.sum(np.where(w <= level, w * v, 0.0), axis=-1) / v.shape[-1]


# --------------------------------------------------------------------------- losses (ppo-grpo)

_L = "reference_impls.losses"
_P = "ppo-grpo"


@mutant("ppo_clip_objective:dual-clip-positive-advantages", f"{_L}.ppo_clip_objective", _P,
        "dual clip max(L, c A) applied to positive advantages too (tianshou #433)")
def ppo_dual_positive(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any,
                      dual_clip: float | None = None) -> np.ndarray:
    obj = _PPO(log_probs, old_log_probs, advantages, clip_eps)
    return obj if dual_clip is None else np.maximum(obj, dual_clip * _f(advantages))


@mutant("ppo_clip_objective:max-instead-of-min", f"{_L}.ppo_clip_objective", _P,
        "PPO objective takes max(r A, clip(r) A) instead of the pessimistic min (ray #37334, spinningup #255)")
def ppo_max(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any,
            dual_clip: float | None = None) -> np.ndarray:
    lo, hi = L.clip_bounds(clip_eps)
    r = np.exp(_f(log_probs) - _f(old_log_probs))
    a = _f(advantages)
    obj = np.maximum(r * a, np.clip(r, 1 - lo, 1 + hi) * a)
    return obj if dual_clip is None else np.where(a < 0, np.maximum(obj, dual_clip * a), obj)


@mutant("ppo_clip_objective:symmetric-eps", f"{_L}.ppo_clip_objective", _P,
        "asymmetric clip (eps_low, eps_high) collapsed to eps_low on both sides")
def ppo_symmetric(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any,
                  dual_clip: float | None = None) -> np.ndarray:
    lo, _ = L.clip_bounds(clip_eps)
    return _PPO(log_probs, old_log_probs, advantages, lo, dual_clip)


@mutant("clip_fraction:wrong-side", f"{_L}.clip_fraction", _P,
        "clipped-branch fraction counts the wrong side: (A > 0 and r < 1 - eps) or (A < 0 and r > 1 + eps)")
def clipfrac_wrong_side(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any, mask: Any = None,
                        definition: str = "ratio-outside") -> float:
    if definition != "clipped-branch":
        return _CLIPFRAC(log_probs, old_log_probs, advantages, clip_eps, mask, definition)
    lo, hi = L.clip_bounds(clip_eps)
    r = np.exp(_f(log_probs) - _f(old_log_probs))
    a = _f(advantages)
    m = np.ones(r.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    ind = ((a > 0) & (r < 1 - lo)) | ((a < 0) & (r > 1 + hi))
    return float(np.count_nonzero(ind & m) / np.count_nonzero(m))


@mutant("clip_fraction:padding-counted", f"{_L}.clip_fraction", _P,
        "clip fraction over every element, padding included (mask ignored; TRL #6803, RLinf #1471)")
def clipfrac_padding(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any, mask: Any = None,
                     definition: str = "ratio-outside") -> float:
    return _CLIPFRAC(log_probs, old_log_probs, advantages, clip_eps, None, definition)


@mutant("aggregate:token-mean-for-seq-mean", f"{_L}.aggregate", _P,
        "seq-mean-token-mean computed as token-mean over the batch (length bias; verl PR #2435)")
def agg_token_mean(values: Any, mask: Any, mode: str, *, norm_length: float | None = None) -> float:
    return _AGG(values, mask, "token-mean" if mode == "seq-mean-token-mean" else mode, norm_length=norm_length)


@mutant("aggregate:norm-by-longest-sequence", f"{_L}.aggregate", _P,
        "Dr. GRPO's constant normalizer replaced by the batch's longest sequence length (changes with the batch)")
def agg_norm_longest(values: Any, mask: Any, mode: str, *, norm_length: float | None = None) -> float:
    if mode == "seq-mean-token-sum-norm" and norm_length is None:
        norm_length = float(np.max(np.sum(np.asarray(mask, dtype=bool), axis=-1)))
    return _AGG(values, mask, mode, norm_length=norm_length)


@mutant("adaptive_kl_coefficient:inverted-rule", f"{_L}.adaptive_kl_coefficient", _P,
        "adaptive KL rule inverted: beta halved when the KL is too large and doubled when too small")
def akl_inverted(beta: float, kl: float, target: float) -> float:
    b = _AKL(beta, kl, target)
    return beta * beta / b if b != beta else b


@mutant("kl_penalized_objective:wrong-sign", f"{_L}.kl_penalized_objective", _P,
        "KL penalty added instead of subtracted, so the KL is maximised (verl PR #179, Logic-RL #58)")
def klpen_sign(log_probs: Any, old_log_probs: Any, advantages: Any, kl: Any, beta: float) -> np.ndarray:
    return _KLPEN(log_probs, old_log_probs, advantages, kl, beta) + 2.0 * beta * _f(kl)


@mutant("grpo_advantages:population-for-sample", f"{_L}.grpo_advantages", _P,
        "GRPO's std convention ignored: always the population std (ddof 0) where the sample std was asked for")
def grpo_population(rewards: Any, std: str | None = "sample", eps: float = 1e-6) -> np.ndarray:
    return _GRPO(rewards, None if std is None else "population", eps)


@mutant("rloo_advantages:includes-self", f"{_L}.rloo_advantages", _P,
        "RLOO baseline averages over the whole group, the sample itself included (r_i - mean(r))")
def rloo_self(rewards: Any) -> np.ndarray:
    r = _f(rewards)
    return r - r.mean(axis=-1, keepdims=True)


@mutant("gspo_sequence_ratio:sum-not-mean", f"{_L}.gspo_sequence_ratio", _P,
        "GSPO's sequence ratio from the sum of token log-ratios (the product ratio; TRL #5814)")
def gspo_seq_sum(log_probs: Any, old_log_probs: Any, mask: Any) -> np.ndarray:
    n = np.sum(np.asarray(mask, dtype=bool), axis=-1)
    return _GSPO_SEQ(log_probs, old_log_probs, mask) ** n


# --------------------------------------------------------------------------- mismatch

_MM = "reference_impls.mismatch"


@mutant("sequence_is_weights:mask-ignored", f"{_MM}.sequence_is_weights", "mismatch",
        "the sequence weight multiplies the ratios of every token, environment tokens included (mask ignored)")
def seqw_mask_ignored(learner_log_probs: Any, sampler_log_probs: Any, mask: Any,
                      cap: float | None = None) -> np.ndarray:
    return _SEQW(learner_log_probs, sampler_log_probs, np.ones(np.shape(mask), dtype=bool), cap)


@mutant("token_is_weights:cap-ignored", f"{_MM}.token_is_weights", "mismatch",
        "token TIS without the truncation: the cap argument is ignored")
def tokw_no_cap(learner_log_probs: Any, sampler_log_probs: Any, mask: Any, cap: float | None = None) -> np.ndarray:
    return _TOKW(learner_log_probs, sampler_log_probs, mask)


@mutant("gspo_ratio:unnormalized-length", f"{_MM}.gspo_ratio", "mismatch",
        "GSPO's ratio without the 1/|y| (the product of token ratios)")
def gspo_product(log_probs: Any, old_log_probs: Any, mask: Any) -> np.ndarray:
    return np.exp(_SEQLW(log_probs, old_log_probs, mask))


@mutant("sequence_mask_weights:clip-instead-of-mask", f"{_MM}.sequence_mask_weights", "mismatch",
        "masked IS keeps weights outside [low, high] clipped to the band instead of zeroing them (TIS/MIS confusion, "
        "verl PR #3694)")
def seqmask_clip(learner_log_probs: Any, sampler_log_probs: Any, mask: Any, low: float, high: float) -> np.ndarray:
    w = _SEQW(learner_log_probs, sampler_log_probs, mask)
    return np.clip(w, low, high)


# --------------------------------------------------------------------------- exact MDP quantities, gradients

_M = "reference_impls.mdp"
_G = "reference_impls.gradients"


@mutant("occupancy:unnormalized", f"{_M}.occupancy", "policy-gradient",
        "the 'occupancy' returned without the (1 - gamma) factor (sums to 1/(1-gamma), not 1)")
def occupancy_unnormalized(mdp: Any, policy: Any) -> np.ndarray:
    return _VIS(mdp, policy)


@mutant("policy_gradient:missing-gamma-t", f"{_G}.policy_gradient", "policy-gradient",
        "policy gradient weighted by the undiscounted (average) state distribution instead of sum_t gamma^t "
        "P(s_t = s): the gamma^t dropped (Thomas 2014)")
def pg_missing_gamma_t(mdp: Any, logits: Any) -> np.ndarray:
    pi = _SOFTMAX(_f(logits))
    P = np.einsum("sa,sat->st", pi, mdp.transitions)
    d, avg = mdp.initial.copy(), np.zeros(mdp.n_states)
    n = 400
    for _ in range(n):
        avg += d
        d = d @ P
    avg /= n
    A = M.advantages(mdp, pi)
    return avg[:, None] / (1.0 - mdp.gamma) * pi * A


@mutant("policy_gradient:normalized-occupancy", f"{_G}.policy_gradient", "policy-gradient",
        "policy gradient weighted by the normalized occupancy d = (1-gamma) rho: (1 - gamma) x the gradient")
def pg_normalized(mdp: Any, logits: Any) -> np.ndarray:
    return (1.0 - mdp.gamma) * _PG(mdp, logits)


@mutant("surrogate:normalized-occupancy", f"{_G}.surrogate", "policy-gradient",
        "TRPO's surrogate L_old(theta) with the normalized occupancy (the 1/(1-gamma) factor of the advantage "
        "term lost)")
def surrogate_normalized(mdp: Any, logits: Any, old_logits: Any) -> float:
    j_old = M.expected_return(mdp, _SOFTMAX(_f(old_logits)))
    return j_old + (1.0 - mdp.gamma) * (_SURR(mdp, logits, old_logits) - j_old)


@mutant("fisher_matrix:uniform-state-weights", f"{_G}.fisher_matrix", "trust-region",
        "Fisher matrix averaged uniformly over states instead of under the policy's state distribution")
def fisher_uniform(mdp: Any, logits: Any) -> np.ndarray:
    import dataclasses

    flat = dataclasses.replace(mdp, transitions=np.broadcast_to(np.full(mdp.n_states, 1.0 / mdp.n_states),
                                                                 mdp.transitions.shape).copy(),
                               initial=np.full(mdp.n_states, 1.0 / mdp.n_states))
    return _FISHER(flat, logits)


# --------------------------------------------------------------------------- trust region

_TRR = "reference_impls.trust_region"


@mutant("natural_gradient_step:kl-scaled-wrong", f"{_TRR}.natural_gradient_step", "trust-region",
        "natural-gradient step length sqrt(delta / g^T F^-1 g) (the quadratic KL model 1/2 s^T F s read as "
        "s^T F s): a step sqrt(2) too short")
def ngs_kl_scale(grad: Any, fisher: Any, max_kl: float) -> np.ndarray:
    return _NGS(grad, fisher, max_kl) / math.sqrt(2.0)


@mutant("conjugate_gradient:steepest-descent", f"{_TRR}.conjugate_gradient", "trust-region",
        "conjugate gradients with beta = 0 (every direction is the residual: steepest descent)")
def cg_steepest(matvec: Callable[[np.ndarray], Any], b: Any, iterations: int = 10,
                tolerance: float = 1e-10) -> np.ndarray:
    bb = _f(b).reshape(-1)
    x = np.zeros_like(bb)
    r = bb.copy()
    for _ in range(int(iterations)):
        if np.linalg.norm(r) <= tolerance * np.linalg.norm(bb):
            break
        Ar = _f(matvec(r)).reshape(-1)
        alpha = float(r @ r) / float(r @ Ar)
        x = x + alpha * r
        r = r - alpha * Ar
    return x.reshape(np.shape(b))
