"""Reproducers of the robustness review (issue 14 items 2-5, issue 13 item 6), numpy and torch alike.

Each test encodes one input that gave a silent NaN, a wrong value, a hang or a poorly named error
before the fix. Expected values are derived in the comments (exact identities, not golden numbers).
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from reference_impls import divergences as D
from reference_impls import enumeration as E
from reference_impls import gradients as G
from reference_impls import importance as I
from reference_impls import losses as L
from reference_impls import mdp as M
from reference_impls import mismatch as MM
from reference_impls import sampling as SA
from reference_impls import trust_region as TR
from reference_impls._validation import as_flags, as_float_array, check_gamma, check_scalar

torch = pytest.importorskip("torch")
from reference_impls.torch import divergences as TD  # noqa: E402
from reference_impls.torch import importance as TI  # noqa: E402
from reference_impls.torch import losses as TL  # noqa: E402
from reference_impls.torch import mdp as TM  # noqa: E402
from reference_impls.torch import mismatch as TMM  # noqa: E402
from reference_impls.torch import sampling as TS  # noqa: E402


def t64(*x: Any) -> torch.Tensor:
    return torch.tensor(x[0] if len(x) == 1 else x, dtype=torch.float64)


@contextmanager
def no_hang(seconds: float = 20.0) -> Iterator[None]:
    """Turn a hang into a failure (a guard against regressions, not a speed measurement)."""
    def _raise(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _small_mdp(S: int = 2, A: int = 2, seed: int = 0) -> tuple[M.FiniteMDP, np.ndarray]:
    m = M.random_mdp(np.random.default_rng(seed), S, A, 0.9)
    return m, np.full((S, A), 1.0 / A)


# --------------------------------------------------------------------------- item 2: cancellation / overflow


@pytest.mark.parametrize("scale", [1.0, 1e155, 1e200, 1e300, 1e-160, 1e-200, 1e-310])
def test_natural_and_trpo_steps_are_scale_free_in_grad(scale: float) -> None:
    # the step sqrt(2 delta / g'F+g) F+g is homogeneous of degree 0 in g; before, g'F+g overflowed
    # (|g| >~ 1e155) or underflowed (|g| <~ 1e-160) and the step was 0
    F = np.diag([1.0, 2.0, 4.0])
    g = np.array([1.0, -2.0, 0.5])
    ref = TR.natural_gradient_step(g, F, 0.01)
    assert np.all(ref != 0)
    # rtol: g * 1e-310 is subnormal, so the input itself carries a relative rounding of ~1e-13
    np.testing.assert_allclose(TR.natural_gradient_step(g * scale, F, 0.01), ref, rtol=1e-12)
    res = TR.trpo_step(g * scale, F, lambda s: 1.0, lambda s: 0.0, 0.01)
    assert res.accepted
    np.testing.assert_allclose(res.step, ref, rtol=1e-12)
    # and through a callable Fisher-vector product
    res_cb = TR.trpo_step(g * scale, lambda v: F @ v, lambda s: 1.0, lambda s: 0.0, 0.01)
    np.testing.assert_allclose(res_cb.step, ref, rtol=1e-12)


def test_conjugate_gradient_does_not_overflow_r_dot_r() -> None:
    # r^T r of b = 1e200 overflowed; CG is linear in b, so the answer is F^{-1} b exactly here
    F = np.diag([1.0, 2.0, 4.0])
    b = np.full(3, 1e200)
    np.testing.assert_allclose(TR.conjugate_gradient(lambda v: F @ v, b), b / np.diag(F), rtol=1e-14)


def _grpo_cases() -> list[tuple[list[float], str, list[float]]]:
    # [a, a]: zero spread -> advantage 0 (eps > 0); [a, -a, 0]: mean 0, sample std a -> [1, -1, 0] up to eps/a
    return [([1e308, 1e308], "sample", [0.0, 0.0]), ([1e308, -1e308, 0.0], "sample", [1.0, -1.0, 0.0]),
            ([1e308, -1e308], "population", [1.0, -1.0])]


@pytest.mark.parametrize(("rewards", "std", "want"), _grpo_cases())
def test_grpo_advantages_near_float_max(rewards: list[float], std: str, want: list[float]) -> None:
    np.testing.assert_allclose(L.grpo_advantages(rewards, std=std), want, atol=1e-15)
    np.testing.assert_allclose(TL.grpo_advantages(t64(rewards), std=std).numpy(), want, atol=1e-15)


def test_grpo_advantages_unchanged_in_the_normal_range() -> None:
    # the power-of-two scaling is exact: bit-for-bit the textbook formula away from overflow
    r = np.random.default_rng(1).normal(size=(5, 7))
    for std, ddof in (("sample", 1), ("population", 0)):
        direct = (r - r.mean(-1, keepdims=True)) / (r.std(-1, ddof=ddof, keepdims=True) + 1e-6)
        assert np.array_equal(L.grpo_advantages(r, std=std), direct)
    direct = r - (r.sum(-1, keepdims=True) - r) / 6
    assert np.array_equal(L.rloo_advantages(r), direct)


def test_rloo_advantages_near_float_max() -> None:
    # r_i - mean of the others = 1e308 - 1e308 = 0 (the sum 2e308 overflowed: -inf before)
    np.testing.assert_array_equal(L.rloo_advantages([1e308, 1e308]), [0.0, 0.0])
    np.testing.assert_array_equal(TL.rloo_advantages(t64([1e308, 1e308])).numpy(), [0.0, 0.0])


@pytest.mark.parametrize("mode", L.AGGREGATION_MODES[:2])
def test_aggregate_mean_near_float_max(mode: str) -> None:
    # the token mean of two 1e308s is 1e308 (the sum overflowed: inf before)
    assert L.aggregate([[1e308, 1e308]], [[1, 1]], mode) == 1e308
    assert TL.aggregate(t64([[1e308, 1e308]]), torch.ones(1, 2, dtype=torch.bool), mode).item() == 1e308


def _is_cases() -> list[tuple[str, list[float], list[float], float]]:
    e = math.exp(709.5)  # finite; twice it is not
    return [
        # ordinary IS: (1/n) sum w_i f_i
        ("ordinary", [1.0, -1.0], [1e4, 1e4], 0.0),         # e^1e4 - e^1e4 = 0 exactly (inf - inf before)
        ("ordinary", [1.0, -2.0], [1e4, 1e4], -math.inf),   # -e^1e4 / 2 truly overflows: an honest -inf
        ("ordinary", [1.0, 1.0], [709.5, 709.5], e),        # (2 e^709.5) / 2 is finite (inf before)
        ("ordinary", [0.0, 1.0], [1e4, 0.0], 0.5),          # a zero value under a huge weight contributes 0
        # per-decision IS, gamma = 1: sum_t r_t exp(cumsum log w)_t
        ("per_decision", [1.0, -1.0], [1e4, 0.0], 0.0),     # both prefixes e^1e4: they cancel exactly
        ("per_decision", [1.0, -1.0], [709.0, 0.0], 0.0),
        ("per_decision", [2.0, -1.0], [709.0, 0.0], math.exp(709.0)),
    ]


@pytest.mark.parametrize(("kind", "values", "log_w", "want"), _is_cases())
def test_is_sums_never_inf_minus_inf(kind: str, values: list[float], log_w: list[float], want: float) -> None:
    zeros = [0.0] * len(values)
    if kind == "ordinary":
        got = float(I.ordinary_is(values, log_w, zeros))
        got_t = TI.ordinary_is(t64(values), t64(log_w), t64(zeros)).item()
    else:
        got = float(I.per_decision_is(values, log_w, zeros, 1.0))
        got_t = TI.per_decision_is(t64(values), t64(log_w), t64(zeros), 1.0).item()
    for g in (got, got_t):
        assert not math.isnan(g)
        if math.isinf(want):
            assert g == want
        else:
            assert g == pytest.approx(want, rel=1e-14, abs=0.0)


def test_truncated_and_trajectory_is_with_huge_weights_and_returns() -> None:
    # truncation at the Ionides level: both weights e^1e4 are below it, so the estimate is 0 exactly
    assert I.truncated_is([1.0, -1.0], [1e4, 1e4], [0.0, 0.0], "ionides") == 0.0
    assert TI.truncated_is(t64([1.0, -1.0]), t64([1e4, 1e4]), t64([0.0, 0.0]), "ionides").item() == 0.0
    # trajectory IS: the return 2e308 overflows but W G = 2e308 / e does not
    want = 2.0 * (1e308 / math.e)
    assert float(I.trajectory_is([1e308, 1e308], [-1.0, 0.0], [0.0, 0.0], 1.0)) == pytest.approx(want, rel=1e-14)
    got_t = TI.trajectory_is(t64([1e308, 1e308]), t64([-1.0, 0.0]), t64([0.0, 0.0]), 1.0).item()
    assert got_t == pytest.approx(want, rel=1e-14)


def test_importance_weighted_policy_gradient_cancels_exactly() -> None:
    # two samples with weight e^1e4 and opposite scores: the gradient is 0, not NaN
    scores = np.array([[1.0, 0.0], [-1.0, 0.0]])
    np.testing.assert_array_equal(I.importance_weighted_policy_gradient([1.0, 1.0], [1e4, 1e4], [0.0, 0.0], scores),
                                  [0.0, 0.0])
    got = TI.importance_weighted_policy_gradient(t64([1.0, 1.0]), t64([1e4, 1e4]), t64([0.0, 0.0]), t64(scores))
    np.testing.assert_array_equal(got.numpy(), [0.0, 0.0])


# --------------------------------------------------------------------------- item 3: bad input by name


def _raises_naming(name: str, fn: Callable[[], Any]) -> str:
    with pytest.raises(ValueError, match=rf"^{name}: ") as info:
        fn()
    return str(info.value)


@pytest.mark.parametrize("bad", [["1", "2"], np.array(["1", "2"]), [1 + 0j, 2.0], np.array([1.0, 2.0]) + 0j,
                                 [None, 1.0], None, "12"])
def test_strings_complex_none_rejected_by_the_shared_validator(bad: Any) -> None:
    # np.asarray(["1", "2"], float) parses strings and complex arrays are cast with a warning
    _raises_naming("rewards", lambda: as_float_array(bad, "rewards"))
    _raises_naming("rewards", lambda: L.grpo_advantages(bad))
    _raises_naming("values", lambda: I.ordinary_is(bad, [0.0, 0.0], [0.0, 0.0]))


@pytest.mark.parametrize("bad", ["0.9", b"0.9", 0.9 + 0j, None, True])
def test_scalar_validators_reject_strings_and_complex(bad: Any) -> None:
    _raises_naming("gamma", lambda: check_gamma(bad))
    _raises_naming("clip_eps", lambda: check_scalar(bad, "clip_eps"))


def test_returns_functions_reject_strings_through_the_shared_validators() -> None:
    # issue 14's example: gae(["1", "2"], ..., "0.9", "1") returned a result (reference_impls.returns
    # uses the shared validators; its own module is another branch's)
    from reference_impls import returns as R

    z = [0.0, 0.0]
    f = [False, False]
    _raises_naming("rewards", lambda: R.gae(["1", "2"], z, z, f, f, 0.9, 1.0))
    _raises_naming("gamma", lambda: R.gae([1.0, 2.0], z, z, f, f, "0.9", 1.0))
    _raises_naming("lam", lambda: R.gae([1.0, 2.0], z, z, f, f, 0.9, "1"))


@pytest.mark.parametrize("fn", [
    lambda m, pi: M.validate_policy(m, pi),
    lambda m, pi: M.state_values(m, pi),
    lambda m, pi: M.finite_horizon_values(m, pi, 3),
    lambda m, pi: G.policy_gradient(m, np.zeros((2, 2))),
    lambda m, pi: E.enumerate_trajectories(m, pi, 2),
    lambda m, pi: I.exact_is_moments(m, pi, pi, 2),
    lambda m, pi: TR.mean_kl(m, np.zeros((2, 2)), np.zeros((2, 2))),
])
@pytest.mark.parametrize("bad", [None, "mdp", 3])
def test_non_mdp_rejected_by_name(fn: Callable[[Any, np.ndarray], Any], bad: Any) -> None:
    # validate_policy(None, ...) raised AttributeError ('NoneType' object has no attribute 'n_states')
    _raises_naming("mdp", lambda: fn(bad, np.full((2, 2), 0.5)))


def test_torch_mdp_rejects_half_precision_and_names_logits() -> None:
    P = torch.full((2, 2, 2), 0.5)
    R = torch.zeros(2, 2)
    mu = torch.full((2,), 0.5)
    pi = torch.full((2, 2), 0.5)
    for dt in (torch.float16, torch.bfloat16):  # NotImplementedError from the LU solve before
        msg = _raises_naming("transitions", lambda dt=dt: TM.state_values(P.to(dt), R.to(dt), mu.to(dt), 0.9,
                                                                          pi.to(dt)))
        assert str(dt) in msg
    # policy_gradient takes logits: its messages say so (they said "policy:" before)
    _raises_naming("logits", lambda: TM.policy_gradient(P, R, mu, 0.9, torch.zeros(2, 3)))
    _raises_naming("logits", lambda: TM.policy_gradient(P, R, mu, 0.9, torch.zeros(2, 2, dtype=torch.float64)))
    _raises_naming("gamma", lambda: TM.state_values(P, R, mu, "0.9", pi))


@pytest.mark.parametrize(("args", "name", "received"), [
    ((torch.full((2, 2, 2), 0.6), None, None, None), "transitions", "1.2"),
    ((None, None, torch.tensor([0.7, 0.7]), None), "initial", "1.4"),
    ((None, None, None, torch.tensor(1.5)), "gamma", "1.5"),
    ((None, None, None, torch.tensor([0.9, 1.0])), "gamma", "shape"),
])
def test_torch_mdp_messages_show_what_was_received(args: tuple[Any, ...], name: str, received: str) -> None:
    base = [torch.full((2, 2, 2), 0.5), torch.zeros(2, 2), torch.full((2,), 0.5), 0.9]
    full = [b if a is None else a for a, b in zip(args, base, strict=True)]
    msg = _raises_naming(name, lambda: TM.state_values(*full, torch.full((2, 2), 0.5)))
    assert received in msg
    msg = _raises_naming("policy", lambda: TM.state_values(*base, torch.full((2, 2), 0.7)))
    assert "1.4" in msg


def test_trpo_step_names_its_own_arguments() -> None:
    F = np.eye(2)
    base: dict[str, Any] = {"grad": np.ones(2), "fisher": F, "surrogate_improvement": lambda s: 1.0,
                            "kl": lambda s: 0.0, "max_kl": 0.01}
    # these said "iterations:", "tolerance:" and "matvec:" (conjugate_gradient's names) before
    _raises_naming("cg_iterations", lambda: TR.trpo_step(**base, cg_iterations=0))
    _raises_naming("cg_tolerance", lambda: TR.trpo_step(**base, cg_tolerance=-1.0))
    _raises_naming("fisher", lambda: TR.trpo_step(**{**base, "fisher": lambda v: -v}))
    _raises_naming("fisher", lambda: TR.trpo_step(**{**base, "fisher": lambda v: v[:1]}))
    _raises_naming("max_backtracks", lambda: TR.trpo_step(**base, max_backtracks=10**9))


def test_trajectories_validate_their_inputs() -> None:
    m, _ = _small_mdp()
    ok_states, ok_actions, ok_probs = np.array([[0, 1]]), np.array([[1]]), np.array([1.0])
    assert len(E.Trajectories(ok_states, ok_actions, ok_probs, m)) == 1
    # a negative id used to wrap around to the last state; probabilities of 7 or NaN passed
    _raises_naming("states", lambda: E.Trajectories(np.array([[-1, 1]]), ok_actions, ok_probs, m))
    _raises_naming("actions", lambda: E.Trajectories(ok_states, np.array([[2]]), ok_probs, m))
    _raises_naming("probs", lambda: E.Trajectories(ok_states, ok_actions, np.array([7.0]), m))
    _raises_naming("probs", lambda: E.Trajectories(ok_states, ok_actions, np.array([np.nan]), m))
    _raises_naming("mdp", lambda: E.Trajectories(ok_states, ok_actions, ok_probs, None))  # type: ignore[arg-type]
    _raises_naming("states", lambda: E.Trajectories(ok_states.astype(float), ok_actions, ok_probs, m))


def test_batched_trajectories_validate_their_inputs() -> None:
    s, a = np.zeros((1, 2, 3), dtype=np.int64), np.zeros((1, 2, 2), dtype=np.int64)
    assert SA.BatchedTrajectories(s, a).gather(np.zeros((1, 1, 1))).shape == (1, 2, 2)
    _raises_naming("states", lambda: SA.BatchedTrajectories(s - 1, a))
    _raises_naming("actions", lambda: SA.BatchedTrajectories(s, np.zeros((1, 2, 3), dtype=np.int64)))
    _raises_naming("table", lambda: SA.BatchedTrajectories(s + 1, a).gather(np.zeros((1, 1, 1))))
    ts, ta = torch.zeros(1, 2, 3, dtype=torch.int64), torch.zeros(1, 2, 2, dtype=torch.int64)
    assert TS.BatchedTrajectories(ts, ta).gather(torch.zeros(1, 1, 1)).shape == (1, 2, 2)
    _raises_naming("states", lambda: TS.BatchedTrajectories(ts - 1, ta))
    _raises_naming("table", lambda: TS.BatchedTrajectories(ts + 1, ta).gather(torch.zeros(1, 1, 1)))


@pytest.mark.parametrize(("call", "second"), [
    (lambda a, b: TD.kl(a.softmax(-1), b.softmax(-1)), "q"),
    (lambda a, b: TD.tv(a.softmax(-1), b.softmax(-1)), "q"),
    (lambda a, b: TD.kl_estimator(a, b, "k3"), "log_q"),
    (lambda a, b: TL.gspo_sequence_ratio(a, b, torch.ones(a.shape, dtype=torch.bool)), "old_log_probs"),
    (lambda a, b: TL.ppo_clip_objective(a, b, a, 0.2), "old_log_probs"),
    (lambda a, b: TL.kl_penalized_objective(a, a, a, b.abs(), 0.1), "kl"),
    (lambda a, b: TMM.sequence_is_weights(a, b, torch.ones(a.shape)), "sampler_log_probs"),
    (lambda a, b: TI.ordinary_is(a, a, b), "behavior_log_probs"),
])
def test_torch_rejects_mixed_float_dtypes_by_name(call: Callable[[Any, Any], Any], second: str) -> None:
    # one rule for every torch module (returns always had it): mixed float dtypes are rejected, never promoted
    a = torch.zeros(2, 3, dtype=torch.float64)
    b = torch.zeros(2, 3, dtype=torch.float32)
    call(a, a)
    _raises_naming(second, lambda: call(a, b))


def test_gspo_objective_rejects_mixed_advantage_dtype() -> None:
    lp = torch.zeros(2, 3, dtype=torch.float64)
    m = torch.ones(2, 3, dtype=torch.bool)
    _raises_naming("advantages", lambda: TL.gspo_objective(lp, lp, torch.zeros(2, dtype=torch.float32), m, 0.2))


def test_empty_batches_rejected_by_name() -> None:
    # aggregate of zero sequences returned NaN (0 / 0)
    _raises_naming("values", lambda: L.aggregate(np.zeros((0, 3)), np.zeros((0, 3), dtype=bool), "token-mean"))
    _raises_naming("values", lambda: TL.aggregate(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.bool),
                                                  "token-mean"))
    _raises_naming("log_probs", lambda: L.clip_fraction(np.zeros(0), np.zeros(0), np.zeros(0), 0.2))
    _raises_naming("log_probs", lambda: TL.clip_fraction(torch.zeros(0), torch.zeros(0), torch.zeros(0), 0.2))


def test_complex_tensors_rejected_by_name() -> None:
    z = torch.zeros(2, dtype=torch.complex128)
    _raises_naming("log_p", lambda: TD.kl_estimator(z, z, "k1"))
    _raises_naming("p", lambda: D.kl(np.array([0.5, 0.5]) + 0j, [0.5, 0.5]))


# --------------------------------------------------------------------------- item 4: nothing hangs


@pytest.mark.parametrize(("S", "A", "H"), [(2, 2, 10**8), (2, 2, 8000), (1, 1, 10**9), (3, 2, 40)])
def test_enumeration_guard_answers_at_once(S: int, A: int, H: int) -> None:
    # S^(H+1) A^H as an exact integer ran past 15 s (H = 1e8), hit the int-to-string limit (H = 8000: 4817 digits)
    # or, for S = A = 1, looped for minutes (H = 1e9)
    m, pi = _small_mdp(S, A)
    with no_hang():
        _raises_naming("horizon", lambda: E.enumerate_trajectories(m, pi, H))


def test_enumeration_of_a_single_state_and_action_past_the_grid_limit() -> None:
    # S = A = 1: one trajectory for any H; past 31 steps the (S, A, ..., S) grid exceeds numpy's 64 axes
    m, pi = _small_mdp(1, 1)
    traj = E.enumerate_trajectories(m, pi, 200)
    assert len(traj) == 1 and traj.states.shape == (1, 201)
    assert float(traj.expectation(traj.discounted_returns())) == pytest.approx(M.finite_horizon_return(m, pi, 200),
                                                                               rel=1e-12)


@pytest.mark.parametrize("fn", [
    lambda m, pi, H: I.exact_is_moments(m, pi, pi, H),
    lambda m, pi, H: I.trajectory_weight_second_moment(m, pi, pi, H),
    lambda m, pi, H: M.state_marginals(m, pi, H),
    lambda m, pi, H: M.finite_horizon_values(m, pi, H),
    lambda m, pi, H: E.sample_trajectories(m, pi, H, 1, np.random.default_rng(0)),
    lambda m, pi, H: SA.sample_batched(m.transitions[None], m.initial[None], pi[None], H, 1,
                                       np.random.default_rng(0)),
    lambda m, pi, H: TS.sample_batched(torch.tensor(m.transitions[None]), torch.tensor(m.initial[None]),
                                       torch.tensor(pi[None]), H, 1),
])
def test_horizon_guards_answer_at_once(fn: Callable[[M.FiniteMDP, np.ndarray, int], Any]) -> None:
    m, pi = _small_mdp()
    with no_hang():
        _raises_naming("horizon", lambda: fn(m, pi, 10**9))


def test_sample_size_guard_names_n() -> None:
    m, pi = _small_mdp()
    _raises_naming("n", lambda: E.sample_trajectories(m, pi, 10, 10**9, np.random.default_rng(0)))


# --------------------------------------------------------------------------- item 5: torch gradients


def _grad(fn: Callable[..., torch.Tensor], *xs: torch.Tensor) -> list[torch.Tensor]:
    leaves = [x.clone().requires_grad_(True) for x in xs]
    fn(*leaves).sum().backward()
    return [x.grad for x in leaves]  # type: ignore[misc]


def test_torch_is_gradients_at_zero_values() -> None:
    # exp(lw + log|v|) under torch.where gave a NaN gradient at v = 0; d/dv (v e^lw / n) = e^lw / n
    v = t64([0.0, 2.0, -1.0])
    lw = t64([0.3, -0.2, 0.1])
    zero = torch.zeros(3, dtype=torch.float64)
    gv, glw = _grad(lambda v, lw: TI.ordinary_is(v, lw, zero), v, lw)
    torch.testing.assert_close(gv, torch.exp(lw) / 3, rtol=1e-15, atol=0)
    torch.testing.assert_close(glw, v * torch.exp(lw) / 3, rtol=1e-15, atol=0)
    # per-decision with a zero reward; trajectory IS with a zero return
    gr, glw = _grad(lambda r, lw: TI.per_decision_is(r, lw, zero, 0.9), t64([0.0, 1.0, 0.0]), lw)
    assert torch.isfinite(gr).all() and torch.isfinite(glw).all()
    W = torch.exp(torch.cumsum(lw, 0))
    torch.testing.assert_close(gr, W * 0.9 ** torch.arange(3.0, dtype=torch.float64), rtol=1e-14, atol=0)
    gr, glw = _grad(lambda r, lw: TI.trajectory_is(r, lw, zero, 0.9), torch.zeros(3, dtype=torch.float64), lw)
    torch.testing.assert_close(glw, torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(gr, torch.exp(lw.sum()) * 0.9 ** torch.arange(3.0, dtype=torch.float64))
    scores = torch.ones(3, 2, dtype=torch.float64)
    gr, glw = _grad(lambda r, lw: TI.importance_weighted_policy_gradient(r, lw, zero, scores),
                    t64([0.0, 1.0, 0.0]), lw)
    assert torch.isfinite(gr).all() and torch.isfinite(glw).all()


def test_torch_is_gradients_with_overflowing_weights_are_finite() -> None:
    v = t64([0.0, 1.0])
    lw = t64([1e4, 0.0])
    gv, glw = _grad(lambda v, lw: TI.ordinary_is(v, lw, torch.zeros(2, dtype=torch.float64)), v, lw)
    assert not torch.isnan(gv).any() and not torch.isnan(glw).any()
    assert glw[1].item() == pytest.approx(0.5)


def test_torch_truncation_gradient_at_the_cap_is_the_unclipped_one() -> None:
    # tie convention of the PPO objectives: at w == c the gradient is that of w, not 1/2 of it
    c = 2.0
    lw = t64([math.log(c), -1.0])
    v = t64([1.0, 1.0])
    zero = torch.zeros(2, dtype=torch.float64)
    (glw,) = _grad(lambda lw: TI.truncated_is(v, lw, zero, c), lw)
    torch.testing.assert_close(glw, torch.exp(lw) / 2, rtol=1e-15, atol=0)
    # just above the cap the clipped branch holds the gradient at 0
    (glw,) = _grad(lambda lw: TI.truncated_is(v, lw, zero, c), lw + t64([1e-9, 0.0]))
    assert glw[0].item() == 0.0
    # mismatch caps (clamp passes the gradient at its bound): token and sequence TIS
    m = torch.ones(2, dtype=torch.bool)
    (g_tok,) = _grad(lambda a: TMM.token_is_weights(a, zero, m, cap=c), lw)
    torch.testing.assert_close(g_tok, torch.exp(lw))
    (g_seq,) = _grad(lambda a: TMM.sequence_is_weights(a, zero, m, cap=math.exp(lw.sum().item())), lw)
    torch.testing.assert_close(g_seq, torch.exp(lw.sum()).expand(2))


def test_torch_gspo_and_ppo_gradients_at_clip_edges_are_finite_and_unclipped() -> None:
    eps = 0.25  # 1 + eps and 1 - eps are exact in binary, so log(1 + eps) lands on the edge up to rounding
    adv = t64([1.0, -1.0])
    old = torch.zeros(2, dtype=torch.float64)
    lp = torch.log(t64([1.0 + eps, 1.0 - eps]))
    r = torch.exp(lp)
    at_edge = torch.isclose(r, t64([1.0 + eps, 1.0 - eps]), rtol=0, atol=0)
    (g,) = _grad(lambda lp: TL.ppo_clip_objective(lp, old, adv, eps), lp)
    # unclipped gradient A r wherever r is exactly on the edge; a strictly clipped element has 0
    want = torch.where(at_edge | ((adv > 0) & (r < 1 + eps)) | ((adv < 0) & (r > 1 - eps)), adv * r,
                       torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(g, want)
    mask = torch.ones(1, 1, dtype=torch.bool)
    for k in range(2):
        (g,) = _grad(lambda lp, k=k: TL.gspo_objective(lp, old[:1].reshape(1, 1), adv[k:k + 1], mask, eps),
                     lp[k:k + 1].reshape(1, 1))
        assert torch.isfinite(g).all()


# --------------------------------------------------------------------------- issue 13 item 6: float masks


def _mask_calls() -> list[tuple[str, Callable[[Any, Any], Any]]]:
    lp = np.log(np.array([[0.5, 0.25, 0.125], [0.5, 0.5, 0.25]]))
    old = np.log(np.array([[0.25, 0.25, 0.5], [0.125, 0.5, 0.5]]))
    adv = np.array([[1.0, -1.0, 0.5], [-0.5, 2.0, 1.0]])
    seq_adv = np.array([1.0, -1.0])

    def np_or_torch(xp: str) -> Callable[[np.ndarray], Any]:
        return (lambda x: x) if xp == "np" else (lambda x: torch.tensor(x))

    def make(fn_np: Callable[..., Any], fn_t: Callable[..., Any], args: tuple[np.ndarray, ...],
             **kw: Any) -> Callable[[Any, Any], Any]:
        def call(xp: str, mask: Any) -> Any:
            conv = np_or_torch(xp)
            fn = fn_np if xp == "np" else fn_t
            out = fn(*(conv(a) for a in args), mask, **kw)
            return np.asarray(out if xp == "np" else out.detach().numpy(), dtype=np.float64)
        return call

    return [
        ("clip_fraction", make(lambda a, b, c, m: L.clip_fraction(a, b, c, 0.2, mask=m),
                               lambda a, b, c, m: TL.clip_fraction(a, b, c, 0.2, mask=m), (lp, old, adv))),
        ("aggregate", make(lambda v, m: L.aggregate(v, m, "seq-mean-token-mean"),
                           lambda v, m: TL.aggregate(v, m, "seq-mean-token-mean"), (adv,))),
        ("gspo_sequence_ratio", make(L.gspo_sequence_ratio, TL.gspo_sequence_ratio, (lp, old))),
        ("gspo_objective", make(lambda a, b, c, m: L.gspo_objective(a, b, c, m, 0.2),
                                lambda a, b, c, m: TL.gspo_objective(a, b, c, m, 0.2), (lp, old, seq_adv))),
        ("token_is_weights", make(MM.token_is_weights, TMM.token_is_weights, (lp, old))),
        ("sequence_is_weights", make(MM.sequence_is_weights, TMM.sequence_is_weights, (lp, old))),
        ("sequence_log_is_weights", make(MM.sequence_log_is_weights, TMM.sequence_log_is_weights, (lp, old))),
        ("sequence_mask_weights", make(lambda a, b, m: MM.sequence_mask_weights(a, b, m, 0.1, 10.0),
                                       lambda a, b, m: TMM.sequence_mask_weights(a, b, m, 0.1, 10.0), (lp, old))),
        ("gspo_ratio", make(MM.gspo_ratio, TMM.gspo_ratio, (lp, old))),
        ("token_log_ratios", make(MM.token_log_ratios, TMM.token_log_ratios, (lp, old))),
    ]


_MASK = np.array([[1, 1, 0], [1, 0, 1]])


@pytest.mark.parametrize(("name", "call"), _mask_calls())
def test_float_masks_of_exact_zeros_and_ones_are_accepted_everywhere(name: str, call: Callable[[str, Any], Any]
                                                                     ) -> None:
    want = call("np", _MASK.astype(bool))
    for np_dtype, t_dtype in ((np.float64, torch.float64), (np.float32, torch.float32), (np.int64, torch.int64),
                              (np.uint8, torch.uint8)):
        np.testing.assert_array_equal(call("np", _MASK.astype(np_dtype)), want)
        np.testing.assert_allclose(call("torch", torch.tensor(_MASK, dtype=t_dtype)), want, rtol=1e-15, atol=0)
    np.testing.assert_allclose(call("torch", torch.tensor(_MASK, dtype=torch.bool)), want, rtol=1e-15, atol=0)


@pytest.mark.parametrize(("name", "call"), _mask_calls())
@pytest.mark.parametrize("bad_value", [0.5, 2.0, -1.0, float("nan")])
def test_other_mask_values_are_rejected_by_name_in_numpy_and_torch(name: str, call: Callable[[str, Any], Any],
                                                                   bad_value: float) -> None:
    bad = _MASK.astype(np.float64)
    bad[0, 0] = bad_value
    _raises_naming("mask", lambda: call("np", bad))
    _raises_naming("mask", lambda: call("torch", torch.tensor(bad)))


def test_as_flags_contract() -> None:
    np.testing.assert_array_equal(as_flags(np.array([0.0, 1.0]), "terminated"), [False, True])
    np.testing.assert_array_equal(as_flags([0, 1], "terminated"), [False, True])
    for bad in (["0", "1"], [0.5, 1.0], [1 + 0j, 0], None, [np.nan, 1.0]):
        _raises_naming("terminated", lambda bad=bad: as_flags(bad, "terminated"))
    _raises_naming("terminated", lambda: as_flags([0, 1], "terminated", shape=(3,)))


def test_torch_scaled_reductions_keep_their_gradients() -> None:
    # the power-of-two scaling must not cut the gradient (torch.ldexp's backward is 0 for integer
    # exponents, which the GRPO-OBJECTIVE claim caught): d token-mean / dv = mask / sum(mask), etc.
    v = t64([[0.3, -0.2, 0.1], [1.0, 2.0, 0.5]])
    m = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    (g,) = _grad(lambda v: TL.aggregate(v, m, "token-mean"), v)
    torch.testing.assert_close(g, m.double() / 5, rtol=1e-15, atol=0)
    r = t64([[1.0, 2.0, 4.0]])
    (g,) = _grad(lambda r: TL.rloo_advantages(r)[0, 0], r)  # A_0 = r_0 - (r_1 + r_2) / 2
    torch.testing.assert_close(g, t64([[1.0, -0.5, -0.5]]), rtol=1e-15, atol=0)
    (g,) = _grad(lambda r: TL.grpo_advantages(r, std=None)[0, 0], r)  # r_0 - mean
    torch.testing.assert_close(g, t64([[2 / 3, -1 / 3, -1 / 3]]), rtol=1e-15, atol=1e-16)
    # and through the IS sums' overflow path: d/dv of (1/2)(v_0 e^800 + v_1) w.r.t. v_1 is 1/2
    (gv,) = _grad(lambda v: TI.ordinary_is(v, t64([800.0, 0.0]), torch.zeros(2, dtype=torch.float64)),
                  t64([0.0, 1.0]))
    assert gv[1].item() == pytest.approx(0.5, rel=1e-15)


# --------------------------------------------------------------------------- found by tests/test_fuzz.py


def test_fuzz_findings_near_the_float64_limit() -> None:
    big = float(np.finfo(float).max)
    # r A - beta kl with both terms overflowing: e^709.78 - 2 * 1.7e308 is finite (-inf before), e^800 - ... is inf
    got = L.kl_penalized_objective([709.78, 800.0], [0.0, 0.0], [1.0, 1.0], [1.7e308, 1.7e308], 2.0)
    assert got[0] == pytest.approx(math.exp(709.78) - 1.7e308 - 1.7e308, rel=1e-12) and got[1] == math.inf
    got_t = TL.kl_penalized_objective(t64([709.78, 800.0]), t64([0.0, 0.0]), t64([1.0, 1.0]), t64([1.7e308, 1.7e308]),
                                      2.0)
    np.testing.assert_allclose(got_t.numpy(), got, rtol=1e-12)
    # mean KL with logits at the float64 limit: 0 log 0 = 0 (NaN before)
    m, _ = _small_mdp(2, 3)
    z = np.array([[big, -big, 0.0], [0.0, 0.0, 0.0]])
    assert TR.mean_kl(m, z, z) == 0.0
    # the new policy puts log-probability -big - big = -inf on the old policy's action: KL = +inf, honestly
    assert TR.mean_kl(m, z, np.array([[-big, big, 0.0], [0.0, 0.0, 0.0]])) == math.inf
    # a bandit step with coefficients of both signs near the limit: the sum cancels exactly
    from reference_impls import token_models as TMod

    np.testing.assert_array_equal(TMod.logit_step([0.5, 0.5, 0.0], [0, 1], [1.7e308, -1.7e308]),
                                  [1.7e308, -1.7e308, 0.0])
    # natural-gradient / TRPO steps for |grad| at the limit: 2^1024 is not a float, scale back by ldexp
    F = np.diag([1.0, 2.0])
    ref = TR.natural_gradient_step(np.array([1.0, -1.0]), F, 0.01)
    res = TR.trpo_step(np.array([big, -big]), F, lambda s: 1.0, lambda s: 0.0, 0.01)
    np.testing.assert_allclose(res.step, ref, rtol=1e-14)
    assert np.all(np.isfinite(res.direction) | np.isinf(res.direction))
    assert not np.isnan(res.expected_improvement)


def test_fuzz_findings_token_models_in_log_space() -> None:
    from reference_impls import token_models as TMod

    rng = np.random.default_rng(1)
    task = TMod.random_task(rng, 2, 2)
    z = TMod.random_logits(rng, task)
    for est in sorted(TMod.ESTIMATORS):
        kw = {"cap": 2.0} if "tis" in est else ({"low": 0.5, "high": 2.0} if "mis" in est else {})
        for zs in (z * 1e300, z * 800):  # sampler logits with ratios far beyond e^709 (inf * 0 = NaN before)
            assert not np.isnan(TMod.estimator_terms(task, z, zs, est, **kw)).any()
            assert not np.isnan(TMod.expected_gradient(task, z, zs, est, **kw)).any()
        # in the ordinary range the log-space expectation is the plain one
        plain = np.einsum("n,npv->pv", TMod.sequence_probs(task, z * 0.5),
                          TMod.estimator_terms(task, z, z * 0.5, est, **kw))
        np.testing.assert_allclose(TMod.expected_gradient(task, z, z * 0.5, est, **kw), plain, rtol=1e-12,
                                   atol=1e-15)
    _raises_naming("roles", lambda: TMod.TokenTask(2, True, np.full((3, 2), 0.5), np.zeros(4)))  # type: ignore
    _raises_naming("estimator", lambda: TMod.estimator_terms(task, z, z, np.array(["naive"])))  # type: ignore


def test_fuzz_findings_arguments_checked_before_use() -> None:
    _, pi = _small_mdp()
    for fn in (M.expected_return, M.occupancy):  # read mdp.initial / mdp.gamma first: AttributeError before
        _raises_naming("mdp", lambda fn=fn: fn(np.zeros((2, 2)), pi))
    _raises_naming("axis", lambda: M.softmax(np.zeros((2, 2)), axis=np.float32(1)))
    _raises_naming("axis", lambda: M.softmax(np.zeros((2, 2)), axis=5))
    _raises_naming("logits", lambda: M.log_softmax(np.zeros((2, 0))))
    _raises_naming("n_actions", lambda: M.random_mdp(np.random.default_rng(0), 3, 10**12, 0.9))
    _raises_naming("reward_range", lambda: M.random_mdp(np.random.default_rng(0), 2, 2, 0.9, reward_range=("0", 1)))
    _raises_naming("std", lambda: L.grpo_advantages([1.0, 2.0], std=np.array(["sample"])))  # type: ignore[arg-type]
    _raises_naming("matvec", lambda: TR.conjugate_gradient(lambda v: np.eye(3) @ v, np.ones(2)))
    from reference_impls import token_models as TMod

    task = TMod.random_task(np.random.default_rng(0), 2, 2)
    _raises_naming("rng", lambda: TMod.random_logits("rng", task))  # type: ignore[arg-type]
    _raises_naming("vocab_size", lambda: TMod.random_task(np.random.default_rng(0), 10**9, 10**9))
