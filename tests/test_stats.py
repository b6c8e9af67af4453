"""verify.stats: the false-alarm budget, the exact-covariance chi-square test, the z-test and detectable effects."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from verify import stats as VS
from verify.registry import load_all


def test_budget_split_is_explicit_and_within_total() -> None:
    load_all()  # every claim module registers its Monte Carlo tests at import
    b = VS.budget()
    assert b["per_test_alpha"] == VS.TOTAL_ALPHA / VS.SLOTS
    assert b["registered"] == len(b["tests"]) >= 7
    assert b["spent"] <= VS.TOTAL_ALPHA <= 1e-3
    assert "IS-UNBIASED:mc_trajectory_is" in b["tests"]
    assert VS.alpha_for("IS-UNBIASED:mc_trajectory_is") == VS.PER_TEST_ALPHA


def test_unregistered_test_has_no_alpha() -> None:
    with pytest.raises(ValueError, match=r"^name:"):
        VS.alpha_for("no-such-test")


def test_register_refuses_beyond_the_last_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    full = {f"t{k}": "" for k in range(VS.SLOTS)}
    monkeypatch.setattr(VS, "_REGISTRY", full)
    with pytest.raises(ValueError, match=r"^name:"):
        VS.register_test("one-too-many")
    assert VS.register_test("t0") == VS.PER_TEST_ALPHA  # idempotent for a registered name


def test_z_test_values() -> None:
    # mean 0.1 above the null, sigma 2, n 400: z = 0.1 / (2/20) = 1
    r = VS.z_test(1.1, 400, 1.0, 2.0, 0.05)
    assert r["statistic"] == pytest.approx(1.0)
    assert r["p_value"] == pytest.approx(2 * stats.norm.sf(1.0))
    assert not r["reject"]
    assert VS.z_test(1.3, 400, 1.0, 2.0, 0.05)["reject"]


def test_minimum_detectable_discrepancy_z() -> None:
    # one-sided approximation (z_{1-a/2} + z_power) sigma / sqrt(n); the exact two-tailed value is a hair smaller
    alpha, power = 5e-6, 0.99
    approx = (stats.norm.isf(alpha / 2) + stats.norm.isf(1 - power)) * 3.0 / math.sqrt(1e4)
    d = VS.minimum_detectable_discrepancy(3.0, 10_000, alpha, power)
    assert d == pytest.approx(approx, rel=1e-9)
    zc = stats.norm.isf(alpha / 2)
    shift = d * 100 / 3.0
    assert stats.norm.sf(zc - shift) + stats.norm.cdf(-zc - shift) == pytest.approx(power, abs=1e-9)
    assert VS.required_samples(d, 3.0, alpha, power) == pytest.approx(10_000, abs=1)


def test_minimum_detectable_discrepancy_chi2() -> None:
    d = VS.minimum_detectable_discrepancy(1.0, 1000, 1e-4, 0.9, df=3)
    lam = 1000 * d * d
    assert stats.ncx2.sf(stats.chi2.isf(1e-4, 3), 3, lam) == pytest.approx(0.9, abs=1e-8)


def test_chi2_test_with_singular_covariance_projects_onto_range() -> None:
    # x = (u, -u): covariance [[1, -1], [-1, 1]] has rank 1
    cov = np.array([[1.0, -1.0], [-1.0, 1.0]])
    r = VS.chi2_mean_test(np.array([0.01, -0.01]), 10_000, np.zeros(2), cov, 1e-3)
    assert r["df"] == 1
    # statistic n (xbar . v)^2 / lambda with v = (1, -1)/sqrt 2, lambda = 2: 1e4 * (0.02/sqrt2)^2 / 2 = 1
    assert r["statistic"] == pytest.approx(1.0)
    assert not r["reject"]
    # any discrepancy off the range is impossible under H0 and rejects outright
    off = VS.chi2_mean_test(np.array([0.01, 0.01]), 10_000, np.zeros(2), cov, 1e-3)
    assert off["reject"] and off["null_space_residual"] > off["null_space_limit"]


def test_chi2_test_is_calibrated_and_has_power() -> None:
    # 2000 replicated draws of the test at alpha = 0.05 with the exact covariance: the rejection rate is within
    # 5 binomial sigmas of 0.05 (sigma = sqrt(.05 .95 / 2000) = 0.0049); a shift of 1.5x the reported detectable
    # effect (Mahalanobis) is rejected at least at the stated power 0.99 minus 5 sigma
    rng = np.random.default_rng(0)
    cov = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.5]])
    L = np.linalg.cholesky(cov)
    n, reps = 200, 2000
    means = (L @ rng.standard_normal((3, reps))).T / math.sqrt(n)
    rej = np.mean([VS.chi2_mean_test(m, n, np.zeros(3), cov, 0.05)["reject"] for m in means])
    assert abs(rej - 0.05) < 5 * 0.0049
    d = VS.chi2_mean_test(np.zeros(3), n, np.zeros(3), cov, 0.05)["detectable_mahalanobis"]
    shift = L @ np.array([1.0, 0.0, 0.0]) * d  # Mahalanobis length d
    power = np.mean([VS.chi2_mean_test(m + shift, n, np.zeros(3), cov, 0.05)["reject"] for m in means])
    assert power > 0.99 - 5 * math.sqrt(0.99 * 0.01 / reps)
    assert power < 1.0 or d > 0  # d is positive: the test is not trivially powerful


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: VS.z_test(0.0, 0, 0.0, 1.0, 0.05), "n"),
        (lambda: VS.z_test(0.0, 10, 0.0, 0.0, 0.05), "sigma"),
        (lambda: VS.z_test(0.0, 10, 0.0, 1.0, 1.5), "alpha"),
        (lambda: VS.chi2_mean_test(np.zeros(2), 10, np.zeros(3), np.eye(2), 0.05), "mean"),
        (lambda: VS.chi2_mean_test(np.zeros(2), 10, np.zeros(2), np.array([[1.0, 2.0], [0.0, 1.0]]), 0.05), "cov"),
        (lambda: VS.chi2_mean_test(np.zeros(2), 10, np.zeros(2), -np.eye(2), 0.05), "cov"),
        (lambda: VS.minimum_detectable_discrepancy(1.0, 10, 0.05, 1.0), "power"),
        (lambda: VS.minimum_detectable_discrepancy(1.0, 10, 0.05, 0.9, df=0), "df"),
        (lambda: VS.register_test(""), "name"),
    ],
)
def test_bad_input_names_the_argument(call, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()
