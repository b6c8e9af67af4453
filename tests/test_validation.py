"""Every validator of the MDP core: bad input raises ValueError naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

from reference_impls import enumeration as E
from reference_impls import gradients as G
from reference_impls import mdp as M

P_OK = np.array([[[0.5, 0.5], [1.0, 0.0]], [[0.0, 1.0], [0.3, 0.7]]])
R_OK = np.array([[1.0, 0.0], [0.5, -1.0]])
MU_OK = np.array([0.5, 0.5])
PI_OK = np.array([[0.5, 0.5], [0.2, 0.8]])


def mdp_ok():
    return M.FiniteMDP(P_OK, R_OK, MU_OK, 0.9)


@pytest.mark.parametrize(
    ("kwargs", "name", "fragment"),
    [
        ({"transitions": P_OK[0]}, "transitions", "3-d"),
        ({"transitions": P_OK[:, :, :1]}, "transitions", "matching"),
        ({"transitions": P_OK * 0.9}, "transitions", "summing to 1"),
        ({"transitions": np.array([[[1.5, -0.5], [1, 0]], [[0, 1], [0.3, 0.7]]])}, "transitions", "non-negative"),
        ({"transitions": np.where(P_OK == 1.0, np.nan, P_OK)}, "transitions", "finite"),
        ({"rewards": R_OK[:, :1]}, "rewards", "shape"),
        ({"rewards": np.array([[np.inf, 0], [0, 0]])}, "rewards", "finite"),
        ({"initial": np.array([0.5, 0.6])}, "initial", "summing to 1"),
        ({"initial": np.array([1.0])}, "initial", "shape"),
        ({"initial": np.array([1.5, -0.5])}, "initial", "non-negative"),
        ({"gamma": 1.0}, "gamma", "[0, 1)"),
        ({"gamma": -0.1}, "gamma", "[0, 1)"),
        ({"gamma": float("nan")}, "gamma", "finite"),
        ({"gamma": True}, "gamma", "real number"),
        ({"gamma": np.array([0.5, 0.5])}, "gamma", "scalar"),
    ],
)
def test_finite_mdp_validation(kwargs, name, fragment):
    args = {"transitions": P_OK, "rewards": R_OK, "initial": MU_OK, "gamma": 0.9} | kwargs
    with pytest.raises(ValueError, match=name) as info:
        M.FiniteMDP(**args)
    assert fragment in str(info.value)


def test_empty_mdp_rejected():
    with pytest.raises(ValueError, match="transitions"):
        M.FiniteMDP(np.zeros((0, 1, 0)), np.zeros((0, 1)), np.zeros(0), 0.5)


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        (PI_OK[:1], "shape"),
        (PI_OK.T[:, :1], "shape"),
        (np.array([[0.5, 0.6], [0.2, 0.8]]), "summing to 1"),
        (np.array([[1.2, -0.2], [0.2, 0.8]]), "non-negative"),
        (np.array([[np.nan, 0.5], [0.2, 0.8]]), "finite"),
        (np.array([[True, False], [False, True]]), "booleans"),
    ],
)
@pytest.mark.parametrize(
    "fn",
    [M.state_values, M.action_values, M.advantages, M.occupancy, M.visitation, M.expected_return,
     lambda m, p: M.state_marginals(m, p, 3), lambda m, p: M.finite_horizon_values(m, p, 3),
     lambda m, p: E.enumerate_trajectories(m, p, 2)],
)
def test_policy_validation(fn, policy, fragment):
    with pytest.raises(ValueError, match="policy") as info:
        fn(mdp_ok(), policy)
    assert fragment in str(info.value)


def test_policy_sum_tolerance_is_1e_9():
    ok = PI_OK + np.array([[5e-10, 0.0], [0.0, 0.0]])
    M.state_values(mdp_ok(), ok)
    bad = PI_OK + np.array([[5e-9, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="policy"):
        M.state_values(mdp_ok(), bad)


@pytest.mark.parametrize(
    "fn",
    [lambda m, z: G.policy_gradient(m, z), lambda m, z: G.surrogate(m, z, np.zeros((2, 2))),
     lambda m, z: G.surrogate_gradient(m, z, np.zeros((2, 2))), lambda m, z: G.fisher_matrix(m, z)],
)
@pytest.mark.parametrize(
    ("logits", "fragment"), [(np.zeros((2, 3)), "shape"), (np.array([[np.inf, 0], [0, 0]]), "finite")]
)
def test_logits_validation(fn, logits, fragment):
    with pytest.raises(ValueError, match="logits") as info:
        fn(mdp_ok(), logits)
    assert fragment in str(info.value)


def test_old_logits_validation():
    with pytest.raises(ValueError, match="old_logits"):
        G.surrogate(mdp_ok(), np.zeros((2, 2)), np.zeros((3, 2)))


def test_mdp_argument_validation():
    with pytest.raises(ValueError, match="mdp"):
        M.state_values("not an mdp", PI_OK)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_states": 0}, "n_states"),
        ({"n_actions": 2.5}, "n_actions"),
        ({"gamma": 1.0}, "gamma"),
        ({"reward_range": (1.0, -1.0)}, "reward_range"),
        ({"concentration": 0.0}, "concentration"),
        ({"n_absorbing": 9}, "n_absorbing"),
        ({"sparsity": 1.0}, "sparsity"),
        ({"initial": "nowhere"}, "initial"),
    ],
)
def test_random_mdp_validation(kwargs, name):
    args = {"n_states": 3, "n_actions": 2, "gamma": 0.9} | kwargs
    with pytest.raises(ValueError, match=name):
        M.random_mdp(np.random.default_rng(0), **args)


def test_random_mdp_needs_generator():
    with pytest.raises(ValueError, match="rng"):
        M.random_mdp(np.random.RandomState(0), 2, 2, 0.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(("horizon", "name"), [(-1, "horizon"), (2.0, "horizon")])
def test_horizon_validation(horizon, name):
    with pytest.raises(ValueError, match=name):
        M.state_marginals(mdp_ok(), PI_OK, horizon)
    with pytest.raises(ValueError, match=name):
        E.enumerate_trajectories(mdp_ok(), PI_OK, horizon)


def test_sampler_validation():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n"):
        E.sample_trajectories(mdp_ok(), PI_OK, 3, 0, rng)
    with pytest.raises(ValueError, match="rng"):
        E.sample_trajectories(mdp_ok(), PI_OK, 3, 5, 0)  # type: ignore[arg-type]


def test_finite_horizon_gamma_override_validation():
    with pytest.raises(ValueError, match="gamma"):
        M.finite_horizon_values(mdp_ok(), PI_OK, 3, gamma=1.5)
    M.finite_horizon_values(mdp_ok(), PI_OK, 3, gamma=1.0)  # gamma = 1 allowed for finite horizons


def test_trajectory_expectation_validation():
    tr = E.enumerate_trajectories(mdp_ok(), PI_OK, 1)
    with pytest.raises(ValueError, match="values"):
        tr.expectation(np.zeros(len(tr) + 1))
    with pytest.raises(ValueError, match="values"):
        tr.expectation(np.full(len(tr), np.nan))


def test_softmax_validation():
    with pytest.raises(ValueError, match="logits"):
        M.softmax(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="logits"):
        M.softmax(np.float64(1.0))


class _Float(float):
    """A float that is not exactly ``float``: it takes the checks' general path, never their fast path."""


_SCALARS = [0.0, -0.0, 0.5, 1.0, 1.0 - 2.0**-53, 1.0 + 2.0**-52, -5e-324, 5e-324, 2.0, float("nan"), float("inf"),
            -float("inf"), 1e308]


@pytest.mark.parametrize("value", _SCALARS)
def test_scalar_fast_paths_agree_with_the_general_checks(value):
    """``check_gamma`` and the returns' truncation-level check answer plain floats at once; each answer (the
    value, or a ValueError naming the argument) must be the general path's answer for the same number."""
    from reference_impls import returns as R
    from reference_impls._validation import check_gamma

    checks = [lambda x: check_gamma(x, "gamma"), lambda x: check_gamma(x, "gamma", allow_one=True),
              lambda x: R._check_level(x, "rho_bar")]
    for check in checks:
        outcomes = []
        for x in (value, _Float(value)):
            try:
                outcomes.append(("ok", check(x)))
            except ValueError as exc:
                outcomes.append(("error", str(exc).split(":")[0]))
        (kind_fast, fast), (kind_general, general) = outcomes
        assert kind_fast == kind_general, (value, outcomes)
        if kind_fast == "ok":
            assert type(fast) is float and type(general) is float
            same = fast == general and np.signbit(fast) == np.signbit(general)
            assert same or (np.isnan(fast) and np.isnan(general))
        else:
            assert fast == general  # the same argument named
