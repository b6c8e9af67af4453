"""reference_impls.torch.importance / sampling: equal to numpy (float64), dtype and device kept, exact moments,
and a calibrated Monte Carlo check of the torch sampler (runs on CUDA under PGV_DEVICE=cuda)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reference_impls import enumeration as E  # noqa: E402
from reference_impls import importance as I  # noqa: E402
from reference_impls import mdp as M  # noqa: E402
from reference_impls.torch import importance as TI  # noqa: E402
from reference_impls.torch import sampling as TS  # noqa: E402
from verify import stats as VS  # noqa: E402

pytestmark = pytest.mark.torch

MC_NAME = "tests:torch_sampler_trajectory_is"
VS.register_test(MC_NAME, "torch batched sampler: trajectory-IS means of 3 MDPs vs exact J_H (chi-square)")


def _inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    lp = rng.normal(size=(4, 6)) - 1.0
    lp[0, 2] = -np.inf  # target gives probability 0
    return {"r": rng.normal(size=(4, 6)), "lp": lp, "blp": rng.normal(size=(4, 6)) - 1.0,
            "scores": rng.normal(size=(4, 6, 3)), "w": rng.exponential(size=(4, 6))}


def _t(x: np.ndarray, device: str, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype, device=device)


CASES = [
    ("log_importance_weights", lambda m, d, a: m.log_importance_weights(d(a["lp"]), d(a["blp"]))),
    ("importance_weights", lambda m, d, a: m.importance_weights(d(a["lp"]), d(a["blp"]))),
    ("trajectory_log_weights", lambda m, d, a: m.trajectory_log_weights(d(a["lp"]), d(a["blp"]))),
    ("trajectory_importance_weights", lambda m, d, a: m.trajectory_importance_weights(d(a["lp"]), d(a["blp"]))),
    ("cumulative_importance_weights", lambda m, d, a: m.cumulative_importance_weights(d(a["lp"]), d(a["blp"]))),
    ("trajectory_is", lambda m, d, a: m.trajectory_is(d(a["r"]), d(a["lp"]), d(a["blp"]), 0.9)),
    ("per_decision_is", lambda m, d, a: m.per_decision_is(d(a["r"]), d(a["lp"]), d(a["blp"]), 1.0)),
    ("ordinary_is", lambda m, d, a: m.ordinary_is(d(a["r"]), d(a["lp"]), d(a["blp"]))),
    ("self_normalized_is", lambda m, d, a: m.self_normalized_is(d(a["r"]), d(a["lp"]), d(a["blp"]))),
    ("truncated_is", lambda m, d, a: m.truncated_is(d(a["r"]), d(a["lp"]), d(a["blp"]), 1.3)),
    ("truncated_is_ionides", lambda m, d, a: m.truncated_is(d(a["r"]), d(a["lp"]), d(a["blp"]), "ionides")),
    ("ionides_level", lambda m, d, a: m.ionides_level(d(a["lp"]), d(a["blp"]))),
    ("effective_sample_size", lambda m, d, a: m.effective_sample_size(d(a["w"]))),
    ("effective_sample_size_log", lambda m, d, a: m.effective_sample_size_log(d(a["lp"]), d(a["blp"]))),
    ("is_policy_gradient", lambda m, d, a: m.importance_weighted_policy_gradient(d(a["r"]), d(a["lp"]), d(a["blp"]),
                                                                                  d(a["scores"]))),
    ("is_policy_gradient_sn", lambda m, d, a: m.importance_weighted_policy_gradient(
        d(a["r"]), d(a["lp"]), d(a["blp"]), d(a["scores"]), self_normalized=True)),
]


@pytest.mark.parametrize(("name", "fn"), CASES, ids=[c[0] for c in CASES])
def test_torch_equals_numpy_float64(name: str, fn, device: str) -> None:  # type: ignore[no-untyped-def]
    a = _inputs(np.random.default_rng(7))
    want = fn(I, lambda x: x, a)
    got = fn(TI, lambda x: _t(x, device), a)
    assert got.dtype == torch.float64 and got.device.type == device
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("name", "fn"), CASES, ids=[c[0] for c in CASES])
def test_torch_float32_stays_float32(name: str, fn, device: str) -> None:  # type: ignore[no-untyped-def]
    a = _inputs(np.random.default_rng(8))
    got = fn(TI, lambda x: _t(x, device, torch.float32), a)
    want = fn(I, lambda x: x.astype(np.float32).astype(np.float64), a)
    assert got.dtype == torch.float32 and got.device.type == device
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=2e-5, atol=1e-5)


def test_softmax_scores_match_numpy(device: str) -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, 4))
    s, a = np.array([[0, 2], [1, 1]]), np.array([[3, 0], [1, 2]])
    got = TI.softmax_scores(_t(z, device), torch.tensor(s, device=device), torch.tensor(a, device=device))
    assert got.shape == (2, 2, 3, 4) and got.device.type == device
    np.testing.assert_allclose(got.cpu().numpy(), I.softmax_scores(z, s, a), atol=1e-15)


def test_torch_exact_moments_by_enumeration(device: str) -> None:
    rng = np.random.default_rng(4)
    mdp = M.random_mdp(rng, 3, 2, 0.9)
    pi = M.softmax(rng.normal(size=(3, 2)))
    mu = 0.5 * pi + 0.5 * M.softmax(rng.normal(size=(3, 2)))
    H, g = 4, 0.8
    traj = E.enumerate_trajectories(mdp, mu, H)
    r, lp, blp = (_t(x, device) for x in (traj.rewards, traj.step_log_probs(pi), traj.step_log_probs(mu)))
    probs = _t(traj.probs, device)
    J = M.finite_horizon_return(mdp, pi, H, g)
    assert float(probs @ TI.trajectory_is(r, lp, blp, g)) == pytest.approx(J, abs=1e-13)
    assert float(probs @ TI.per_decision_is(r, lp, blp, g)) == pytest.approx(J, abs=1e-13)
    W = TI.trajectory_importance_weights(lp, blp)
    assert float(probs @ (W * W)) == pytest.approx(I.trajectory_weight_second_moment(mdp, pi, mu, H), rel=1e-12)


def test_torch_sampler_matches_exact_moments(device: str) -> None:
    """The torch sampler's trajectory-IS means of 3 MDPs against exact J_H with the exact covariance (budgeted
    alpha); a sampler fed a policy 10% of the way to uniform (negative control) is rejected by the same test."""
    rng = np.random.default_rng(12)
    B, H, g, n = 3, 4, 0.9, 40_000
    mdps = [M.random_mdp(rng, 3, 2, 0.9) for _ in range(B)]
    pis = [M.softmax(rng.normal(size=(3, 2))) for _ in range(B)]
    mus = [0.5 * p + 0.5 * M.softmax(rng.normal(size=(3, 2))) for p in pis]
    exact, var = [], []
    for m, p, q in zip(mdps, pis, mus):
        traj = E.enumerate_trajectories(m, q, H)
        v = I.trajectory_is(traj.rewards, traj.step_log_probs(p), traj.step_log_probs(q), g)
        exact.append(M.finite_horizon_return(m, p, H, g))
        var.append(float(traj.variance(v)))
    P = _t(np.stack([m.transitions for m in mdps]), device)
    init = _t(np.stack([m.initial for m in mdps]), device)
    beh = np.stack(mus)
    gen = torch.Generator(device=device).manual_seed(2024)

    def means(policy: np.ndarray) -> np.ndarray:
        tr = TS.sample_batched(P, init, _t(policy, device), H, n, gen)
        assert tr.states.device.type == device
        lp = tr.gather(_t(np.log(np.stack(pis)), device))
        blp = tr.gather(_t(np.log(beh), device))  # the estimator believes the data came from mu
        r = tr.gather(_t(np.stack([m.rewards for m in mdps]), device))
        return TI.trajectory_is(r, lp, blp, g).mean(dim=1).cpu().numpy()

    alpha = VS.alpha_for(MC_NAME)
    res = VS.chi2_mean_test(means(beh), n, np.array(exact), np.diag(var), alpha)
    ctl = VS.chi2_mean_test(means(0.9 * beh + 0.05), n, np.array(exact), np.diag(var), alpha)
    assert not res["reject"], res
    assert ctl["reject"], ctl


def test_torch_sampler_keeps_dtype_and_validates(device: str) -> None:
    P = torch.full((2, 2, 2, 2), 0.5, dtype=torch.float32, device=device)
    init = torch.full((2, 2), 0.5, dtype=torch.float32, device=device)
    pol = torch.full((2, 2, 2), 0.5, dtype=torch.float32, device=device)
    tr = TS.sample_batched(P, init, pol, 3, 5)
    assert tr.states.shape == (2, 5, 4) and tr.actions.shape == (2, 5, 3) and tr.states.device.type == device
    with pytest.raises(ValueError, match=r"^policy:"):
        TS.sample_batched(P, init, pol * 2, 3, 5)
    with pytest.raises(ValueError, match=r"^initial:"):
        TS.sample_batched(P, init.double(), pol, 3, 5)
    with pytest.raises(ValueError, match=r"^horizon:"):
        TS.sample_batched(P, init, pol, -1, 5)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: TI.importance_weights(torch.zeros(3), torch.zeros(4)), "behavior_log_probs"),
        (lambda: TI.importance_weights(torch.tensor([math.nan]), torch.zeros(1)), "log_probs"),
        (lambda: TI.importance_weights(torch.tensor([math.inf]), torch.zeros(1)), "log_probs"),
        (lambda: TI.importance_weights(torch.zeros(1), torch.tensor([-math.inf])), "behavior_log_probs"),
        (lambda: TI.importance_weights(np.zeros(1), torch.zeros(1)), "log_probs"),
        (lambda: TI.trajectory_is(torch.zeros(3), torch.zeros(2), torch.zeros(2), 0.9), "rewards"),
        (lambda: TI.trajectory_is(torch.zeros(2), torch.zeros(2), torch.zeros(2), -0.1), "gamma"),
        (lambda: TI.self_normalized_is(torch.ones(2), torch.full((2,), -math.inf), torch.zeros(2)), "log_probs"),
        (lambda: TI.truncated_is(torch.ones(2), torch.zeros(2), torch.zeros(2), -1.0), "level"),
        (lambda: TI.effective_sample_size(torch.zeros(3)), "weights"),
        (lambda: TI.effective_sample_size(torch.tensor([1.0, -1.0])), "weights"),
        (lambda: TI.ordinary_is(torch.ones(2, dtype=torch.float64), torch.zeros(2), torch.zeros(2)), "values"),
    ],
)
def test_bad_input_names_the_argument(call, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()
