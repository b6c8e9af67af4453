"""reference_impls.token_models: enumeration, exact gradients, estimators and validation."""

from __future__ import annotations

import numpy as np
import pytest

from reference_impls import token_models as TM


def _inst(seed: int = 0, V: int = 3, T: int = 3, roles=None, noise: float = 0.4):
    rng = np.random.default_rng(seed)
    task = TM.random_task(rng, V, T, roles=roles)
    z = TM.random_logits(rng, task)
    return task, z, z + rng.normal(0, noise, size=z.shape)


def _fd_grad(task, z, h=1e-6):
    g = np.zeros_like(z)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            zp, zm = z.copy(), z.copy()
            zp[i, j] += h
            zm[i, j] -= h
            g[i, j] = (TM.expected_return(task, zp) - TM.expected_return(task, zm)) / (2 * h)
    return g


def test_prefix_indexing_and_sizes() -> None:
    task, _, _ = _inst(0, 3, 4)
    assert task.n_prefixes == 1 + 3 + 9 + 27
    assert task.n_sequences == 81
    assert task.prefix_index(()) == 0
    assert task.prefix_index((2,)) == 3
    assert task.prefix_index((1, 0, 2)) == 1 + 3 + 9 + 1 * 9 + 0 * 3 + 2
    seqs, pids = task.sequences, task.prefix_ids
    for n in (0, 17, 80):
        for t in range(4):
            assert pids[n, t] == task.prefix_index(tuple(seqs[n, :t]))


@pytest.mark.parametrize("roles", [None, (True, False, True), (False, True, True)])
def test_probabilities_sum_to_one_and_match_chain_rule(roles) -> None:
    task, z, _ = _inst(1, 3, 3, roles=roles)
    p = TM.sequence_probs(task, z)
    assert p.sum() == pytest.approx(1.0, abs=1e-14)
    # chain rule by hand for one sequence
    y = task.sequences[11]
    prob = 1.0
    for t in range(3):
        row = task.prefix_index(tuple(y[:t]))
        dist = np.exp(z[row]) / np.exp(z[row]).sum() if task.roles[t] else task.env_probs[row]
        prob *= dist[y[t]]
    assert p[11] == pytest.approx(prob, rel=1e-13)
    reach = TM.prefix_probs(task, z)
    assert reach[task.prefix_index(tuple(y[:2]))] == pytest.approx(prob / (
        (np.exp(z[task.prefix_index(tuple(y[:2]))]) / np.exp(z[task.prefix_index(tuple(y[:2]))]).sum())[y[2]]
        if task.roles[2] else task.env_probs[task.prefix_index(tuple(y[:2]))][y[2]]), rel=1e-12)


@pytest.mark.parametrize(("V", "T", "roles"), [(2, 1, None), (3, 3, None), (2, 4, (True, False, True, False)),
                                               (3, 3, (True, False, True))])
def test_true_gradient_matches_finite_differences(V, T, roles) -> None:
    task, z, _ = _inst(2, V, T, roles=roles)
    g = TM.true_gradient(task, z)
    np.testing.assert_allclose(g, _fd_grad(task, z), atol=1e-9)
    # rows before environment tokens carry no gradient
    for t, is_pol in enumerate(task.roles):
        if not is_pol:
            start = (V**t - 1) // (V - 1)
            assert np.all(g[start:start + V**t] == 0)


def test_q_values_are_conditional_expectations() -> None:
    task, z, _ = _inst(3, 2, 3)
    Q = TM.q_values(task, z)
    p = TM.sequence_probs(task, z)
    seqs = task.sequences
    np.testing.assert_allclose(Q[:, -1], task.rewards, rtol=1e-14)
    for n in range(task.n_sequences):
        same = np.all(seqs[:, :1] == seqs[n, :1], axis=1)
        assert Q[n, 0] == pytest.approx(p[same] @ task.rewards[same] / p[same].sum(), rel=1e-12)


def test_on_policy_every_estimator_is_unbiased_except_gspo_free() -> None:
    # with mu = pi all ratios are 1: every estimator equals the score-function gradient
    task, z, _ = _inst(4, 3, 3)
    for e in TM.ESTIMATORS:
        kw = {"cap": 1.0} if "tis" in e else ({"low": 0.5, "high": 1.0} if e == "sequence_mis" else {})
        assert TM.relative_bias(task, z, z, e, **kw) < 1e-12, e


def test_off_policy_biases_are_as_expected() -> None:
    task, z, zm = _inst(5, 3, 3)
    assert TM.relative_bias(task, z, zm, "sequence_is") < 1e-12
    assert TM.relative_bias(task, z, zm, "prefix_is_q") < 1e-12
    for e in ("token_is", "prefix_is_return", "token_q", "naive", "gspo"):
        assert TM.relative_bias(task, z, zm, e) > 1e-3, e
    # a huge cap makes TIS exactly IS; high = huge makes MIS exactly IS
    np.testing.assert_allclose(TM.expected_gradient(task, z, zm, "sequence_tis", cap=1e6),
                               TM.expected_gradient(task, z, zm, "sequence_is"), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(TM.expected_gradient(task, z, zm, "sequence_mis", low=0.0, high=1e6),
                               TM.expected_gradient(task, z, zm, "sequence_is"), rtol=1e-13, atol=1e-16)


def test_token_is_exact_at_length_one() -> None:
    task, z, zm = _inst(6, 3, 1)
    assert TM.relative_bias(task, z, zm, "token_is") < 1e-12


def test_multi_turn_sequence_is_exact_environment_cancels() -> None:
    task, z, zm = _inst(7, 3, 4, roles=(True, False, True, False))
    assert TM.relative_bias(task, z, zm, "sequence_is") < 1e-12
    assert TM.relative_bias(task, z, zm, "token_is") > 1e-3


def test_covariance_and_sampling() -> None:
    task, z, zm = _inst(8, 2, 2)
    mean, cov = TM.estimator_covariance(task, z, zm, "sequence_is")
    np.testing.assert_allclose(mean, TM.true_gradient(task, z).ravel(), atol=1e-14)
    assert np.allclose(cov, cov.T) and np.min(np.linalg.eigvalsh(cov)) > -1e-14
    idx = TM.sample_sequences(task, zm, np.random.default_rng(0), 40000)
    freq = np.bincount(idx, minlength=task.n_sequences) / idx.size
    p = TM.sequence_probs(task, zm)
    # 40000 draws: each frequency within 6 binomial standard deviations (false-alarm ~ 1e-8 per cell)
    assert np.all(np.abs(freq - p) < 6 * np.sqrt(p * (1 - p) / idx.size))


def test_first_order_flow_blog_example() -> None:
    # S3 example by hand: uniform over 10, c = (0.2, -1.6) -> dpi = 0.1 * dz, dz = (0.34, -1.46, 0.14 x 8)
    fl = TM.first_order_flow(np.full(10, 0.1), np.array([0, 1]), np.array([0.2, -1.6]))
    np.testing.assert_allclose(fl, [0.034, -0.146] + [0.014] * 8, atol=1e-15)
    np.testing.assert_allclose(TM.logit_step(np.full(10, 0.1), np.array([0, 1]), np.array([0.2, -1.6])),
                               [0.34, -1.46] + [0.14] * 8, atol=1e-15)


def test_first_order_flow_matches_small_softmax_step() -> None:
    rng = np.random.default_rng(9)
    p = rng.dirichlet(np.ones(6))
    acts, c = np.array([1, 4, 1]), np.array([0.5, -2.0, 0.3])
    eta = 1e-7
    z = np.log(p) + eta * TM.logit_step(p, acts, c)
    q = np.exp(z - z.max())
    q /= q.sum()
    np.testing.assert_allclose((q - p) / eta, TM.first_order_flow(p, acts, c), atol=1e-6)


def test_validation() -> None:
    task, z, zm = _inst(10, 2, 2)
    with pytest.raises(ValueError, match=r"^learner_logits"):
        TM.expected_gradient(task, z[:-1], zm, "naive")
    with pytest.raises(ValueError, match=r"^sampler_logits"):
        TM.expected_gradient(task, z, zm[:, :1], "naive")
    with pytest.raises(ValueError, match=r"^estimator"):
        TM.expected_gradient(task, z, zm, "bogus")
    with pytest.raises(ValueError, match=r"^cap"):
        TM.expected_gradient(task, z, zm, "sequence_tis")
    with pytest.raises(ValueError, match=r"^cap"):
        TM.expected_gradient(task, z, zm, "sequence_tis", cap=0.0)
    with pytest.raises(ValueError, match=r"^low"):
        TM.expected_gradient(task, z, zm, "sequence_mis", low=2.0, high=1.0)
    with pytest.raises(ValueError, match=r"^task"):
        TM.true_gradient("task", z)
    with pytest.raises(ValueError, match=r"^roles"):
        TM.TokenTask(2, (False, False), np.full((3, 2), 0.5), np.zeros(4))
    with pytest.raises(ValueError, match=r"^roles"):
        TM.TokenTask(3, (True,) * 9, np.full((9841, 3), 1 / 3), np.zeros(3**9))
    with pytest.raises(ValueError, match=r"^env_probs"):
        TM.TokenTask(2, (True, False), np.full((3, 2), 0.6), np.zeros(4))
    with pytest.raises(ValueError, match=r"^rewards"):
        TM.TokenTask(2, (True, False), np.full((3, 2), 0.5), np.zeros(5))
    with pytest.raises(ValueError, match=r"^vocab_size"):
        TM.TokenTask(1, (True,), np.ones((1, 1)), np.zeros(1))
    with pytest.raises(ValueError, match=r"^prefix"):
        task.prefix_index((0, 1))
    with pytest.raises(ValueError, match=r"^probs"):
        TM.first_order_flow(np.array([0.5, 0.6]), np.array([0]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"^actions"):
        TM.first_order_flow(np.array([0.5, 0.5]), np.array([2]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"^coefficients"):
        TM.logit_step(np.array([0.5, 0.5]), np.array([0, 1]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"^rng"):
        TM.sample_sequences(task, z, 0, 3)
    with pytest.raises(ValueError, match=r"^n"):
        TM.sample_sequences(task, z, np.random.default_rng(0), 0)
