"""Bug classes planted in the torch mirror only (:mod:`reference_impls.torch`): ids ``torch.<function>:<bug>``.

Each mutant keeps the mirror's signature and dtype/device behaviour; the numpy functions stay correct, so
only the claims that run the torch path (``verify/claims/paths.py`` and the torch checks of each family)
can see it.
"""

from __future__ import annotations

from typing import Any

import torch

from reference_impls.torch import divergences as TD
from reference_impls.torch import importance as TI
from reference_impls.torch import losses as TL
from reference_impls.torch import mdp as TM
from reference_impls.torch import mismatch as TMM
from reference_impls.torch import returns as TR
from verify.mutants._core import mutant

_T = "reference_impls.torch"
_GAE, _VTRACE, _RETRACE, _RETURNS = TR.gae, TR.vtrace, TR.retrace, TR.discounted_returns
_KLEST, _TV = TD.kl_estimator, TD.tv
_PDIS, _SNIS, _OIS, _IW = TI.per_decision_is, TI.self_normalized_is, TI.ordinary_is, TI.importance_weights
_PPO, _CLIPFRAC, _AGG, _GRPO = TL.ppo_clip_objective, TL.clip_fraction, TL.aggregate, TL.grpo_advantages
_SEQW, _GSPO = TMM.sequence_is_weights, TMM.gspo_ratio
_OCC, _VIS, _PG = TM.occupancy, TM.visitation, TM.policy_gradient


def _b(x: Any, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(x, device=like.device).to(torch.bool)


# --------------------------------------------------------------------------- returns


@mutant("torch.gae:truncation-as-termination", f"{_T}.returns.gae", "value-targets",
        "torch mirror only: GAE treats a truncation as termination (SB3 #633, CleanRL #198)")
def gae_truncation(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
                   lam: float, *, method: str = "auto") -> torch.Tensor:
    r = torch.as_tensor(rewards)
    te, tr = _b(terminated, r), _b(truncated, r)
    return _GAE(rewards, values, next_values, te | tr, torch.zeros_like(tr), gamma, lam, method=method)


@mutant("torch.gae:bootstrap-through-terminated", f"{_T}.returns.gae", "value-targets",
        "torch mirror only: GAE bootstraps V(s_{t+1}) at terminal steps")
def gae_bootstrap_terminated(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any,
                             gamma: float, lam: float, *, method: str = "auto") -> torch.Tensor:
    r = torch.as_tensor(rewards)
    te, tr = _b(terminated, r), _b(truncated, r)
    return _GAE(rewards, values, next_values, torch.zeros_like(te), te | tr, gamma, lam, method=method)


@mutant("torch.discounted_returns:no-bootstrap-at-end", f"{_T}.returns.discounted_returns", "value-targets",
        "torch mirror only: the end of the array is treated as terminal (no bootstrap from the last next value)")
def returns_no_bootstrap_end(rewards: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float, *,
                             method: str = "auto") -> torch.Tensor:
    r = torch.as_tensor(rewards)
    te, tr = _b(terminated, r).clone(), _b(truncated, r).clone()
    te[..., -1] |= ~tr[..., -1]
    tr[..., -1] = False
    return _RETURNS(rewards, next_values, te, tr, gamma, method=method)


@mutant("torch.lambda_returns:missing-values", f"{_T}.returns.lambda_returns", "value-targets",
        "torch mirror only: lambda-returns without the values added back")
def lambda_returns_missing_values(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any,
                                  gamma: float, lam: float, *, method: str = "auto") -> torch.Tensor:
    return _GAE(rewards, values, next_values, terminated, truncated, gamma, lam, method=method)


@mutant("torch.vtrace:cbar-as-rhobar", f"{_T}.returns.vtrace", "value-targets",
        "torch mirror only: V-trace traces clipped at rho_bar instead of c_bar")
def vtrace_cbar(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any, truncated: Any,
                gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0, pg_rho_bar: float = 1.0, *,
                method: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    return _VTRACE(rewards, values, next_values, log_rhos, terminated, truncated, gamma, lam, rho_bar, rho_bar,
                   pg_rho_bar, method=method)


@mutant("torch.vtrace:pg-bootstrap-next-episode", f"{_T}.returns.vtrace", "value-targets",
        "torch mirror only: the pg advantage at a truncation uses the next trajectory's vs (torchrl #4209)")
def vtrace_pg_next(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any, truncated: Any,
                   gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0, pg_rho_bar: float = 1.0,
                   *, method: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    vs, pg = _VTRACE(rewards, values, next_values, log_rhos, terminated, truncated, gamma, lam, rho_bar, c_bar,
                     pg_rho_bar, method=method)
    tr = _b(truncated, vs).clone()
    tr[..., -1] = False
    q = torch.zeros_like(vs)
    q[..., :-1] = vs[..., 1:]
    wrong = torch.exp(log_rhos).clamp(max=pg_rho_bar) * (rewards + gamma * q - values)
    return vs, torch.where(tr, wrong, pg)


@mutant("torch.retrace:untruncated-traces", f"{_T}.returns.retrace", "value-targets",
        "torch mirror only: Retrace traces not truncated at c_bar")
def retrace_untruncated(rewards: Any, q_values: Any, next_expected_q: Any, log_rhos: Any, terminated: Any,
                        truncated: Any, gamma: float, lam: float = 1.0, c_bar: float = 1.0, *,
                        method: str = "auto") -> torch.Tensor:
    return _RETRACE(rewards, q_values, next_expected_q, log_rhos, terminated, truncated, gamma, lam, float("inf"),
                    method=method)


# --------------------------------------------------------------------------- divergences, importance


@mutant("torch.kl_estimator:k3-inverted-ratio", f"{_T}.divergences.kl_estimator", "kl-estimators",
        "torch mirror only: k3 formed with r = p/q instead of q/p (estimates KL(q||p) from samples of p)")
def kl_estimator_k3_inverted(log_p: Any, log_q: Any, kind: str) -> torch.Tensor:
    return _KLEST(log_q, log_p, kind) if kind == "k3" else _KLEST(log_p, log_q, kind)


@mutant("torch.tv:missing-half", f"{_T}.divergences.tv", "kl-estimators",
        "torch mirror only: total variation computed as the plain L1 norm (the 1/2 dropped)")
def tv_missing_half(p: Any, q: Any) -> torch.Tensor:
    return 2.0 * _TV(p, q)


@mutant("torch.per_decision_is:full-trajectory-weight", f"{_T}.importance.per_decision_is", "importance-sampling",
        "torch mirror only: per-decision IS weights every reward by the whole trajectory's ratio")
def pdis_full_weight(rewards: Any, log_probs: Any, behavior_log_probs: Any, gamma: float) -> torch.Tensor:
    lw = (log_probs - behavior_log_probs).sum(-1, keepdim=True)
    t = torch.arange(rewards.shape[-1], dtype=rewards.dtype, device=rewards.device)
    return (torch.exp(lw) * rewards * gamma ** t).sum(-1)


@mutant("torch.self_normalized_is:unnormalized", f"{_T}.importance.self_normalized_is", "importance-sampling",
        "torch mirror only: 'self-normalized' IS divides by n instead of the sum of the weights")
def snis_unnormalized(values: Any, log_probs: Any, behavior_log_probs: Any) -> torch.Tensor:
    return _OIS(values, log_probs, behavior_log_probs)


@mutant("torch.importance_weights:inverted-ratio", f"{_T}.importance.importance_weights", "importance-sampling",
        "torch mirror only: importance weights mu/pi instead of pi/mu")
def iw_inverted(log_probs: Any, behavior_log_probs: Any) -> torch.Tensor:
    return _IW(behavior_log_probs, log_probs)


# --------------------------------------------------------------------------- losses, mismatch


@mutant("torch.ppo_clip_objective:dual-clip-positive-advantages", f"{_T}.losses.ppo_clip_objective", "ppo-grpo",
        "torch mirror only: dual clip max(L, c A) applied to positive advantages too (tianshou #433)")
def ppo_dual_clip_positive(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any,
                           dual_clip: float | None = None) -> torch.Tensor:
    obj = _PPO(log_probs, old_log_probs, advantages, clip_eps)
    return obj if dual_clip is None else torch.maximum(obj, dual_clip * advantages)


@mutant("torch.clip_fraction:padding-counted", f"{_T}.losses.clip_fraction", "ppo-grpo",
        "torch mirror only: the clip fraction counts padding tokens (mask ignored; TRL #6803, RLinf #1471)")
def clip_fraction_padding(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any, mask: Any = None,
                          definition: str = "ratio-outside") -> torch.Tensor:
    return _CLIPFRAC(log_probs, old_log_probs, advantages, clip_eps, None, definition)


@mutant("torch.aggregate:token-mean-for-seq-mean", f"{_T}.losses.aggregate", "ppo-grpo",
        "torch mirror only: seq-mean-token-mean computed as token-mean over the batch (verl PR #2435)")
def aggregate_token_mean(values: Any, mask: Any, mode: str, *, norm_length: float | None = None) -> torch.Tensor:
    if mode == "seq-mean-token-mean":
        mode = "token-mean"
    return _AGG(values, mask, mode, norm_length=norm_length)


@mutant("torch.grpo_advantages:population-for-sample", f"{_T}.losses.grpo_advantages", "ppo-grpo",
        "torch mirror only: the std convention argument is ignored; always the population std (ddof 0)")
def grpo_population(rewards: Any, std: str | None = "sample", eps: float = 1e-6) -> torch.Tensor:
    return _GRPO(rewards, None if std is None else "population", eps)


@mutant("torch.sequence_is_weights:mask-ignored", f"{_T}.mismatch.sequence_is_weights", "mismatch",
        "torch mirror only: the sequence weight multiplies the ratios of every token, environment/padding included")
def seq_weights_mask_ignored(learner_log_probs: Any, sampler_log_probs: Any, mask: Any,
                             cap: float | None = None) -> torch.Tensor:
    return _SEQW(learner_log_probs, sampler_log_probs, torch.ones_like(torch.as_tensor(mask)), cap)


@mutant("torch.gspo_ratio:unnormalized-length", f"{_T}.mismatch.gspo_ratio", "mismatch",
        "torch mirror only: GSPO's ratio without the 1/|y| (the product ratio; TRL #5814)")
def gspo_product(log_probs: Any, old_log_probs: Any, mask: Any) -> torch.Tensor:
    m = torch.as_tensor(mask)
    return _GSPO(log_probs, old_log_probs, mask) ** m.sum(-1).to(torch.as_tensor(log_probs).dtype)


# --------------------------------------------------------------------------- exact MDP quantities


@mutant("torch.occupancy:unnormalized", f"{_T}.mdp.occupancy", "policy-gradient",
        "torch mirror only: the 'occupancy' returned without the (1 - gamma) factor (sums to 1/(1-gamma))")
def occupancy_unnormalized(transitions: Any, rewards: Any, initial: Any, gamma: Any, policy: Any) -> torch.Tensor:
    return _VIS(transitions, rewards, initial, gamma, policy)


@mutant("torch.policy_gradient:normalized-occupancy", f"{_T}.mdp.policy_gradient", "policy-gradient",
        "torch mirror only: the policy gradient weighted by the normalized occupancy, i.e. (1 - gamma) x the "
        "gradient")
def pg_normalized(transitions: Any, rewards: Any, initial: Any, gamma: Any, logits: Any) -> torch.Tensor:
    return (1.0 - torch.as_tensor(gamma, dtype=torch.as_tensor(logits).dtype)) * _PG(transitions, rewards, initial,
                                                                                     gamma, logits)
