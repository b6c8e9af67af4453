"""Batched exact evaluation of many tabular MDPs at once, on any device, differentiable.

Shapes: a batch of ``B`` MDPs with ``S`` states and ``A`` actions is given as
``transitions [B, S, A, S]``, ``rewards [B, S, A]``, ``initial [B, S]``; ``gamma`` is a
Python float or a ``[B]`` tensor; policies are ``[B, S, A]`` (logits or probabilities).
Unbatched inputs (no leading ``B``) are accepted too and give unbatched outputs.
Every function keeps the input dtype and device and is differentiable by autograd
(``torch.linalg.solve``), so ``expected_return(..., softmax(logits))`` can be
backpropagated to the logits.

Conventions are those of :mod:`reference_impls.mdp` (unnormalized ``V, Q, A, J``;
``visitation`` unnormalized, ``occupancy`` normalized).
"""

from __future__ import annotations

from typing import Any

import torch

from reference_impls._validation import check_gamma
from reference_impls.torch._validation import as_float_tensor, ldexp

__all__ = [
    "action_values",
    "advantages",
    "expected_return",
    "occupancy",
    "policy_gradient",
    "state_values",
    "visitation",
]


#: ``torch.linalg.solve`` has no float16 / bfloat16 kernels (on CPU): the tables must be float32 or float64.
_SOLVE_DTYPES = (torch.float32, torch.float64)


def _rows_error(t: torch.Tensor, tol: float) -> str:
    """What is wrong with rows that should be probability vectors ("" when nothing is)."""
    with torch.no_grad():
        if bool((t < 0).any()):
            return f"got a negative entry (minimum {float(t.min()):.3g})"
        err = (t.sum(-1) - 1).abs()
        if bool((err > tol).any()):
            digits = 12 if t.dtype == torch.float64 else 6
            worst = float(t.sum(-1).flatten()[int(err.argmax())])
            return f"got a row summing to {worst:.{digits}g} (tolerance {tol:g})"
    return ""


def _unpack(transitions: Any, rewards: Any, initial: Any, gamma: Any) -> tuple[torch.Tensor, ...]:
    P = as_float_tensor(transitions, "transitions", min_ndim=3)
    if P.dtype not in _SOLVE_DTYPES:
        raise ValueError(f"transitions: expected dtype float32 or float64 (the linear solves have no "
                         f"{P.dtype} kernels), got {P.dtype}")
    batched = P.ndim == 4
    if P.ndim not in (3, 4):
        raise ValueError(f"transitions: expected shape [S, A, S] or [B, S, A, S], got {tuple(P.shape)}")
    if not batched:
        P = P.unsqueeze(0)
    B, S, A, S2 = P.shape
    if S2 != S or S == 0 or A == 0 or B == 0:
        raise ValueError(f"transitions: expected a non-empty shape [.., S, A, S] with matching state axes, "
                         f"got {tuple(P.shape) if batched else tuple(P.shape[1:])}")
    R = as_float_tensor(rewards, "rewards")
    mu = as_float_tensor(initial, "initial")
    for nm, t in (("rewards", R), ("initial", mu)):
        if t.dtype != P.dtype or t.device != P.device:
            raise ValueError(f"{nm}: expected dtype {P.dtype} on {P.device} (those of transitions), "
                             f"got {t.dtype} on {t.device}")
    if not batched:
        R, mu = R.unsqueeze(0), mu.unsqueeze(0)
    k = 0 if batched else 1  # report shapes as the caller gave them
    if tuple(R.shape) != (B, S, A):
        raise ValueError(f"rewards: expected shape {(B, S, A)[k:]}, got {tuple(R.shape)[k:]}")
    if tuple(mu.shape) != (B, S):
        raise ValueError(f"initial: expected shape {(B, S)[k:]}, got {tuple(mu.shape)[k:]}")
    bad = _rows_error(P, _tol(P))
    if bad:
        raise ValueError(f"transitions: expected non-negative rows summing to 1, {bad}")
    bad = _rows_error(mu, _tol(mu))
    if bad:
        raise ValueError(f"initial: expected a probability vector per MDP, {bad}")
    if isinstance(gamma, torch.Tensor):
        if gamma.is_complex() or not torch.is_floating_point(gamma):
            raise ValueError(f"gamma: expected a float, or a floating tensor of shape () or ({B},), "
                             f"got a tensor of dtype {gamma.dtype}")
        g = gamma.to(dtype=P.dtype, device=P.device)
        if g.ndim == 0:
            g = g.expand(B)
        if tuple(g.shape) != (B,):
            raise ValueError(f"gamma: expected a scalar or shape ({B},), got {tuple(g.shape)}")
        with torch.no_grad():
            bad_g = (g < 0) | (g >= 1) | ~torch.isfinite(g)
            if bool(bad_g.any()):
                raise ValueError(f"gamma: expected values in [0, 1), got {float(g[bad_g][0])!r}")
    else:
        g = torch.full((B,), check_gamma(gamma), dtype=P.dtype, device=P.device)
    return P, R, mu, g, torch.tensor(batched)


def _tol(t: torch.Tensor) -> float:
    return 1e-9 if t.dtype == torch.float64 else 1e-5


def _policy(policy: Any, P: torch.Tensor, batched: bool, name: str = "policy") -> torch.Tensor:
    pi = as_float_tensor(policy, name)
    if pi.dtype != P.dtype or pi.device != P.device:
        raise ValueError(f"{name}: expected dtype {P.dtype} on {P.device} (those of transitions), "
                         f"got {pi.dtype} on {pi.device}")
    if not batched:
        pi = pi.unsqueeze(0)
    if tuple(pi.shape) != tuple(P.shape[:3]):
        want = tuple(P.shape[:3]) if batched else tuple(P.shape[1:3])
        got = tuple(pi.shape) if batched else tuple(pi.shape[1:])
        raise ValueError(f"{name}: expected shape {want}, got {got}")
    return pi


def _probabilities(pi: torch.Tensor, name: str = "policy") -> torch.Tensor:
    bad = _rows_error(pi, _tol(pi))
    if bad:
        raise ValueError(f"{name}: expected rows on the simplex (non-negative, summing to 1), {bad}")
    return pi


def _out(x: torch.Tensor, batched: torch.Tensor) -> torch.Tensor:
    return x if bool(batched) else x.squeeze(0)


def _solve_values(P: torch.Tensor, R: torch.Tensor, g: torch.Tensor, pi: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(V / 2^k, R / 2^k, k)`` per MDP, ``2^k`` just above ``max |R|`` (see the numpy ``_scaled_values``):
    values are linear in the rewards, so rewards near the dtype's limit give ``inf`` only where a value
    truly overflows, and ``Q - V`` never ``inf - inf``."""
    S = P.shape[1]
    k = _pow2_exponent(R)  # [B, 1, 1]
    Rs = ldexp(R, -k)
    P_pi = torch.einsum("bsa,bsat->bst", pi, P)
    r_pi = (pi * Rs).sum(-1)
    eye = torch.eye(S, dtype=P.dtype, device=P.device)
    V = torch.linalg.solve(eye - g[:, None, None] * P_pi, r_pi.unsqueeze(-1)).squeeze(-1)
    return V, Rs, k


def _pow2_exponent(R: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.frexp(R.abs().amax(dim=(1, 2), keepdim=True)).exponent.to(torch.int64)


def state_values(transitions: Any, rewards: Any, initial: Any, gamma: Any, policy: Any) -> torch.Tensor:
    """``V^pi`` for each MDP of the batch: ``[B, S]`` (or ``[S]``)."""
    P, R, _, g, b = _unpack(transitions, rewards, initial, gamma)
    V, _, k = _solve_values(P, R, g, _probabilities(_policy(policy, P, bool(b))))
    return _out(ldexp(V, k[:, :, 0]), b)


def action_values(transitions: Any, rewards: Any, initial: Any, gamma: Any, policy: Any) -> torch.Tensor:
    """``Q^pi``: ``[B, S, A]`` (or ``[S, A]``)."""
    P, R, _, g, b = _unpack(transitions, rewards, initial, gamma)
    V, Rs, k = _solve_values(P, R, g, _probabilities(_policy(policy, P, bool(b))))
    return _out(ldexp(Rs + g[:, None, None] * torch.einsum("bsat,bt->bsa", P, V), k), b)


def advantages(transitions: Any, rewards: Any, initial: Any, gamma: Any, policy: Any) -> torch.Tensor:
    """``A^pi = Q^pi - V^pi``: ``[B, S, A]`` (or ``[S, A]``)."""
    P, R, _, g, b = _unpack(transitions, rewards, initial, gamma)
    V, Rs, k = _solve_values(P, R, g, _probabilities(_policy(policy, P, bool(b))))
    return _out(ldexp(Rs + g[:, None, None] * torch.einsum("bsat,bt->bsa", P, V) - V.unsqueeze(-1), k), b)


def expected_return(transitions: Any, rewards: Any, initial: Any, gamma: Any, policy: Any) -> torch.Tensor:
    """``J = initial . V^pi`` per MDP: ``[B]`` (or a scalar). Differentiable in every input."""
    P, R, mu, g, b = _unpack(transitions, rewards, initial, gamma)
    V, _, k = _solve_values(P, R, g, _probabilities(_policy(policy, P, bool(b))))
    return _out(ldexp((mu * V).sum(-1), k[:, 0, 0]), b)


def _visitation(P: torch.Tensor, mu: torch.Tensor, g: torch.Tensor, pi: torch.Tensor) -> torch.Tensor:
    P_pi = torch.einsum("bsa,bsat->bst", pi, P)
    eye = torch.eye(P.shape[1], dtype=P.dtype, device=P.device)
    M = (eye - g[:, None, None] * P_pi).transpose(-1, -2)
    return torch.linalg.solve(M, mu.unsqueeze(-1)).squeeze(-1)


def visitation(transitions: Any, rewards: Any, initial: Any, gamma: Any, policy: Any) -> torch.Tensor:
    """Unnormalized discounted visitation ``sum_t gamma^t P(s_t = s)``: ``[B, S]`` (or ``[S]``)."""
    P, _, mu, g, b = _unpack(transitions, rewards, initial, gamma)
    return _out(_visitation(P, mu, g, _probabilities(_policy(policy, P, bool(b)))), b)


def occupancy(transitions: Any, rewards: Any, initial: Any, gamma: Any, policy: Any) -> torch.Tensor:
    """Normalized discounted state distribution ``(1 - gamma) * visitation``: ``[B, S]`` (or ``[S]``)."""
    P, _, mu, g, b = _unpack(transitions, rewards, initial, gamma)
    rho = _visitation(P, mu, g, _probabilities(_policy(policy, P, bool(b))))
    return _out((1 - g).unsqueeze(-1) * rho, b)


def policy_gradient(transitions: Any, rewards: Any, initial: Any, gamma: Any, logits: Any) -> torch.Tensor:
    """Exact ``grad_logits J`` by the policy-gradient theorem: ``rho(s) pi(a|s) A(s, a)``.

    Closed form (no autograd); :func:`expected_return` of ``softmax(logits)`` differentiated
    by autograd gives the same tensor, which the tests check.
    """
    P, R, mu, g, b = _unpack(transitions, rewards, initial, gamma)
    z = _policy(logits, P, bool(b), name="logits")
    pi = torch.softmax(z, dim=-1)
    rho = _visitation(P, mu, g, pi)
    V, Rs, k = _solve_values(P, R, g, pi)
    A = Rs + g[:, None, None] * torch.einsum("bsat,bt->bsa", P, V) - V.unsqueeze(-1)
    return _out(ldexp(rho.unsqueeze(-1) * pi * A, k), b)
