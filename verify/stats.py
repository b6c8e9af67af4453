"""Calibrated Monte Carlo tests: a suite-wide false-alarm budget and exact-moment tests.

**Budget.** One CI run may raise a false alarm with probability at most
:data:`TOTAL_ALPHA` = 1e-3, whatever the number of Monte Carlo tests. The budget is
split Bonferroni-style into :data:`SLOTS` equal slots, one per named test, so every test
runs at ``alpha = TOTAL_ALPHA / SLOTS`` and the union bound gives a family-wise rate
``<= (#registered tests) * alpha <= TOTAL_ALPHA``. A test draws from the budget by
registering its name (:func:`register_test`, at import time of the module that owns it);
:func:`alpha_for` refuses names that are not registered, and :func:`register_test`
refuses a test beyond the last slot. The per-test alpha is fixed in advance, so it does
not depend on which modules were imported or in what order, and adding a test never
changes another test's verdict. :func:`budget` reports the split.

Negative controls (a deliberately biased estimator that the same test must *reject*)
do not draw from the budget: their failure mode is a miss, whose probability is bounded
by ``1 - power`` when the control's bias exceeds the reported minimum detectable
discrepancy.

**Tests.** The null moments are *exact* (enumeration or closed forms), not estimated:

* :func:`z_test` -- a scalar sample mean against its exact mean, with the exact sigma.
* :func:`chi2_mean_test` -- a vector sample mean against its exact mean with the exact
  covariance (the known-covariance Hotelling statistic ``n (xbar - m)^T Sigma^+ (xbar - m)``,
  chi-square with ``rank(Sigma)`` degrees of freedom under H0 by the CLT). A singular
  covariance (e.g. softmax scores summing to zero) is handled by projecting onto its
  range via an eigendecomposition with a relative eigenvalue threshold; a discrepancy
  in the null space is impossible under H0 and rejects outright.
* :func:`minimum_detectable_discrepancy` -- the smallest true shift the test detects with
  the stated power (default 0.99) at its alpha.

**Verdicts** (:func:`mc_verdict`, used by every Monte Carlo check). A Monte Carlo check
decides nothing unless it has shown that it can fail:

* the estimator's test rejects H0 -> ``False`` (a discrepancy from an *exact* null mean at
  the budgeted alpha: the probability that this is a false alarm is at most alpha);
* the exact power of the same test against the negative control's exact discrepancy is
  below the stated power (the control's effect is below the minimum detectable
  discrepancy) -> ``None`` (undecided: *underpowered*), never a refutation;
* the control is not rejected (a miss, probability at most ``1 - power``) -> ``None``
  (undecided: *control missed*), never a refutation;
* otherwise ``True``.

The control is tested with its *own* exact moments (its own sigma or covariance), so the
power against it is exact under the CLT (:func:`power_against`).

Every result is a plain dict (JSON-ready) for :class:`verify.registry.Evidence` figures.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, stats

__all__ = [
    "CONTROL_DESIGN_POWER",
    "DEFAULT_POWER",
    "PER_TEST_ALPHA",
    "SLOTS",
    "TOTAL_ALPHA",
    "alpha_for",
    "audit_figures",
    "budget",
    "chi2_mean_test",
    "mahalanobis",
    "mc_verdict",
    "minimum_detectable_discrepancy",
    "power_against",
    "register_test",
    "registered_tests",
    "required_samples",
    "samples_for_control",
    "z_test",
]

#: Family-wise false-alarm probability of one CI run, over every Monte Carlo test.
TOTAL_ALPHA = 1e-3
#: Number of equal budget slots (the most Monte Carlo tests the project may register).
SLOTS = 200
#: Per-test false-alarm probability (Bonferroni): TOTAL_ALPHA / SLOTS = 5e-6.
PER_TEST_ALPHA = TOTAL_ALPHA / SLOTS
#: Power at which minimum detectable discrepancies are reported (and below which a check is undecided).
DEFAULT_POWER = 0.99
#: Power against the negative control that sample sizes are *designed* for (:func:`samples_for_control`):
#: a control is then missed at a seed with probability at most 1e-4.
CONTROL_DESIGN_POWER = 0.9999

_REGISTRY: dict[str, str] = {}


def register_test(name: str, description: str = "") -> float:
    """Register a Monte Carlo test that draws from the budget; returns its alpha.

    Idempotent for the same name. Raises ``ValueError`` when the budget has no slot left.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    if name not in _REGISTRY:
        if len(_REGISTRY) >= SLOTS:
            raise ValueError(f"name: the false-alarm budget has {SLOTS} slots and all are taken; cannot add {name!r}")
        _REGISTRY[name] = description
    return PER_TEST_ALPHA


def alpha_for(name: str) -> float:
    """The per-test alpha of a registered test (``ValueError`` for an unregistered name)."""
    if name not in _REGISTRY:
        raise ValueError(f"name: {name!r} is not a registered Monte Carlo test; call register_test first")
    return PER_TEST_ALPHA


def registered_tests() -> dict[str, str]:
    """A copy of the registry: test name -> description."""
    return dict(_REGISTRY)


def budget() -> dict[str, Any]:
    """The explicit split: total, slots, per-test alpha, the registered names and what they spend."""
    n = len(_REGISTRY)
    return {
        "total_alpha": TOTAL_ALPHA,
        "slots": SLOTS,
        "per_test_alpha": PER_TEST_ALPHA,
        "registered": n,
        "spent": n * PER_TEST_ALPHA,
        "unspent": TOTAL_ALPHA - n * PER_TEST_ALPHA,
        "tests": sorted(_REGISTRY),
    }


def _check_prob(x: Any, name: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a probability in (0, 1), got {x!r}") from exc
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name}: expected a probability in (0, 1), got {v!r}")
    return v


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n: expected a positive integer sample size, got {n!r}")
    return int(n)


def minimum_detectable_discrepancy(sigma: float, n: int, alpha: float, power: float = DEFAULT_POWER,
                                   df: int = 1) -> float:
    """Smallest true discrepancy detected with probability ``power`` at level ``alpha``.

    ``df == 1``: a two-sided z-test of a mean with standard deviation ``sigma`` per
    sample; the discrepancy is in the units of the mean, ``delta`` solving
    ``P(|Z + delta sqrt(n) / sigma| > z_{1-alpha/2}) = power`` exactly (both tails).
    ``df > 1``: the chi-square test; the discrepancy is in Mahalanobis units
    (``sigma`` should be 1), ``delta = sqrt(lambda / n)`` with ``lambda`` the
    non-centrality at which ``P(chi2_df(lambda) > crit) = power``.
    """
    if not (isinstance(sigma, float | int | np.floating) and math.isfinite(float(sigma)) and sigma >= 0):
        raise ValueError(f"sigma: expected a finite non-negative number, got {sigma!r}")
    n = _check_n(n)
    alpha = _check_prob(alpha, "alpha")
    power = _check_prob(power, "power")
    if isinstance(df, bool) or not isinstance(df, int | np.integer) or df < 1:
        raise ValueError(f"df: expected a positive integer, got {df!r}")
    if sigma == 0:
        return 0.0
    return float(sigma) * _unit_mdd(n, alpha, power, int(df))


@functools.lru_cache(maxsize=256)
def _unit_mdd(n: int, alpha: float, power: float, df: int) -> float:
    """The minimum detectable discrepancy for sigma = 1 (cached: tests reuse few (n, alpha, power, df))."""
    if df == 1:
        zc = stats.norm.isf(alpha / 2)

        def pw(d: float) -> float:
            return float(stats.norm.sf(zc - d) + stats.norm.cdf(-zc - d)) - power

        d = optimize.brentq(pw, 0.0, zc + stats.norm.isf(1 - power) + 10.0, xtol=1e-12)
        return float(d / math.sqrt(n))
    crit = stats.chi2.isf(alpha, df)

    def pw2(lam: float) -> float:
        return float(stats.ncx2.sf(crit, df, lam)) - power

    hi = 1.0
    while pw2(hi) < 0:
        hi *= 2.0
    lam = optimize.brentq(pw2, 1e-12, hi, xtol=1e-10)
    return float(math.sqrt(lam / n))


def required_samples(effect: float, sigma: float, alpha: float, power: float = DEFAULT_POWER) -> int:
    """Smallest ``n`` at which a two-sided z-test detects a mean shift ``effect`` with ``power``."""
    if not (math.isfinite(effect) and effect > 0):
        raise ValueError(f"effect: expected a positive finite number, got {effect!r}")
    d1 = minimum_detectable_discrepancy(float(sigma), 1, alpha, power)
    return max(1, math.ceil((d1 / effect) ** 2))


def z_test(sample_mean: float, n: int, mean: float, sigma: float, alpha: float,
           power: float = DEFAULT_POWER) -> dict[str, Any]:
    """Two-sided z-test of ``H0: E[X] = mean`` from the mean of ``n`` i.i.d. draws, exact ``sigma``.

    Returns ``statistic`` (z), ``p_value``, ``critical`` (z_{1-alpha/2}), ``reject``,
    ``alpha``, ``n``, ``sigma``, ``power`` and ``detectable`` (the minimum detectable
    discrepancy at that power), ``discrepancy`` (sample mean minus null mean).
    """
    n = _check_n(n)
    alpha = _check_prob(alpha, "alpha")
    for nm, v in (("sample_mean", sample_mean), ("mean", mean)):
        if not math.isfinite(float(v)):
            raise ValueError(f"{nm}: expected a finite number, got {v!r}")
    if not (math.isfinite(float(sigma)) and sigma > 0):
        raise ValueError(f"sigma: expected a positive finite standard deviation, got {sigma!r}")
    se = float(sigma) / math.sqrt(n)
    z = (float(sample_mean) - float(mean)) / se
    p = float(2 * stats.norm.sf(abs(z)))
    crit = float(stats.norm.isf(alpha / 2))
    return {
        "test": "z (exact sigma)",
        "statistic": z,
        "p_value": p,
        "critical": crit,
        "reject": bool(abs(z) > crit),
        "alpha": alpha,
        "n": n,
        "null_mean": float(mean),
        "sample_mean": float(sample_mean),
        "discrepancy": float(sample_mean) - float(mean),
        "sigma": float(sigma),
        "power": power,
        "detectable": minimum_detectable_discrepancy(float(sigma), n, alpha, power),
    }


def chi2_mean_test(sample_mean: Any, n: int, mean: Any, cov: Any, alpha: float, *,
                   power: float = DEFAULT_POWER, rel_tol: float = 1e-10,
                   null_tol: float = 1e-9) -> dict[str, Any]:
    """Known-covariance Hotelling (chi-square) test of ``H0: E[X] = mean`` for a vector mean.

    ``T = n (xbar - m)^T Sigma^+ (xbar - m) ~ chi2(r)`` under H0 (CLT), ``r = rank(Sigma)``.
    ``Sigma`` is symmetrized and eigendecomposed; eigenvalues below
    ``rel_tol * lambda_max`` span its null space. Under H0 every sample lies in
    ``m + range(Sigma)``, so a component of ``xbar - m`` in the null space larger than
    ``null_tol * (1 + |m|_inf + sqrt(lambda_max))`` rejects outright (reported as
    ``null_space_residual``).

    The minimum detectable discrepancy is reported in Mahalanobis units
    (``detectable_mahalanobis``) and as Euclidean shifts along the easiest and hardest
    directions of the range (``detectable_min`` / ``detectable_max``).
    """
    n = _check_n(n)
    alpha = _check_prob(alpha, "alpha")
    xb = np.asarray(sample_mean, dtype=np.float64)
    m = np.asarray(mean, dtype=np.float64)
    C = np.asarray(cov, dtype=np.float64)
    if xb.ndim != 1:
        raise ValueError(f"sample_mean: expected a 1-d vector, got shape {xb.shape}")
    d = xb.shape[0]
    if m.shape != (d,):
        raise ValueError(f"mean: expected shape ({d},), got {m.shape}")
    if C.shape != (d, d):
        raise ValueError(f"cov: expected shape ({d}, {d}), got {C.shape}")
    for nm, arr in (("sample_mean", xb), ("mean", m), ("cov", C)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{nm}: expected finite values")
    if not np.allclose(C, C.T, rtol=1e-10, atol=1e-14 * max(1.0, float(np.abs(C).max()))):
        raise ValueError("cov: expected a symmetric matrix")
    lam, V = np.linalg.eigh(0.5 * (C + C.T))
    lmax = float(lam[-1])
    if lmax <= 0:
        raise ValueError(f"cov: expected a positive semi-definite matrix with a positive eigenvalue, got max {lmax:g}")
    if float(lam[0]) < -1e-8 * lmax:
        raise ValueError(f"cov: expected a positive semi-definite matrix, got eigenvalue {float(lam[0]):g}")
    keep = lam > rel_tol * lmax
    r = int(keep.sum())
    diff = xb - m
    coords = V.T @ diff
    null_res = float(np.linalg.norm(coords[~keep])) if r < d else 0.0
    null_limit = null_tol * (1.0 + float(np.abs(m).max(initial=0.0)) + math.sqrt(lmax))
    T = float(n * np.sum(coords[keep] ** 2 / lam[keep]))
    crit = float(stats.chi2.isf(alpha, r))
    p = float(stats.chi2.sf(T, r))
    dm = minimum_detectable_discrepancy(1.0, n, alpha, power, df=r) if r > 1 else \
        minimum_detectable_discrepancy(1.0, n, alpha, power)
    lam_kept = lam[keep]
    return {
        "test": "chi-square (known covariance Hotelling)",
        "statistic": T,
        "df": r,
        "dimension": d,
        "p_value": p,
        "critical": crit,
        "reject": bool(T > crit or null_res > null_limit),
        "null_space_residual": null_res,
        "null_space_limit": null_limit,
        "alpha": alpha,
        "n": n,
        "power": power,
        "detectable_mahalanobis": dm,
        "detectable_min": dm * math.sqrt(float(lam_kept.min())),
        "detectable_max": dm * math.sqrt(float(lam_kept.max())),
        "max_abs_discrepancy": float(np.abs(diff).max()),
    }


def mahalanobis(diff: Any, cov: Any, rel_tol: float = 1e-10) -> float:
    """``sqrt(diff^T Sigma^+ diff)`` on the range of ``cov`` (eigenvalues below ``rel_tol * max`` dropped)."""
    d = np.asarray(diff, dtype=np.float64)
    C = np.asarray(cov, dtype=np.float64)
    if d.ndim != 1 or C.shape != (d.shape[0], d.shape[0]):
        raise ValueError(f"cov: expected shape ({d.shape[0]}, {d.shape[0]}) matching diff, got {C.shape}")
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(C))):
        raise ValueError("diff: expected finite values (and a finite cov)")
    lam, V = np.linalg.eigh(0.5 * (C + C.T))
    if float(lam[-1]) <= 0:
        raise ValueError(f"cov: expected a positive eigenvalue, got max {float(lam[-1]):g}")
    keep = lam > rel_tol * float(lam[-1])
    coords = V[:, keep].T @ d
    return float(math.sqrt(float(np.sum(coords**2 / lam[keep]))))


def power_against(test: dict[str, Any], effect: float) -> float:
    """Exact (CLT) probability that ``test``'s decision rule rejects when the true discrepancy is ``effect``.

    ``test`` is a result of :func:`z_test` (``effect`` in the units of the mean: ``|bias|``)
    or of :func:`chi2_mean_test` (``effect`` in Mahalanobis units of the tested covariance).
    """
    if not (isinstance(effect, float | int | np.floating) and math.isfinite(float(effect)) and effect >= 0):
        raise ValueError(f"effect: expected a finite non-negative number, got {effect!r}")
    if not isinstance(test, dict) or "n" not in test or "alpha" not in test:
        raise ValueError(f"test: expected a result of z_test or chi2_mean_test, got {type(test).__name__}")
    n, alpha = int(test["n"]), float(test["alpha"])
    if "df" in test:
        df = int(test["df"])
        if df == 1:
            zc = float(stats.norm.isf(alpha / 2))
            d = float(effect) * math.sqrt(n)
            return float(stats.norm.sf(zc - d) + stats.norm.cdf(-zc - d))
        return float(stats.ncx2.sf(float(test["critical"]), df, n * float(effect) ** 2))
    zc = float(stats.norm.isf(alpha / 2))
    d = float(effect) * math.sqrt(n) / float(test["sigma"])
    return float(stats.norm.sf(zc - d) + stats.norm.cdf(-zc - d))


def mc_verdict(test: dict[str, Any], control: dict[str, Any], control_effect: float,
               power: float = DEFAULT_POWER) -> dict[str, Any]:
    """The verdict of a Monte Carlo check from its test, its negative control's test and the control's effect.

    ``control_effect`` is the control's exact discrepancy in the units of ``control``
    (see :func:`power_against`). Returns ``passed`` (True / False / None), ``reason``,
    ``control_power`` (exact power against the control), ``control_detectable`` (the
    control test's minimum detectable discrepancy at ``power``) and ``control_effect``.
    See the module docstring for the rule.
    """
    power = _check_prob(power, "power")
    cpow = power_against(control, control_effect)
    if "df" in control:
        detectable = float(control["detectable_mahalanobis"])
    else:
        detectable = float(control["detectable"])
    out: dict[str, Any] = {"control_effect": float(control_effect), "control_power": cpow,
                           "control_detectable": detectable, "required_power": power}
    if test["reject"]:
        out.update(passed=False, reason=f"H0 rejected at alpha={float(test['alpha']):.1e} against an exact null mean")
    elif cpow < power:
        out.update(passed=None, reason=f"underpowered: the control's effect {float(control_effect):.3g} is below the "
                                       f"detectable {detectable:.3g} (power {cpow:.3f} < {power}); undecided")
    elif not control["reject"]:
        out.update(passed=None, reason=f"control missed (probability <= {1 - cpow:.1e} at this power); undecided")
    else:
        out.update(passed=True, reason=f"H0 kept; control rejected (power against it {cpow:.6f})")
    return out


#: The most samples :func:`samples_for_control` asks for; a control that needs more leaves its check
#: underpowered, hence undecided (never a longer run than this, never a refutation).
MAX_CONTROL_SAMPLES = 400_000


def samples_for_control(effect: float, alpha: float, *, df: int = 1, sigma: float = 1.0,
                        power: float = CONTROL_DESIGN_POWER, limit: int = MAX_CONTROL_SAMPLES) -> int:
    """Smallest ``n`` (at most ``limit``) at which the test detects the control's ``effect`` with ``power``.

    ``df == 1``: a z-test, ``effect`` in the units of the mean with per-sample ``sigma``;
    ``df > 1``: the chi-square test, ``effect`` in Mahalanobis units (``sigma`` = 1).
    Checks take ``max(profile budget, this)`` so that every profile can reject its control.
    """
    if not (isinstance(effect, float | int | np.floating) and math.isfinite(float(effect)) and effect > 0):
        raise ValueError(f"effect: expected a positive finite number, got {effect!r}")
    d1 = minimum_detectable_discrepancy(float(sigma), 1, alpha, power, df=df)
    need = (d1 / float(effect)) ** 2
    return int(min(max(1, math.ceil(need)), limit)) if math.isfinite(need) else int(limit)


#: The committed audit of every Monte Carlo check over many seeds (written by ``python -m verify.mc_audit``).
AUDIT_PATH = Path(__file__).resolve().parent / "data" / "mc_audit.json"


@functools.lru_cache(maxsize=1)
def _audit() -> dict[str, Any]:
    try:
        return dict(json.loads(AUDIT_PATH.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def audit_figures(test_key: str) -> dict[str, Any]:
    """The audit counts of one Monte Carlo check (``"<claim id>:<check name>"``) for its evidence figures.

    Empty when the audit file is missing or does not list the check (the report then shows no audit).
    """
    a = _audit()
    row = a.get("checks", {}).get(test_key)
    if row is None:
        return {}
    return {"audit_seeds": a["n_seeds"], "audit_profile": a["profile"], "audit_false_alarms": row["false_alarms"],
            "audit_control_misses": row["control_misses"], "audit_underpowered": row["underpowered"],
            "audit_min_control_power": row["min_control_power"], "audit_command": a["command"]}
