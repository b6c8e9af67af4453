"""Run the conformance kit on peer libraries' implementations and write ``reports/conformance.md``.

    python -m verify.conformance.peers [--out reports/conformance.md] [--examples 100]

(``tox -e peers`` installs the peers -- the ``peers`` extra -- and runs this.) Every peer function
that implements one of our targets is wrapped by an adapter that only converts conventions (layout,
flags, argument order, outputs) and checked in float64 and in float32. A verdict is one of

* **conforms** -- within the tolerance of ``check`` on every example;
* **conforms up to <a named convention difference>** -- it does not conform to the reference, but it
  conforms exactly to the reference with that convention applied (e.g. the peer's documented clamp
  of log-ratios at +-20); the shrunk input that shows the difference is given;
* **conforms to float32 rounding** (float64 inputs only) -- the peer computes internally in float32:
  it conforms when judged at float32 rounding (``check(..., precision="float32")``), not at float64's;
* **does not conform** -- max error, the minimal counterexample and the diagnosis.

A peer that cannot be imported is listed with the reason, never dropped. The report has no
timestamps; with the same peer versions and seed it is byte-identical.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reference_impls import divergences, losses, returns
from verify.conformance import ConformanceResult, adapters, check

DTYPES = ("float64", "float32")
LOOSE = {"precision": "float32"}


@dataclass
class PeerCheck:
    peer: str  # distribution name, e.g. "rlax"
    function: str  # what is checked, e.g. "rlax.truncated_generalized_advantage_estimation"
    target: str
    adapter: str  # the conventions the adapter converts
    make: Callable[[], Callable[..., Any]]  # builds the wrapped function (imports the peer)
    fixed: dict[str, Any] = field(default_factory=dict)
    convention: tuple[str, Callable[..., Any]] | None = None  # (what differs, the reference with it applied)
    note: str = ""  # a hand check against the paper, where the peer does not conform


# --------------------------------------------------------------------------- helpers


def _rows(fn1d: Callable[..., Any], *arrays: Any) -> Any:
    """Apply a rank-1 peer function to every row ``[..., T]``; stacks outputs (tuples too)."""
    a0 = np.asarray(arrays[0])
    shape = a0.shape
    flat = [np.asarray(a).reshape(-1, shape[-1]) for a in arrays]
    outs = [fn1d(*[f[i] for f in flat]) for i in range(flat[0].shape[0])]
    if isinstance(outs[0], tuple):
        return tuple(np.stack([np.asarray(o[k]) for o in outs]).reshape(shape) for k in range(len(outs[0])))
    return np.stack([np.asarray(o) for o in outs]).reshape(shape)


def _require_consistent(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn._conformance_requires = frozenset({"consistent-next-values"})  # type: ignore[attr-defined]
    return fn


def _fold(rewards: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """Truncation as a terminal step with reward r + gamma * V(final obs) (exact; see adapters)."""
    r = np.asarray(rewards)
    tr = np.asarray(truncated, dtype=bool)
    folded = np.where(tr, r + np.asarray(gamma * np.asarray(next_values), dtype=r.dtype), r).astype(r.dtype)
    return folded, np.asarray(terminated, dtype=bool) | tr


def _clamped_log_ratio(lp: Any, old: Any, bound: float) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(lp, dtype=np.float64)
    b = np.asarray(old, dtype=np.float64)
    return b + np.clip(a - b, -bound, bound), b


# --------------------------------------------------------------------------- rlax


def _jax() -> Any:
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    return jax


def _vrows(f1d: Callable[..., Any], n_arrays: int) -> Callable[..., Any]:
    """jit(vmap(f1d)) over the rows of ``n_arrays`` leading ``[..., T]`` arrays; trailing args are scalars."""
    jax = _jax()
    g = jax.jit(jax.vmap(f1d, in_axes=(0,) * n_arrays + (None,) * 8))

    def call(*args: Any) -> Any:
        arrays, scalars = args[:n_arrays], list(args[n_arrays:])
        shape = np.shape(arrays[0])
        dt = np.asarray(arrays[0]).dtype
        flat = [np.asarray(a).reshape(-1, np.shape(a)[-1]) for a in arrays]
        sc = [np.asarray(x, dtype=dt) for x in scalars] + [np.zeros((), dt)] * (8 - len(scalars))
        out = g(*flat, *sc)
        if isinstance(out, tuple):
            return tuple(np.asarray(o).reshape(shape) for o in out)
        return np.asarray(out).reshape(shape)

    return call


def _rlax_gae() -> Callable[..., Any]:
    import rlax
    f = _vrows(lambda r, v, d, lam, *_: rlax.truncated_generalized_advantage_estimation(r, d, lam, v), 3)

    def fn(rewards: Any, values_ext: Any, discounts: Any, lam: float) -> Any:
        r = np.asarray(rewards)
        out = f(r.reshape(-1, r.shape[-1]), np.asarray(values_ext).reshape(-1, r.shape[-1] + 1),
                np.asarray(discounts).reshape(-1, r.shape[-1]), lam)
        return out.reshape(r.shape)

    return adapters.adapt(fn, "returns.gae", flags="discounts", values_stream=True)


def _rlax_lambda_returns() -> Callable[..., Any]:
    import rlax
    f = _vrows(lambda r, nv, d, lam, *_: rlax.lambda_returns(r, d, nv, lam), 3)

    def fn(rewards: Any, values: Any, next_values: Any, discounts: Any, lam: float) -> Any:
        return f(rewards, next_values, discounts, lam)

    return _require_consistent(adapters.adapt(fn, "returns.lambda_returns", flags="discounts"))


def _rlax_discounted_returns() -> Callable[..., Any]:
    import rlax
    f = _vrows(lambda r, nv, d, *_: rlax.discounted_returns(r, d, nv), 3)

    def fn(rewards: Any, next_values: Any, discounts: Any) -> Any:
        return f(rewards, next_values, discounts)

    return adapters.adapt(fn, "returns.discounted_returns", flags="discounts")


def _rlax_vtrace_1d(r: Any, v: Any, nv: Any, lr: Any, d: Any, lm: Any, rho_bar: Any, pg_rho_bar: Any, *_: Any) -> Any:
    import jax.numpy as jnp
    import rlax
    out = rlax.vtrace_td_error_and_advantage(v, nv, r, d, jnp.exp(lr), lambda_=lm, clip_rho_threshold=rho_bar,
                                             clip_pg_rho_threshold=pg_rho_bar)
    return out.errors + v, out.pg_advantage


def _rlax_vtrace() -> Callable[..., Any]:
    f = _vrows(_rlax_vtrace_1d, 6)

    def fn(rewards: Any, values: Any, next_values: Any, log_rhos: Any, discounts: Any, lam: float, rho_bar: float,
           c_bar: float, pg_rho_bar: float) -> Any:
        lams = np.full(np.shape(rewards), lam, dtype=np.asarray(rewards).dtype)
        return f(rewards, values, next_values, log_rhos, discounts, lams, rho_bar, pg_rho_bar)

    return adapters.adapt(fn, "returns.vtrace", flags="discounts")


def _rlax_vtrace_lambda_cut() -> Callable[..., Any]:
    """rlax V-trace with a mid-trace truncation expressed as lambda_t = 0 and v_t = V(final obs)."""
    f = _vrows(_rlax_vtrace_1d, 6)

    def fn(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any, truncated: Any,
           gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0, pg_rho_bar: float = 1.0) -> Any:
        te = np.asarray(terminated, dtype=bool)
        tr = np.asarray(truncated, dtype=bool)
        dt = np.asarray(rewards).dtype
        return f(rewards, values, next_values, log_rhos, (gamma * ~te).astype(dt), (lam * ~tr).astype(dt), rho_bar,
                 pg_rho_bar)

    return fn


def _rlax_vtrace_model(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any, truncated: Any,
                       gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0,
                       pg_rho_bar: float = 1.0) -> Any:
    """The reference with rlax's policy-gradient bootstrap q_t = lam vs_{t+1} + (1 - lam) values[t+1] inside an
    episode (the reference uses vs_{t+1}; the two agree at lam = 1 when next_values[t] = values[t+1])."""
    vs, _ = returns.vtrace(rewards, values, next_values, log_rhos, terminated, truncated, gamma, lam, rho_bar, c_bar,
                           pg_rho_bar)
    r, v, nv = (np.asarray(x, dtype=np.float64) for x in (rewards, values, next_values))
    te, tr = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
    q = nv.copy()
    q[..., :-1] = np.where(te[..., :-1] | tr[..., :-1], nv[..., :-1], lam * vs[..., 1:] + (1 - lam) * v[..., 1:])
    with np.errstate(over="ignore"):
        ratio = np.exp(np.asarray(log_rhos, dtype=np.float64))
    pg = np.minimum(ratio, pg_rho_bar) * (r + gamma * np.where(te, 0.0, q) - v)
    return vs, pg


def _rlax_retrace() -> Callable[..., Any]:
    import rlax
    f = _vrows(lambda r, q, nq, c, d, *_: rlax.general_off_policy_returns_from_q_and_v(q[1:], nq, r, d, c[1:]), 5)

    def fn(rewards: Any, q_values: Any, next_expected_q: Any, log_rhos: Any, terminated: Any, truncated: Any,
           gamma: float, lam: float = 1.0, c_bar: float = 1.0) -> Any:
        r, ends = _fold(rewards, next_expected_q, terminated, truncated, gamma)
        dt = r.dtype
        disc = (gamma * ~ends).astype(dt)
        c = (lam * np.minimum(c_bar, np.exp(np.asarray(log_rhos, dtype=np.float64)))).astype(dt)
        return f(r, q_values, next_expected_q, c, disc)

    return fn


def _rlax_ppo() -> Callable[..., Any]:
    jax = _jax()
    import rlax

    per_element = jax.jit(jax.vmap(lambda r, a, e: -rlax.clipped_surrogate_pg_loss(r[None], a[None], e),
                                   in_axes=(0, 0, None)))

    def fn(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: float) -> Any:
        lp = np.asarray(log_probs)
        with np.errstate(over="ignore"):
            ratio = np.exp(lp - np.asarray(old_log_probs))
        a = np.asarray(advantages)
        return np.asarray(per_element(ratio.reshape(-1), a.reshape(-1), np.asarray(clip_eps, lp.dtype))
                          ).reshape(lp.shape)

    return fn


# --------------------------------------------------------------------------- torchrl


def _t(x: Any) -> Any:
    import torch
    a = np.array(x, copy=True)
    return torch.as_tensor(a.reshape(-1, a.shape[-1]))[..., None]  # [*B, T] -> [B, T, 1] (a batch axis always)


def _np(x: Any, like: Any) -> np.ndarray:
    return np.asarray(x.detach().cpu().numpy())[..., 0].reshape(np.shape(like))


def _torchrl_gae(which: int, vec: bool = False) -> Callable[[], Callable[..., Any]]:
    def make() -> Callable[..., Any]:
        from torchrl.objectives.value import functional as F
        g = F.vec_generalized_advantage_estimate if vec else F.generalized_advantage_estimate

        def fn(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
               lam: float) -> Any:
            te = np.asarray(terminated, dtype=bool)
            done = te | np.asarray(truncated, dtype=bool)
            adv, target = g(gamma, lam, _t(values), _t(next_values), _t(rewards), done=_t(done), terminated=_t(te))
            return _np(adv, rewards) if which == 0 else _np(target, rewards)

        return fn if which == 0 else _require_consistent(fn)

    return make


def _torchrl_td_lambda() -> Callable[..., Any]:
    from torchrl.objectives.value import functional as F

    def fn(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
           lam: float) -> Any:
        te = np.asarray(terminated, dtype=bool)
        done = te | np.asarray(truncated, dtype=bool)
        return _np(F.td_lambda_return_estimate(gamma, lam, _t(next_values), _t(rewards), done=_t(done),
                                               terminated=_t(te)), rewards)

    return _require_consistent(fn)


def _torchrl_td1() -> Callable[..., Any]:
    from torchrl.objectives.value import functional as F

    def fn(rewards: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float) -> Any:
        te = np.asarray(terminated, dtype=bool)
        done = te | np.asarray(truncated, dtype=bool)
        return _np(F.td1_return_estimate(gamma, _t(next_values), _t(rewards), done=_t(done), terminated=_t(te)),
                   rewards)

    return fn


def _torchrl_vtrace() -> Callable[..., Any]:
    import torch
    from torchrl.objectives.value import functional as F

    def fn(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any, truncated: Any,
           gamma: float, lam: float, rho_bar: float, c_bar: float) -> Any:
        te = np.asarray(terminated, dtype=bool)
        done = te | np.asarray(truncated, dtype=bool)
        lr = _t(log_rhos)
        pg, vs = F.vtrace_advantage_estimate(gamma, lr, torch.zeros_like(lr), _t(values), _t(next_values),
                                             _t(rewards), done=_t(done), terminated=_t(te), rho_thresh=rho_bar,
                                             c_thresh=c_bar)
        return _np(vs, rewards), _np(pg, rewards)

    return fn


# --------------------------------------------------------------------------- SB3 and tianshou


def _sb3_gae(which: int) -> Callable[[], Callable[..., Any]]:
    def make() -> Callable[..., Any]:
        import torch
        from gymnasium import spaces
        from stable_baselines3.common.buffers import RolloutBuffer

        def fn(rewards: Any, values: Any, next_values: Any, dones: Any, gamma: float, lam: float) -> Any:
            r = np.asarray(rewards)
            shape = r.shape
            T = shape[-1]
            rr = r.reshape(-1, T).T  # [T, n_envs]
            v = np.asarray(values).reshape(-1, T).T
            nv = np.asarray(next_values).reshape(-1, T).T
            d = np.asarray(dones, dtype=bool).reshape(-1, T).T
            n = rr.shape[1]
            buf = RolloutBuffer(T, spaces.Box(-1, 1, (1,)), spaces.Discrete(2), device="cpu", gamma=gamma,
                                gae_lambda=lam, n_envs=n)
            start = np.ones(n, dtype=bool)
            for t in range(T):
                buf.add(np.zeros((n, 1), np.float32), np.zeros((n, 1)), rr[t], start,
                        torch.as_tensor(v[t]), torch.zeros(n))
                start = d[t]
            buf.compute_returns_and_advantage(last_values=torch.as_tensor(nv[-1]), dones=d[-1])
            out = buf.advantages if which == 0 else buf.returns
            return np.asarray(out).T.reshape(shape)

        target = "returns.gae" if which == 0 else "returns.lambda_returns"
        return _require_consistent(adapters.adapt(fn, target, flags="dones"))

    return make


def _tianshou_gae() -> Callable[..., Any]:
    from tianshou.algorithm.algorithm_base import _gae

    def fn(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
           lam: float) -> Any:
        r = np.asarray(rewards, dtype=np.float64)
        shape = r.shape
        T = shape[-1]
        te = np.asarray(terminated, dtype=bool).reshape(-1, T)
        end = (te | np.asarray(truncated, dtype=bool).reshape(-1, T)).copy()
        end[:, -1] = True  # each row is its own buffer segment: the array's end is a cut that bootstraps
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        nv = (np.asarray(next_values, dtype=np.float64).reshape(-1, T) * ~te).reshape(-1)
        return _gae(v, nv, r.reshape(-1), end.reshape(-1).astype(np.float64), gamma, lam).reshape(shape)

    return fn


# --------------------------------------------------------------------------- verl


def _verl_episode_rows(fn_rows: Callable[..., Any]) -> Callable[..., Any]:
    """verl has no episode flags: every episode segment becomes a right-padded row ending in a terminal token."""

    def fn(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
           lam: float) -> Any:
        import torch
        r, ends = _fold(rewards, next_values, terminated, truncated, gamma)
        shape = r.shape
        T = shape[-1]
        v = np.asarray(values)
        nv = np.asarray(next_values)
        rr, vv, ee, nn = r.reshape(-1, T), v.reshape(-1, T), ends.reshape(-1, T), nv.reshape(-1, T)
        segs: list[tuple[int, int, int]] = []
        for i in range(rr.shape[0]):
            s = 0
            for t in range(T):
                if ee[i, t] or t == T - 1:
                    segs.append((i, s, t + 1))
                    s = t + 1
        L = max(b - a for _, a, b in segs)
        L = max(L, 2)
        R = np.zeros((len(segs), L), dtype=r.dtype)
        V = np.zeros((len(segs), L), dtype=r.dtype)
        M = np.zeros((len(segs), L), dtype=np.int64)
        for k, (i, a, b) in enumerate(segs):
            R[k, :b - a] = rr[i, a:b]
            V[k, :b - a] = vv[i, a:b]
            M[k, :b - a] = 1
            if not ee[i, b - 1]:  # the array's end: bootstrap from next_values, as a folded reward
                R[k, b - a - 1] += gamma * nn[i, b - 1]
        # one extra all-zero row of two tokens: verl whitens advantages over the batch and refuses a batch of one
        # token; the extra row changes no other row's returns
        R = np.concatenate([R, np.zeros((1, L), R.dtype)])
        V = np.concatenate([V, np.zeros((1, L), V.dtype)])
        M = np.concatenate([M, np.zeros((1, L), M.dtype)])
        M[-1, :2] = 1
        out = np.asarray(fn_rows(torch.as_tensor(R), torch.as_tensor(V), torch.as_tensor(M), gamma, lam))
        res = np.zeros(rr.shape, dtype=np.float64)
        for k, (i, a, b) in enumerate(segs):
            res[i, a:b] = out[k, :b - a]
        return res.reshape(shape)

    return _require_consistent(fn)


def _verl_gae_returns() -> Callable[..., Any]:
    import torch
    from verl.trainer.ppo import core_algos as ca

    def rows(R: Any, V: Any, M: Any, gamma: float, lam: float) -> Any:
        _, ret = ca.compute_gae_advantage_return(R, V, M, gamma=torch.tensor(gamma, dtype=R.dtype),
                                                 lam=torch.tensor(lam, dtype=R.dtype))
        return ret.numpy()

    return _verl_episode_rows(rows)


def _verl_kl() -> Callable[..., Any]:
    import torch
    from verl.trainer.ppo import core_algos as ca
    names = {"k1": "k1", "k2": "k2", "k3": "low_var_kl"}

    def fn(log_p: Any, log_q: Any, kind: str) -> Any:
        return ca.kl_penalty(torch.as_tensor(np.array(log_p)), torch.as_tensor(np.array(log_q)), names[kind]).numpy()

    return fn


def _verl_kl_model(log_p: Any, log_q: Any, kind: str) -> Any:
    """The reference with verl's clamps: log r to [-20, 20] and k3 to [-10, 10]."""
    lp = np.asarray(log_p, dtype=np.float64)
    lr = np.asarray(log_q, dtype=np.float64) - lp
    if kind != "k3":
        return divergences.kl_estimator(log_p, log_q, kind)
    lr = np.clip(lr, -20.0, 20.0)
    return np.clip(divergences.kl_estimator(np.zeros_like(lr), lr, "k3"), -10.0, 10.0)


def _verl_config(clip: float = 0.2) -> Any:
    from verl.workers.config import ActorConfig
    return ActorConfig(strategy="fsdp", rollout_n=1, ppo_micro_batch_size_per_gpu=1, clip_ratio=clip,
                       clip_ratio_low=clip, clip_ratio_high=clip, clip_ratio_c=3.0)


def _verl_ppo() -> Callable[..., Any]:
    import torch
    from verl.trainer.ppo import core_algos as ca
    cfg = _verl_config()

    def fn(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: float, dual_clip: float) -> Any:
        lp = np.asarray(log_probs)
        flat = [np.asarray(x).reshape(-1, 1) for x in (old_log_probs, log_probs, advantages)]
        out = np.empty(lp.size)
        for i in range(lp.size):
            o, n, a = (torch.as_tensor(f[i:i + 1].copy()) for f in flat)
            loss, _ = ca.compute_policy_loss_vanilla(o, n, a, torch.ones_like(o), loss_agg_mode="token-mean",
                                                     config=cfg)
            out[i] = -float(loss)
        return out.reshape(lp.shape)

    return fn


def _ppo_clamp_model(bound: float) -> Callable[..., Any]:
    def model(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: Any, dual_clip: Any = None) -> Any:
        lp, old = _clamped_log_ratio(log_probs, old_log_probs, bound)
        return losses.ppo_clip_objective(lp, old, advantages, clip_eps, dual_clip)
    return model


def _verl_clipfrac() -> Callable[..., Any]:
    import torch
    from verl.trainer.ppo import core_algos as ca
    cfg = _verl_config()

    def fn(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: float, mask: Any,
           definition: str = "clipped-branch") -> Any:
        o, n, a = (torch.as_tensor(np.atleast_2d(np.array(x))) for x in (old_log_probs, log_probs, advantages))
        mm = np.ones(np.shape(log_probs)) if mask is None else np.asarray(mask, dtype=np.float64)
        m = torch.as_tensor(np.atleast_2d(mm)).to(o.dtype)
        _, metrics = ca.compute_policy_loss_vanilla(o, n, a, m, loss_agg_mode="token-mean", config=cfg)
        key = next(k for k in metrics if k.endswith("pg_clipfrac"))
        return float(metrics[key])

    return fn


def _verl_agg() -> Callable[..., Any]:
    import torch
    from verl.trainer.ppo import core_algos as ca

    def fn(values: Any, mask: Any, mode: str) -> Any:
        v = torch.as_tensor(np.atleast_2d(np.array(values)).reshape(-1, np.shape(values)[-1]))
        m = torch.as_tensor(np.atleast_2d(np.asarray(mask, dtype=np.float64)).reshape(v.shape)).to(v.dtype)
        return float(ca.agg_loss(v, m, mode))

    return fn


def _verl_grpo() -> Callable[..., Any]:
    import torch
    from verl.trainer.ppo import core_algos as ca

    def fn(rewards: Any, std: str = "sample", eps: float = 1e-6) -> Any:
        r = np.asarray(rewards)
        G = r.shape[-1]
        flat = r.reshape(-1)
        index = np.repeat(np.arange(flat.size // G), G)
        scores = torch.as_tensor(flat.copy())[:, None]
        adv, _ = ca.compute_grpo_outcome_advantage(scores, torch.ones_like(scores), index, epsilon=1e-6,
                                                   norm_adv_by_std_in_grpo=True)
        return adv[:, 0].numpy().reshape(r.shape)

    return fn


def _verl_rollout_is(level: str) -> Callable[[], Callable[..., Any]]:
    def make() -> Callable[..., Any]:
        import torch
        from verl.trainer.ppo.rollout_corr_helper import compute_rollout_correction_weights

        def fn(learner_log_probs: Any, sampler_log_probs: Any, mask: Any, cap: float) -> Any:
            a = np.asarray(learner_log_probs)
            T = a.shape[-1]
            lr = torch.as_tensor((a - np.asarray(sampler_log_probs)).reshape(-1, T))
            m = torch.as_tensor(np.asarray(mask, dtype=a.dtype).reshape(-1, T))
            w, _ = compute_rollout_correction_weights(lr, m, rollout_is=level, rollout_is_threshold=cap)
            w = w.numpy()
            if level == "token":
                return w.reshape(a.shape)
            first = np.argmax(np.asarray(mask, dtype=bool).reshape(-1, T), axis=-1)
            return w[np.arange(w.shape[0]), first].reshape(a.shape[:-1])

        return fn

    return make


def _verl_is_model(level: str) -> Callable[..., Any]:
    def model(learner_log_probs: Any, sampler_log_probs: Any, mask: Any, cap: Any = None) -> Any:
        """The reference with verl's SAFETY_BOUND: log-weights clamped to [-20, 20] before exp; a batch with no
        valid token is rejected (ValueError), as verl does."""
        if not np.any(np.asarray(mask, dtype=bool)):
            raise ValueError("mask: verl rejects a batch with no valid token")
        lr = np.where(np.asarray(mask, dtype=bool),
                      np.asarray(learner_log_probs, np.float64) - np.asarray(sampler_log_probs, np.float64), 0.0)
        if level == "token":
            lw = np.clip(lr, -20.0, 20.0)
            if cap is not None:
                lw = np.minimum(lw, math.log(cap))
            return np.where(np.asarray(mask, dtype=bool), np.exp(lw), 0.0)
        lw = np.clip(lr.sum(axis=-1), -20.0, 20.0)
        if cap is not None:
            lw = np.minimum(lw, math.log(cap))
        return np.exp(lw)
    return model


# --------------------------------------------------------------------------- OpenRLHF (files loaded from the wheel)


def _openrlhf_modules() -> tuple[Any, Any]:
    spec = importlib.util.find_spec("openrlhf")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("openrlhf is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    if "deepspeed" not in sys.modules:  # models/utils.py imports deepspeed at top level; the loss code never uses it
        sys.modules["deepspeed"] = types.ModuleType("deepspeed")
    pkg = types.ModuleType("openrlhf_models")
    pkg.__path__ = [str(root / "models")]
    sys.modules["openrlhf_models"] = pkg
    mods = []
    for name in ("utils", "loss"):
        sp = importlib.util.spec_from_file_location(f"openrlhf_models.{name}", root / "models" / f"{name}.py")
        assert sp is not None and sp.loader is not None
        mod = importlib.util.module_from_spec(sp)
        sys.modules[f"openrlhf_models.{name}"] = mod
        sp.loader.exec_module(mod)
        mods.append(mod)
    return mods[0], mods[1]


def _openrlhf_kl() -> Callable[..., Any]:
    import torch
    utils, _ = _openrlhf_modules()

    def fn(log_p: Any, log_q: Any, kind: str) -> Any:
        return utils.compute_approx_kl(torch.as_tensor(np.array(log_p)), torch.as_tensor(np.array(log_q)),
                                       kl_estimator=kind).numpy()

    return fn


def _openrlhf_kl_model(log_p: Any, log_q: Any, kind: str) -> Any:
    """The reference with OpenRLHF's clamps: in k3 log r <= 10 (log_probs - base >= -10); all values in [-10, 10]."""
    lp = np.asarray(log_p, dtype=np.float64)
    lr = np.asarray(log_q, dtype=np.float64) - lp
    if kind == "k3":
        lr = np.minimum(lr, 10.0)
    return np.clip(divergences.kl_estimator(np.zeros_like(lr), lr, kind), -10.0, 10.0)


def _openrlhf_ppo() -> Callable[..., Any]:
    import torch
    _, loss_mod = _openrlhf_modules()

    def fn(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: float, dual_clip: float) -> Any:
        pl = loss_mod.PolicyLoss(clip_eps, clip_eps, dual_clip=dual_clip, token_level_loss=True)
        lp = np.asarray(log_probs)
        flat = [np.asarray(x).reshape(-1, 1) for x in (log_probs, old_log_probs, advantages)]
        out = np.empty(lp.size)
        for i in range(lp.size):
            n, o, a = (torch.as_tensor(f[i:i + 1].copy()) for f in flat)
            loss = pl(n, o, a, action_mask=torch.ones_like(n))[0]
            out[i] = -float(loss)
        return out.reshape(lp.shape)

    return fn


def _openrlhf_clipfrac() -> Callable[..., Any]:
    import torch
    _, loss_mod = _openrlhf_modules()

    def fn(log_probs: Any, old_log_probs: Any, advantages: Any, clip_eps: float, mask: Any,
           definition: str = "clipped-branch") -> Any:
        pl = loss_mod.PolicyLoss(clip_eps, clip_eps, token_level_loss=True)
        n, o, a = (torch.as_tensor(np.atleast_2d(np.array(x))) for x in (log_probs, old_log_probs, advantages))
        mm = np.ones(np.shape(log_probs), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        m = torch.as_tensor(np.atleast_2d(mm))
        return float(pl(n, o, a, action_mask=m)[1])

    return fn


# --------------------------------------------------------------------------- the list


CHECKS: list[PeerCheck] = [
    # rlax
    PeerCheck("rlax", "rlax.truncated_generalized_advantage_estimation", "returns.gae",
              "rank-1 per row; discounts = gamma (1 - terminal); values stream of T + 1; truncation folded into the "
              "reward", _rlax_gae),
    PeerCheck("rlax", "rlax.lambda_returns", "returns.lambda_returns",
              "rank-1 per row; discounts; v_t = next_values (next_values[t] = values[t+1] inside episodes); "
              "truncation folded", _rlax_lambda_returns),
    PeerCheck("rlax", "rlax.discounted_returns", "returns.discounted_returns",
              "rank-1 per row; discounts; v_t = next_values; truncation folded", _rlax_discounted_returns),
    PeerCheck("rlax", "rlax.vtrace_td_error_and_advantage", "returns.vtrace",
              "rank-1 per row; discounts; rho = exp(log_rhos); outputs (errors + values, pg_advantage); "
              "c_bar fixed at 1 (rlax hard-codes it); truncation folded", _rlax_vtrace, {"c_bar": 1.0},
              convention=("rlax's policy-gradient bootstrap inside an episode is lambda vs_{t+1} + (1 - lambda) "
                          "values[t+1] (the reference: vs_{t+1}, Espeholt et al. Remark 1); equal at lambda = 1 with "
                          "next_values[t] = values[t+1]", _rlax_vtrace_model)),
    PeerCheck("rlax", "rlax.vtrace_td_error_and_advantage (truncation as lambda_t = 0)", "returns.vtrace",
              "as above, but a truncation is lambda_t = 0 with v_t = V(final observation) and the reward unfolded "
              "(rlax's documented way to cut a trace)", _rlax_vtrace_lambda_cut, {"c_bar": 1.0},
              convention=("rlax's lambda-mixed policy-gradient bootstrap (row above)", _rlax_vtrace_model),
              note="By hand from Espeholt et al. (2018), Remark 1: the policy-gradient target at step s is "
                   "r_s + gamma v_{s+1}, with v_{s+1} the V-trace target of the state step s led to. At a truncation "
                   "that state is the final observation, whose target is its value V(x_final) = next_values[s]. "
                   "rlax forms q_bootstrap = lambda_s vs_{s+1} + (1 - lambda_s) v_tm1[s+1], so with lambda_s = 0 it "
                   "uses v_tm1[s+1], the value of the next episode's first state: rlax, not the reference, is "
                   "wrong here (the bug class torchrl fixed in PR #4210). The vs targets agree."),
    PeerCheck("rlax", "rlax.general_off_policy_returns_from_q_and_v (Retrace traces)", "returns.retrace",
              "rank-1 per row; q_t = q_values[1:], v_t = next_expected_q, c_t = lam min(c_bar, ratio)[1:] "
              "computed by the adapter; discounts; truncation folded", _rlax_retrace),
    PeerCheck("rlax", "rlax.clipped_surrogate_pg_loss", "losses.ppo_clip_objective",
              "one element at a time (rlax returns -mean over its input); ratio = exp(log_probs - old); "
              "scalar epsilon; no dual clip", _rlax_ppo, {"clip_eps": 0.2}),
    # torchrl
    PeerCheck("torchrl", "torchrl generalized_advantage_estimate -> advantage", "returns.gae",
              "[*B, T, 1] tensors; done = terminated | truncated, terminated; output 0 of (advantage, value_target)",
              _torchrl_gae(0),
              note="float64 inputs are not computed in float64: torchrl forms the discount factors as "
                   "gamma * (~done).int(), a tensor of torch's default dtype (float32 unless the user sets "
                   "torch.set_default_dtype(torch.float64)), hence errors at the 1e-6 level."),
    PeerCheck("torchrl", "torchrl generalized_advantage_estimate -> value_target", "returns.lambda_returns",
              "as above, output 1; next_values[t] = values[t+1] inside episodes", _torchrl_gae(1)),
    PeerCheck("torchrl", "torchrl vec_generalized_advantage_estimate -> advantage", "returns.gae",
              "as generalized_advantage_estimate", _torchrl_gae(0, vec=True),
              note="torchrl documents vec_generalized_advantage_estimate as an approximation (a conv1d over "
                   "gamma-lambda powers, dropping terms below thr = 1e-7), so float64 agreement is not expected; "
                   "what the check shows beyond that is a crash: IndexError in _custom_conv1d for a sequence of one "
                   "step (T = 1), which the loop version handles. The reference's value at T = 1 is the TD error "
                   "(Schulman et al. 2016, eq. 16 with a single term)."),
    PeerCheck("torchrl", "torchrl td_lambda_return_estimate", "returns.lambda_returns",
              "[*B, T, 1]; done, terminated; next_values[t] = values[t+1] inside episodes", _torchrl_td_lambda),
    PeerCheck("torchrl", "torchrl td1_return_estimate", "returns.discounted_returns",
              "[*B, T, 1]; done, terminated", _torchrl_td1),
    PeerCheck("torchrl", "torchrl vtrace_advantage_estimate", "returns.vtrace",
              "[*B, T, 1]; log_pi = log_rhos, log_mu = 0; outputs (advantage, vs) reordered to (vs, pg); lambda fixed "
              "at 1 (torchrl has none); pg_rho_bar held at 1", _torchrl_vtrace, {"lam": 1.0},
              convention=("torchrl clips the policy-gradient ratio at rho_thresh: it has no separate pg_rho_bar "
                          "(pg_rho_bar = rho_bar)",
                          lambda *a, **k: _vtrace_pg_is_rho(*a, **k))),
    # SB3, tianshou
    PeerCheck("stable-baselines3", "RolloutBuffer.compute_returns_and_advantage -> advantages", "returns.gae",
              "[T, n_envs] buffer filled step by step; episode_starts = dones shifted; truncation by SB3's timeout "
              "trick (reward += gamma V(final obs)); next_values[t] = values[t+1] inside episodes", _sb3_gae(0),
              note="SB3's rollout buffers are float32 arrays, so float64 inputs are stored and computed in float32."),
    PeerCheck("stable-baselines3", "RolloutBuffer.compute_returns_and_advantage -> returns", "returns.lambda_returns",
              "as above", _sb3_gae(1)),
    PeerCheck("tianshou", "tianshou.algorithm.algorithm_base._gae", "returns.gae",
              "flat buffer, one row after another; v_s_ = next_values (1 - terminated); end_flag = terminated | "
              "truncated, and the last step of each row", _tianshou_gae),
    # verl
    PeerCheck("verl", "core_algos.compute_gae_advantage_return -> returns", "returns.lambda_returns",
              "every episode segment a right-padded row ending in a terminal token (verl has no flags); the array's "
              "end and truncations folded into the last reward; next_values[t] = values[t+1] inside episodes. "
              "(verl's advantages are whitened over the batch, so only its returns are compared.)",
              _verl_gae_returns),
    PeerCheck("verl", "core_algos.kl_penalty (k1, k2, low_var_kl as k3)", "divergences.kl_estimator",
              "logprob = log_p, ref_logprob = log_q", _verl_kl,
              convention=("verl clamps log r to [-20, 20] and k3 (low_var_kl) to [-10, 10]", _verl_kl_model)),
    PeerCheck("verl", "core_algos.compute_policy_loss_vanilla", "losses.ppo_clip_objective",
              "one element at a time, loss = -objective; ActorConfig(clip_ratio=0.2, clip_ratio_c=3): verl always "
              "applies dual clip 3 to A < 0", _verl_ppo, {"clip_eps": 0.2, "dual_clip": 3.0},
              convention=("verl clamps log r to [-20, 20] before exp", _ppo_clamp_model(20.0))),
    PeerCheck("verl", "core_algos.compute_policy_loss_vanilla -> pg_clipfrac", "losses.clip_fraction",
              "metrics pg_clipfrac over the float mask", _verl_clipfrac,
              {"clip_eps": 0.2, "definition": "clipped-branch"}),
    PeerCheck("verl", "core_algos.agg_loss", "losses.aggregate", "float mask; same mode names", _verl_agg),
    PeerCheck("verl", "core_algos.compute_grpo_outcome_advantage", "losses.grpo_advantages",
              "groups -> index ids, one-token responses; epsilon 1e-6, unbiased std", _verl_grpo,
              {"std": "sample", "eps": 1e-6}),
    PeerCheck("verl", "rollout_corr_helper.compute_rollout_correction_weights (token)", "mismatch.token_is_weights",
              "log_ratio = learner - sampler, response_mask; rollout_is_threshold = cap", _verl_rollout_is("token"),
              {"cap": 2.0}, convention=("verl clamps log-ratios to [-20, 20] (SAFETY_BOUND) before exp, and raises "
                                         "ValueError on a batch with no valid token (the reference returns zeros)",
                                         _verl_is_model("token"))),
    PeerCheck("verl", "rollout_corr_helper.compute_rollout_correction_weights (sequence)",
              "mismatch.sequence_is_weights", "as above; the weight read at each row's first policy token",
              _verl_rollout_is("sequence"), {"cap": 2.0},
              convention=("verl clamps the sequence log-weight to [-20, 20] (SAFETY_BOUND) before exp",
                          _verl_is_model("sequence"))),
    # OpenRLHF
    PeerCheck("openrlhf", "models/utils.py compute_approx_kl", "divergences.kl_estimator",
              "log_probs = log_p, log_probs_base = log_q (files loaded from the wheel, deepspeed stubbed)",
              _openrlhf_kl, convention=("OpenRLHF clamps every estimate to [-10, 10] and, in k3, log_probs - base "
                                        "to >= -10", _openrlhf_kl_model)),
    PeerCheck("openrlhf", "models/loss.py PolicyLoss", "losses.ppo_clip_objective",
              "one element at a time, token-level loss = -objective; clip_eps_low = clip_eps_high", _openrlhf_ppo,
              {"clip_eps": 0.2, "dual_clip": 3.0},
              convention=("OpenRLHF clamps log r to [-20, 20] before exp", _ppo_clamp_model(20.0))),
    PeerCheck("openrlhf", "models/loss.py PolicyLoss -> clip_ratio", "losses.clip_fraction",
              "clip_ratio output over action_mask", _openrlhf_clipfrac,
              {"clip_eps": 0.2, "definition": "clipped-branch"}),
]

NOT_CHECKED = [
    ("trl", "GRPOTrainer._compute_loss (PPO/GRPO clip, k3 KL, TIS/MIS, GSPO)",
     "TRL's loss, KL and importance corrections exist only inside the bound method GRPOTrainer._compute_loss, "
     "which needs a trainer (model, accelerator, tokenizer); it has no standalone function a user could pass to "
     "check. Cross-checking it needs a stub trainer that depends on private attributes; a conformance "
     "row would test that stub, not TRL."),
]


def _vtrace_pg_is_rho(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any, truncated: Any,
                      gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0,
                      pg_rho_bar: float = 1.0) -> Any:
    return returns.vtrace(rewards, values, next_values, log_rhos, terminated, truncated, gamma, lam, rho_bar, c_bar,
                          rho_bar)


# --------------------------------------------------------------------------- running and writing


def _version(dist: str) -> str:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _short(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_short(x) for x in v) + ")"
    if isinstance(v, np.ndarray):
        if v.dtype == bool:
            return np.array2string(v.astype(int), separator=",", threshold=12).replace("\n", "")
        return np.array2string(v, separator=",", precision=4, threshold=12, max_line_width=10_000).replace("\n", "")
    if isinstance(v, float):
        return f"{v:.6g}"
    return repr(v)


def _precise(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_precise(x) for x in v) + ")"
    if isinstance(v, np.ndarray) and v.dtype.kind == "f":
        return np.array2string(v, separator=",", precision=10, threshold=12, max_line_width=10_000).replace("\n", "")
    return _short(v)


def _cx(r: ConformanceResult) -> str:
    if r.counterexample is None:
        return ""
    args = "; ".join(f"{k}={_short(v)}" for k, v in r.counterexample.items())
    return f"`{args}` -> ours `{_precise(r.expected)}`, peer `{_precise(r.got)}`"


def _verdict(pc: PeerCheck, fn: Callable[..., Any], dtype: str, examples: int, seed: int) -> str:
    r = check(fn, pc.target, examples=examples, seed=seed, dtypes=(dtype,), **pc.fixed)
    if r.passed:
        return f"conforms ({r.examples} examples, max abs error {r.max_abs_error:.2g})"
    if pc.convention is not None:
        rc = check(fn, pc.target, examples=examples, seed=seed, dtypes=(dtype,), reference=pc.convention[1],
                   **pc.fixed)
        if rc.passed:
            return (f"conforms up to a convention difference: {pc.convention[0]}. Shown by {_cx(r)} "
                    f"(max abs error against the reference {r.max_abs_error:.3g})")
        r = rc  # still different with the convention applied: report the difference that remains
        against = f" (against the reference with the convention applied: {pc.convention[0]})"
    else:
        against = ""
    if dtype == "float64":
        model = pc.convention[1] if pc.convention else None
        rl = check(fn, pc.target, examples=examples, seed=seed, dtypes=(dtype,), reference=model,
                   **{**pc.fixed, **LOOSE})
        if rl.passed:
            also = f" and up to the convention: {pc.convention[0]}" if pc.convention else ""
            return (f"conforms to float32 rounding only{also}: the peer computes in float32 internally "
                    f"(max abs error {r.max_abs_error:.2g}; it conforms when judged at float32 rounding). "
                    f"E.g. {_cx(r)}")
    diag = ", ".join(r.diagnosis) if r.diagnosis else "no catalogued bug class"
    where = "; ".join(w for w in r.where if not w.startswith("in float64 ("))
    err = f" fn raised: {r.error}." if r.error else ""
    return (f"**does not conform**{against}: {r.failing_examples} of {r.examples} examples differ, max abs error "
            f"{r.max_abs_error:.3g}.{err} Where: {where}. Minimal counterexample: {_cx(r)}. Diagnosis: {diag}")


def run(examples: int = 100, seed: int = 0, only: str | None = None) -> str:
    lines = [
        "# Peer conformance",
        "",
        "Each peer function that implements one of our reference targets, wrapped by an adapter that only converts "
        "conventions, checked with `verify.conformance.check` (hypothesis inputs hunting episode ends, truncations, "
        "long sequences, gamma and lambda at 0 and 1, ratios far outside the clip band, extreme log-ratios, "
        f"masks; {examples} examples per dtype, seed {seed}). Regenerate with `tox -e peers` "
        "(`python -m verify.conformance.peers`).",
        "",
        "Verdicts: **conforms** (within `check`'s tolerance); **conforms up to a convention difference** (it conforms "
        "exactly to the reference with that convention applied; the input that shows it follows); **conforms to "
        "float32 rounding only** (float64 inputs, the peer computes in float32 inside); **does not conform** (max "
        "error, the shrunk counterexample, the catalogued bug classes whose outputs match the peer's).",
        "",
        "## Versions",
        "",
        "| peer | version |",
        "|---|---|",
    ]
    peers = sorted({pc.peer for pc in CHECKS} | {p for p, _, _ in NOT_CHECKED})
    for p in peers:
        lines.append(f"| {p} | {_version(p)} |")
    lines += ["", "## Verdicts", "", "| peer | function | target | adapter | float64 | float32 |",
              "|---|---|---|---|---|---|"]
    notes: list[str] = []
    for pc in CHECKS:
        if only and only not in pc.peer:
            continue
        try:
            fn = pc.make()
        except Exception as exc:  # any import failure is reported as such
            lines.append(f"| {pc.peer} | {pc.function} | `{pc.target}` | {pc.adapter} | not run: cannot import "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}) | not run |")
            continue
        cells = []
        for dt in DTYPES:
            try:
                cells.append(_verdict(pc, fn, dt, examples, seed))
            except Exception as exc:  # a crash of the adapter is a row, not a stopped report
                cells.append(f"error running the check: {type(exc).__name__}: {exc}")
        fixed = (" Fixed: " + ", ".join(f"{k}={v!r}" for k, v in pc.fixed.items()) + ".") if pc.fixed else ""
        row = [pc.peer, pc.function, f"`{pc.target}`", f"{pc.adapter}.{fixed}", *cells]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |")
        if pc.note:
            notes.append(f"- **{pc.function}**: {pc.note}")
        print(f"{pc.function}: {' / '.join(c[:40] for c in cells)}", file=sys.stderr)
    for peer, what, why in NOT_CHECKED:
        lines.append(f"| {peer} | {what} | - | - | not checked: {why} | not checked |")
    lines += ["", "## Notes and hand checks", ""]
    lines += notes or ["None: every difference is a stated convention."]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m verify.conformance.peers", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="reports/conformance.md")
    ap.add_argument("--examples", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default=None, help="run only the peers whose name contains this")
    a = ap.parse_args(argv)
    text = run(a.examples, a.seed, a.only)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text, encoding="utf-8")
    print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
