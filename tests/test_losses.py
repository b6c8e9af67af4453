"""Unit tests of reference_impls.losses (numpy, float64): golden values and validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reference_impls import losses as L


def test_ppo_clip_golden_symmetric() -> None:
    # r = (1.5, 0.5, 1.0, 0.7, 1.3), A = (1, -1, 2, -1, -2), eps = 0.2, by the case table:
    # 1.5*1 clipped to 1.2; 0.5 with A<0 clipped to -0.8; 2.0 unclipped; 0.7 with A<0 -> -0.8;
    # 1.3 with A<0 stays r A = -2.6
    r = np.array([1.5, 0.5, 1.0, 0.7, 1.3])
    a = np.array([1.0, -1.0, 2.0, -1.0, -2.0])
    got = L.ppo_clip_objective(np.log(r), np.zeros(5), a, 0.2)
    np.testing.assert_allclose(got, [1.2, -0.8, 2.0, -0.8, -2.6], rtol=1e-15)


def test_ppo_clip_asymmetric_and_dual() -> None:
    # eps = (0.2, 0.28): A>0 caps at 1.28 A; A<0 floors the ratio at 0.8; dual clip c = 3 caps
    # r A at 3 A for A<0 (r = 5 -> -3) and leaves A>0 (r = 5 -> 1.28) untouched
    r = np.array([1.5, 0.5, 5.0, 5.0])
    a = np.array([1.0, -1.0, -1.0, 1.0])
    got = L.ppo_clip_objective(np.log(r), np.zeros(4), a, (0.2, 0.28), dual_clip=3.0)
    np.testing.assert_allclose(got, [1.28, -0.8, -3.0, 1.28], rtol=1e-15)
    plain = L.ppo_clip_objective(np.log(r), np.zeros(4), a, (0.2, 0.28))
    assert plain[2] == pytest.approx(-5.0, rel=1e-15)


def test_ppo_clip_overflowing_ratio_with_zero_advantage_is_zero() -> None:
    got = L.ppo_clip_objective(np.array([800.0]), np.zeros(1), np.zeros(1), 0.2)
    assert got[0] == 0.0


def test_clip_fraction_definitions_differ() -> None:
    # ratio-outside counts 1.3 and 0.7 whatever A (4 of 4); clipped-branch counts (1.3, A>0)
    # and (0.7, A<0) only (2 of 4)
    lp = np.log([1.3, 1.3, 0.7, 0.7])
    a = np.array([1.0, -1.0, 1.0, -1.0])
    assert L.clip_fraction(lp, np.zeros(4), a, 0.2) == 1.0
    assert L.clip_fraction(lp, np.zeros(4), a, 0.2, definition="clipped-branch") == 0.5
    assert L.clip_fraction(lp, np.zeros(4), a, 0.2, mask=np.array([1, 1, 0, 0]), definition="clipped-branch") == 0.5


def test_adaptive_kl_rule_thresholds() -> None:
    t = 0.01
    assert L.adaptive_kl_coefficient(1.0, 1.5 * t, t) == 1.0
    assert L.adaptive_kl_coefficient(1.0, np.nextafter(1.5 * t, 1.0), t) == 2.0
    assert L.adaptive_kl_coefficient(1.0, t / 1.5, t) == 1.0
    assert L.adaptive_kl_coefficient(1.0, np.nextafter(t / 1.5, 0.0), t) == 0.5
    assert L.adaptive_kl_coefficient(1.0, 1.2 * t, t) == 1.0  # the slides' rule would double here


def test_kl_penalized_objective_subtracts_penalty() -> None:
    got = L.kl_penalized_objective(np.log([2.0]), np.zeros(1), np.array([1.0]), np.array([0.5]), 0.1)
    assert got[0] == pytest.approx(2.0 - 0.05, rel=1e-15)


def test_aggregate_modes_golden() -> None:
    # rows: (1 | 0.2 0.2 0.2), lengths 1 and 3, T = 4:
    # token-mean (1 + 0.6)/4 = 0.4; seq-mean-token-mean (1 + 0.2)/2 = 0.6;
    # seq-mean-token-sum (1 + 0.6)/2 = 0.8; -norm with N = T = 4: 0.8/4 = 0.2 (N = 8: 0.1)
    v = np.array([[1.0, 9.0, 9.0, 9.0], [0.2, 0.2, 0.2, 9.0]])
    m = np.array([[1, 0, 0, 0], [1, 1, 1, 0]], dtype=bool)
    assert L.aggregate(v, m, "token-mean") == pytest.approx(0.4, rel=1e-15)
    assert L.aggregate(v, m, "seq-mean-token-mean") == pytest.approx(0.6, rel=1e-15)
    assert L.aggregate(v, m, "seq-mean-token-sum") == pytest.approx(0.8, rel=1e-15)
    assert L.aggregate(v, m, "seq-mean-token-sum-norm") == pytest.approx(0.2, rel=1e-15)
    assert L.aggregate(v, m, "seq-mean-token-sum-norm", norm_length=8) == pytest.approx(0.1, rel=1e-15)


def test_grpo_std_conventions_and_rloo() -> None:
    r = np.array([1.0, 0.0, 0.0, 0.0])
    # mean 0.25; population std sqrt(3)/4; sample std 1/2
    assert L.grpo_advantages(r, std="sample", eps=0.0)[0] == pytest.approx(1.5, rel=1e-15)
    assert L.grpo_advantages(r, std="unbiased", eps=0.0)[0] == pytest.approx(1.5, rel=1e-15)
    assert L.grpo_advantages(r, std="population", eps=0.0)[0] == pytest.approx(0.75 / (math.sqrt(3) / 4), rel=1e-15)
    assert L.grpo_advantages(r, std="biased", eps=0.0)[0] == pytest.approx(math.sqrt(3), rel=1e-15)
    np.testing.assert_allclose(L.grpo_advantages(r, std=None), r - 0.25)
    # RLOO: 1 - 0 = 1 for the first, 0 - 1/3 for the others
    np.testing.assert_allclose(L.rloo_advantages(r), [1.0, -1 / 3, -1 / 3, -1 / 3], rtol=1e-15)
    np.testing.assert_allclose(L.grpo_advantages(np.ones((2, 3))), 0.0)


def test_gspo_ratio_and_objective() -> None:
    # token log-ratios (log 2, log 8) on 2 tokens -> geometric mean 4; one-token row: ratio 0.5
    lp = np.log(np.array([[2.0, 8.0], [0.5, 123.0]]))
    m = np.array([[1, 1], [1, 0]], dtype=bool)
    s = L.gspo_sequence_ratio(lp, np.zeros((2, 2)), m)
    np.testing.assert_allclose(s, [4.0, 0.5], rtol=1e-15)
    obj = L.gspo_objective(lp, np.zeros((2, 2)), np.array([1.0, -1.0]), m, 0.2)
    np.testing.assert_allclose(obj, [1.2, -0.8], rtol=1e-15)


def test_sapo_at_ratio_one() -> None:
    # f_tau(1) = (4/tau) * 1/2 = 2/tau
    got = L.sapo_objective(np.zeros(2), np.zeros(2), np.array([1.0, -1.0]), 1.0, 2.0)
    np.testing.assert_allclose(got, [2.0, -1.0], rtol=1e-15)


@pytest.mark.parametrize(("call", "name"), [
    (lambda: L.ppo_clip_objective(np.zeros(3), np.zeros(2), np.zeros(3), 0.2), "old_log_probs"),
    (lambda: L.ppo_clip_objective(np.zeros(3), np.zeros(3), np.zeros(4), 0.2), "advantages"),
    (lambda: L.ppo_clip_objective(np.zeros(3), np.zeros(3), np.zeros(3), 0.2, dual_clip=1.0), "dual_clip"),
    (lambda: L.ppo_clip_objective(np.zeros(3), np.zeros(3), np.zeros(3), 0.2, dual_clip=0.5), "dual_clip"),
    (lambda: L.ppo_clip_objective(np.zeros(3), np.zeros(3), np.zeros(3), 0.0), "clip_eps"),
    (lambda: L.ppo_clip_objective(np.zeros(3), np.zeros(3), np.zeros(3), 1.0), "clip_eps"),
    (lambda: L.ppo_clip_objective(np.zeros(3), np.zeros(3), np.zeros(3), (0.2, 1.5)), "clip_eps"),
    (lambda: L.ppo_clip_objective(np.zeros(3), np.zeros(3), np.zeros(3), (0.2, 0.2, 0.2)), "clip_eps"),
    (lambda: L.ppo_clip_objective(np.array([np.nan]), np.zeros(1), np.zeros(1), 0.2), "log_probs"),
    (lambda: L.clip_fraction(np.zeros(3), np.zeros(3), np.zeros(3), 0.2, definition="x"), "definition"),
    (lambda: L.clip_fraction(np.zeros(3), np.zeros(3), np.zeros(3), 0.2, mask=np.zeros(3, bool)), "mask"),
    (lambda: L.clip_fraction(np.zeros(3), np.zeros(3), np.zeros(3), 0.2, mask=np.ones(2, bool)), "mask"),
    (lambda: L.aggregate(np.zeros((2, 3)), np.ones((2, 3), bool), "mean"), "mode"),
    (lambda: L.aggregate(np.zeros((2, 3)), np.array([[1, 1, 0], [0, 0, 0]]), "token-mean"), "mask"),
    (lambda: L.aggregate(np.zeros((2, 3)), np.array([[1, 1, 0], [0, 0, 0]]), "seq-mean-token-mean"), "mask"),
    (lambda: L.aggregate(np.zeros((2, 3)), np.array([[1, 1, 0], [0, 0, 0]]), "seq-mean-token-sum"), "mask"),
    (lambda: L.aggregate(np.zeros((2, 3)), np.ones((2, 2), bool), "token-mean"), "mask"),
    (lambda: L.aggregate(np.zeros((2, 3)), np.full((2, 3), 0.5), "token-mean"), "mask"),
    (lambda: L.aggregate(np.zeros((2, 3)), np.ones((2, 3), bool), "seq-mean-token-sum-norm", norm_length=0),
     "norm_length"),
    (lambda: L.adaptive_kl_coefficient(0.0, 0.1, 0.1), "beta"),
    (lambda: L.adaptive_kl_coefficient(1.0, -0.1, 0.1), "kl"),
    (lambda: L.adaptive_kl_coefficient(1.0, 0.1, 0.0), "target"),
    (lambda: L.kl_penalized_objective(np.zeros(2), np.zeros(2), np.zeros(2), np.array([0.1, -0.1]), 1.0), "kl"),
    (lambda: L.kl_penalized_objective(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(3), 1.0), "kl"),
    (lambda: L.kl_penalized_objective(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), -1.0), "beta"),
    (lambda: L.grpo_advantages(np.zeros(3), std="ddof2"), "std"),
    (lambda: L.grpo_advantages(np.zeros(1), std="sample"), "rewards"),
    (lambda: L.grpo_advantages(np.zeros(3), eps=0.0), "eps"),
    (lambda: L.grpo_advantages(np.zeros(3), eps=-1e-6), "eps"),
    (lambda: L.rloo_advantages(np.zeros(1)), "rewards"),
    (lambda: L.gspo_sequence_ratio(np.zeros((2, 2)), np.zeros((2, 2)), np.array([[1, 0], [0, 0]])), "mask"),
    (lambda: L.gspo_objective(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(3), np.ones((2, 2), bool), 0.2),
     "advantages"),
    (lambda: L.sapo_objective(np.zeros(2), np.zeros(2), np.zeros(2), 0.0, 1.0), "tau_pos"),
    (lambda: L.sapo_objective(np.zeros(2), np.zeros(2), np.zeros(2), 1.0, -1.0), "tau_neg"),
])
def test_bad_input_names_the_argument(call, name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name}:"):
        call()


def test_kl_penalty_accepts_rounding_level_negative_kl_from_our_own_kl():
    # KL of two nearly equal distributions computed as sum p log(p/q) can be -1e-16; feeding our own
    # divergences.kl into the penalised objective must not raise, while a real sign error still does.
    from reference_impls import divergences as D
    from reference_impls import losses as L

    old = np.array([0.5, 0.5])
    new = np.array([0.5 + 2**-53, 0.5 - 2**-53])
    k = np.full(2, float(D.kl(old, new)))
    assert abs(k[0]) < 1e-15
    L.kl_penalized_objective(np.log(new), np.log(old), np.zeros(2), k, 1.0)
    with pytest.raises(ValueError, match="kl"):
        L.kl_penalized_objective(np.log(new), np.log(old), np.zeros(2), np.full(2, -1e-6), 1.0)
