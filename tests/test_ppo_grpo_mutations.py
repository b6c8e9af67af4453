"""Mutation tests: a fault planted in a public reference function turns a claim red."""

from __future__ import annotations

import numpy as np
import pytest

from reference_impls import divergences as D
from reference_impls import losses as L
from verify.engine import run_claim


def _status(claim_id: str) -> str:
    return run_claim(claim_id, profile="ci", seed=0).status


def test_unmutated_claims_are_green() -> None:
    for cid in ("PPO-CLIP-OBJECTIVE", "KL-ESTIMATORS-VALUE", "PPO-KL-PENALTY-DIRECTION", "PPO-KL-ADAPTIVE"):
        assert _status(cid) == "verified", cid


def test_dual_clip_on_positive_advantages_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = L.ppo_clip_objective

    def buggy(log_probs, old_log_probs, advantages, clip_eps, dual_clip=None):  # tianshou #433
        obj = original(log_probs, old_log_probs, advantages, clip_eps)
        if dual_clip is None:
            return obj
        return np.maximum(obj, dual_clip * np.asarray(advantages, dtype=float))

    monkeypatch.setattr(L, "ppo_clip_objective", buggy)
    assert _status("PPO-CLIP-OBJECTIVE") == "refuted"


def test_swapped_k3_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = D.kl_estimator

    def swapped(log_p, log_q, kind):  # r inverted: e^{-log r} - 1 + log r
        if kind == "k3":
            return original(log_q, log_p, "k3")
        return original(log_p, log_q, kind)

    monkeypatch.setattr(D, "kl_estimator", swapped)
    assert _status("KL-ESTIMATORS-VALUE") == "refuted"


def test_sign_flipped_kl_penalty_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = L.kl_penalized_objective

    def flipped(log_probs, old_log_probs, advantages, kl, beta):
        return original(log_probs, old_log_probs, advantages, kl, 0.0) + beta * np.asarray(kl, dtype=float)

    monkeypatch.setattr(L, "kl_penalized_objective", flipped)
    assert _status("PPO-KL-PENALTY-DIRECTION") == "refuted"


def test_adaptive_rule_without_the_1_5_factors_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_factors(beta, kl, target):
        return 2 * beta if kl > target else (beta / 2 if kl < target else beta)

    monkeypatch.setattr(L, "adaptive_kl_coefficient", no_factors)
    assert _status("PPO-KL-ADAPTIVE") == "refuted"


def test_non_strict_clip_fraction_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = L.clip_fraction

    def sign_blind(log_probs, old_log_probs, advantages, clip_eps, mask=None, definition="ratio-outside"):
        return original(log_probs, old_log_probs, advantages, clip_eps, mask=mask, definition="ratio-outside")

    monkeypatch.setattr(L, "clip_fraction", sign_blind)
    assert _status("PPO-CLIP-FRACTION") == "refuted"
