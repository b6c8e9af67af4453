"""Plain-loop value targets: the readable ground truth for :mod:`reference_impls.returns`.

One trajectory at a time, one time step at a time, written exactly as the recursions in
the papers, with no vectorization. :mod:`reference_impls.returns` is verified equal to
these functions (tests/test_returns.py) on inputs that contain terminations,
truncations and every clip and trace.

The core recursions work on plain Python sequences and use only ``+``, ``*`` and
``min``, so they also run on :class:`fractions.Fraction` (exact rational arithmetic) and
on Python floats. Every product is taken by :func:`_times`, which is 0 when either factor is 0:
a factor 0 (gamma, lambda, a trace) removes its term whatever the other factor, and an
importance ratio that overflowed to ``inf`` stands for a finite number, so it times 0 is 0
(plain float ``0 * inf`` would be NaN). The ``*_loop`` wrappers take arrays shaped ``[..., T]`` (time last) and
loop over the leading (batch) axes.

Episode ends (Gymnasium semantics, CONTRACT.md): ``terminated[t]`` -- the episode
ended at step t in a terminal state, nothing is bootstrapped; ``truncated[t]`` -- it was
cut at step t and ``next_values[t]`` is bootstrapped. Either one stops every
recursion/trace after t. The end of the array is a cut too: step ``T - 1`` bootstraps
from ``next_values[T - 1]`` unless it is terminated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "discounted_returns_loop",
    "discounted_returns_seq",
    "gae_loop",
    "gae_seq",
    "retrace_loop",
    "retrace_seq",
    "vtrace_loop",
    "vtrace_seq",
]


def _times(a: Any, b: Any) -> Any:
    """``a * b``, and exactly 0 when either factor is 0 (also against ``inf``: module docstring)."""
    return 0 if a == 0 or b == 0 else a * b


def _exp(x: float) -> float:
    """``math.exp`` with overflow to ``inf`` (as numpy), not ``OverflowError``."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _continues(terminated: Sequence[bool], truncated: Sequence[bool], t: int) -> bool:
    """Whether the recursion at step t reads step t + 1 (no episode end at t, not the last step)."""
    return not terminated[t] and not truncated[t] and t + 1 < len(terminated)


def discounted_returns_seq(rewards: Sequence[Any], next_values: Sequence[Any], terminated: Sequence[bool],
                           truncated: Sequence[bool], gamma: Any) -> list[Any]:
    """G_t = r_t + gamma * G_{t+1} inside an episode; at a truncation (or the last step)
    G_t = r_t + gamma * next_values[t]; at a termination G_t = r_t."""
    T = len(rewards)
    out: list[Any] = [None] * T
    for t in reversed(range(T)):
        if terminated[t]:
            out[t] = rewards[t]
        elif _continues(terminated, truncated, t):
            out[t] = rewards[t] + _times(gamma, out[t + 1])
        else:
            out[t] = rewards[t] + gamma * next_values[t]
    return out


def gae_seq(rewards: Sequence[Any], values: Sequence[Any], next_values: Sequence[Any], terminated: Sequence[bool],
            truncated: Sequence[bool], gamma: Any, lam: Any) -> list[Any]:
    """Schulman et al. (2016) eq. (16) with episode ends:
    delta_t = r_t + gamma * (1 - terminated_t) * next_values[t] - values[t],
    A_t = delta_t + gamma * lam * A_{t+1} inside an episode, A_t = delta_t at its end."""
    T = len(rewards)
    out: list[Any] = [None] * T
    for t in reversed(range(T)):
        boot = 0 if terminated[t] else gamma * next_values[t]
        delta = rewards[t] + boot - values[t]
        if _continues(terminated, truncated, t):
            out[t] = delta + _times(gamma * lam, out[t + 1])
        else:
            out[t] = delta
    return out


def vtrace_seq(rewards: Sequence[Any], values: Sequence[Any], next_values: Sequence[Any], ratios: Sequence[Any],
               terminated: Sequence[bool], truncated: Sequence[bool], gamma: Any, lam: Any = 1, rho_bar: Any = 1,
               c_bar: Any = 1, pg_rho_bar: Any = 1) -> tuple[list[Any], list[Any]]:
    """Espeholt et al. (2018) V-trace, Remark 1 recursion, with importance ratios pi/mu given directly.

    rho_t = min(rho_bar, ratio_t), c_t = lam * min(c_bar, ratio_t),
    delta_t = rho_t (r_t + gamma (1 - terminated_t) next_values[t] - values[t]),
    v_t = values[t] + delta_t + gamma c_t (v_{t+1} - values[t+1]) inside an episode,
    pg_advantage_t = min(pg_rho_bar, ratio_t) (r_t + gamma (1 - terminated_t) q_{t+1} - values[t]) with
    q_{t+1} = v_{t+1} inside an episode and next_values[t] at a truncation or the last step.
    ``float('inf')`` as a level means no clipping.
    """
    T = len(rewards)
    vs: list[Any] = [None] * T
    pg: list[Any] = [None] * T
    for t in reversed(range(T)):
        rho = min(rho_bar, ratios[t])
        c = _times(lam, min(c_bar, ratios[t]))
        pg_rho = min(pg_rho_bar, ratios[t])
        disc = 0 if terminated[t] else gamma
        delta = _times(rho, rewards[t] + disc * next_values[t] - values[t])
        if _continues(terminated, truncated, t):
            vs[t] = values[t] + delta + _times(_times(gamma, c), vs[t + 1] - values[t + 1])
            q_next = vs[t + 1]
        else:
            vs[t] = values[t] + delta
            q_next = next_values[t]
        pg[t] = _times(pg_rho, rewards[t] + _times(disc, q_next) - values[t])
    return vs, pg


def retrace_seq(rewards: Sequence[Any], q_values: Sequence[Any], next_expected_q: Sequence[Any],
                ratios: Sequence[Any], terminated: Sequence[bool], truncated: Sequence[bool], gamma: Any,
                lam: Any = 1, c_bar: Any = 1) -> list[Any]:
    """Munos et al. (2016) Retrace(lambda), backward recursion:
    delta_t = r_t + gamma (1 - terminated_t) next_expected_q[t] - q_values[t],
    G_t = q_values[t] + delta_t + gamma c_{t+1} (G_{t+1} - q_values[t+1]) inside an episode,
    with c_{t+1} = lam * min(c_bar, ratio_{t+1}) (the trace of the *next* action; ratio_0 is unused)."""
    T = len(rewards)
    out: list[Any] = [None] * T
    for t in reversed(range(T)):
        disc = 0 if terminated[t] else gamma
        delta = rewards[t] + disc * next_expected_q[t] - q_values[t]
        if _continues(terminated, truncated, t):
            c_next = _times(lam, min(c_bar, ratios[t + 1]))
            out[t] = q_values[t] + delta + _times(_times(gamma, c_next), out[t + 1] - q_values[t + 1])
        else:
            out[t] = q_values[t] + delta
    return out


# --------------------------------------------------------------------------- array wrappers


def _batched(fn: Callable[..., Any], float_args: Sequence[Any], flag_args: Sequence[Any],
             n_out: int) -> tuple[np.ndarray, ...]:
    arrs = [np.asarray(a, dtype=np.float64) for a in float_args]
    flags = [np.asarray(f, dtype=bool) for f in flag_args]
    shape = arrs[0].shape
    outs = [np.empty(shape) for _ in range(n_out)]
    for idx in np.ndindex(*shape[:-1]):
        cols = [[float(v) for v in a[idx]] for a in arrs]
        fcols = [[bool(v) for v in f[idx]] for f in flags]
        res = fn(cols, fcols)
        if n_out == 1:
            res = (res,)
        for o, r in zip(outs, res):
            o[idx] = r
    return tuple(outs)


def discounted_returns_loop(rewards: Any, next_values: Any, terminated: Any, truncated: Any,
                            gamma: float) -> np.ndarray:
    """Loop version of :func:`reference_impls.returns.discounted_returns` (no validation)."""
    (out,) = _batched(lambda c, f: discounted_returns_seq(c[0], c[1], f[0], f[1], gamma),
                      [rewards, next_values], [terminated, truncated], 1)
    return out


def gae_loop(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
             lam: float) -> np.ndarray:
    """Loop version of :func:`reference_impls.returns.gae` (no validation)."""
    (out,) = _batched(lambda c, f: gae_seq(c[0], c[1], c[2], f[0], f[1], gamma, lam),
                      [rewards, values, next_values], [terminated, truncated], 1)
    return out


def vtrace_loop(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any, truncated: Any,
                gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0,
                pg_rho_bar: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Loop version of :func:`reference_impls.returns.vtrace` (no validation); ratio exp(log_rho), inf on overflow."""

    def one(c: list[list[float]], f: list[list[bool]]) -> tuple[list[Any], list[Any]]:
        ratios = [_exp(v) for v in c[3]]
        return vtrace_seq(c[0], c[1], c[2], ratios, f[0], f[1], gamma, lam, rho_bar, c_bar, pg_rho_bar)

    vs, pg = _batched(one, [rewards, values, next_values, log_rhos], [terminated, truncated], 2)
    return vs, pg


def retrace_loop(rewards: Any, q_values: Any, next_expected_q: Any, log_rhos: Any, terminated: Any, truncated: Any,
                 gamma: float, lam: float = 1.0, c_bar: float = 1.0) -> np.ndarray:
    """Loop version of :func:`reference_impls.returns.retrace` (no validation); ratio exp(log_rho), inf on overflow."""

    def one(c: list[list[float]], f: list[list[bool]]) -> list[Any]:
        ratios = [_exp(v) for v in c[3]]
        return retrace_seq(c[0], c[1], c[2], ratios, f[0], f[1], gamma, lam, c_bar)

    (out,) = _batched(one, [rewards, q_values, next_expected_q, log_rhos], [terminated, truncated], 1)
    return out
