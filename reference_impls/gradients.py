"""Exact policy gradients, TRPO's surrogate and the Fisher matrix for tabular softmax policies.

The policy is ``pi(a|s) = softmax(logits[s])(a)``. Gradients are with respect to
``logits`` and have its shape ``[S, A]``.

Conventions: ``J`` is the unnormalized discounted return, so the policy gradient
carries the ``gamma^t`` weights, i.e. the *unnormalized* visitation ``rho``
(Sutton et al. 1999, Thm 1, eq. 2):

    dJ/dz[s, a] = rho(s) * pi(a|s) * A^pi(s, a),    rho(s) = sum_t gamma^t P(s_t = s),

using ``d pi(b|s) / d z[s, a] = pi(b|s) (1[a = b] - pi(a|s))``. The estimator
that drops ``gamma^t`` (common in practice) is *not* this gradient (Nota & Thomas 2020).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference_impls._validation import as_float_array
from reference_impls.mdp import (
    FiniteMDP,
    _check_mdp,
    advantages,
    expected_return,
    occupancy,
    softmax,
    visitation,
)

__all__ = [
    "fisher_matrix",
    "policy_gradient",
    "surrogate",
    "surrogate_gradient",
]


def _check_logits(mdp: FiniteMDP, logits: Any, name: str) -> np.ndarray:
    return as_float_array(logits, name, shape=(mdp.n_states, mdp.n_actions))


def policy_gradient(mdp: FiniteMDP, logits: Any) -> np.ndarray:
    """Exact ``grad_logits J`` by the policy-gradient theorem, shape ``[S, A]``.

    ``grad[s, a] = rho_pi(s) pi(a|s) A^pi(s, a)`` with the unnormalized discounted
    visitation ``rho_pi`` (so ``gamma^t`` is included).

    References: Sutton, McAllester, Singh & Mansour (1999), Theorem 1, eq. (2).
    Claims: PG-THEOREM, SURR-GRAD-EQ.
    """
    z = _check_logits(_check_mdp(mdp), logits, "logits")
    pi = softmax(z)
    rho = visitation(mdp, pi)
    return rho[:, None] * pi * advantages(mdp, pi)


def surrogate(mdp: FiniteMDP, logits: Any, old_logits: Any) -> float:
    """TRPO's local approximation ``L_old(new)`` (Schulman et al. 2015, eq. 3).

    ``L_old(new) = J(old) + sum_s rho_old(s) sum_a pi_new(a|s) A_old(s, a)``, with the
    unnormalized visitation ``rho_old`` of the old policy.
    Equals ``J`` to first order at ``new = old`` (claim SURR-GRAD-EQ).
    """
    _check_mdp(mdp)
    z = _check_logits(mdp, logits, "logits")
    z_old = _check_logits(mdp, old_logits, "old_logits")
    pi, pi_old = softmax(z), softmax(z_old)
    rho = visitation(mdp, pi_old)
    A = advantages(mdp, pi_old)
    return float(expected_return(mdp, pi_old) + rho @ np.sum(pi * A, axis=1))


def surrogate_gradient(mdp: FiniteMDP, logits: Any, old_logits: Any) -> np.ndarray:
    """Exact gradient of :func:`surrogate` with respect to ``logits``, shape ``[S, A]``.

    ``grad[s, a] = rho_old(s) pi_new(a|s) (A_old(s, a) - sum_b pi_new(b|s) A_old(s, b))``.
    At ``logits == old_logits`` this equals :func:`policy_gradient`.
    """
    _check_mdp(mdp)
    z = _check_logits(mdp, logits, "logits")
    z_old = _check_logits(mdp, old_logits, "old_logits")
    pi, pi_old = softmax(z), softmax(z_old)
    rho = visitation(mdp, pi_old)
    A = advantages(mdp, pi_old)
    abar = np.sum(pi * A, axis=1, keepdims=True)
    return rho[:, None] * pi * (A - abar)


def fisher_matrix(mdp: FiniteMDP, logits: Any) -> np.ndarray:
    """Fisher information ``F = E_{s~d, a~pi}[grad log pi grad log pi^T]``, shape ``[S*A, S*A]``.

    ``d`` is the *normalized* discounted occupancy of the policy, and parameters are
    flattened row-major (``index = s * A + a``). ``F`` is block diagonal with blocks
    ``d(s) (diag(pi_s) - pi_s pi_s^T)``; it is also the Hessian at ``new = old`` of the
    mean KL ``E_{s~d} KL(pi_old(.|s) || pi_new(.|s))`` (TRPO eq. 17, App. C).

    The matrix is singular: adding a constant to one state's logits changes nothing,
    so ``1_s`` (the indicator of state ``s``'s block) lies in its null space, and so does
    every block of a state with ``d(s) = 0``.
    """
    z = _check_logits(_check_mdp(mdp), logits, "logits")
    pi = softmax(z)
    d = occupancy(mdp, pi)
    S, A = pi.shape
    F = np.zeros((S * A, S * A))
    for s in range(S):
        blk = d[s] * (np.diag(pi[s]) - np.outer(pi[s], pi[s]))
        F[s * A : (s + 1) * A, s * A : (s + 1) * A] = blk
    return F
