"""Unit tests of reference_impls.divergences: golden values, conventions, stability, validation."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from reference_impls import divergences as D


def test_golden_values() -> None:
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    # KL = 0.5 log(0.5/0.9) + 0.5 log(0.5/0.1) = 0.5 log(25/9)
    assert D.kl(p, q) == pytest.approx(0.5 * math.log(25 / 9), rel=1e-15)
    assert D.tv(p, q) == pytest.approx(0.4, rel=1e-15)
    assert D.l1(p, q) == pytest.approx(0.8, rel=1e-15)
    # chi2 = 0.25/0.9 + 0.25/0.1 - 1 = 16/9
    assert D.chi2(p, q) == pytest.approx(16 / 9, rel=1e-15)


def test_zero_conventions() -> None:
    assert D.kl([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2), rel=1e-15)  # 0 log 0 = 0
    assert D.kl([0.5, 0.5], [1.0, 0.0]) == math.inf  # q = 0 < p
    assert D.chi2([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert D.chi2([1.0, 0.0], [1.0, 0.0]) == 0.0


def test_batch_shape() -> None:
    p = np.array([[0.5, 0.5], [0.2, 0.8]])
    out = D.kl(p, p[::-1])
    assert out.shape == (2,)
    np.testing.assert_allclose(D.tv(p, p), 0.0)


def test_estimators_golden() -> None:
    # log r = log_q - log_p = 1: k1 = -1, k2 = 1/2, k3 = e - 2
    got = {k: float(D.kl_estimator(np.zeros(1), np.ones(1), k)[0]) for k in ("k1", "k2", "k3")}
    assert got == {"k1": -1.0, "k2": 0.5, "k3": pytest.approx(math.e - 2, rel=1e-15)}


@pytest.mark.parametrize("x", [1e-12, -3e-9, 1e-6, -0.3, 0.49, 0.5, -0.5, 3.0, -20.0])
def test_k3_is_accurate_near_r_equal_one(x: float) -> None:
    with mp.workdps(40):
        exact = float(mp.expm1(mp.mpf(x)) - mp.mpf(x))
    got = float(D.kl_estimator(np.zeros(1), np.array([x]), "k3")[0])
    assert got == pytest.approx(exact, rel=4e-16)


def test_k3_naive_formula_would_fail_the_accuracy_test() -> None:
    # control: the cancellation-prone expm1(x) - x at x = 1e-12 is off by far more than 4e-16
    x = 1e-12
    with mp.workdps(40):
        exact = float(mp.expm1(mp.mpf(x)) - mp.mpf(x))
    assert abs((math.expm1(x) - x) - exact) / exact > 1e-6


@pytest.mark.parametrize(("call", "name"), [
    (lambda: D.kl([0.5, 0.6], [0.5, 0.5]), "p"),
    (lambda: D.kl([0.5, 0.5], [-0.5, 1.5]), "q"),
    (lambda: D.tv([0.5, 0.5], [0.2, 0.3, 0.5]), "q"),
    (lambda: D.chi2([0.5, np.nan], [0.5, 0.5]), "p"),
    (lambda: D.l1([], []), "p"),
    (lambda: D.kl_estimator(np.zeros(2), np.zeros(3), "k1"), "log_q"),
    (lambda: D.kl_estimator(np.zeros(2), np.zeros(2), "k4"), "kind"),
    (lambda: D.kl_estimator(np.array([np.inf]), np.zeros(1), "k1"), "log_p"),
])
def test_bad_input_names_the_argument(call, name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name}:"):
        call()
