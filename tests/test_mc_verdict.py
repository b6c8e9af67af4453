"""The Monte Carlo verdict rule (verify.stats.mc_verdict) and the committed audit of every MC check.

An underpowered or missed negative control makes a check undecided, never refuted; only a
rejection of the estimator itself (at the budgeted alpha, against an exact mean) refutes.
"""

from __future__ import annotations

import json
import math

import pytest

from verify import stats as VS
from verify.engine import run_check
from verify.mc_audit import monte_carlo_checks

ALPHA = VS.PER_TEST_ALPHA


def _z(mean: float, n: int, sigma: float = 1.0) -> dict:
    return VS.z_test(mean, n, 0.0, sigma, ALPHA)


def test_pass_needs_a_rejected_powered_control() -> None:
    v = VS.mc_verdict(_z(0.0, 10_000), _z(0.2, 10_000), 0.2)
    assert v["passed"] is True and v["control_power"] > 0.999


def test_underpowered_control_is_undecided_not_refuted() -> None:
    # effect 0.01 at n = 100 (sigma 1): the detectable effect is ~0.8, power ~ alpha
    v = VS.mc_verdict(_z(0.0, 100), _z(0.01, 100), 0.01)
    assert v["passed"] is None and "underpowered" in v["reason"]
    assert v["control_detectable"] > 0.01 and v["control_power"] < VS.DEFAULT_POWER


def test_missed_control_is_undecided_not_refuted() -> None:
    # a powered control whose sample happened to land near the null (a miss)
    v = VS.mc_verdict(_z(0.0, 10_000), _z(0.0, 10_000), 0.2)
    assert v["passed"] is None and "missed" in v["reason"]


def test_rejected_estimator_refutes() -> None:
    v = VS.mc_verdict(_z(0.2, 10_000), _z(0.2, 10_000), 0.2)
    assert v["passed"] is False


def test_power_against_matches_the_detectable_discrepancy() -> None:
    t = _z(0.0, 400, sigma=2.0)
    assert math.isclose(VS.power_against(t, t["detectable"]), VS.DEFAULT_POWER, rel_tol=1e-6)
    c = VS.chi2_mean_test([0.0, 0.0, 0.0], 500, [0.0, 0.0, 0.0], [[1, 0, 0], [0, 2, 0], [0, 0, 3]], ALPHA)
    assert math.isclose(VS.power_against(c, c["detectable_mahalanobis"]), VS.DEFAULT_POWER, rel_tol=1e-6)
    # samples_for_control gives the design power at the returned n (and not at n - 1)
    n = VS.samples_for_control(0.1, ALPHA, sigma=1.0)
    assert VS.power_against(_z(0.0, n), 0.1) >= VS.CONTROL_DESIGN_POWER > VS.power_against(_z(0.0, n - 1), 0.1)


def test_mahalanobis_on_the_range() -> None:
    assert math.isclose(VS.mahalanobis([3.0, 0.0], [[4.0, 0.0], [0.0, 0.0]]), 1.5)
    with pytest.raises(ValueError, match="cov"):
        VS.mahalanobis([1.0, 2.0], [[1.0]])


@pytest.mark.parametrize("profile,seed", [("ci", 13), ("ci", 23), ("ci", 42), ("debug", 0), ("dev", 7)])
def test_is_unbiased_mc_is_not_refuted_where_it_used_to_be(profile: str, seed: int) -> None:
    # issue 14 item 7: IS-UNBIASED's MC check was refuted at ci seeds 13, 23, 42 and under debug/dev
    # (its control could not be rejected). The control is now drawn and sized to be rejected.
    (claim, chk), = [(c, k) for c, k in monte_carlo_checks() if c.id == "IS-UNBIASED"]
    (ev,) = run_check(claim, chk, profile=profile, seed=seed, device="cpu")
    assert ev.passed is True, ev.summary
    assert ev.figures["control_power"] >= VS.CONTROL_DESIGN_POWER


def test_committed_audit_covers_every_mc_check_with_no_false_alarm() -> None:
    audit = json.loads(VS.AUDIT_PATH.read_text(encoding="utf-8"))
    keys = {f"{c.id}:{getattr(k, 'check_name', k.__name__)}" for c, k in monte_carlo_checks()}
    assert keys == set(audit["checks"]), "re-run `python -m verify.mc_audit` after adding or renaming an MC check"
    assert audit["n_seeds"] >= 100 and audit["profile"] == "ci"
    for key, row in audit["checks"].items():
        assert row["false_alarms"] == 0 and row["errors"] == 0, key
        assert row["passed"] + row["control_misses"] + row["underpowered"] == audit["n_seeds"], key


def test_audit_counts_one_seed_and_cli_rejects_bad_seeds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from verify import mc_audit

    out = mc_audit.audit([0], profile="debug")
    assert out["n_seeds"] == 1 and out["checks"]
    for row in out["checks"].values():
        assert row["passed"] + row["false_alarms"] + row["control_misses"] + row["underpowered"] + row["errors"] == 1
        assert row["false_alarms"] == 0 and row["errors"] == 0
    assert mc_audit.main(["--seeds", "0", "--out", str(tmp_path / "a.json")]) == 2
    with pytest.raises(ValueError, match="seeds"):
        mc_audit.audit([])


def test_samples_for_control_is_bounded() -> None:
    # a negligible control effect never asks for an unbounded run: the check stays underpowered (undecided)
    assert VS.samples_for_control(1e-9, ALPHA) == VS.MAX_CONTROL_SAMPLES
    with pytest.raises(ValueError, match="effect"):
        VS.samples_for_control(0.0, ALPHA)
