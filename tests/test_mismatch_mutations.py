"""Mutation tests: a fault planted in a mismatch reference function turns the family's claims red."""

from __future__ import annotations

import numpy as np
import pytest

from reference_impls import mismatch as MM
from reference_impls import token_models as TM
from verify.engine import run_claim

ORIGINAL_SEQ = MM.sequence_is_weights
ORIGINAL_TOKEN = MM.token_is_weights


def _token_weights(lp, lq, mask, cap=None):
    return ORIGINAL_TOKEN(lp, lq, mask, cap=cap)


def _prefix_products(lp, lq, mask, cap=None):
    return np.exp(np.cumsum(MM.token_log_ratios(lp, lq, mask), axis=-1))


def _last_token_weight(lp, lq, mask, cap=None):
    w = ORIGINAL_TOKEN(lp, lq, mask, cap=cap)
    return w[..., -1] + (w[..., -1] == 0) * 1.0


def _mean_token_weight(lp, lq, mask, cap=None):
    w = ORIGINAL_TOKEN(lp, lq, mask, cap=cap)
    return w.sum(axis=-1) / np.asarray(mask, dtype=float).sum(axis=-1)


def test_baseline_is_verified() -> None:
    assert run_claim("MISMATCH-SEQ-IS-FIXES").status == "verified"


@pytest.mark.parametrize("fake", [_token_weights, _prefix_products, _last_token_weight, _mean_token_weight],
                         ids=["token-weights", "per-token-prefix-products", "last-token", "mean-token"])
def test_token_level_weight_as_sequence_weight_is_caught(monkeypatch: pytest.MonkeyPatch, fake) -> None:
    monkeypatch.setattr(MM, "sequence_is_weights", fake)
    res = run_claim("MISMATCH-SEQ-IS-FIXES")
    assert res.status == "refuted", [(e.check, e.passed, e.summary) for e in res.evidence]
    # every check notices, not just one
    assert all(e.passed is False for e in res.evidence)


def test_multi_turn_env_tokens_in_weight_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # a weight that ignores the mask (includes environment tokens with *different* reported log-probs)
    # cannot happen with equal env probabilities, so plant the classic bug instead: the weight drops the
    # first policy token
    def drop_first(lp, lq, mask, cap=None):
        m = np.array(mask, dtype=float, copy=True)
        first = np.argmax(m > 0, axis=-1)
        np.put_along_axis(m, first[..., None], 0.0, axis=-1)
        m[m.sum(axis=-1) == 0] = np.asarray(mask, dtype=float)[m.sum(axis=-1) == 0]
        return ORIGINAL_SEQ(lp, lq, m, cap=cap)

    monkeypatch.setattr(MM, "sequence_is_weights", drop_first)
    assert run_claim("MISMATCH-MULTITURN-TRAJ-IS").status == "refuted"


def test_truncation_at_wrong_level_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def late_cap(lp, lq, mask, cap=None):
        return ORIGINAL_SEQ(lp, lq, mask, cap=None if cap is None else 1.05 * cap)

    monkeypatch.setattr(MM, "sequence_is_weights", late_cap)
    assert run_claim("MISMATCH-SEQ-TIS-MIS-BIAS").status == "refuted"


def test_gspo_ratio_replaced_by_sequence_weight_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MM, "gspo_ratio", lambda lp, lq, mask: ORIGINAL_SEQ(lp, lq, mask))
    assert run_claim("MISMATCH-GSPO-NOT-IW").status == "refuted"


def test_flow_without_softmax_centering_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # dpi = pi * dz (forgetting the - (pi . dz) pi term) is invisible on S3's uniform example (pi . dz = 0 there),
    # but the general redistribution formula on non-uniform pi notices
    monkeypatch.setattr(TM, "first_order_flow", lambda p, a, c: np.asarray(p) * TM.logit_step(p, a, c))
    assert run_claim("PUKE-REDISTRIBUTION").status == "refuted"


def test_flow_sign_flip_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = TM.first_order_flow
    monkeypatch.setattr(TM, "first_order_flow", lambda p, a, c: -original(p, a, c))
    assert run_claim("PUKE").status == "refuted"
    assert run_claim("PERTINACITY").status == "refuted"
