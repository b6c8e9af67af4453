"""Torch mirror of :mod:`reference_impls.sampling`: batched inverse-CDF trajectory sampling.

Runs on the device of the tables (CPU or CUDA), one time step per loop iteration over
``B * E`` episodes at once. Draws use ``torch.rand`` with an optional
``torch.Generator`` (which must live on the same device), in the tables' dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from reference_impls._validation import (
    MAX_TABLE_ENTRIES,
    SIMPLEX_ATOL,
    check_count,
    check_horizon,
    check_positive_int,
)
from reference_impls.torch._validation import as_float_tensor

__all__ = ["BatchedTrajectories", "sample_batched"]

_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


@dataclass(frozen=True)
class BatchedTrajectories:
    """``states[b, e, t]`` (``[B, E, H + 1]``) and ``actions[b, e, t]`` (``[B, E, H]``), int64."""

    states: torch.Tensor
    actions: torch.Tensor

    def __post_init__(self) -> None:
        for nm in ("states", "actions"):
            x = getattr(self, nm)
            if not isinstance(x, torch.Tensor) or x.dtype not in _INT_DTYPES:
                raise ValueError(f"{nm}: expected an integer torch.Tensor, got "
                                 f"{x.dtype if isinstance(x, torch.Tensor) else type(x).__name__}")
            if x.ndim != 3:
                raise ValueError(f"{nm}: expected a 3-d tensor [B, E, time], got shape {tuple(x.shape)}")
            if x.numel() and int(x.min()) < 0:
                raise ValueError(f"{nm}: expected non-negative indices, got minimum {int(x.min())}")
        s, a = tuple(self.states.shape), tuple(self.actions.shape)
        if s[:2] != a[:2] or s[2] != a[2] + 1:
            raise ValueError(f"actions: expected shape (B, E, H) with states of shape (B, E, H + 1), got actions "
                             f"{a} and states {s}")
        if self.actions.device != self.states.device:
            raise ValueError(f"actions: expected device {self.states.device} (that of states), "
                             f"got {self.actions.device}")

    def gather(self, table: torch.Tensor, name: str = "table") -> torch.Tensor:
        """``table[b, s_t, a_t]`` per step, ``[B, E, H]``."""
        if not isinstance(name, str):
            raise ValueError(f"name: expected a string, got {type(name).__name__}")
        tab = as_float_tensor(table, name, ndim=3, finite=False)
        B = self.states.shape[0]
        if tab.shape[0] != B:
            raise ValueError(f"{name}: expected shape ({B}, S, A), got {tuple(tab.shape)}")
        if tab.device != self.states.device:
            raise ValueError(f"{name}: expected device {self.states.device} (that of the trajectories), "
                             f"got {tab.device}")
        if bool(torch.isnan(tab).any()):
            raise ValueError(f"{name}: expected no NaN entries, got {int(torch.isnan(tab).sum())}")
        for nm, idx, k in (("states", self.states[..., :-1], tab.shape[1]), ("actions", self.actions, tab.shape[2])):
            if idx.numel() and int(idx.max()) >= k:
                raise ValueError(f"{name}: expected shape ({B}, S, A) covering every index, got {tuple(tab.shape)} "
                                 f"while {nm} reach {int(idx.max())}")
        b = torch.arange(B, device=tab.device)[:, None, None]
        return tab[b, self.states[..., :-1], self.actions]


def _simplex(t: torch.Tensor, name: str) -> None:
    """Rows on the simplex: sums (in float64) within ``max(1e-9, 8 eps(dtype))`` of 1."""
    tol = max(SIMPLEX_ATOL, 8 * torch.finfo(t.dtype).eps)
    if bool((t < 0).any()):
        raise ValueError(f"{name}: expected non-negative probabilities, got minimum {float(t.min()):.3g}")
    err = (t.double().sum(dim=-1) - 1).abs()
    if bool((err > tol).any()):
        raise ValueError(f"{name}: expected rows summing to 1 within {tol:.3g}, got an error of {float(err.max()):.3g}")


def _count_draw(cdf_cols: torch.Tensor, row: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    idx = torch.zeros(u.shape[0], dtype=torch.int64, device=u.device)
    for k in range(cdf_cols.shape[0]):
        idx = idx + (cdf_cols[k][row] <= u).long()
    return idx


def sample_batched(transitions: torch.Tensor, initial: torch.Tensor, policy: torch.Tensor, horizon: int,
                   n_episodes: int, generator: Any = None) -> BatchedTrajectories:
    """Sample ``n_episodes`` episodes of horizon ``H`` in each of ``B`` MDPs (see the numpy version).

    ``transitions`` ``[B, S, A, S]``, ``initial`` ``[B, S]``, ``policy`` ``[B, S, A]``: floating
    tensors of one dtype on one device. For float32 tables the simplex tolerance is that
    of float32 (rows must sum to 1 within ``max(1e-9, 8 * eps)``).
    """
    P = as_float_tensor(transitions, "transitions", ndim=4)
    B, S, A, S2 = P.shape
    if B == 0 or S == 0 or A == 0 or S2 != S:
        raise ValueError(f"transitions: expected shape (B, S, A, S) with B, S, A > 0, got {tuple(P.shape)}")
    mu = as_float_tensor(initial, "initial", ndim=2)
    pi = as_float_tensor(policy, "policy", ndim=3)
    if tuple(mu.shape) != (B, S):
        raise ValueError(f"initial: expected shape ({B}, {S}), got {tuple(mu.shape)}")
    if tuple(pi.shape) != (B, S, A):
        raise ValueError(f"policy: expected shape ({B}, {S}, {A}), got {tuple(pi.shape)}")
    for nm, t in (("initial", mu), ("policy", pi)):
        if t.device != P.device or t.dtype != P.dtype:
            raise ValueError(f"{nm}: expected dtype {P.dtype} on {P.device} (like transitions), "
                             f"got {t.dtype} on {t.device}")
    for nm, t in (("transitions", P), ("initial", mu), ("policy", pi)):
        _simplex(t, nm)
    H = check_horizon(horizon)
    E = check_positive_int(n_episodes, "n_episodes")
    check_count("horizon" if H + 1 >= E else "n_episodes", {"H + 1": H + 1, "B": B, "n_episodes": E},
                MAX_TABLE_ENTRIES, "a number of sampled states")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
        if generator.device.type != P.device.type:
            raise ValueError(f"generator: expected a generator on {P.device.type}, got {generator.device}")
    dev, dt = P.device, P.dtype
    cdf_pi = torch.cumsum(pi, dim=-1)[..., :-1].reshape(B * S, A - 1).T.contiguous()
    cdf_P = torch.cumsum(P, dim=-1)[..., :-1].reshape(B * S * A, S - 1).T.contiguous()
    cdf_0 = torch.cumsum(mu, dim=-1)[:, :-1].T.contiguous()
    M = B * E
    episode_mdp = torch.arange(B, device=dev).repeat_interleave(E)
    base = episode_mdp * S
    states = torch.empty((H + 1, M), dtype=torch.int64, device=dev)
    actions = torch.empty((H, M), dtype=torch.int64, device=dev)
    states[0] = _count_draw(cdf_0, episode_mdp, torch.rand(M, generator=generator, device=dev, dtype=dt))
    for step in range(H):
        u = torch.rand((2, M), generator=generator, device=dev, dtype=dt)
        row = base + states[step]
        a = _count_draw(cdf_pi, row, u[0])
        actions[step] = a
        states[step + 1] = _count_draw(cdf_P, row * A + a, u[1])
    return BatchedTrajectories(states.T.reshape(B, E, H + 1), actions.T.reshape(B, E, H))
