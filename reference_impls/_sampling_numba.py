"""Compiled (numba) kernel for :func:`reference_impls.sampling.sample_batched`: the CPU fast path.

Private module; :mod:`reference_impls.sampling` uses it when numba is importable. It performs
exactly the draws of the numpy path — the same inverse-CDF rule on the same uniforms in the
same order — so both paths return identical trajectories for the same generator state (a test
checks this bit for bit). What changes is the work per draw: the numpy path compares every
episode against every CDF column (``K - 1`` vectorized passes per draw), the kernel walks one
CDF row per draw and stops at the first entry above ``u``. The count of entries ``<= u`` and
the first index above ``u`` coincide because a cumulative sum of non-negative numbers is
non-decreasing in floating point too.

Layout: ``cdf_*`` tables are row-major ``[rows, K - 1]`` (the last CDF entry is never compared,
so rounding in the cumulative sum can never give an index out of range); ``u`` holds the
uniforms of a block of time steps as ``[steps, 2, M]`` (row 0 for the actions, row 1 for the
next states, as the numpy path draws them); outputs are time-major ``[H + 1, M]`` and
``[H, M]`` so every write is contiguous.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

__all__ = ["draw_initial", "step_block"]

_jit: Any = numba.njit(cache=True, nogil=True)


@_jit
def _draw(cdf: np.ndarray, row: int, u: float) -> int:
    # branch-free count of the entries <= u: no mispredicted exit, and LLVM vectorizes it
    k = 0
    for j in range(cdf.shape[1]):
        k += cdf[row, j] <= u
    return k


@_jit
def draw_initial(cdf_0: np.ndarray, episode_mdp: np.ndarray, u: np.ndarray, out: np.ndarray) -> None:
    """``out[m]`` = initial state of episode ``m`` (``cdf_0`` is ``[B, S - 1]``)."""
    for m in range(u.shape[0]):
        out[m] = _draw(cdf_0, episode_mdp[m], u[m])


@_jit
def step_block(cdf_pi: np.ndarray, cdf_P: np.ndarray, base: np.ndarray, n_actions: int, u: np.ndarray,
               t0: int, states: np.ndarray, actions: np.ndarray) -> None:
    """Advance every episode over the time steps ``t0 .. t0 + u.shape[0] - 1``.

    ``cdf_pi`` is ``[B*S, A-1]`` (row ``b*S + s``), ``cdf_P`` is ``[B*S*A, S-1]`` (row
    ``(b*S + s)*A + a``), ``base[m] = b*S`` for episode ``m`` of MDP ``b``.
    """
    M = u.shape[2]
    for i in range(u.shape[0]):
        t = t0 + i
        for m in range(M):
            row = base[m] + states[t, m]
            a = _draw(cdf_pi, row, u[i, 0, m])
            actions[t, m] = a
            states[t + 1, m] = _draw(cdf_P, row * n_actions + a, u[i, 1, m])
