"""Natural-gradient and TRPO steps: the closed-form KKT step, conjugate gradients, and
TRPO's backtracking line search (Schulman et al. 2015, Sec. 6 and App. C).

Conventions:

* The trust region is the *quadratic model* of the KL: ``1/2 s^T F s <= max_kl``, with
  ``F`` the Fisher matrix (the Hessian at ``s = 0`` of the mean KL
  ``E_{s~d} KL(pi_old(.|s) || pi_new(.|s))``, old-to-new direction as in TRPO eq. 12-14).
  Note the 1/2: ``KL = 1/2 s^T F s + O(|s|^3)`` (claim KL-FISHER-2ND-ORDER).
* ``max_kl`` is a KL budget in nats (TRPO's delta, 0.01 in its experiments), not a radius.
* The objective model is *linear*, ``g^T s`` (TRPO eq. 17 / App. C: linear objective,
  quadratic constraint).
* Parameter vectors of any shape are flattened row-major to match ``F``
  (``reference_impls.gradients.fisher_matrix`` uses ``index = s * A + a``).

The tabular-softmax Fisher is singular (adding a constant to one state's logits changes
no probability), so ``F^{-1}`` here means the inverse on the range of ``F`` (the
Moore-Penrose pseudo-inverse). The policy gradient lies in that range
(``rho(s) pi (A - 0) = (diag pi - pi pi^T) A`` per state), so nothing is lost; a gradient
with a component in the null space would make the linear model unbounded on the
trust region, and is rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference_impls._validation import (
    MAX_HORIZON,
    as_float_array,
    check_nonneg_int,
    check_positive_int,
    check_scalar,
)
from reference_impls.mdp import FiniteMDP, _check_mdp, log_softmax, occupancy, softmax

__all__ = [
    "TRPOStepResult",
    "conjugate_gradient",
    "mean_kl",
    "natural_gradient_step",
    "tabular_trpo_step",
    "trpo_step",
]

#: Most shrinkings of the line search accepted (0.5**1100 is 0 in float64).
MAX_BACKTRACKS = 10_000
#: Relative size (to the largest eigenvalue) below which an eigenvalue of F counts as 0.
RANGE_RTOL = 1e-10
#: Largest relative component of ``grad`` outside the range of F that is accepted.
RANGE_ATOL = 1e-8


def _check_fisher(fisher: Any, n: int, name: str = "fisher") -> np.ndarray:
    F = as_float_array(fisher, name, shape=(n, n))
    scale = max(1.0, float(np.max(np.abs(F)))) if F.size else 1.0
    asym = float(np.max(np.abs(F - F.T))) if F.size else 0.0
    if asym > 1e-10 * scale:
        raise ValueError(f"{name}: expected a symmetric matrix, got max |F - F^T| = {asym:.3g}")
    return F


def _unit_scale(g: np.ndarray) -> tuple[np.ndarray, int]:
    """``(g / 2^e, e)`` with ``2^e`` the power of two just above ``max |g|`` (exact; ``e = 0`` for ``g = 0``).

    The natural-gradient step is homogeneous of degree 0 in ``g``, so solving with the scaled
    gradient gives the same step while ``g^T F^+ g`` can neither overflow (``|g| ~ 1e155``)
    nor underflow (``|g| ~ 1e-160``).
    """
    top = float(np.max(np.abs(g))) if g.size else 0.0
    if top == 0.0:
        return g, 0
    _, e = np.frexp(top)
    return np.ldexp(g, -int(e)), int(e)


def _pinv_solve(F: np.ndarray, g: np.ndarray, name_g: str = "grad") -> np.ndarray:
    """``F^+ g`` by an eigendecomposition, after checking F >= 0 and g in range(F)."""
    w, U = np.linalg.eigh(0.5 * (F + F.T))
    top = float(np.max(np.abs(w))) if w.size else 0.0
    if w.size and float(w.min()) < -1e-10 * max(top, 1.0):
        raise ValueError(f"fisher: expected a positive semi-definite matrix, got smallest eigenvalue {w.min():.3g}")
    keep = w > RANGE_RTOL * top if top > 0 else np.zeros_like(w, dtype=bool)
    Uk = U[:, keep]
    coef = Uk.T @ g
    gnorm = float(np.linalg.norm(g))
    outside = float(np.linalg.norm(g - Uk @ coef))
    if gnorm > 0 and outside > RANGE_ATOL * gnorm:
        raise ValueError(
            f"{name_g}: expected a vector in the range of fisher (the linear model is unbounded on the "
            f"trust region otherwise), got a component of relative size {outside / gnorm:.3g} in its null space"
        )
    return Uk @ (coef / w[keep])


def natural_gradient_step(grad: Any, fisher: Any, max_kl: float) -> np.ndarray:
    """The maximizer of ``g^T s`` subject to ``1/2 s^T F s <= max_kl`` (TRPO App. C).

    ``s* = sqrt(2 max_kl / (g^T F^{-1} g)) F^{-1} g``; the constraint is active
    (``1/2 s*^T F s* = max_kl``) and the model improvement is ``sqrt(2 max_kl g^T F^{-1} g)``.
    The KKT multiplier is ``lambda* = sqrt(g^T F^{-1} g / (2 max_kl))``.

    ``F^{-1}`` acts on the range of ``F`` (pseudo-inverse via an eigendecomposition;
    eigenvalues below ``1e-10`` times the largest count as zero): the tabular-softmax
    Fisher is singular, and the policy gradient lies in its range. A ``grad`` with a
    component in the null space of ``F`` (relative size > 1e-8) raises ``ValueError``,
    since then the problem is unbounded. ``grad == 0`` gives the zero step.

    Args:
      grad: the gradient ``g`` (any shape; flattened row-major to match ``fisher``).
      fisher: ``[n, n]`` symmetric positive semi-definite matrix, ``n = grad.size``.
      max_kl: the KL budget ``delta > 0`` (nats).

    Returns:
      the step, with the shape of ``grad``, float64.
    """
    g_arr = as_float_array(grad, "grad")
    if g_arr.size == 0:
        raise ValueError(f"grad: expected a non-empty array, got shape {g_arr.shape}")
    g = g_arr.reshape(-1)
    F = _check_fisher(fisher, g.size)
    delta = check_scalar(max_kl, "max_kl", lo=0.0, lo_open=True)
    gn, _ = _unit_scale(g)  # the step is scale-free in g: solve with max |g| in [1/2, 1)
    x = _pinv_solve(F, gn)
    gFg = float(gn @ x)
    if gFg <= 0.0:
        return np.zeros_like(g_arr)
    return (np.sqrt(2.0 * delta / gFg) * x).reshape(g_arr.shape)


def conjugate_gradient(
    matvec: Callable[[np.ndarray], Any],
    b: Any,
    iterations: int = 10,
    tolerance: float = 1e-10,
) -> np.ndarray:
    """Approximate ``A^{-1} b`` by conjugate gradients from ``x0 = 0`` (Hestenes-Stiefel).

    ``matvec(v)`` returns ``A v`` for a symmetric positive semi-definite ``A`` (in TRPO,
    a Fisher-vector product; ``A`` is never formed). At most ``iterations`` products are
    used (TRPO: 10); the loop stops early once ``||r||_2 <= tolerance * ||b||_2`` (relative
    residual). Starting from 0, every iterate lies in the Krylov space of ``b``, so when
    ``b`` is in the range of a singular ``A`` the iterates converge to the minimum-norm
    solution ``A^+ b`` (the one :func:`natural_gradient_step` uses); in exact arithmetic
    within ``rank(A)`` iterations.

    Raises ``ValueError`` if ``matvec`` returns the wrong shape or non-finite values, or
    if a search direction ``p`` has ``p^T A p <= 0`` while the relative residual is still
    above ``1e-6`` (the operator is not positive definite on the Krylov space); below that,
    ``p^T A p <= 0`` is rounding on a singular operator and the loop stops (on a singular
    Fisher the residual's null-space part stalls near ``sqrt(machine eps)``, and a direction
    built from it can have ``p^T A p`` of either sign).
    """
    return _cg(matvec, b, iterations, tolerance)


def _cg(matvec: Callable[[np.ndarray], Any], b: Any, iterations: Any, tolerance: Any,
        names: tuple[str, str, str, str] = ("matvec", "b", "iterations", "tolerance")) -> np.ndarray:
    """:func:`conjugate_gradient`, with the argument names used in messages given by the caller."""
    n_mv, n_b, n_it, n_tol = names
    if not callable(matvec):
        raise ValueError(f"{n_mv}: expected a callable v -> A v, got {type(matvec).__name__}")
    bb = as_float_array(b, n_b, ndim=1)
    if bb.size == 0:
        raise ValueError(f"{n_b}: expected a non-empty vector, got shape (0,)")
    k_max = check_positive_int(iterations, n_it)
    if k_max > MAX_HORIZON:
        raise ValueError(f"{n_it}: expected at most {MAX_HORIZON:,} iterations, got {k_max:,}")
    tol = check_scalar(tolerance, n_tol, lo=0.0)
    bb, scale = _unit_scale(bb)  # CG is linear in b: run on b / scale (no overflow of r^T r), scale back
    x = np.zeros_like(bb)
    r = bb.copy()
    p = r.copy()
    bnorm = float(np.linalg.norm(bb))
    if bnorm == 0.0:
        return x
    rr = float(r @ r)
    stop = max(tol, 10.0 * float(np.finfo(np.float64).eps)) * bnorm
    converged = 1e-6 * bnorm  # below this residual a non-positive curvature is rounding (see the docstring)
    for _ in range(k_max):
        if np.sqrt(rr) <= stop:
            break
        Ap = _matvec_out(_apply(matvec, p, n_mv), n_mv, bb.size)
        pAp = float(p @ Ap)
        if not pAp > 0.0:
            if np.sqrt(rr) <= converged:
                # rounding: on a singular PSD operator a direction this close to convergence can pick up
                # a null-space component with p^T A p ~ -1e-19 (seen at relative residual 1.8e-8)
                break
            raise ValueError(
                f"{n_mv}: expected a positive definite operator on the Krylov space of {n_b}, got p^T A p = "
                f"{pAp:.3g} with relative residual {np.sqrt(rr) / bnorm:.3g}"
            )
        step = rr / pAp
        x = x + step * p
        r = r - step * Ap
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    with np.errstate(over="ignore"):
        return np.ldexp(x, scale)  # 2^scale itself may not be representable (|b| near the float64 limit)


def _apply(matvec: Callable[[np.ndarray], Any], v: np.ndarray, name: str) -> Any:
    """``matvec(v)``; an exception raised by the user's callable becomes a ValueError naming ``name``."""
    try:
        return matvec(v.copy())
    except Exception as exc:
        raise ValueError(f"{name}: expected a callable v -> A v accepting a vector of shape {v.shape}, got one that "
                         f"raised {type(exc).__name__}: {exc}") from exc


def _matvec_out(out: Any, name: str, n: int) -> np.ndarray:
    """The value returned by a user's matrix-vector product, checked (the message names ``name``)."""
    try:
        return as_float_array(out, name, shape=(n,))
    except ValueError as exc:
        raise ValueError(f"{name}: expected the product v -> A v to return a finite vector of shape ({n},), got "
                         f"an invalid value ({exc})") from None


@dataclass(frozen=True)
class TRPOStepResult:
    """The outcome of :func:`trpo_step`.

    Attributes:
      step: the accepted step (shape of ``grad``); zeros when nothing was accepted.
      accepted: whether some candidate passed the acceptance rule.
      backtracks: number of shrinkings before acceptance (``step = coef**backtracks *
        full_step``); when nothing was accepted, the number of candidates tried minus 1.
      kl: KL of the accepted step as reported by the ``kl`` callable (0.0 if none).
      improvement: surrogate improvement of the accepted step (0.0 if none).
      full_step: the natural-gradient step before the line search.
      direction: the CG solution ``x ~ F^{-1} g`` (CG runs on ``g`` scaled by a power of two to
        ``max |g|`` in [1/2, 1), then ``x`` is scaled back; ``inf`` only if ``F^{-1} g`` overflows).
      expected_improvement: the linear model's improvement ``g^T full_step``.
    """

    step: np.ndarray
    accepted: bool
    backtracks: int
    kl: float
    improvement: float
    full_step: np.ndarray
    direction: np.ndarray
    expected_improvement: float


def trpo_step(
    grad: Any,
    fisher: Any,
    surrogate_improvement: Callable[[np.ndarray], float],
    kl: Callable[[np.ndarray], float],
    max_kl: float,
    *,
    cg_iterations: int = 10,
    cg_tolerance: float = 1e-10,
    backtrack_coef: float = 0.5,
    max_backtracks: int = 10,
) -> TRPOStepResult:
    """One TRPO update (Schulman et al. 2015, App. C).

    1. Direction: ``x = CG(F, g)`` with ``cg_iterations`` Fisher-vector products.
    2. Full step: ``s = sqrt(2 max_kl / (x^T F x)) x`` (TRPO's ``beta``), so that the
       quadratic KL model ``1/2 s^T F s`` equals ``max_kl``. When CG is exact,
       ``x^T F x = g^T F^{-1} g`` and ``s`` is :func:`natural_gradient_step`.
    3. Backtracking line search on ``s_k = backtrack_coef**k * s``,
       ``k = 0, 1, ..., max_backtracks``.

    **Acceptance rule.** The first ``s_k`` with ``kl(s_k) <= max_kl`` (the *true* KL, not
    its quadratic model) **and** ``surrogate_improvement(s_k) > 0`` (strict) is
    accepted. If none passes, the zero step is returned with ``accepted=False``. (OpenAI
    baselines' ``trpo_mpi`` is looser: ``kl <= 1.5 max_kl`` and improvement ``>= 0``;
    TRPO App. C: "shrink beta exponentially until the objective improves" within the
    KL constraint.)

    Args:
      grad: gradient ``g`` of the surrogate at the old parameters (any shape).
      fisher: ``[n, n]`` matrix, or a callable ``v -> F v`` on flat vectors.
      surrogate_improvement: ``step -> L(theta_old + step) - L(theta_old)``.
      kl: ``step -> mean KL(pi_old || pi_{theta_old + step})`` (nats).
      max_kl: the KL budget ``delta > 0``.
      cg_iterations, cg_tolerance: passed to :func:`conjugate_gradient`.
      backtrack_coef: shrink factor in ``(0, 1)``.
      max_backtracks: number of shrinkings allowed (``>= 0``).
    """
    g_arr = as_float_array(grad, "grad")
    if g_arr.size == 0:
        raise ValueError(f"grad: expected a non-empty array, got shape {g_arr.shape}")
    g = g_arr.reshape(-1)
    if callable(fisher):
        fvp: Callable[[np.ndarray], Any] = fisher
    else:
        F = _check_fisher(fisher, g.size)

        def fvp(v: np.ndarray) -> np.ndarray:
            return F @ v

    if not callable(surrogate_improvement):
        raise ValueError(f"surrogate_improvement: expected a callable step -> float, got "
                         f"{type(surrogate_improvement).__name__}")
    if not callable(kl):
        raise ValueError(f"kl: expected a callable step -> float, got {type(kl).__name__}")
    delta = check_scalar(max_kl, "max_kl", lo=0.0, lo_open=True)
    coef = check_scalar(backtrack_coef, "backtrack_coef", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    n_back = check_nonneg_int(max_backtracks, "max_backtracks")
    if n_back > MAX_BACKTRACKS:
        raise ValueError(f"max_backtracks: expected at most {MAX_BACKTRACKS} (backtrack_coef**k underflows to 0 "
                         f"long before), got {n_back:,}")
    # the full step is scale-free in g: run CG on g / c (max |g / c| in [1/2, 1)) so that x^T F x can
    # neither overflow nor underflow, and scale the direction and the model improvement back by c
    gn, k = _unit_scale(g)
    xn = _cg(fvp, gn, cg_iterations, cg_tolerance, names=("fisher", "grad", "cg_iterations", "cg_tolerance"))
    xFx = float(xn @ _matvec_out(_apply(fvp, xn, "fisher"), "fisher", g.size))
    with np.errstate(over="ignore"):
        x = np.ldexp(xn, k)
    zeros = np.zeros_like(g_arr)
    if not xFx > 0.0:
        return TRPOStepResult(zeros, False, 0, 0.0, 0.0, zeros.copy(), x.reshape(g_arr.shape), 0.0)
    full = np.sqrt(2.0 * delta / xFx) * xn
    with np.errstate(over="ignore"):
        expected = float(np.ldexp(gn @ full, k))
    for k in range(n_back + 1):
        s = (coef**k * full).reshape(g_arr.shape)
        kl_k = check_scalar(kl(s.copy()), "kl")
        imp_k = check_scalar(surrogate_improvement(s.copy()), "surrogate_improvement")
        if kl_k <= delta and imp_k > 0.0:
            return TRPOStepResult(s, True, k, kl_k, imp_k, full.reshape(g_arr.shape), x.reshape(g_arr.shape), expected)
    return TRPOStepResult(zeros, False, n_back, 0.0, 0.0, full.reshape(g_arr.shape), x.reshape(g_arr.shape), expected)


def mean_kl(mdp: FiniteMDP, old_logits: Any, logits: Any) -> float:
    """``E_{s ~ d_old}[KL(pi_old(.|s) || pi_new(.|s))]`` in nats, ``d_old`` the normalized
    discounted occupancy of the old policy (TRPO eq. 14, old-to-new direction).

    Its Hessian in ``logits`` at ``logits == old_logits`` is
    :func:`reference_impls.gradients.fisher_matrix` (same ``d``).
    """
    _check_mdp(mdp)
    z_old = as_float_array(old_logits, "old_logits", shape=(mdp.n_states, mdp.n_actions))
    z = as_float_array(logits, "logits", shape=(mdp.n_states, mdp.n_actions))
    p = softmax(z_old)
    with np.errstate(invalid="ignore"):
        # 0 log 0 = 0: an action the old policy never takes contributes nothing, even where the
        # new log-probability is -inf (logits near the float64 limit); p > 0 = new p gives +inf
        terms = np.where(p > 0, p * (log_softmax(z_old) - log_softmax(z)), 0.0)
    per_state = np.sum(terms, axis=1)
    return float(occupancy(mdp, p) @ per_state)


def tabular_trpo_step(mdp: FiniteMDP, logits: Any, max_kl: float, **kwargs: Any) -> TRPOStepResult:
    """:func:`trpo_step` for a tabular softmax policy on ``mdp`` at ``logits``.

    Uses the exact surrogate gradient (TRPO eq. 3, ``reference_impls.gradients``), the
    exact Fisher matrix of the occupancy-weighted mean KL, the exact surrogate
    improvement ``L_old(new) - L_old(old)`` and :func:`mean_kl`. Keyword arguments go to
    :func:`trpo_step`. The step has shape ``[S, A]``.
    """
    from reference_impls import gradients

    _check_mdp(mdp)
    z = as_float_array(logits, "logits", shape=(mdp.n_states, mdp.n_actions))
    g = gradients.surrogate_gradient(mdp, z, z)
    F = gradients.fisher_matrix(mdp, z)
    base = gradients.surrogate(mdp, z, z)

    def improvement(s: np.ndarray) -> float:
        return gradients.surrogate(mdp, z + s, z) - base

    def kl_of(s: np.ndarray) -> float:
        return mean_kl(mdp, z, z + s)

    return trpo_step(g, F, improvement, kl_of, max_kl, **kwargs)
