"""Unit tests of reference_impls.trust_region: the KKT step, conjugate gradients, TRPO's line search."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from reference_impls import gradients as G
from reference_impls import mdp as M
from reference_impls import trust_region as T


def _spd(rng: np.random.Generator, n: int) -> np.ndarray:
    B = rng.normal(size=(n, n))
    return B @ B.T + 0.1 * np.eye(n)


def _tabular(seed: int = 0, S: int = 3, A: int = 3, gamma: float = 0.9) -> tuple[M.FiniteMDP, np.ndarray]:
    rng = np.random.default_rng(seed)
    return M.random_mdp(rng, S, A, gamma), rng.normal(size=(S, A))


# --------------------------------------------------------------------------- natural_gradient_step


@pytest.mark.parametrize("n", [1, 2, 5])
def test_natural_step_matches_closed_form_on_spd(n: int) -> None:
    rng = np.random.default_rng(n)
    F, g, delta = _spd(rng, n), rng.normal(size=n), 0.01
    s = T.natural_gradient_step(g, F, delta)
    x = np.linalg.solve(F, g)
    np.testing.assert_allclose(s, math.sqrt(2 * delta / (g @ x)) * x, rtol=1e-12)
    assert 0.5 * s @ F @ s == pytest.approx(delta, rel=1e-12)  # constraint active
    assert g @ s == pytest.approx(math.sqrt(2 * delta * (g @ x)), rel=1e-12)  # model improvement


def test_natural_step_beats_random_feasible_steps() -> None:
    rng = np.random.default_rng(1)
    F, g, delta = _spd(rng, 4), rng.normal(size=4), 0.05
    best = g @ T.natural_gradient_step(g, F, delta)
    for _ in range(200):
        u = rng.normal(size=4)
        u *= math.sqrt(delta / (0.5 * u @ F @ u))
        assert g @ u <= best + 1e-12


def test_natural_step_on_singular_tabular_fisher_lies_in_range_and_uses_pinv() -> None:
    mdp, z = _tabular(2)
    F = G.fisher_matrix(mdp, z)
    g = G.policy_gradient(mdp, z)
    assert np.linalg.matrix_rank(F) == mdp.n_states * (mdp.n_actions - 1)  # singular: one null direction per state
    s = T.natural_gradient_step(g, F, 0.01)
    assert s.shape == g.shape  # [S, A] in, [S, A] out
    flat = s.ravel()
    Fp = np.linalg.pinv(F, rcond=1e-10, hermitian=True)
    np.testing.assert_allclose(F @ Fp @ flat, flat, atol=1e-12)  # in range(F): no constant-per-state shift
    np.testing.assert_allclose(np.sum(s, axis=1), 0.0, atol=1e-12)
    x = Fp @ g.ravel()
    np.testing.assert_allclose(flat, math.sqrt(0.02 / (g.ravel() @ x)) * x, rtol=1e-10)
    assert 0.5 * flat @ F @ flat == pytest.approx(0.01, rel=1e-10)


def test_natural_step_rejects_gradient_outside_range() -> None:
    mdp, z = _tabular(3)
    F = G.fisher_matrix(mdp, z)
    g = G.policy_gradient(mdp, z).copy()
    g[0] += 1.0  # a constant shift of state 0's logits lies in the null space of F
    with pytest.raises(ValueError, match=r"^grad: .*range of fisher"):
        T.natural_gradient_step(g, F, 0.01)


def test_natural_step_zero_gradient_gives_zero_step_and_float64() -> None:
    F = np.eye(3)
    assert np.array_equal(T.natural_gradient_step(np.zeros(3), F, 0.1), np.zeros(3))
    s = T.natural_gradient_step(np.array([1.0, 0.0, 0.0], dtype=np.float32), F, 0.5)
    assert s.dtype == np.float64
    np.testing.assert_allclose(s, [1.0, 0.0, 0.0])  # sqrt(2 * 0.5 / 1) * e_0


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((np.array([1.0, np.nan]), np.eye(2), 0.1), "grad"),
        ((np.array([]), np.zeros((0, 0)), 0.1), "grad"),
        ((np.ones(2), np.eye(3), 0.1), "fisher"),
        ((np.ones(2), np.array([[1.0, 0.5], [0.0, 1.0]]), 0.1), "fisher"),
        ((np.ones(2), np.array([[1.0, 0.0], [0.0, -1.0]]), 0.1), "fisher"),
        ((np.ones(2), np.eye(2), 0.0), "max_kl"),
        ((np.ones(2), np.eye(2), -1.0), "max_kl"),
        ((np.ones(2), np.eye(2), float("nan")), "max_kl"),
        ((np.ones(2), np.eye(2), True), "max_kl"),
        ((np.ones(2), np.eye(2), np.array([0.1, 0.2])), "max_kl"),
    ],
)
def test_natural_step_validates_arguments(args: tuple, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: "):
        T.natural_gradient_step(*args)


# --------------------------------------------------------------------------- conjugate_gradient


def test_cg_solves_spd_system_within_n_iterations() -> None:
    rng = np.random.default_rng(4)
    A, b = _spd(rng, 6), rng.normal(size=6)
    x = T.conjugate_gradient(lambda v: A @ v, b, iterations=6)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-8)


def test_cg_uses_at_most_iterations_matvecs_and_stops_early() -> None:
    rng = np.random.default_rng(5)
    A, b = _spd(rng, 30), rng.normal(size=30)
    calls = [0]

    def mv(v: np.ndarray) -> np.ndarray:
        calls[0] += 1
        return A @ v

    T.conjugate_gradient(mv, b, iterations=3)
    assert calls[0] == 3
    calls[0] = 0
    x = T.conjugate_gradient(mv, b, iterations=500, tolerance=1e-6)
    assert calls[0] < 500  # stopped on the relative residual
    assert np.linalg.norm(A @ x - b) <= 1e-6 * np.linalg.norm(b) * 1.0001


def test_cg_on_singular_fisher_converges_to_min_norm_solution() -> None:
    mdp, z = _tabular(6, S=4, A=3)
    F = G.fisher_matrix(mdp, z)
    g = G.policy_gradient(mdp, z).ravel()
    x = T.conjugate_gradient(lambda v: F @ v, g, iterations=20)
    np.testing.assert_allclose(x, np.linalg.pinv(F, rcond=1e-10, hermitian=True) @ g, rtol=1e-8, atol=1e-12)
    # and the step built from it is the natural-gradient step
    s = math.sqrt(0.02 / (x @ F @ x)) * x
    np.testing.assert_allclose(s, T.natural_gradient_step(g, F, 0.01).ravel(), rtol=1e-7)


def test_cg_zero_rhs_returns_zero_without_matvec() -> None:
    def boom(v: np.ndarray) -> np.ndarray:
        raise AssertionError("matvec must not be called")

    assert np.array_equal(T.conjugate_gradient(boom, np.zeros(4)), np.zeros(4))


def test_cg_rejects_indefinite_operator() -> None:
    A = np.diag([1.0, -1.0])
    with pytest.raises(ValueError, match=r"^matvec: .*positive definite"):
        T.conjugate_gradient(lambda v: A @ v, np.array([0.0, 1.0]))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"matvec": "not callable", "b": np.ones(2)}, "matvec"),
        ({"matvec": lambda v: np.ones(3), "b": np.ones(2)}, "matvec"),
        ({"matvec": lambda v: np.full(2, np.inf), "b": np.ones(2)}, "matvec"),
        ({"matvec": lambda v: v, "b": np.ones((2, 2))}, "b"),
        ({"matvec": lambda v: v, "b": np.array([])}, "b"),
        ({"matvec": lambda v: v, "b": np.ones(2), "iterations": 0}, "iterations"),
        ({"matvec": lambda v: v, "b": np.ones(2), "iterations": 2.0}, "iterations"),
        ({"matvec": lambda v: v, "b": np.ones(2), "iterations": True}, "iterations"),
        ({"matvec": lambda v: v, "b": np.ones(2), "tolerance": -1.0}, "tolerance"),
    ],
)
def test_cg_validates_arguments(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: "):
        T.conjugate_gradient(**kwargs)


# --------------------------------------------------------------------------- trpo_step


def _quadratic_problem(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=4), _spd(rng, 4)


def test_trpo_accepts_full_step_when_kl_model_is_exact() -> None:
    g, F = _quadratic_problem()
    res = T.trpo_step(g, F, lambda s: float(g @ s), lambda s: 0.5 * float(s @ F @ s), 0.01)
    assert res.accepted and res.backtracks == 0
    np.testing.assert_allclose(res.step, T.natural_gradient_step(g, F, 0.01), rtol=1e-8)
    assert res.kl == pytest.approx(0.01, rel=1e-8)
    assert res.improvement == pytest.approx(res.expected_improvement, rel=1e-12)


def test_trpo_backtracks_when_true_kl_exceeds_budget() -> None:
    g, F = _quadratic_problem()
    # true KL twice its quadratic model: the full step has KL = 2 delta, half the step KL = delta / 2
    res = T.trpo_step(g, F, lambda s: float(g @ s), lambda s: float(s @ F @ s), 0.01)
    assert res.accepted and res.backtracks == 1
    np.testing.assert_allclose(res.step, 0.5 * res.full_step, rtol=1e-14)
    assert res.kl == pytest.approx(0.005, rel=1e-8)


def test_trpo_rejects_all_steps_without_strict_improvement() -> None:
    g, F = _quadratic_problem()
    for imp in (lambda s: -1.0, lambda s: 0.0):  # 0 is not an improvement (strict rule)
        res = T.trpo_step(g, F, imp, lambda s: 0.0, 0.01, max_backtracks=4)
        assert not res.accepted
        assert np.array_equal(res.step, np.zeros_like(g))
        assert res.backtracks == 4 and res.kl == 0.0 and res.improvement == 0.0


def test_trpo_accepts_only_kl_within_budget_and_callable_fisher_matches_matrix() -> None:
    g, F = _quadratic_problem(8)
    # KL that only becomes small after three halvings
    res = T.trpo_step(g, lambda v: F @ v, lambda s: float(g @ s), lambda s: 40.0 * float(s @ F @ s), 0.01,
                      backtrack_coef=0.5)
    # full step: 40 * 2 delta = 80 delta; after k halvings 80 delta / 4^k <= delta  =>  k = 4 (80/256)
    assert res.accepted and res.backtracks == 4 and res.kl <= 0.01
    res_m = T.trpo_step(g, F, lambda s: float(g @ s), lambda s: 40.0 * float(s @ F @ s), 0.01)
    np.testing.assert_allclose(res.step, res_m.step, rtol=1e-12)


def test_tabular_trpo_step_obeys_acceptance_rule() -> None:
    for seed in range(4):
        mdp, z = _tabular(seed)
        res = T.tabular_trpo_step(mdp, z, 0.01)
        assert res.accepted
        assert T.mean_kl(mdp, z, z + res.step) <= 0.01
        assert G.surrogate(mdp, z + res.step, z) > G.surrogate(mdp, z, z)
        assert res.step.shape == z.shape


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"grad": np.array([np.nan, 1.0])}, "grad"),
        ({"fisher": np.eye(3)}, "fisher"),
        ({"surrogate_improvement": 3.0}, "surrogate_improvement"),
        ({"kl": None}, "kl"),
        ({"max_kl": 0.0}, "max_kl"),
        ({"backtrack_coef": 1.0}, "backtrack_coef"),
        ({"backtrack_coef": 0.0}, "backtrack_coef"),
        ({"max_backtracks": -1}, "max_backtracks"),
        ({"kl": lambda s: float("nan")}, "kl"),
        ({"surrogate_improvement": lambda s: float("inf")}, "surrogate_improvement"),
        ({"cg_iterations": 0}, "cg_iterations"),
        ({"cg_tolerance": -1.0}, "cg_tolerance"),
        ({"fisher": lambda v: v[:1]}, "fisher"),
    ],
)
def test_trpo_step_validates_arguments(kwargs: dict, name: str) -> None:
    base: dict[str, Any] = {"grad": np.ones(2), "fisher": np.eye(2), "surrogate_improvement": lambda s: 1.0,
            "kl": lambda s: 0.0, "max_kl": 0.01}
    base.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name}: "):
        T.trpo_step(**base)


# --------------------------------------------------------------------------- mean_kl


def test_mean_kl_zero_at_equal_logits_and_hessian_is_fisher() -> None:
    mdp, z = _tabular(9)
    assert T.mean_kl(mdp, z, z) == 0.0
    assert T.mean_kl(mdp, z, z + 5.0) == pytest.approx(0.0, abs=1e-15)  # constant shift changes nothing
    F = G.fisher_matrix(mdp, z)
    rng = np.random.default_rng(0)
    v = rng.normal(size=z.shape)
    h = 1e-4
    second = (T.mean_kl(mdp, z, z + h * v) + T.mean_kl(mdp, z, z - h * v)) / h**2
    assert second == pytest.approx(v.ravel() @ F @ v.ravel(), rel=1e-6)


def test_mean_kl_matches_direct_formula_and_validates() -> None:
    mdp, z = _tabular(10)
    z2 = z + np.random.default_rng(1).normal(size=z.shape)
    p, q = M.softmax(z), M.softmax(z2)
    direct = M.occupancy(mdp, p) @ np.sum(p * np.log(p / q), axis=1)
    assert T.mean_kl(mdp, z, z2) == pytest.approx(direct, rel=1e-12)
    with pytest.raises(ValueError, match=r"^logits: "):
        T.mean_kl(mdp, z, z[:, :2])
    with pytest.raises(ValueError, match=r"^mdp: "):
        T.mean_kl("mdp", z, z)  # type: ignore[arg-type]
