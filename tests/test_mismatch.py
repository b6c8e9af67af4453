"""reference_impls.mismatch: values, log-space robustness and argument validation."""

from __future__ import annotations

import numpy as np
import pytest

from reference_impls import mismatch as MM

LP = np.log(np.array([[0.5, 0.2, 0.9], [0.1, 0.3, 0.6]]))
LQ = np.log(np.array([[0.25, 0.4, 0.9], [0.2, 0.1, 0.3]]))
MASK = np.array([[1, 1, 0], [1, 1, 1]])


def test_token_weights_values_and_zero_on_mask() -> None:
    w = MM.token_is_weights(LP, LQ, MASK)
    # ratios by hand: 0.5/0.25 = 2, 0.2/0.4 = 0.5, masked -> 0; 0.1/0.2, 0.3/0.1, 0.6/0.3
    np.testing.assert_allclose(w, [[2.0, 0.5, 0.0], [0.5, 3.0, 2.0]], rtol=1e-14)
    assert w.dtype == np.float64


def test_token_weights_cap() -> None:
    w = MM.token_is_weights(LP, LQ, MASK, cap=1.5)
    np.testing.assert_allclose(w, [[1.5, 0.5, 0.0], [0.5, 1.5, 1.5]], rtol=1e-14)


def test_sequence_weights_product_and_cap() -> None:
    w = MM.sequence_is_weights(LP, LQ, MASK)
    np.testing.assert_allclose(w, [2.0 * 0.5, 0.5 * 3.0 * 2.0], rtol=1e-14)
    np.testing.assert_allclose(MM.sequence_is_weights(LP, LQ, MASK, cap=2.0), [1.0, 2.0], rtol=1e-14)
    np.testing.assert_allclose(MM.sequence_log_is_weights(LP, LQ, MASK), np.log([1.0, 3.0]), rtol=1e-14)
    assert w.shape == (2,)


def test_sequence_mask_weights_closed_interval() -> None:
    # weights are (1, 3); [1, 2] keeps the first (boundary included), drops the second
    np.testing.assert_allclose(MM.sequence_mask_weights(LP, LQ, MASK, 1.0, 2.0), [1.0, 0.0], rtol=1e-14)
    np.testing.assert_allclose(MM.sequence_mask_weights(LP, LQ, MASK, 0.0, 3.0 + 1e-9), [1.0, 3.0], rtol=1e-14)
    np.testing.assert_allclose(MM.sequence_mask_weights(LP, LQ, MASK, 1.5, 5.0), [0.0, 3.0], rtol=1e-14)


def test_gspo_ratio_is_geometric_mean() -> None:
    s = MM.gspo_ratio(LP, LQ, MASK)
    np.testing.assert_allclose(s, [1.0 ** (1 / 2), 3.0 ** (1 / 3)], rtol=1e-14)


def test_one_dimensional_input_is_one_sequence() -> None:
    assert MM.sequence_is_weights(LP[1], LQ[1], MASK[1]).shape == ()
    np.testing.assert_allclose(MM.sequence_is_weights(LP[1], LQ[1], MASK[1]), 3.0, rtol=1e-14)


def test_long_sequences_do_not_overflow_in_log_space() -> None:
    T = 20000
    lp = np.full(T, -0.1)
    lq = np.full(T, -0.2)  # log w = 2000 -> w = e^2000 overflows float64
    m = np.ones(T)
    assert MM.sequence_log_is_weights(lp, lq, m) == pytest.approx(2000.0, rel=1e-12)
    assert MM.sequence_is_weights(lp, lq, m, cap=5.0) == pytest.approx(5.0, rel=1e-14)
    assert MM.sequence_is_weights(lp, lq, m) == np.inf
    assert MM.sequence_mask_weights(lp, lq, m, 0.0, 10.0) == 0.0  # rejected, not inf * 0 = nan
    # the reverse direction underflows to exactly 0, still finite and non-negative
    assert MM.sequence_is_weights(lq, lp, m) == 0.0
    np.testing.assert_allclose(MM.gspo_ratio(lp, lq, m), np.exp(0.1), rtol=1e-12)


def test_extreme_log_probs_token_cap() -> None:
    w = MM.token_is_weights(np.array([-1.0]), np.array([-800.0]), np.array([1]), cap=2.0)
    assert w[0] == 2.0


def test_float_and_bool_masks_accepted() -> None:
    a = MM.sequence_is_weights(LP, LQ, MASK.astype(bool))
    b = MM.sequence_is_weights(LP, LQ, MASK.astype(np.float32))
    np.testing.assert_array_equal(a, b)


def test_policy_token_mask_excludes_environment_and_padding() -> None:
    src = np.array([[MM.POLICY, MM.ENVIRONMENT, MM.POLICY, MM.PADDING]])
    np.testing.assert_array_equal(MM.policy_token_mask(src), [[1.0, 0.0, 1.0, 0.0]])
    # environment tokens with different reported log-probs do not enter the weight
    lp = np.array([[-1.0, -5.0, -2.0, 0.0]])
    lq = np.array([[-1.5, -0.1, -2.0, -3.0]])
    assert MM.sequence_is_weights(lp, lq, MM.policy_token_mask(src))[0] == pytest.approx(np.exp(0.5), rel=1e-14)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("fn", [MM.token_is_weights, MM.sequence_is_weights, MM.token_log_ratios,
                                MM.sequence_log_is_weights])
def test_mismatched_shapes(fn) -> None:
    with pytest.raises(ValueError, match=r"^sampler_log_probs"):
        fn(LP, LQ[:, :2], MASK)
    with pytest.raises(ValueError, match=r"^mask"):
        fn(LP, LQ, MASK[:, :2])


@pytest.mark.parametrize("bad", [np.array([[1, 2, 0], [1, 1, 1]]), np.array([[1.0, 0.5, 0], [1, 1, 1]]),
                                 np.array([[1, -1, 0], [1, 1, 1]])])
def test_mask_not_zero_one(bad) -> None:
    with pytest.raises(ValueError, match=r"^mask: expected only 0/1"):
        MM.token_is_weights(LP, LQ, bad)
    with pytest.raises(ValueError, match=r"^mask"):
        MM.sequence_is_weights(LP, LQ, bad)


def test_mask_wrong_type() -> None:
    with pytest.raises(ValueError, match=r"^mask"):
        MM.token_is_weights(LP, LQ, np.array([["a", "b", "c"], ["a", "b", "c"]]))


def test_all_zero_mask_row_for_sequence_weights() -> None:
    m = np.array([[0, 0, 0], [1, 1, 1]])
    for fn in (MM.sequence_is_weights, MM.sequence_log_is_weights, MM.gspo_ratio):
        with pytest.raises(ValueError, match=r"^mask: .*all-zero row at index \(0,\)"):
            fn(LP, LQ, m)
    with pytest.raises(ValueError, match=r"^mask: .*all-zero"):
        MM.sequence_mask_weights(LP, LQ, m, 0.0, 2.0)
    # token weights are fine with an all-zero row (all zero)
    np.testing.assert_array_equal(MM.token_is_weights(LP, LQ, m)[0], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("cap", [0.0, -1.0, np.nan, np.inf, "2", [2.0]])
def test_cap_must_be_positive_finite_scalar(cap) -> None:
    with pytest.raises(ValueError, match=r"^cap"):
        MM.token_is_weights(LP, LQ, MASK, cap=cap)
    with pytest.raises(ValueError, match=r"^cap"):
        MM.sequence_is_weights(LP, LQ, MASK, cap=cap)


def test_low_high_validation() -> None:
    with pytest.raises(ValueError, match=r"^low: expected low <= high"):
        MM.sequence_mask_weights(LP, LQ, MASK, 2.0, 1.0)
    with pytest.raises(ValueError, match=r"^low"):
        MM.sequence_mask_weights(LP, LQ, MASK, -0.1, 1.0)
    with pytest.raises(ValueError, match=r"^high"):
        MM.sequence_mask_weights(LP, LQ, MASK, 0.0, 0.0)


def test_non_finite_and_empty_inputs() -> None:
    bad = LP.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"^learner_log_probs: expected finite"):
        MM.token_is_weights(bad, LQ, MASK)
    with pytest.raises(ValueError, match=r"^old_log_probs"):
        MM.gspo_ratio(LP, np.full_like(LQ, np.inf), MASK)
    with pytest.raises(ValueError, match=r"^learner_log_probs: expected at least 1"):
        MM.token_is_weights(np.float64(0.0), np.float64(0.0), np.array(True))
    with pytest.raises(ValueError, match=r"^learner_log_probs: expected a non-empty time axis"):
        MM.token_is_weights(np.zeros((2, 0)), np.zeros((2, 0)), np.zeros((2, 0)))


def test_policy_token_mask_validation() -> None:
    with pytest.raises(ValueError, match=r"^token_source"):
        MM.policy_token_mask(np.array([1, 3]))
    with pytest.raises(ValueError, match=r"^token_source"):
        MM.policy_token_mask(np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"^token_source"):
        MM.policy_token_mask(np.array([True, False]))


def test_low_high_strings_rejected() -> None:
    with pytest.raises(ValueError, match=r"^low"):
        MM.sequence_mask_weights(LP, LQ, MASK, "0", 1.0)
    with pytest.raises(ValueError, match=r"^high"):
        MM.sequence_mask_weights(LP, LQ, MASK, 0.0, "1")
