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


# --------------------------------------------------------------------------- TokenTree (variable-length responses)


def _brute_force_responses(vocab: int, horizon: int, eos: bool) -> set[tuple[int, ...]]:
    """Every response by brute force: sequences over vocab(+EOS) of length <= horizon, cut at the first EOS."""
    import itertools

    k = vocab + (1 if eos else 0)
    out = set()
    for n in range(1, horizon + 1):
        for seq in itertools.product(range(k), repeat=n):
            ends = [t for t, v in enumerate(seq) if eos and v == vocab]
            if (ends and ends[0] == n - 1) or (not ends and n == horizon):
                out.add(seq)
    return out


@pytest.mark.parametrize(("vocab", "horizon", "eos"), [(2, 3, True), (2, 3, False), (1, 3, True), (3, 2, True)])
def test_token_tree_enumerates_every_response_once(vocab: int, horizon: int, eos: bool) -> None:
    tree = TM.token_tree(vocab, horizon, eos)
    got = [tuple(int(v) for v in tree.token[i, tree.mask[i]]) for i in range(tree.n_seq)]
    assert len(got) == len(set(got)) == tree.n_seq
    assert set(got) == _brute_force_responses(vocab, horizon, eos)
    assert tree.n_seq == TM._n_tree_sequences(vocab, horizon, eos)
    assert tree.n_tokens == vocab + (1 if eos else 0)
    np.testing.assert_array_equal(tree.lengths, [len(s) for s in got])
    for i in range(tree.n_seq):  # the logit row used at step t is the prefix y_<t
        for t in range(int(tree.lengths[i])):
            assert tree.prefixes[tree.prefix[i, t]] == got[i][:t]


def test_token_tree_probabilities_match_a_direct_product() -> None:
    tree = TM.token_tree(2, 3, True)
    rng = np.random.default_rng(3)
    z = rng.normal(size=(len(tree.prefixes), tree.n_tokens)) * 2.0
    p = tree.seq_probs(z)
    assert p.sum() == pytest.approx(1.0, abs=1e-14)
    for i in range(tree.n_seq):
        direct = 1.0
        for t in range(int(tree.lengths[i])):
            row = np.exp(z[tree.prefix[i, t]] - z[tree.prefix[i, t]].max())
            direct *= row[tree.token[i, t]] / row.sum()
        assert p[i] == pytest.approx(direct, rel=1e-12)
    lp = tree.token_log_probs(z)
    assert np.all(lp[~tree.mask] == 0.0)  # padding contributes nothing


def test_token_tree_scores_match_finite_differences() -> None:
    tree = TM.token_tree(2, 2, True)
    rng = np.random.default_rng(5)
    z = rng.normal(size=(len(tree.prefixes), tree.n_tokens))
    scores = tree.token_scores(z).sum(axis=1)  # [N, P*K], d log pi(y) / d logits
    h = 1e-6
    for j in range(z.size):
        zp, zm = z.copy().ravel(), z.copy().ravel()
        zp[j] += h
        zm[j] -= h
        fd = (tree.token_log_probs(zp.reshape(z.shape)).sum(-1) - tree.token_log_probs(zm.reshape(z.shape)).sum(-1))
        np.testing.assert_allclose(scores[:, j], fd / (2 * h), atol=1e-8)


def test_token_tree_torch_mirror_matches_numpy() -> None:
    torch = pytest.importorskip("torch")
    tree = TM.token_tree(2, 3, True)
    z = np.random.default_rng(7).normal(size=(len(tree.prefixes), tree.n_tokens))
    got = tree.token_log_probs_torch(torch, torch.tensor(z, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, tree.token_log_probs(z), rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="logits: expected a tensor of shape"):
        tree.token_log_probs_torch(torch, torch.zeros(2, 2, dtype=torch.float64))


def test_token_tree_extreme_logits_stay_finite() -> None:
    tree = TM.token_tree(2, 3, True)
    z = np.zeros((len(tree.prefixes), tree.n_tokens))
    z[:, 0] = 800.0
    p = tree.seq_probs(z)
    assert np.all(np.isfinite(p)) and p.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"vocab": 0}, "vocab: expected a positive integer"),
    ({"vocab": 2.0}, "vocab: expected a positive integer"),
    ({"horizon": 0}, "horizon: expected a positive integer"),
    ({"eos": 1}, "eos: expected a bool"),
    ({"vocab": 4, "horizon": 6}, "at most 4096 responses and prefixes"),  # 1365 ending at EOS + 4096 full length
    ({"vocab": 10**18, "horizon": 4000}, "the enumeration limit"),  # refused by logarithms, at once
    ({"vocab": 1, "horizon": 10**12, "eos": False}, "the enumeration limit"),  # one response, too many prefixes
])
def test_token_tree_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TM.token_tree(**kwargs)


def test_token_tree_validates_direct_construction_and_logits() -> None:
    good = TM.token_tree(2, 2, True)
    fields = dict(vocab=2, horizon=2, eos=True, prefixes=good.prefixes, prefix=good.prefix, token=good.token,
                  mask=good.mask)
    assert TM.TokenTree(**fields).n_seq == good.n_seq
    bad_mask = good.mask.copy()
    bad_mask[0] = [False, True]
    cases = [
        ({"mask": bad_mask}, "mask: expected each row"),
        ({"token": good.token + 5}, "token: expected tokens in"),
        ({"prefix": good.prefix + 9}, "prefix: expected row indices"),
        ({"prefix": good.prefix[:, :1]}, "prefix: expected a"),
        ({"mask": good.mask.astype(int)}, "mask: expected a"),
        ({"prefixes": ((0,),)}, "prefixes: expected the empty prefix first"),
        ({"prefixes": ((), (0, 1))}, "prefixes: expected fewer than 2"),
    ]
    for change, match in cases:
        with pytest.raises(ValueError, match=match):
            TM.TokenTree(**{**fields, **change})
    with pytest.raises(ValueError, match=r"logits: expected shape \(3, 3\)"):
        good.seq_probs(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="logits: expected finite values"):
        good.token_log_probs(np.full((3, 3), np.nan))
