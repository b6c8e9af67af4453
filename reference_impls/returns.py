"""Value targets: discounted returns, GAE, lambda-returns, V-trace and Retrace (numpy, float64).

Conventions (CONTRACT.md; one way, everywhere):

* **Time axis last.** Every sequence argument has shape ``[..., T]`` (``T >= 1``); leading
  axes are batch. All sequence arguments of one call have the same shape; nothing is
  broadcast.
* **Episode ends (Gymnasium).** ``terminated[t]``: the episode ended at step t in a
  terminal state, so nothing is bootstrapped after it. ``truncated[t]``: it was cut at
  step t (time limit, segment end) and ``next_values[t]`` is bootstrapped. Either one
  stops every recursion and every trace after t. Both set at one step is an error.
  **The end of the array is a cut**: step ``T - 1`` bootstraps from
  ``next_values[..., T - 1]`` unless it is terminated.
* **Next values.** ``next_values[t] = V(s_{t+1})`` of the state step t actually led to (at
  a truncation, the final observation -- not the first state of the next episode).
* **Discount.** ``gamma`` and ``lam`` are scalars in ``[0, 1]`` (finite sequences, so 1 is
  allowed). Discounting is ``gamma^k`` for a reward k steps ahead.
* **Ratios** are passed as ``log_rhos = log pi(a_t|s_t) - log mu(a_t|s_t)`` (target over
  behaviour) and exponentiated here. Truncation levels may be ``numpy.inf`` (no clipping).
* **Precision.** Inputs of any real dtype are converted to float64; outputs are float64.

Implementation: every target here is the solution of one backward linear recurrence
``y_t = x_t + a_t y_{t+1}`` (``a_t = 0`` at episode ends and at ``T - 1``). The inputs are
prepared with whole-array numpy operations and the recurrence is solved by
:func:`reverse_linear_scan` (odd-even reduction over time, vectorized over the batch; a
time-major whole-batch loop is available as ``method="loop"``). The plain per-element loops in
:mod:`reference_impls._returns_loop` are the readable ground truth; tests check the two agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference_impls._validation import as_float_array, check_bool_array, check_gamma

__all__ = [
    "discounted_returns",
    "gae",
    "lambda_returns",
    "retrace",
    "reverse_linear_scan",
    "vtrace",
]


# --------------------------------------------------------------------------- validation


def _check_sequences(floats: dict[str, Any], terminated: Any, truncated: Any
                     ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Float64 sequences ``[..., T]`` of one shape, and the two flag arrays (bool, same shape)."""
    arrs: dict[str, np.ndarray] = {}
    shape: tuple[int, ...] | None = None
    first = ""
    for name, x in floats.items():
        arr = as_float_array(x, name, min_ndim=1)
        if shape is None:
            shape, first = arr.shape, name
            if arr.shape[-1] < 1:
                raise ValueError(f"{name}: expected at least one time step on the last axis, got shape {arr.shape}")
        elif arr.shape != shape:
            raise ValueError(f"{name}: expected shape {shape} (the shape of {first}), got {arr.shape}")
        arrs[name] = arr
    assert shape is not None
    flags = []
    for name, f in (("terminated", terminated), ("truncated", truncated)):
        b = check_bool_array(f, name)
        if b.shape != shape:
            raise ValueError(f"{name}: expected shape {shape} (the shape of {first}), got {b.shape}")
        flags.append(b)
    term, trunc = flags
    both = term & trunc
    if np.any(both):
        idx = tuple(int(i) for i in np.argwhere(both)[0])
        raise ValueError(f"truncated: expected at most one of terminated/truncated per step, "
                         f"got both set at index {idx}")
    return arrs, term, trunc


def _check_unit(x: Any, name: str) -> float:
    """A scalar in [0, 1] (gamma or lambda of a finite sequence)."""
    return check_gamma(x, name, allow_one=True)


def _check_level(x: Any, name: str) -> float:
    """A truncation level: a non-negative scalar, ``inf`` allowed (no clipping)."""
    if isinstance(x, bool | np.bool_) or np.ndim(x) != 0:
        raise ValueError(f"{name}: expected a non-negative real scalar (inf allowed), got {x!r}")
    try:
        v = float(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a non-negative real scalar (inf allowed), got {x!r}") from exc
    if np.isnan(v) or v < 0:
        raise ValueError(f"{name}: expected a non-negative real scalar (inf allowed), got {v!r}")
    return v


# --------------------------------------------------------------------------- the scan


def _scan_loop_tb(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """y[t] = x[t] + a[t] * y[t + 1] on time-major ``[T, B]`` arrays, one whole-batch step per t."""
    y = np.empty_like(x)
    y[-1] = x[-1]
    mul, add = np.multiply, np.add
    for t in range(x.shape[0] - 2, -1, -1):
        yt = y[t]
        mul(a[t], y[t + 1], out=yt)
        add(yt, x[t], out=yt)
    return y


def _scan_loop_bt(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The same recurrence on ``[B, T]`` arrays (strided columns); used for short sequences."""
    y = np.empty_like(x)
    y[:, -1] = x[:, -1]
    mul, add = np.multiply, np.add
    for t in range(x.shape[1] - 2, -1, -1):
        yt = y[:, t]
        mul(a[:, t], y[:, t + 1], out=yt)
        add(yt, x[:, t], out=yt)
    return y


def _scan_reduction_bt(x: np.ndarray, a: np.ndarray, stop: int = 16) -> np.ndarray:
    """The same recurrence by odd-even (cyclic) reduction on ``[B, T]`` arrays, no transposes.

    Eliminating the odd steps gives a recurrence of half the length on the even steps,
    ``y[2m] = (x[2m] + a[2m] x[2m+1]) + (a[2m] a[2m+1]) y[2m+2]``; it is solved the same way
    (recursively, until ``T <= stop``), and then every odd step is filled in at once,
    ``y[2m+1] = x[2m+1] + a[2m+1] y[2m+2]``. About ``stop`` Python-level steps plus a few
    whole-array passes per level instead of ``T`` steps; the same products and sums,
    associated differently (no division, no logarithm, so zeros in ``a`` are harmless).
    """
    B, T = x.shape
    if T <= stop:
        return _scan_loop_bt(x, a)
    n_odd = T // 2
    xo, ao = x[:, 1::2], a[:, 1::2]
    xe = x[:, 0::2].copy()
    ae = a[:, 0::2].copy()
    xe[:, :n_odd] += ae[:, :n_odd] * xo
    ae[:, :n_odd] *= ao
    ye = _scan_reduction_bt(xe, ae, stop)
    y = np.empty_like(x)
    y[:, 0::2] = ye
    nxt = np.zeros((B, n_odd))
    k = min(n_odd, ye.shape[1] - 1)  # y[T] = 0 when T is even
    nxt[:, :k] = ye[:, 1:k + 1]
    yo = y[:, 1::2]
    np.multiply(ao, nxt, out=yo)
    yo += xo
    return y


def reverse_linear_scan(x: Any, a: Any, *, method: str = "reduction") -> np.ndarray:
    """Solve ``y[..., t] = x[..., t] + a[..., t] * y[..., t + 1]`` backward in time, ``y[..., T] = 0``.

    Args:
      x, a: float arrays of one shape ``[..., T]`` (time last).
      method: ``"loop"`` (time-major contiguous ``[T, B]`` copy, one whole-batch step per
        time step) or ``"reduction"`` (odd-even reduction on the batch-major array, no
        transposes; the default and what the public targets use).

    Returns: float64 ``y`` of the same shape. Both methods equal the plain per-element loop
    up to rounding (tests/test_returns.py).
    """
    xa = as_float_array(x, "x", min_ndim=1)
    aa = as_float_array(a, "a", min_ndim=1)
    if aa.shape != xa.shape:
        raise ValueError(f"a: expected shape {xa.shape} (the shape of x), got {aa.shape}")
    if method not in ("loop", "reduction"):
        raise ValueError(f"method: expected 'loop' or 'reduction', got {method!r}")
    if xa.shape[-1] < 1:
        raise ValueError(f"x: expected at least one time step on the last axis, got shape {xa.shape}")
    return _scan_bt(xa, aa, method)


def _scan_bt(x: np.ndarray, a: np.ndarray, method: str = "reduction") -> np.ndarray:
    """:func:`reverse_linear_scan` without validation; ``[..., T]`` in, ``[..., T]`` out."""
    shape = x.shape
    T = shape[-1]
    if method == "loop":
        # time-major, contiguous: each step then reads and writes whole contiguous rows
        xt = np.ascontiguousarray(x.reshape(-1, T).T)
        at = np.ascontiguousarray(a.reshape(-1, T).T)
        return np.ascontiguousarray(_scan_loop_tb(xt, at).T).reshape(shape)
    return _scan_reduction_bt(x.reshape(-1, T), a.reshape(-1, T)).reshape(shape)


def _continue_coeff(term: np.ndarray, trunc: np.ndarray) -> np.ndarray:
    """1.0 where the recursion at t reads t + 1 (no episode end at t and t < T - 1), else 0.0."""
    cont = ~(term | trunc)
    cont[..., -1] = False
    return cont.astype(np.float64)


# --------------------------------------------------------------------------- public targets


def discounted_returns(rewards: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float) -> np.ndarray:
    """Bootstrapped discounted returns ``G_t``, shape ``[..., T]``, float64.

    ``G_t = r_t + gamma * G_{t+1}`` inside an episode; ``G_t = r_t + gamma * next_values[t]``
    at a truncation or at the last step ``T - 1``; ``G_t = r_t`` at a termination.
    Raises ``ValueError`` (naming the argument) on mismatched shapes, non-boolean flags,
    both flags set at one step, or ``gamma`` outside ``[0, 1]``.
    """
    arrs, term, trunc = _check_sequences({"rewards": rewards, "next_values": next_values}, terminated, truncated)
    g = _check_unit(gamma, "gamma")
    cont = _continue_coeff(term, trunc)
    # x_t = r_t + gamma * [not terminated and not continuing] * next_values[t]
    boot = (~term).astype(np.float64) - cont
    x = arrs["rewards"] + g * boot * arrs["next_values"]
    return _scan_bt(x, g * cont)


def gae(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
        lam: float) -> np.ndarray:
    """Generalized advantage estimates (Schulman et al. 2016, eqs. 11-16), shape ``[..., T]``.

    ``delta_t = r_t + gamma (1 - terminated_t) next_values[t] - values[t]`` and
    ``A_t = delta_t + gamma lam A_{t+1}`` inside an episode, ``A_t = delta_t`` at an episode end
    (terminated or truncated) and at ``T - 1``. ``values + gae(...)`` are the lambda-returns
    (see :func:`lambda_returns`). Identities (claim GAE-IDENTITIES): ``lam = 0`` gives the TD
    errors; ``lam = 1`` gives ``discounted_returns(...) - values`` when
    ``next_values[t] == values[t + 1]`` inside episodes.
    Raises ``ValueError`` naming the argument on bad input (as :func:`discounted_returns`;
    ``lam`` must lie in ``[0, 1]``).
    """
    arrs, term, trunc = _check_sequences({"rewards": rewards, "values": values, "next_values": next_values},
                                         terminated, truncated)
    g = _check_unit(gamma, "gamma")
    lm = _check_unit(lam, "lam")
    cont = _continue_coeff(term, trunc)
    delta = arrs["rewards"] + (g * (~term)) * arrs["next_values"] - arrs["values"]
    return _scan_bt(delta, (g * lm) * cont)


def lambda_returns(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
                   lam: float) -> np.ndarray:
    """The lambda-returns ``values + gae(...)`` (same arguments as :func:`gae`).

    When ``next_values[t] == values[t + 1]`` inside episodes they satisfy the recursion
    ``G^lam_t = r_t + gamma [(1 - lam) V(s_{t+1}) + lam G^lam_{t+1}]`` inside an episode and
    ``G^lam_t = r_t + gamma (1 - terminated_t) next_values[t]`` at its end (Sutton & Barto
    2018, eq. 12.18 with bootstrapping at cuts).
    """
    adv = gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    return np.asarray(values, dtype=np.float64) + adv


def vtrace(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any, truncated: Any,
           gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0,
           pg_rho_bar: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """V-trace targets and policy-gradient advantages (Espeholt et al. 2018, eq. 1, Remarks 1-2).

    With ``ratio_t = exp(log_rhos[t]) = pi(a_t|s_t) / mu(a_t|s_t)``:
    ``rho_t = min(rho_bar, ratio_t)``, ``c_t = lam * min(c_bar, ratio_t)``,
    ``delta_t = rho_t (r_t + gamma (1 - terminated_t) next_values[t] - values[t])``, and

    * ``vs_t = values[t] + delta_t + gamma c_t (vs_{t+1} - values[t+1])`` inside an episode,
      ``vs_t = values[t] + delta_t`` at its end and at ``T - 1``; equivalently (eq. 1)
      ``vs_s = V(x_s) + sum_{t=s}^{e} gamma^{t-s} (prod_{i=s}^{t-1} c_i) delta_t`` with e the episode end;
    * ``pg_advantages_t = min(pg_rho_bar, ratio_t) (r_t + gamma (1 - terminated_t) q_t - values[t])``
      with ``q_t = vs_{t+1}`` inside an episode and ``q_t = next_values[t]`` at a truncation or
      at ``T - 1`` (never the next episode's ``vs``).

    Levels may be ``numpy.inf``. The IMPALA theorem assumes ``rho_bar >= c_bar``; other values
    are computed as written. Returns ``(vs, pg_advantages)``, each float64 ``[..., T]``.
    Raises ``ValueError`` naming the argument on bad input.
    """
    arrs, term, trunc = _check_sequences({"rewards": rewards, "values": values, "next_values": next_values,
                                          "log_rhos": log_rhos}, terminated, truncated)
    g = _check_unit(gamma, "gamma")
    lm = _check_unit(lam, "lam")
    rb = _check_level(rho_bar, "rho_bar")
    cb = _check_level(c_bar, "c_bar")
    pb = _check_level(pg_rho_bar, "pg_rho_bar")
    r, v, nv = arrs["rewards"], arrs["values"], arrs["next_values"]
    with np.errstate(over="ignore"):  # exp overflow -> inf ratio, clipped below when a level is finite
        ratio = np.exp(arrs["log_rhos"])
    cont = _continue_coeff(term, trunc)
    disc = g * (~term)
    td = r + disc * nv - v
    dv = _scan_bt(np.minimum(ratio, rb) * td, (g * lm) * np.minimum(ratio, cb) * cont)
    vs = v + dv
    # q_t: vs_{t+1} where the episode continues, next_values[t] where it ends
    q = nv.copy()
    q[..., :-1] = np.where(cont[..., :-1] > 0, vs[..., 1:], nv[..., :-1])
    pg = np.minimum(ratio, pb) * (r + disc * q - v)
    return vs, pg


def retrace(rewards: Any, q_values: Any, next_expected_q: Any, log_rhos: Any, terminated: Any, truncated: Any,
            gamma: float, lam: float = 1.0, c_bar: float = 1.0) -> np.ndarray:
    """Retrace(lambda) targets for ``Q(s_t, a_t)`` (Munos et al. 2016, eq. 3), shape ``[..., T]``.

    Args:
      rewards: ``r_t``.
      q_values: ``Q(s_t, a_t)`` of the action taken.
      next_expected_q: ``sum_b pi(b|s_{t+1}) Q(s_{t+1}, b)`` for the state step t led to (at a
        truncation, the final observation).
      log_rhos: ``log pi(a_t|s_t) - log mu(a_t|s_t)``. Entry ``t = 0`` of each sequence is not
        used: the trace of step t is ``c_t = lam * min(c_bar, ratio_t)`` and it weights the
        correction from step t onward of the target of step ``t - 1``.
      terminated, truncated: episode ends (module docstring).
      gamma, lam: scalars in ``[0, 1]``; ``c_bar`` the trace level (1 in the paper).

    ``delta_t = r_t + gamma (1 - terminated_t) next_expected_q[t] - q_values[t]``;
    ``G_t = q_values[t] + delta_t + gamma c_{t+1} (G_{t+1} - q_values[t+1])`` inside an
    episode, ``G_t = q_values[t] + delta_t`` at its end and at ``T - 1``. Equivalently
    ``G_s = Q(s_s, a_s) + sum_{t>=s} gamma^{t-s} (prod_{i=s+1}^{t} c_i) delta_t``. Unlike V-trace
    its expected operator has fixed point ``Q^pi`` for any traces in ``[0, pi/mu]``.
    Raises ``ValueError`` naming the argument on bad input.
    """
    arrs, term, trunc = _check_sequences({"rewards": rewards, "q_values": q_values,
                                          "next_expected_q": next_expected_q, "log_rhos": log_rhos},
                                         terminated, truncated)
    g = _check_unit(gamma, "gamma")
    lm = _check_unit(lam, "lam")
    cb = _check_level(c_bar, "c_bar")
    r, q, nq = arrs["rewards"], arrs["q_values"], arrs["next_expected_q"]
    with np.errstate(over="ignore"):
        ratio = np.exp(arrs["log_rhos"])
    cont = _continue_coeff(term, trunc)
    c_next = np.zeros_like(ratio)
    c_next[..., :-1] = np.minimum(ratio[..., 1:], cb)
    delta = r + (g * (~term)) * nq - q
    return q + _scan_bt(delta, (g * lm) * c_next * cont)
