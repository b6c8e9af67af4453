"""A minimal catalogue of bug classes for diagnosis, used only when ``verify.mutants`` is absent.

Same interface and ids as the project's catalogue (``verify.mutants``): each :class:`Mutant` is a
plain function with the reference function's signature that implements one bug class people
actually write (PEERS.md), with id ``<function>:<bug>``. :func:`verify.conformance._check._catalogue`
prefers ``verify.mutants`` and falls back to this list.

Several mutants are the reference called on transformed inputs (a bug that treats terminations as
truncations *is* the reference with the flags swapped); the rest are short loops over time written
from the bug's description.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference_impls import divergences, importance, losses, mismatch, returns


@dataclass(frozen=True)
class Mutant:
    id: str
    target: str
    description: str
    fn: Callable[..., Any]
    family: str


def _b(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=bool)


def _f(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _none_like(x: Any) -> np.ndarray:
    return np.zeros(np.shape(x), dtype=bool)


# --------------------------------------------------------------------------- returns (flag bugs)


def _flag_bug(fn: Callable[..., Any], how: str) -> Callable[..., Any]:
    sig = inspect.signature(fn)

    def mutant(*a: Any, **kw: Any) -> Any:
        ba = sig.bind(*a, **kw)
        ba.apply_defaults()
        args = dict(ba.arguments)
        te, tr = _b(args["terminated"]), _b(args["truncated"])
        if how == "bootstrap-through-terminated":  # a termination bootstraps (and still cuts)
            args["terminated"], args["truncated"] = _none_like(te), te | tr
        else:  # "truncation-as-termination": a truncation does not bootstrap
            args["terminated"], args["truncated"] = te | tr, _none_like(tr)
        return fn(**args)

    mutant.__signature__ = sig  # type: ignore[attr-defined]
    return mutant


def _trace_through(kind: str) -> Callable[..., Any]:
    """GAE whose trace is not cut at ``kind`` ("truncated" or "terminated") ends."""

    def gae(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
            lam: float) -> np.ndarray:
        r, v, nv, te, tr = _f(rewards), _f(values), _f(next_values), _b(terminated), _b(truncated)
        delta = r + gamma * np.where(te, 0.0, nv) - v
        cut = te if kind == "truncated" else tr
        out = np.zeros_like(delta)
        acc = np.zeros(delta.shape[:-1])
        for t in reversed(range(delta.shape[-1])):
            cont = ~cut[..., t] if t + 1 < delta.shape[-1] else np.zeros(delta.shape[:-1], dtype=bool)
            acc = delta[..., t] + gamma * lam * np.where(cont, acc, 0.0)
            out[..., t] = acc
        return out

    return gae


def _gae_values_shift(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
                      lam: float) -> np.ndarray:
    v = _f(values)
    nv = _f(next_values).copy()
    nv[..., :-1] = v[..., 1:]
    return returns.gae(rewards, values, nv, terminated, truncated, gamma, lam)


def _gae_lambda_only(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
                     lam: float) -> np.ndarray:
    r, v, nv, te, tr = _f(rewards), _f(values), _f(next_values), _b(terminated), _b(truncated)
    delta = r + gamma * np.where(te, 0.0, nv) - v
    out = np.zeros_like(delta)
    acc = np.zeros(delta.shape[:-1])
    for t in reversed(range(delta.shape[-1])):
        cont = ~(te[..., t] | tr[..., t]) if t + 1 < delta.shape[-1] else np.zeros(delta.shape[:-1], dtype=bool)
        acc = delta[..., t] + lam * np.where(cont, acc, 0.0)
        out[..., t] = acc
    return out


# --------------------------------------------------------------------------- V-trace and Retrace loops


def _vtrace_loop(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any, truncated: Any,
                 gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0, pg_rho_bar: float = 1.0,
                 *, bug: str) -> tuple[np.ndarray, np.ndarray]:
    r, v, nv, te, tr = _f(rewards), _f(values), _f(next_values), _b(terminated), _b(truncated)
    with np.errstate(over="ignore"):
        ratio = np.exp(_f(log_rhos))
    T = r.shape[-1]
    rho = np.minimum(ratio, rho_bar)
    c = lam * np.minimum(ratio, rho_bar if bug == "cbar-as-rhobar" else c_bar)
    with np.errstate(invalid="ignore", over="ignore"):
        td = r + gamma * np.where(te, 0.0, nv) - v
        delta = rho * td
    vs = np.zeros_like(r)
    acc = np.zeros(r.shape[:-1])
    for t in reversed(range(T)):
        cont = ~(te[..., t] | tr[..., t]) if t + 1 < T else np.zeros(r.shape[:-1], dtype=bool)
        ct = c[..., t + 1] if (bug == "trace-off-by-one" and t + 1 < T) else c[..., t]
        acc = delta[..., t] + gamma * np.where(cont, ct * acc, 0.0)
        vs[..., t] = v[..., t] + acc
    q = nv.copy()
    for t in range(T - 1):
        cont = ~(te[..., t] | tr[..., t])
        if bug == "pg-bootstrap-next-episode":
            cont = ~te[..., t]
        q[..., t] = np.where(cont, vs[..., t + 1], nv[..., t])
    if bug == "pg-uses-values":
        q = nv
    pg_w = ratio if bug == "unclipped-pg-rho" else np.minimum(ratio, pg_rho_bar)
    with np.errstate(invalid="ignore", over="ignore"):
        pg = pg_w * (r + gamma * np.where(te, 0.0, q) - v)
    return vs, pg


def _vtrace_bug(bug: str) -> Callable[..., Any]:
    def mutant(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any, truncated: Any,
               gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0,
               pg_rho_bar: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        return _vtrace_loop(rewards, values, next_values, log_rhos, terminated, truncated, gamma, lam, rho_bar,
                            c_bar, pg_rho_bar, bug=bug)

    return mutant


def _retrace_bug(bug: str) -> Callable[..., Any]:
    def mutant(rewards: Any, q_values: Any, next_expected_q: Any, log_rhos: Any, terminated: Any, truncated: Any,
               gamma: float, lam: float = 1.0, c_bar: float = 1.0) -> np.ndarray:
        r, q, nq, te, tr = _f(rewards), _f(q_values), _f(next_expected_q), _b(terminated), _b(truncated)
        with np.errstate(over="ignore"):
            ratio = np.exp(_f(log_rhos))
        c = lam * (ratio if bug == "unclipped-trace" else np.minimum(ratio, c_bar))
        delta = r + gamma * np.where(te, 0.0, nq) - q
        T = r.shape[-1]
        out = np.zeros_like(r)
        acc = np.zeros(r.shape[:-1])
        for t in reversed(range(T)):
            cont = ~(te[..., t] | tr[..., t]) if t + 1 < T else np.zeros(r.shape[:-1], dtype=bool)
            ct = c[..., t] if bug == "trace-off-by-one" else (c[..., t + 1] if t + 1 < T else 0.0)
            with np.errstate(invalid="ignore", over="ignore"):
                acc = delta[..., t] + gamma * np.where(cont, ct * acc, 0.0)
            out[..., t] = q[..., t] + acc
        return out

    return mutant


# --------------------------------------------------------------------------- KL, PPO, aggregation, GRPO


def _k3_inverted(log_p: Any, log_q: Any, kind: str) -> np.ndarray:
    if kind != "k3":
        return divergences.kl_estimator(log_p, log_q, kind)
    return divergences.kl_estimator(log_q, log_p, kind)  # log r = log p - log q: (1/r - 1) + log r


def _k1_sign(log_p: Any, log_q: Any, kind: str) -> np.ndarray:
    out = divergences.kl_estimator(log_p, log_q, kind)
    return -out if kind == "k1" else out


def _k2_no_half(log_p: Any, log_q: Any, kind: str) -> np.ndarray:
    out = divergences.kl_estimator(log_p, log_q, kind)
    return 2.0 * out if kind == "k2" else out


def _ppo_dual_all(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any,
                  dual_clip: float | None = None) -> np.ndarray:
    obj = losses.ppo_clip_objective(log_probs, old_log_probs, advantages, clip_eps, None)
    if dual_clip is None:
        return obj
    return np.maximum(obj, dual_clip * _f(advantages))


def _ppo_max(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any,
             dual_clip: float | None = None) -> np.ndarray:
    lo, hi = losses.clip_bounds(clip_eps)
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.exp(_f(log_probs) - _f(old_log_probs))
        a = _f(advantages)
        obj = np.maximum(np.where(a == 0, 0.0, r * a), np.clip(r, 1 - lo, 1 + hi) * a)
    if dual_clip is not None:
        obj = np.where(a < 0, np.maximum(obj, dual_clip * a), obj)
    return obj


def _ppo_symmetric(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any,
                   dual_clip: float | None = None) -> np.ndarray:
    lo, _ = losses.clip_bounds(clip_eps)
    return losses.ppo_clip_objective(log_probs, old_log_probs, advantages, lo, dual_clip)


def _ppo_no_dual(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any,
                 dual_clip: float | None = None) -> np.ndarray:
    return losses.ppo_clip_objective(log_probs, old_log_probs, advantages, clip_eps, None)


def _ppo_inverted(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any,
                  dual_clip: float | None = None) -> np.ndarray:
    return losses.ppo_clip_objective(old_log_probs, log_probs, advantages, clip_eps, dual_clip)


def _cf_bug(bug: str) -> Callable[..., Any]:
    def mutant(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any, mask: Any = None,
               definition: str = "ratio-outside") -> float:
        lo, hi = losses.clip_bounds(clip_eps)
        with np.errstate(over="ignore"):
            r = np.exp(_f(log_probs) - _f(old_log_probs))
        a = _f(advantages)
        m = np.ones(r.shape, dtype=bool) if mask is None else _b(mask)
        if bug == "non-strict":
            above, below = r >= 1 + hi, r <= 1 - lo
        else:
            above, below = r > 1 + hi, r < 1 - lo
        if definition == "ratio-outside" or bug == "sign-ignored":
            ind = above | below
        elif bug == "wrong-side":
            ind = ((a > 0) & below) | ((a < 0) & above)
        else:
            ind = ((a > 0) & above) | ((a < 0) & below)
        if bug == "mask-ignored-denominator":
            return float(np.count_nonzero(ind & m) / m.size)
        return float(np.count_nonzero(ind & m) / np.count_nonzero(m))

    return mutant


def _agg_padded(values: Any, mask: Any, mode: str, *, norm_length: float | None = None) -> float:
    """Per-sequence means over the padded length T (the masked_mean length bias)."""
    if mode == "seq-mean-token-mean":
        v, m = _f(values), _b(mask)
        return float(np.mean(np.where(m, v, 0.0).sum(axis=-1) / v.shape[-1]))
    return losses.aggregate(values, mask, mode, norm_length=norm_length)


def _agg_token_mean_for_seq(values: Any, mask: Any, mode: str, *, norm_length: float | None = None) -> float:
    if mode == "seq-mean-token-mean":
        return losses.aggregate(values, mask, "token-mean")
    return losses.aggregate(values, mask, mode, norm_length=norm_length)


def _grpo_wrong_std(rewards: Any, std: str | None = "sample", eps: float = 1e-6) -> np.ndarray:
    swap = {"sample": "population", "unbiased": "biased", "population": "sample", "biased": "unbiased"}
    return losses.grpo_advantages(rewards, swap.get(std, std) if std else std, eps)  # type: ignore[arg-type]


def _rloo_mean_incl(rewards: Any) -> np.ndarray:
    r = _f(rewards)
    return r - r.mean(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- mismatch and IS


def _seq_is_mask_ignored(learner_log_probs: Any, sampler_log_probs: Any, mask: Any,
                         cap: float | None = None) -> np.ndarray:
    return mismatch.sequence_is_weights(learner_log_probs, sampler_log_probs, np.ones(np.shape(mask)), cap)


def _seq_is_geomean(learner_log_probs: Any, sampler_log_probs: Any, mask: Any, cap: float | None = None) -> np.ndarray:
    s = mismatch.gspo_ratio(learner_log_probs, sampler_log_probs, mask)
    return s if cap is None else np.minimum(s, cap)


def _seq_is_cap_per_token(learner_log_probs: Any, sampler_log_probs: Any, mask: Any,
                          cap: float | None = None) -> np.ndarray:
    if cap is None:
        return mismatch.sequence_is_weights(learner_log_probs, sampler_log_probs, mask)
    w = mismatch.token_is_weights(learner_log_probs, sampler_log_probs, mask, cap)
    return np.prod(np.where(_b(mask), w, 1.0), axis=-1)


def _tok_mask_ignored(learner_log_probs: Any, sampler_log_probs: Any, mask: Any,
                      cap: float | None = None) -> np.ndarray:
    return mismatch.token_is_weights(learner_log_probs, sampler_log_probs, np.ones(np.shape(mask)), cap)


def _tok_inverted(learner_log_probs: Any, sampler_log_probs: Any, mask: Any, cap: float | None = None) -> np.ndarray:
    return mismatch.token_is_weights(sampler_log_probs, learner_log_probs, mask, cap)


def _gspo_padded(log_probs: Any, old_log_probs: Any, mask: Any) -> np.ndarray:
    lw = mismatch.sequence_log_is_weights(log_probs, old_log_probs, mask)
    return np.exp(lw / np.shape(mask)[-1])


def _mis_mask_ignored(learner_log_probs: Any, sampler_log_probs: Any, mask: Any, low: float,
                      high: float) -> np.ndarray:
    return mismatch.sequence_mask_weights(learner_log_probs, sampler_log_probs, np.ones(np.shape(mask)), low, high)


def _pdis_trajectory_weight(rewards: Any, log_probs: Any, behavior_log_probs: Any, gamma: float) -> np.ndarray:
    return importance.trajectory_is(rewards, log_probs, behavior_log_probs, gamma)


def _tis_no_mean(values: Any, log_probs: Any, behavior_log_probs: Any, level: float | str) -> np.ndarray:
    return importance.truncated_is(values, log_probs, behavior_log_probs, level) * np.shape(values)[-1]


def _snis_ordinary(values: Any, log_probs: Any, behavior_log_probs: Any) -> np.ndarray:
    return importance.ordinary_is(values, log_probs, behavior_log_probs)


# --------------------------------------------------------------------------- the list


def _m(fid: str, target: str, description: str, fn: Callable[..., Any], family: str) -> Mutant:
    return Mutant(fid, f"reference_impls.{target}", description, fn, family)


CATALOGUE: dict[str, Mutant] = {m.id: m for m in [
    _m("gae:bootstrap-through-terminated", "returns.gae",
       "bootstraps gamma * next_values at terminated steps (treats a termination as a truncation)",
       _flag_bug(returns.gae, "bootstrap-through-terminated"), "value_targets"),
    _m("gae:truncation-as-termination", "returns.gae",
       "does not bootstrap at truncations (treats a time-limit cut as a terminal state)",
       _flag_bug(returns.gae, "truncation-as-termination"), "value_targets"),
    _m("gae:trace-through-truncation", "returns.gae",
       "the lambda-trace is not cut at truncations (only terminations stop it)",
       _trace_through("truncated"), "value_targets"),
    _m("gae:trace-through-termination", "returns.gae",
       "the lambda-trace is not cut at terminations (the flag only zeroes the bootstrap)",
       _trace_through("terminated"), "value_targets"),
    _m("gae:next-values-from-values", "returns.gae",
       "uses values[t + 1] as V(s_{t+1}) inside the array (the next episode's first state after a truncation)",
       _gae_values_shift, "value_targets"),
    _m("gae:lambda-without-gamma", "returns.gae",
       "the trace coefficient is lambda instead of gamma * lambda", _gae_lambda_only, "value_targets"),
    _m("lambda_returns:bootstrap-through-terminated", "returns.lambda_returns",
       "bootstraps gamma * next_values at terminated steps",
       _flag_bug(returns.lambda_returns, "bootstrap-through-terminated"), "value_targets"),
    _m("lambda_returns:truncation-as-termination", "returns.lambda_returns",
       "does not bootstrap at truncations", _flag_bug(returns.lambda_returns, "truncation-as-termination"),
       "value_targets"),
    _m("discounted_returns:bootstrap-through-terminated", "returns.discounted_returns",
       "bootstraps gamma * next_values at terminated steps",
       _flag_bug(returns.discounted_returns, "bootstrap-through-terminated"), "value_targets"),
    _m("discounted_returns:truncation-as-termination", "returns.discounted_returns",
       "does not bootstrap at truncations", _flag_bug(returns.discounted_returns, "truncation-as-termination"),
       "value_targets"),
    _m("vtrace:trace-off-by-one", "returns.vtrace",
       "the correction from step t + 1 is weighted by c_{t+1} instead of c_t (the product runs s+1..t)",
       _vtrace_bug("trace-off-by-one"), "value_targets"),
    _m("vtrace:cbar-as-rhobar", "returns.vtrace", "the traces c_t are clipped at rho_bar instead of c_bar",
       _vtrace_bug("cbar-as-rhobar"), "value_targets"),
    _m("vtrace:pg-uses-values", "returns.vtrace",
       "the policy-gradient advantage bootstraps from next_values instead of v_{s+1}",
       _vtrace_bug("pg-uses-values"), "value_targets"),
    _m("vtrace:pg-bootstrap-next-episode", "returns.vtrace",
       "at a truncation the policy-gradient advantage uses the next episode's v_s (torchrl #4209)",
       _vtrace_bug("pg-bootstrap-next-episode"), "value_targets"),
    _m("vtrace:unclipped-pg-rho", "returns.vtrace",
       "the policy-gradient advantage is weighted by the raw ratio, not min(pg_rho_bar, ratio)",
       _vtrace_bug("unclipped-pg-rho"), "value_targets"),
    _m("vtrace:bootstrap-through-terminated", "returns.vtrace", "bootstraps next_values at terminated steps",
       _flag_bug(returns.vtrace, "bootstrap-through-terminated"), "value_targets"),
    _m("vtrace:truncation-as-termination", "returns.vtrace", "does not bootstrap at truncations",
       _flag_bug(returns.vtrace, "truncation-as-termination"), "value_targets"),
    _m("retrace:trace-off-by-one", "returns.retrace",
       "the trace of the correction from step t + 1 is c_t (V-trace indexing) instead of c_{t+1}",
       _retrace_bug("trace-off-by-one"), "value_targets"),
    _m("retrace:unclipped-trace", "returns.retrace", "the traces are lambda * ratio, not lambda * min(c_bar, ratio)",
       _retrace_bug("unclipped-trace"), "value_targets"),
    _m("retrace:bootstrap-through-terminated", "returns.retrace",
       "bootstraps next_expected_q at terminated steps",
       _flag_bug(returns.retrace, "bootstrap-through-terminated"), "value_targets"),
    _m("retrace:truncation-as-termination", "returns.retrace", "does not bootstrap at truncations",
       _flag_bug(returns.retrace, "truncation-as-termination"), "value_targets"),
    _m("kl_estimator:k3-inverted-ratio", "divergences.kl_estimator",
       "k3 with the ratio inverted: (p/q - 1) - log(p/q), an estimate of KL(q||p)-like quantity, not KL(p||q)",
       _k3_inverted, "kl_estimators"),
    _m("kl_estimator:k1-sign", "divergences.kl_estimator", "k1 = log r instead of -log r (sign flipped)",
       _k1_sign, "kl_estimators"),
    _m("kl_estimator:k2-missing-half", "divergences.kl_estimator", "k2 = (log r)^2 without the factor 1/2",
       _k2_no_half, "kl_estimators"),
    _m("ppo_clip_objective:dual-clip-positive-advantages", "losses.ppo_clip_objective",
       "the dual-clip floor c * A is applied to positive advantages too (tianshou #433)", _ppo_dual_all,
       "ppo_grpo"),
    _m("ppo_clip_objective:max-instead-of-min", "losses.ppo_clip_objective",
       "takes the max of the clipped and unclipped terms (an optimistic, not pessimistic, bound)", _ppo_max,
       "ppo_grpo"),
    _m("ppo_clip_objective:symmetric-eps", "losses.ppo_clip_objective",
       "ignores clip-higher: uses eps_low on both sides of the band", _ppo_symmetric, "ppo_grpo"),
    _m("ppo_clip_objective:dual-clip-ignored", "losses.ppo_clip_objective",
       "ignores the dual-clip constant", _ppo_no_dual, "ppo_grpo"),
    _m("ppo_clip_objective:inverted-ratio", "losses.ppo_clip_objective",
       "the ratio is pi_old / pi_theta instead of pi_theta / pi_old", _ppo_inverted, "ppo_grpo"),
    _m("clip_fraction:sign-ignored", "losses.clip_fraction",
       "counts |r - 1| > eps even when the clipped-branch definition is asked for", _cf_bug("sign-ignored"),
       "ppo_grpo"),
    _m("clip_fraction:wrong-side", "losses.clip_fraction",
       "clipped-branch counts the wrong side (A > 0 below the band, A < 0 above it)", _cf_bug("wrong-side"),
       "ppo_grpo"),
    _m("clip_fraction:mask-ignored-denominator", "losses.clip_fraction",
       "divides by every element, padding included", _cf_bug("mask-ignored-denominator"), "ppo_grpo"),
    _m("clip_fraction:non-strict", "losses.clip_fraction",
       "counts ratios exactly at the band edge as clipped", _cf_bug("non-strict"), "ppo_grpo"),
    _m("aggregate:seq-mean-over-padded-length", "losses.aggregate",
       "seq-mean-token-mean divides each sequence by the padded length T, not its length", _agg_padded,
       "ppo_grpo"),
    _m("aggregate:token-mean-for-seq-mean", "losses.aggregate",
       "seq-mean-token-mean computed as token-mean (length-weighted)", _agg_token_mean_for_seq, "ppo_grpo"),
    _m("grpo_advantages:wrong-std-convention", "losses.grpo_advantages",
       "population std where the sample std is asked for, or the reverse", _grpo_wrong_std, "ppo_grpo"),
    _m("rloo_advantages:mean-includes-self", "losses.rloo_advantages",
       "the baseline is the group mean including the response itself", _rloo_mean_incl, "ppo_grpo"),
    _m("sequence_is_weights:mask-ignored", "mismatch.sequence_is_weights",
       "multiplies the ratios of every token, padding and environment tokens included", _seq_is_mask_ignored,
       "mismatch"),
    _m("sequence_is_weights:geometric-mean", "mismatch.sequence_is_weights",
       "uses GSPO's geometric-mean ratio instead of the product of the token ratios", _seq_is_geomean, "mismatch"),
    _m("sequence_is_weights:cap-per-token", "mismatch.sequence_is_weights",
       "truncates each token ratio at the cap instead of the sequence weight", _seq_is_cap_per_token, "mismatch"),
    _m("token_is_weights:mask-ignored", "mismatch.token_is_weights",
       "returns ratios on masked-out tokens instead of 0", _tok_mask_ignored, "mismatch"),
    _m("token_is_weights:inverted-ratio", "mismatch.token_is_weights",
       "the ratio is sampler / learner instead of learner / sampler", _tok_inverted, "mismatch"),
    _m("sequence_mask_weights:mask-ignored", "mismatch.sequence_mask_weights",
       "the sequence weight includes masked-out tokens", _mis_mask_ignored, "mismatch"),
    _m("gspo_ratio:padded-length", "mismatch.gspo_ratio",
       "divides the summed log-ratio by the padded length T instead of the number of policy tokens",
       _gspo_padded, "mismatch"),
    _m("per_decision_is:trajectory-weight", "importance.per_decision_is",
       "weights every reward by the whole trajectory's ratio (trajectory IS)", _pdis_trajectory_weight,
       "importance_sampling"),
    _m("truncated_is:sum-not-mean", "importance.truncated_is",
       "sums the truncated weighted samples without dividing by n", _tis_no_mean, "importance_sampling"),
    _m("self_normalized_is:ordinary", "importance.self_normalized_is",
       "divides by n instead of by the sum of the weights", _snis_ordinary, "importance_sampling"),
]}


def mutants_for(target: str) -> list[Mutant]:
    """The catalogued mutants of ``target`` (dotted path, e.g. ``reference_impls.returns.gae``)."""
    return [m for m in CATALOGUE.values() if m.target == target]
