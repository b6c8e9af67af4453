"""Acceptance tests of the conformance kit (verify.conformance).

The implementations under test here are written independently from the papers (plain loops over
time, one sequence at a time), not from reference_impls: GAE (Schulman et al. 2016, eq. 16), V-trace
(Espeholt et al. 2018, eq. 1 and Remark 1), Retrace (Munos et al. 2016, eq. 3), the k1/k2/k3 KL
estimators (Schulman 2020), PPO's clipped objective (Schulman et al. 2017, eq. 7) with dual clip
(Ye et al. 2020, eq. 5), both clip-fraction definitions, and the sequence importance weight. Each
takes a ``bug`` switch that plants one catalogued bug class, written from the bug's description.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
import pytest

from reference_impls import returns
from verify.conformance import adapters, assert_conforms, check
from verify.conformance._check import _catalogue
from verify.conformance._targets import TARGETS, get

N = 60  # examples per check: enough to hit every planted bug with the hunted inputs, fast on 2 cores


def _rows(*arrays: Any) -> tuple[tuple[np.ndarray, ...], tuple[int, ...]]:
    """Flatten leading axes: each array becomes [rows, T] (float64 or bool kept)."""
    a0 = np.asarray(arrays[0])
    shape = a0.shape
    out = tuple(np.asarray(a).reshape(-1, shape[-1]) if np.ndim(a) else np.asarray(a) for a in arrays)
    return out, shape


# --------------------------------------------------------------------------- independent implementations


def my_gae(rewards, values, next_values, terminated, truncated, gamma, lam, *, bug=None):
    (r, v, nv, te, tr), shape = _rows(rewards, values, next_values, terminated, truncated)
    out = np.zeros(r.shape)
    for i in range(r.shape[0]):
        adv = 0.0
        for t in reversed(range(r.shape[1])):
            term, trunc = bool(te[i, t]), bool(tr[i, t])
            boot = 0.0 if term else float(nv[i, t])
            if bug == "bootstrap-through-terminated":
                boot = float(nv[i, t])
            if bug == "truncation-as-termination" and trunc:
                boot = 0.0
            delta = float(r[i, t]) + gamma * boot - float(v[i, t])
            last = t == r.shape[1] - 1
            cut = term or trunc or last
            if bug == "trace-through-truncation":
                cut = term or last
            adv = delta + (0.0 if cut else gamma * lam * adv)
            out[i, t] = adv
    return out.reshape(shape)


def my_vtrace(rewards, values, next_values, log_rhos, terminated, truncated, gamma, lam=1.0, rho_bar=1.0,
              c_bar=1.0, pg_rho_bar=1.0, *, bug=None):
    (r, v, nv, lr, te, tr), shape = _rows(rewards, values, next_values, log_rhos, terminated, truncated)
    vs = np.zeros(r.shape)
    pg = np.zeros(r.shape)
    T = r.shape[1]
    for i in range(r.shape[0]):
        ratio = [math.exp(float(x)) for x in lr[i]]
        c_level = rho_bar if bug == "cbar-as-rhobar" else c_bar
        c = [lam * min(c_level, x) for x in ratio]
        tds = [min(rho_bar, ratio[t]) * (float(r[i, t]) + gamma * (0.0 if te[i, t] else float(nv[i, t]))
                                         - float(v[i, t])) for t in range(T)]
        if bug == "trace-off-by-one":  # the TRFL test oracle's direct sum with prod(c[s:t-1]) for prod(c[s:t])
            for s in range(T):
                acc = 0.0
                trace = 1.0  # prod(c[s:max(s, t - 1)]), kept as a running product: the same multiplications
                for t in range(s, T):
                    if t - 1 > s:
                        trace *= c[t - 2]
                    acc += gamma ** (t - s) * trace * tds[t]
                    if te[i, t] or tr[i, t]:
                        break
                vs[i, s] = float(v[i, s]) + acc
        else:
            acc = 0.0
            for t in reversed(range(T)):
                cont = not (te[i, t] or tr[i, t]) and t < T - 1
                acc = tds[t] + (gamma * c[t] * acc if cont else 0.0)
                vs[i, t] = float(v[i, t]) + acc
        for t in range(T):
            cont = not (te[i, t] or tr[i, t]) and t < T - 1
            q = vs[i, t + 1] if cont else float(nv[i, t])
            pg[i, t] = min(pg_rho_bar, ratio[t]) * (float(r[i, t]) + gamma * (0.0 if te[i, t] else q) - float(v[i, t]))
    return vs.reshape(shape), pg.reshape(shape)


def my_retrace(rewards, q_values, next_expected_q, log_rhos, terminated, truncated, gamma, lam=1.0, c_bar=1.0,
               *, bug=None):
    (r, q, nq, lr, te, tr), shape = _rows(rewards, q_values, next_expected_q, log_rhos, terminated, truncated)
    out = np.zeros(r.shape)
    T = r.shape[1]
    for i in range(r.shape[0]):
        c = [lam * min(c_bar, math.exp(float(x))) for x in lr[i]]
        acc = 0.0
        for t in reversed(range(T)):
            delta = float(r[i, t]) + gamma * (0.0 if te[i, t] else float(nq[i, t])) - float(q[i, t])
            cont = not (te[i, t] or tr[i, t]) and t < T - 1
            trace = c[t] if bug == "trace-current-step" else (c[t + 1] if t < T - 1 else 0.0)
            acc = delta + (gamma * trace * acc if cont else 0.0)
            out[i, t] = float(q[i, t]) + acc
    return out.reshape(shape)


def my_kl(log_p, log_q, kind, *, bug=None):
    lp = np.asarray(log_p, dtype=np.float64)
    lq = np.asarray(log_q, dtype=np.float64)
    log_r = lq - lp  # r = q / p, samples from p
    if kind == "k1":
        return log_r if bug == "k1-sign" else -log_r
    if kind == "k2":
        return log_r**2 if bug == "k2-missing-half" else 0.5 * log_r**2
    if bug == "k3-inverted-ratio":
        log_r = -log_r
    return np.expm1(log_r) - log_r


def my_ppo(log_probs, old_log_probs, advantages, clip_eps, dual_clip=None, *, bug=None):
    lo, hi = (clip_eps, clip_eps) if np.isscalar(clip_eps) else clip_eps
    if bug == "symmetric-eps":
        hi = lo
    lp = np.asarray(log_probs, dtype=np.float64)
    a = np.asarray(advantages, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.exp(lp - np.asarray(old_log_probs, dtype=np.float64))
        unclipped = np.where(a == 0, 0.0, r * a)
    obj = np.minimum(unclipped, np.clip(r, 1 - lo, 1 + hi) * a)
    if dual_clip is not None:
        floor = np.maximum(obj, dual_clip * a)
        obj = floor if bug == "dual-clip-positive-advantages" else np.where(a < 0, floor, obj)
    return obj


def my_clip_fraction(log_probs, old_log_probs, advantages, clip_eps, mask=None, definition="ratio-outside", *,
                     bug=None):
    lo, hi = (clip_eps, clip_eps) if np.isscalar(clip_eps) else clip_eps
    with np.errstate(over="ignore"):
        r = np.exp(np.asarray(log_probs, dtype=np.float64) - np.asarray(old_log_probs, dtype=np.float64))
    a = np.asarray(advantages, dtype=np.float64)
    m = np.ones(r.shape, bool) if mask is None else np.asarray(mask, bool)
    above, below = r > 1 + hi, r < 1 - lo
    if definition == "ratio-outside":
        hit = above | below
    elif bug == "wrong-side":
        hit = (a > 0) & below | (a < 0) & above
    else:
        hit = (a > 0) & above | (a < 0) & below
    denom = m.size if bug == "mask-ignored-denominator" else m.sum()
    return float((hit & m).sum() / denom)


def my_sequence_is(learner_log_probs, sampler_log_probs, mask, cap=None, *, bug=None):
    d = np.asarray(learner_log_probs, dtype=np.float64) - np.asarray(sampler_log_probs, dtype=np.float64)
    m = np.asarray(mask, bool)
    if bug == "mask-ignored":
        m = np.ones_like(m)
    log_w = np.where(m, d, 0.0).sum(axis=-1)
    if bug == "geometric-mean":
        log_w = log_w / m.sum(axis=-1)
    if cap is not None:
        log_w = np.minimum(log_w, math.log(cap))
    with np.errstate(over="ignore"):
        return np.exp(log_w)


# --------------------------------------------------------------------------- 1. correct code conforms

CORRECT = [
    (my_gae, "returns.gae", {}),
    (my_vtrace, "returns.vtrace", {}),
    (my_retrace, "returns.retrace", {}),
    (my_kl, "divergences.kl_estimator", {}),
    (my_ppo, "losses.ppo_clip_objective", {}),
    (my_clip_fraction, "losses.clip_fraction", {}),
    (my_sequence_is, "mismatch.sequence_is_weights", {}),
]


@pytest.mark.parametrize(("fn", "target", "fixed"), CORRECT, ids=[t for _, t, _ in CORRECT])
def test_independent_correct_implementation_conforms(fn, target, fixed):
    result = check(fn, target, examples=N, **fixed)
    assert result.passed, str(result)
    assert result.counterexample is None and result.diagnosis == ()
    assert result.examples >= N // 2
    assert "conforms" in str(result)
    assert_conforms(fn, target, examples=N, **fixed)


# --------------------------------------------------------------------------- 2. each planted bug is caught and named

#: ids the catalogue (verify.mutants) must contain
GUARANTEED = {"gae:bootstrap-through-terminated", "gae:truncation-as-termination", "vtrace:trace-off-by-one",
              "vtrace:cbar-as-rhobar", "kl_estimator:k3-inverted-ratio",
              "ppo_clip_objective:dual-clip-positive-advantages", "sequence_is_weights:mask-ignored"}

BUGS = [
    (my_gae, "returns.gae", "gae:bootstrap-through-terminated", {}),
    (my_gae, "returns.gae", "gae:truncation-as-termination", {}),
    (my_gae, "returns.gae", "gae:trace-through-truncation", {}),
    (my_vtrace, "returns.vtrace", "vtrace:trace-off-by-one", {}),
    (my_vtrace, "returns.vtrace", "vtrace:cbar-as-rhobar", {}),
    (my_retrace, "returns.retrace", "retrace:trace-current-step", {}),
    (my_kl, "divergences.kl_estimator", "kl_estimator:k3-inverted-ratio", {"kind": "k3"}),
    (my_kl, "divergences.kl_estimator", "kl_estimator:k1-sign", {"kind": "k1"}),
    (my_kl, "divergences.kl_estimator", "kl_estimator:k2-missing-half", {"kind": "k2"}),
    (my_ppo, "losses.ppo_clip_objective", "ppo_clip_objective:dual-clip-positive-advantages", {"dual_clip": 3.0}),
    (my_ppo, "losses.ppo_clip_objective", "ppo_clip_objective:symmetric-eps", {"clip_eps": (0.2, 0.28)}),
    (my_clip_fraction, "losses.clip_fraction", "clip_fraction:wrong-side", {"definition": "clipped-branch"}),
    (my_clip_fraction, "losses.clip_fraction", "clip_fraction:mask-ignored-denominator", {}),
    (my_sequence_is, "mismatch.sequence_is_weights", "sequence_is_weights:mask-ignored", {}),
    (my_sequence_is, "mismatch.sequence_is_weights", "sequence_is_weights:geometric-mean", {}),
]


@pytest.mark.parametrize(("fn", "target", "bug_id", "fixed"), BUGS, ids=[b for _, _, b, _ in BUGS])
def test_planted_bug_is_detected_named_and_reproducible(fn, target, bug_id, fixed):
    buggy = partial(fn, bug=bug_id.split(":", 1)[1])
    result = check(buggy, target, examples=N, **fixed)
    assert not result.passed
    known = {m.id for m in _catalogue(get(target))}
    if bug_id in GUARANTEED or bug_id in known:
        assert bug_id in result.diagnosis, str(result)
        assert bug_id in str(result)
    # the counterexample reproduces the difference, through fn and through the reference alone
    expected, got = result.reproduce(buggy)
    ref = TARGETS[target].ref(**result.counterexample)
    exp_t = expected if isinstance(expected, tuple) else (expected,)
    got_t = got if isinstance(got, tuple) else (got,)
    ref_t = ref if isinstance(ref, tuple) else (ref,)
    assert any(not np.allclose(e, g, rtol=1e-6, atol=1e-9) for e, g in zip(exp_t, got_t))
    assert all(np.array_equal(np.asarray(e), np.asarray(r)) for e, r in zip(exp_t, ref_t))
    # the same call as a user's one-liner raises with the explanation
    with pytest.raises(AssertionError, match="does NOT conform") as info:
        assert_conforms(buggy, target, examples=N, **fixed)
    assert "Minimal counterexample" in str(info.value)


def test_where_it_differs_names_the_region_and_the_dtype():
    r = check(partial(my_gae, bug="bootstrap-through-terminated"), "returns.gae", examples=N)
    assert any("only at terminated steps" in w for w in r.where), r.where
    r = check(partial(my_gae, bug="truncation-as-termination"), "returns.gae", examples=N)
    assert any("only at truncated steps" in w for w in r.where), r.where

    def float32_gae(*args):  # rounds through float16: fine in float64 inputs? no -- wrong only for float32 inputs
        out = my_gae(*args)
        return out.astype(np.float16) if np.asarray(args[0]).dtype == np.float32 else out

    r = check(float32_gae, "returns.gae", examples=N)
    assert not r.passed and any(w.startswith("only in float32") for w in r.where), r.where


def test_minimal_counterexample_is_small():
    r = check(partial(my_gae, bug="bootstrap-through-terminated"), "returns.gae", examples=N)
    cx = r.counterexample
    assert cx["rewards"].shape[-1] <= 2 and np.any(cx["terminated"])
    assert np.count_nonzero(cx["next_values"]) == 1  # only the bootstrap that matters survives simplification


# --------------------------------------------------------------------------- 3. adapters and layouts


def test_time_major_gae_conforms_with_time_major_true():
    def tm_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
        # [T, ...] in, [T, ...] out
        mv = [np.moveaxis(np.asarray(x), 0, -1) for x in (rewards, values, next_values, terminated, truncated)]
        return np.moveaxis(my_gae(*mv, gamma, lam), -1, 0)

    assert check(tm_gae, "returns.gae", examples=N, time_major=True).passed
    assert not check(tm_gae, "returns.gae", examples=N).passed  # the layout matters on batched inputs
    assert check(adapters.time_major(tm_gae, "returns.gae"), "returns.gae", examples=N).passed


def _dones_gae(rewards, values, next_values, dones, gamma, lam):
    """CleanRL-style GAE with one flag: no bootstrap and a cut where dones."""
    return my_gae(rewards, values, next_values, dones, np.zeros_like(dones), gamma, lam)


def test_dones_adapter():
    assert check(adapters.dones(_dones_gae, "returns.gae"), "returns.gae", examples=N).passed
    # the same function passed term|trunc directly (no reward fold) fails only at truncations
    naive = lambda r, v, nv, te, tr, g, lam: _dones_gae(r, v, nv, te | tr, g, lam)  # noqa: E731
    res = check(naive, "returns.gae", examples=N)
    assert not res.passed and "gae:truncation-as-termination" in res.diagnosis


def test_discounts_adapter():
    def rlax_style(rewards, values, next_values, discounts, lam):
        (r, v, nv, d), shape = _rows(rewards, values, next_values, discounts)
        out = np.zeros(r.shape)
        for i in range(r.shape[0]):
            acc = 0.0
            for t in reversed(range(r.shape[1])):
                delta = r[i, t] + d[i, t] * nv[i, t] - v[i, t]
                acc = delta + (d[i, t] * lam * acc if t < r.shape[1] - 1 else 0.0)
                out[i, t] = acc
        return out.reshape(shape)

    assert check(adapters.discounts(rlax_style, "returns.gae"), "returns.gae", examples=N).passed


def test_values_stream_adapter():
    def stream_gae(rewards, values, terminated, truncated, gamma, lam):
        v = np.asarray(values)
        return my_gae(rewards, v[..., :-1], v[..., 1:], terminated, truncated, gamma, lam)

    assert check(adapters.values_stream(stream_gae, "returns.gae"), "returns.gae", examples=N).passed
    with pytest.raises(ValueError, match="values_stream"):
        adapters.values_stream(stream_gae, "returns.discounted_returns")


def test_output_adapters():
    def pg_vs(*args):  # torchrl's order: (advantage, vs)
        vs, pg = my_vtrace(*args)
        return pg, vs

    assert not check(pg_vs, "returns.vtrace", examples=20).passed
    assert check(adapters.outputs(pg_vs, "returns.vtrace", pick=(1, 0)), "returns.vtrace", examples=N).passed

    def errors(*args):  # rlax: vs - v
        vs, pg = my_vtrace(*args)
        return vs - np.asarray(args[1], dtype=np.float64), pg

    assert check(adapters.outputs(errors, "returns.vtrace", plus_values=(0,)), "returns.vtrace", examples=N).passed

    from collections import namedtuple
    VTraceOutput = namedtuple("VTraceOutput", ["errors", "pg_advantage", "q_estimate"])

    def named(*args):  # rlax's VTraceOutput fields
        vs, pg = my_vtrace(*args)
        return VTraceOutput(vs - np.asarray(args[1], dtype=np.float64), pg, None)

    wrapped = adapters.outputs(named, "returns.vtrace", pick=("errors", "pg_advantage"), plus_values=(0,))
    assert check(wrapped, "returns.vtrace", examples=N).passed

    def adv_target(*args):  # torchrl's GAE: (advantage, value_target); we check the advantage
        a = my_gae(*args)
        return a, a + np.asarray(args[1], dtype=np.float64)

    assert check(adapters.outputs(adv_target, "returns.gae", pick=0), "returns.gae", examples=N).passed


def test_float_mask_adapter():
    def float_only(learner_log_probs, sampler_log_probs, mask, cap=None):
        m = np.asarray(mask)
        if m.dtype.kind != "f":
            raise TypeError(f"expected a float mask, got {m.dtype}")
        return my_sequence_is(learner_log_probs, sampler_log_probs, m > 0.5, cap)

    assert not check(float_only, "mismatch.sequence_is_weights", examples=10).passed
    assert check(adapters.float_masks(float_only, "mismatch.sequence_is_weights"), "mismatch.sequence_is_weights",
                 examples=N).passed


def test_torch_adapter_on_the_torch_mirror():
    torch = pytest.importorskip("torch")
    from reference_impls.torch import losses as tlosses
    from reference_impls.torch import returns as treturns

    r = check(adapters.torch_tensors(treturns.vtrace, "returns.vtrace"), "returns.vtrace", examples=N)
    assert r.passed, str(r)
    r = check(adapters.torch_tensors(tlosses.ppo_clip_objective, "losses.ppo_clip_objective"),
              "losses.ppo_clip_objective", examples=N)
    assert r.passed, str(r)
    assert torch.get_default_dtype() == torch.float32


# --------------------------------------------------------------------------- 4. calling convention and bad input


def test_fixed_and_held_parameters():
    seen = set()

    def k3_only(log_p, log_q):  # takes no kind: check(kind="k3") must be passed by keyword -> refuse
        return my_kl(log_p, log_q, "k3")

    with pytest.raises(ValueError, match="fixed"):
        check(k3_only, "divergences.kl_estimator", kind="k3")

    def short_vtrace(rewards, values, next_values, log_rhos, terminated, truncated, gamma):
        seen.add(True)
        return my_vtrace(rewards, values, next_values, log_rhos, terminated, truncated, gamma)

    r = check(short_vtrace, "returns.vtrace", examples=20)
    assert r.passed and set(r.held) == {"lam", "rho_bar", "c_bar", "pg_rho_bar"} and seen

    def gae_kw(rewards, values, next_values, terminated, truncated, gamma, lam):
        assert gamma == 0.9
        return my_gae(rewards, values, next_values, terminated, truncated, gamma, lam)

    assert check(gae_kw, "returns.gae", examples=20, gamma=0.9).passed  # lam is drawn and passed by keyword


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"target": "returns.nope"}, "target"),
    ({"target": "returns.gae", "examples": 0}, "examples"),
    ({"target": "returns.gae", "dtypes": ("float16",)}, "dtypes"),
    ({"target": "returns.gae", "bogus": 1}, "fixed"),
    ({"target": "returns.gae", "rtol": -1.0}, "rtol"),
    ({"target": "returns.gae", "gamma": 2.0}, "fixed"),
])
def test_bad_input_raises_value_error_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check(returns.gae, **kwargs)


def test_fn_that_raises_or_returns_the_wrong_shape_is_reported():
    def boom(*args):
        raise RuntimeError("kaboom")

    r = check(boom, "returns.gae", examples=10)
    assert not r.passed and "kaboom" in str(r)
    r = check(lambda *a: np.zeros(3), "returns.gae", examples=10)
    assert not r.passed and "shape" in str(r)


def test_every_target_accepts_its_own_reference():
    for name, t in TARGETS.items():
        r = check(t.ref, name, examples=5)
        assert r.passed, str(r)


def test_same_seed_same_result():
    bug = partial(my_vtrace, bug="cbar-as-rhobar")
    a = check(bug, "returns.vtrace", examples=30, seed=3)
    b = check(bug, "returns.vtrace", examples=30, seed=3)
    assert str(a) == str(b)


def test_precision_float32_accepts_float32_internal_arithmetic_only():
    def f32_inside(*args):  # a float64-input GAE that computes in float32 (as SB3's buffers do)
        cast = [np.asarray(a, np.float32) if np.ndim(a) and np.asarray(a).dtype.kind == "f" else a for a in args]
        return my_gae(*cast).astype(np.float32)

    strict = check(f32_inside, "returns.gae", examples=N, dtypes=("float64",))
    assert not strict.passed
    assert check(f32_inside, "returns.gae", examples=N, dtypes=("float64",), precision="float32").passed
    # float32 rounding is no cover for a real bug
    buggy = partial(my_gae, bug="truncation-as-termination")
    assert not check(buggy, "returns.gae", examples=N, precision="float32").passed


def test_reference_override_states_a_convention():
    def clamped_k3(log_p, log_q, kind):  # verl/OpenRLHF-style clamp of the estimate
        return np.clip(my_kl(log_p, log_q, kind), -10.0, 10.0)

    assert not check(clamped_k3, "divergences.kl_estimator", examples=N, kind="k3").passed
    from reference_impls import divergences

    def model(log_p, log_q, kind):
        return np.clip(divergences.kl_estimator(log_p, log_q, kind), -10.0, 10.0)

    assert check(clamped_k3, "divergences.kl_estimator", examples=N, kind="k3", reference=model).passed
