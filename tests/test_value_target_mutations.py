"""Faults planted in reference_impls.returns turn value-target claims red.

Each test monkeypatches a public function of :mod:`reference_impls.returns` with a plausible bug from
the field (PEERS.md) and asserts that a claim which is verified on the correct code is refuted on the
mutant, through ``verify.engine.run_claim``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from reference_impls import returns as R
from verify.engine import run_claim

ORIGINAL_GAE = R.gae
ORIGINAL_VTRACE = R.vtrace
ORIGINAL_RETURNS = R.discounted_returns


def _status(claim_id: str) -> str:
    return run_claim(claim_id, profile="ci", seed=0).status


@pytest.mark.parametrize("claim_id", ["GAE-IDENTITIES", "VTRACE-DEF", "VTRACE-FIXED-POINT",
                                      "TRUNCATION-SPLIT-INVARIANCE"])
def test_unmutated_claims_are_verified(claim_id: str) -> None:
    assert _status(claim_id) == "verified"


# --------------------------------------------------------------------------- truncation treated as termination


def test_truncation_as_termination_in_gae(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SB3 #633 / CleanRL #198 bug: a time-limit cut is treated as a terminal state (no bootstrap)."""

    def gae_no_bootstrap(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any,
                         gamma: float, lam: float, *, backend: str = "auto") -> np.ndarray:
        done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        return ORIGINAL_GAE(rewards, values, next_values, done, np.zeros_like(done), gamma, lam, backend=backend)

    monkeypatch.setattr(R, "gae", gae_no_bootstrap)
    assert _status("GAE-IDENTITIES") == "refuted"


def test_truncation_as_termination_in_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    def returns_no_bootstrap(rewards: Any, next_values: Any, terminated: Any, truncated: Any,
                             gamma: float, *, backend: str = "auto") -> np.ndarray:
        done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        return ORIGINAL_RETURNS(rewards, next_values, done, np.zeros_like(done), gamma, backend=backend)

    monkeypatch.setattr(R, "discounted_returns", returns_no_bootstrap)
    assert _status("GAE-IDENTITIES") == "refuted"


def test_truncation_as_termination_in_vtrace(monkeypatch: pytest.MonkeyPatch) -> None:
    def vtrace_no_bootstrap(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any,
                            truncated: Any, gamma: float, *args: Any, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
        done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        return ORIGINAL_VTRACE(rewards, values, next_values, log_rhos, done, np.zeros_like(done), gamma, *args, **kw)

    monkeypatch.setattr(R, "vtrace", vtrace_no_bootstrap)
    assert _status("VTRACE-FIXED-POINT") == "refuted"
    assert _status("VTRACE-DEF") == "refuted"


# --------------------------------------------------------------------------- the TRFL-oracle off-by-one trace product


def vtrace_off_by_one(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any, truncated: Any,
                      gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0,
                      pg_rho_bar: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """V-trace by the eq. (1) sum with the TRFL / scalable_agent test oracle's product `np.prod(cs[s:t-1])`
    (prod_{i=s}^{t-2} c_i instead of prod_{i=s}^{t-1} c_i); everything else is right."""
    r, v, nv, lr = (np.asarray(a, dtype=np.float64) for a in (rewards, values, next_values, log_rhos))
    te, tr = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
    ratio = np.exp(lr)
    rho, cs, pgr = np.minimum(ratio, rho_bar), lam * np.minimum(ratio, c_bar), np.minimum(ratio, pg_rho_bar)
    disc = gamma * (~te)
    delta = rho * (r + disc * nv - v)
    end = te | tr
    end[..., -1] = True
    vs, pg = np.empty_like(r), np.empty_like(r)
    T = r.shape[-1]
    for idx in np.ndindex(*r.shape[:-1]):
        for s in range(T):
            e = s + int(np.argmax(end[idx][s:]))
            vs[(*idx, s)] = v[(*idx, s)] + sum(gamma ** (t - s) * np.prod(cs[idx][s:t - 1]) * delta[(*idx, t)]
                                               for t in range(s, e + 1))
        for s in range(T):
            q = nv[(*idx, s)] if end[(*idx, s)] else vs[(*idx, s + 1)]
            pg[(*idx, s)] = pgr[(*idx, s)] * (r[(*idx, s)] + disc[(*idx, s)] * q - v[(*idx, s)])
    return vs, pg


def test_off_by_one_trace_product(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(R, "vtrace", vtrace_off_by_one)
    assert _status("VTRACE-DEF") == "refuted"


def test_off_by_one_is_invisible_when_every_ratio_is_at_least_one() -> None:
    """Control: on TRFL-style inputs (all ratios >= 1, c_bar = 1, so c = 1) the mutant agrees with the
    reference -- the claim's inputs must contain ratios < 1, which they do."""
    T = 7
    rng = np.random.default_rng(0)
    r, v, nv = rng.normal(size=(2, T)), rng.normal(size=(2, T)), rng.normal(size=(2, T))
    lr = np.log(np.arange(2 * T).reshape(2, T) / (2 * T) + 1.0)
    no = np.zeros((2, T), dtype=bool)
    a = ORIGINAL_VTRACE(r, v, nv, lr, no, no, 0.9)
    b = vtrace_off_by_one(r, v, nv, lr, no, no, 0.9)
    assert np.max(np.abs(a[0] - b[0])) < 1e-12
    c = ORIGINAL_VTRACE(r, v, nv, -lr, no, no, 0.9)
    d = vtrace_off_by_one(r, v, nv, -lr, no, no, 0.9)
    assert np.max(np.abs(c[0] - d[0])) > 1e-3


# --------------------------------------------------------------------------- TD errors clipped at c_bar


def test_td_error_clipped_at_c_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """rho_t = min(c_bar, ratio) instead of min(rho_bar, ratio): one ratio type for both roles (the slides'
    conflation). The recursion no longer matches eq. (1), and the fixed point moves to V^{pi_cbar}."""

    def vtrace_rho_at_cbar(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any,
                           truncated: Any, gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0,
                           pg_rho_bar: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        return ORIGINAL_VTRACE(rewards, values, next_values, log_rhos, terminated, truncated, gamma, lam,
                               c_bar, c_bar, pg_rho_bar)

    monkeypatch.setattr(R, "vtrace", vtrace_rho_at_cbar)
    assert _status("VTRACE-DEF") == "refuted"
    assert _status("VTRACE-FIXED-POINT") == "refuted"
