"""Tabular autoregressive token models, small enough to enumerate every sequence exactly.

A *task* fixes a vocabulary of ``V`` tokens, a length ``T`` and, per position, who emits the
token: the **policy** (a model token) or the **environment** (a tool / user token inserted
between turns, whose distribution depends on the history but not on the policy's
parameters). A sequence y = (y_0, …, y_{T−1}) gets a terminal reward ``R(y)``.

A *policy* is a logit table ``logits[h, v]`` over all prefixes h (every sequence of length
0 … T−1, indexed by :meth:`TokenTask.prefix_index`): π(v | h) = softmax(logits[h])_v at a
policy position. Rows of prefixes that precede an environment token are ignored (their
gradient is 0). Two policies on the same task play the **learner** π (the trainer's copy,
the one differentiated) and the **sampler** μ (the inference engine's copy, which generated
the data).

Everything is exact by enumeration over the V^T sequences (intended scale: V ≤ 3, T ≤ 4;
any V ≥ 2, T ≥ 1 with V^T ≤ 4096 is accepted):

* :func:`sequence_probs`, :func:`token_log_probs`, :func:`q_values` (Q^π(y_≤t) = E_π[R | y_≤t]);
* :func:`true_gradient` — ∇_logits J with J(π) = E_{y∼π}[R(y)], by the policy-gradient
  theorem on the token MDP (state = prefix): ∂J/∂logits[h] = P_π(h) π(·|h) ⊙ (Q^π(h,·) − V^π(h)),
  computed by a backward value recursion (no score functions involved);
* :func:`estimator_terms` / :func:`expected_gradient` — the single-sample gradient estimate
  g(y) of each estimator in :data:`ESTIMATORS` for every sequence y, and its exact mean
  E_{y∼μ}[g(y)] under the sampler. The weights are formed by :mod:`reference_impls.mismatch`
  (ratios over policy tokens only; environment tokens cancel).

Variable-length responses with an end-of-sequence token (the response tree a sequence loss such
as GRPO's averages over) are enumerated by :func:`token_tree` as a :class:`TokenTree`.

The softmax-bandit helpers :func:`logit_step` and :func:`first_order_flow` give the
first-order probability flow of an importance-weighted policy-gradient step (the
"Pertinacity and the Puke" analysis): with Δz = η Σ_i c_i (e_{y_i} − π),
dπ = π ⊙ (Δz − (π·Δz) 1) + O(η²).

Conventions: no discount inside a sequence (the reward is terminal); gradients are with
respect to the learner's logits; scores at environment positions are 0.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference_impls import mismatch as MM
from reference_impls._validation import (
    MAX_TABLE_ENTRIES,
    as_float_array,
    check_choice,
    check_count,
    check_positive_int,
    check_scalar,
    check_simplex,
    pow2_exponent,
)
from reference_impls.mdp import log_softmax, softmax

__all__ = [
    "ESTIMATORS",
    "TokenTask",
    "TokenTree",
    "estimator_covariance",
    "estimator_terms",
    "expected_gradient",
    "expected_return",
    "first_order_flow",
    "logit_step",
    "policy_mask",
    "prefix_probs",
    "q_values",
    "random_logits",
    "random_task",
    "relative_bias",
    "sample_sequences",
    "sequence_probs",
    "token_log_probs",
    "token_scores",
    "token_tree",
    "true_gradient",
]

#: Largest number of sequences a task may have (V^T).
MAX_SEQUENCES = 4096

#: Gradient estimators (per-sequence estimate g(y), y ∼ μ). ρ_t = π/μ on policy tokens,
#: w = Π_t ρ_t, P_t = Π_{s≤t} ρ_s, score_t = ∇ log π(y_t | y_<t), Q_t = Q^π(y_≤t):
ESTIMATORS: dict[str, str] = {
    "naive": "Σ_t score_t R  (no correction)",
    "sequence_is": "w Σ_t score_t R  (sequence / trajectory IS)",
    "sequence_tis": "min(w, cap) Σ_t score_t R  (sequence TIS)",
    "sequence_mis": "w 1{low ≤ w ≤ high} Σ_t score_t R  (sequence MIS)",
    "token_is": "Σ_t ρ_t score_t R  (token IS)",
    "token_tis": "Σ_t min(ρ_t, cap) score_t R  (token TIS)",
    "prefix_is_return": "Σ_t P_t score_t R  (prefix-product IS, full return)",
    "prefix_is_q": "Σ_t P_t score_t Q_t  (prefix-product IS, learner's Q)",
    "token_q": "Σ_t ρ_t score_t Q_t  (token ratio, learner's Q)",
    "gspo": "w^{1/|y|} Σ_t score_t R  (GSPO's geometric-mean ratio as a weight)",
}


@dataclass(frozen=True, eq=False)
class TokenTask:
    """A tabular autoregressive task (validated on construction).

    Attributes:
      vocab_size: V ≥ 2.
      roles: length-T tuple of bools, True where the policy emits the token, False where the
        environment does. At least one policy position.
      env_probs: ``[n_prefixes, V]`` environment next-token distributions; only rows of
        prefixes preceding an environment position are used, but every row must be a
        probability vector.
      rewards: ``[V**T]`` terminal reward of each sequence, in the order of :attr:`sequences`.
    """

    vocab_size: int
    roles: tuple[bool, ...]
    env_probs: np.ndarray
    rewards: np.ndarray

    def __post_init__(self) -> None:
        V = check_positive_int(self.vocab_size, "vocab_size")
        if V < 2:
            raise ValueError(f"vocab_size: expected at least 2 tokens, got {V}")
        if isinstance(self.roles, str | bytes) or not hasattr(self.roles, "__iter__"):
            raise ValueError(f"roles: expected a non-empty sequence of bools, got {type(self.roles).__name__} "
                             f"{self.roles!r:.60}")
        roles = tuple(self.roles)
        if not roles or not all(isinstance(r, bool | np.bool_) for r in roles):
            raise ValueError(f"roles: expected a non-empty sequence of bools, got {self.roles!r}")
        if not any(roles):
            raise ValueError("roles: expected at least one policy position (True), got none")
        T = len(roles)
        if T * np.log(V) > np.log(MAX_SEQUENCES) + 1e-9:
            raise ValueError(f"roles: expected V**T <= {MAX_SEQUENCES} sequences, got about "
                             f"10^{T * np.log10(V):.1f} (V={V}, T={T})")
        if V**T > MAX_SEQUENCES:
            raise ValueError(f"roles: expected V**T <= {MAX_SEQUENCES} sequences, got V**T = {V}**{T} = {V**T}")
        n_pref = _n_prefixes(V, T)
        env = as_float_array(self.env_probs, "env_probs", shape=(n_pref, V))
        check_simplex(env, "env_probs")
        rew = as_float_array(self.rewards, "rewards", shape=(V**T,))
        object.__setattr__(self, "vocab_size", V)
        object.__setattr__(self, "roles", tuple(bool(r) for r in roles))
        object.__setattr__(self, "env_probs", env)
        object.__setattr__(self, "rewards", rew)
        seqs = np.array(list(itertools.product(range(V), repeat=T)), dtype=np.int64).reshape(V**T, T)
        pids = np.zeros((V**T, T), dtype=np.int64)
        for t in range(T):
            code = np.zeros(V**T, dtype=np.int64)
            for s in range(t):
                code = code * V + seqs[:, s]
            pids[:, t] = _offset(V, t) + code
        object.__setattr__(self, "_seqs", seqs)
        object.__setattr__(self, "_pids", pids)

    @property
    def length(self) -> int:
        """T, the number of positions."""
        return len(self.roles)

    @property
    def n_prefixes(self) -> int:
        """Number of prefixes of length 0 … T−1 (rows of a logit table)."""
        return _n_prefixes(self.vocab_size, self.length)

    @property
    def n_sequences(self) -> int:
        return int(self.vocab_size**self.length)

    @property
    def sequences(self) -> np.ndarray:
        """``[V**T, T]`` every sequence, in lexicographic order (the order of :attr:`rewards`)."""
        return self._seqs.copy()  # type: ignore[attr-defined]

    @property
    def prefix_ids(self) -> np.ndarray:
        """``[V**T, T]`` index of the prefix y_<t of each sequence at each position."""
        return self._pids.copy()  # type: ignore[attr-defined]

    def prefix_index(self, prefix: Any) -> int:
        """Row of a logit table for the prefix ``prefix`` (a sequence of tokens, length < T)."""
        pre = [int(v) for v in prefix]
        if len(pre) >= self.length or any(v < 0 or v >= self.vocab_size for v in pre):
            raise ValueError(f"prefix: expected fewer than {self.length} tokens in [0, {self.vocab_size}), got {pre}")
        code = 0
        for v in pre:
            code = code * self.vocab_size + v
        return _offset(self.vocab_size, len(pre)) + code

    def check_logits(self, logits: Any, name: str = "logits") -> np.ndarray:
        return as_float_array(logits, name, shape=(self.n_prefixes, self.vocab_size))


def _offset(V: int, t: int) -> int:
    return (V**t - 1) // (V - 1)


def _n_prefixes(V: int, T: int) -> int:
    return _offset(V, T)


def _check_task(task: Any) -> TokenTask:
    if not isinstance(task, TokenTask):
        raise ValueError(f"task: expected a TokenTask, got {type(task).__name__}")
    return task


# --------------------------------------------------------------------------- construction


def random_task(rng: np.random.Generator, vocab_size: int, length: int, roles: Any = None,
                reward_scale: float = 1.0) -> TokenTask:
    """A task with rewards uniform in [−reward_scale, reward_scale] and Dirichlet(1) environment rows.

    ``roles`` defaults to all-policy (single-turn); pass e.g. ``(True, False, True, False)``
    for a multi-turn task with environment tokens at positions 1 and 3.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    V = check_positive_int(vocab_size, "vocab_size")
    T = check_positive_int(length, "length")
    # uniform(-s, s) needs the width 2 s in float64
    scale = check_scalar(reward_scale, "reward_scale", lo=0.0, hi=float(np.finfo(float).max) / 2, lo_open=True)
    if V < 2 or T * np.log(V) > np.log(MAX_SEQUENCES) + 1e-9 or V**T > MAX_SEQUENCES:
        raise ValueError(f"vocab_size: expected V >= 2 with V**T <= {MAX_SEQUENCES}, got V={V}, T={T}")
    rl = tuple([True] * T) if roles is None else tuple(roles)
    if len(rl) != T:
        raise ValueError(f"roles: expected {T} entries (length), got {len(rl)}")
    env = rng.dirichlet(np.ones(V), size=_n_prefixes(V, T))
    rewards = rng.uniform(-scale, scale, size=V**T)
    return TokenTask(V, rl, env, rewards)


def random_logits(rng: np.random.Generator, task: TokenTask, scale: float = 1.0) -> np.ndarray:
    """Logits with i.i.d. N(0, scale²) entries, shape ``[n_prefixes, V]``."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    task = _check_task(task)
    s = check_scalar(scale, "scale", lo=0.0)
    return rng.normal(0.0, s, size=(task.n_prefixes, task.vocab_size)) if s > 0 else np.zeros(
        (task.n_prefixes, task.vocab_size))


# --------------------------------------------------------------------------- exact evaluation


def _conditionals(task: TokenTask, logits: np.ndarray) -> np.ndarray:
    """``[n_prefixes, V]`` next-token distribution at each prefix (policy or environment)."""
    probs = softmax(logits)
    out = task.env_probs.copy()
    V = task.vocab_size
    for t, is_policy in enumerate(task.roles):
        if is_policy:
            sl = slice(_offset(V, t), _offset(V, t + 1))
            out[sl] = probs[sl]
    return out


def policy_mask(task: TokenTask) -> np.ndarray:
    """``[V**T, T]`` float 0/1 mask of policy tokens (environment tokens are 0)."""
    task = _check_task(task)
    src = np.where(np.array(task.roles), MM.POLICY, MM.ENVIRONMENT)
    return np.broadcast_to(MM.policy_token_mask(src), (task.n_sequences, task.length)).copy()


def token_log_probs(task: TokenTask, logits: Any) -> np.ndarray:
    """``[V**T, T]`` log-probability of each token of each sequence (environment tokens included)."""
    task = _check_task(task)
    z = task.check_logits(logits)
    lp = log_softmax(z)
    lenv = np.log(np.maximum(task.env_probs, np.finfo(float).tiny))
    seqs, pids = task._seqs, task._pids  # type: ignore[attr-defined]
    out = np.empty(seqs.shape)
    for t, is_policy in enumerate(task.roles):
        table = lp if is_policy else lenv
        out[:, t] = table[pids[:, t], seqs[:, t]]
    return out


def sequence_probs(task: TokenTask, logits: Any) -> np.ndarray:
    """``[V**T]`` probability of each sequence (sums to 1)."""
    return np.exp(token_log_probs(task, logits).sum(axis=-1))


def expected_return(task: TokenTask, logits: Any) -> float:
    """J(π) = Σ_y P_π(y) R(y)."""
    return float(sequence_probs(task, logits) @ task.rewards)


def prefix_probs(task: TokenTask, logits: Any) -> np.ndarray:
    """``[n_prefixes]`` probability P_π(h) of reaching each prefix h (the empty prefix has 1)."""
    task = _check_task(task)
    cond = _conditionals(task, task.check_logits(logits))
    V, T = task.vocab_size, task.length
    out = np.zeros(task.n_prefixes)
    out[0] = 1.0
    for t in range(T - 1):
        a, b = _offset(V, t), _offset(V, t + 1)
        out[b:_offset(V, t + 2)] = (out[a:b, None] * cond[a:b]).reshape(-1)
    return out


def _values(task: TokenTask, cond: np.ndarray) -> list[np.ndarray]:
    """Backward recursion: ``vals[t]`` = V^π of every prefix of length t (vals[T] = R)."""
    V, T = task.vocab_size, task.length
    vals: list[np.ndarray] = [np.zeros(0)] * (T + 1)
    vals[T] = task.rewards.copy()
    for t in range(T - 1, -1, -1):
        rows = cond[_offset(V, t):_offset(V, t + 1)]
        vals[t] = np.sum(rows * vals[t + 1].reshape(-1, V), axis=-1)
    return vals


def q_values(task: TokenTask, logits: Any) -> np.ndarray:
    """``[V**T, T]`` Q^π(y_≤t) = E_π[R | y_0 … y_t] for every sequence and position."""
    task = _check_task(task)
    vals = _values(task, _conditionals(task, task.check_logits(logits)))
    V, T = task.vocab_size, task.length
    seqs = task._seqs  # type: ignore[attr-defined]
    out = np.empty(seqs.shape)
    code = np.zeros(len(seqs), dtype=np.int64)
    for t in range(T):
        code = code * V + seqs[:, t]
        out[:, t] = vals[t + 1][code]
    return out


def true_gradient(task: TokenTask, logits: Any) -> np.ndarray:
    """Exact ∇_logits J, shape ``[n_prefixes, V]`` (0 on rows that precede environment tokens).

    Policy-gradient theorem on the token MDP: ∂J/∂logits[h] = P_π(h) π(·|h) ⊙ (Q^π(h,·) − V^π(h)).
    """
    task = _check_task(task)
    z = task.check_logits(logits)
    cond = _conditionals(task, z)
    vals = _values(task, cond)
    reach = prefix_probs(task, z)
    V = task.vocab_size
    grad = np.zeros_like(z)
    for t, is_policy in enumerate(task.roles):
        if not is_policy:
            continue
        sl = slice(_offset(V, t), _offset(V, t + 1))
        q = vals[t + 1].reshape(-1, V)
        grad[sl] = reach[sl, None] * cond[sl] * (q - vals[t][:, None])
    return grad


def token_scores(task: TokenTask, logits: Any) -> np.ndarray:
    """``[V**T, T, n_prefixes, V]`` ∇_logits log π(y_t | y_<t) (0 at environment positions)."""
    task = _check_task(task)
    z = task.check_logits(logits)
    probs = softmax(z)
    seqs, pids = task._seqs, task._pids  # type: ignore[attr-defined]
    N, T = seqs.shape
    out = np.zeros((N, T, task.n_prefixes, task.vocab_size))
    rows = np.arange(N)
    for t, is_policy in enumerate(task.roles):
        if not is_policy:
            continue
        out[rows, t, pids[:, t], :] = -probs[pids[:, t]]
        out[rows, t, pids[:, t], seqs[:, t]] += 1.0
    return out


# --------------------------------------------------------------------------- estimators


def _log_weight(w: Any, lw_exact: np.ndarray, shape: tuple[int, ...], name: str = "w") -> tuple[np.ndarray, np.ndarray]:
    """``(log |w|, sign w)`` of a weight from a public :mod:`reference_impls.mismatch` function.

    The weights come from the public functions (so a planted fault in them shows here, as the
    mutation tests require); where such a weight overflowed to ``inf`` or underflowed to 0 while
    its log-space value ``lw_exact`` is finite, that value is used instead.
    """
    arr = np.asarray(w, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected weights of shape {shape}, got {arr.shape}")
    with np.errstate(divide="ignore"):
        lw = np.log(np.abs(arr))
    sign = np.sign(arr)
    fallback = (~np.isfinite(arr) | (arr == 0.0)) & np.isfinite(lw_exact)
    return np.where(fallback, lw_exact, lw), np.where(fallback, 1.0, sign)


def _log_coefficients(task: TokenTask, z_pi: np.ndarray, z_mu: np.ndarray, estimator: str, cap: float | None,
                      low: float | None, high: float | None) -> tuple[np.ndarray, np.ndarray]:
    """``(log_w, mult)``, both ``[V**T, T]``: the coefficient of score_t is ``exp(log_w) * mult``.

    The weight part (ratios, their products, caps, MIS windows) is carried in log space, so that
    an expectation under μ can combine it with log μ(y) before any ``exp``: a sequence with a
    ratio of e^800 and a probability of e^-900 contributes e^-100, not ``inf * 0``.
    """
    lp_pi = token_log_probs(task, z_pi)
    lp_mu = token_log_probs(task, z_mu)
    mask = policy_mask(task)
    N, T = task.n_sequences, task.length
    R = task.rewards[:, None] * np.ones((1, T))
    if estimator == "naive":
        return np.zeros((N, T)), R
    lr = MM.token_log_ratios(lp_pi, lp_mu, mask)  # 0 on environment tokens
    if estimator in ("sequence_is", "sequence_tis", "sequence_mis", "gspo"):
        lw_seq = lr.sum(axis=-1)
        if estimator == "sequence_is":
            w = MM.sequence_is_weights(lp_pi, lp_mu, mask)
        elif estimator == "sequence_tis":
            if cap is None:
                raise ValueError("cap: estimator 'sequence_tis' needs a cap > 0, got None")
            w = MM.sequence_is_weights(lp_pi, lp_mu, mask, cap=cap)
            lw_seq = np.minimum(lw_seq, MM._log_cap(cap))
        elif estimator == "sequence_mis":
            if low is None or high is None:
                raise ValueError("low: estimator 'sequence_mis' needs low and high, got None")
            w = MM.sequence_mask_weights(lp_pi, lp_mu, mask, low, high)
            lw_seq = np.full(N, -np.inf)  # a weight of 0 is outside the window; none overflows (high is finite)
        else:
            w = MM.gspo_ratio(lp_pi, lp_mu, mask)
            lw_seq = lw_seq / mask.sum(axis=-1)
        lw, sign = _log_weight(w, lw_seq, (N,))
        return lw[:, None] + np.zeros((1, T)), sign[:, None] * R
    if estimator in ("token_is", "token_tis", "token_q"):
        if estimator == "token_tis":
            if cap is None:
                raise ValueError("cap: estimator 'token_tis' needs a cap > 0, got None")
            w = MM.token_is_weights(lp_pi, lp_mu, mask, cap=cap)
            lw_tok = np.minimum(lr, MM._log_cap(cap))
        else:
            w = MM.token_is_weights(lp_pi, lp_mu, mask)
            lw_tok = lr
        lw, sign = _log_weight(w, np.where(mask > 0, lw_tok, -np.inf), (N, T))
        mult = q_values(task, z_pi) if estimator == "token_q" else R
        return lw, sign * mult
    if estimator == "prefix_is_return":
        return np.cumsum(lr, axis=-1), R
    if estimator == "prefix_is_q":
        return np.cumsum(lr, axis=-1), q_values(task, z_pi)
    raise ValueError(f"estimator: expected one of {sorted(ESTIMATORS)}, got {estimator!r}")


def _combine(log_w: np.ndarray, mult: np.ndarray, scores: np.ndarray, log_p: np.ndarray | None = None
             ) -> np.ndarray:
    """``sum_t exp(log_w + log_p) mult scores`` per sequence (``log_p`` None: 0), ``[V**T, n_prefixes, V]``.

    Formed by :func:`reference_impls.importance._weighted_sum` (around the largest log-weight): no
    ``inf * 0`` from a score of 0, no ``inf - inf``; ``+-inf`` only where the true value overflows.
    """
    from reference_impls.importance import _weighted_sum

    lw = log_w if log_p is None else log_w + log_p[:, None]
    vals = mult[:, :, None, None] * scores  # [N, T, P, V]
    return _weighted_sum(vals, np.broadcast_to(lw[:, :, None, None], vals.shape), axis=1)


def estimator_terms(task: TokenTask, learner_logits: Any, sampler_logits: Any, estimator: str, *,
                    cap: float | None = None, low: float | None = None, high: float | None = None) -> np.ndarray:
    """``[V**T, n_prefixes, V]`` the single-sample gradient estimate g(y) for every sequence y.

    g(y) = Σ_t c_t(y) ∇_logits log π(y_t | y_<t), with c_t from :data:`ESTIMATORS`; ``cap`` is
    needed by the truncated estimators and ``low``/``high`` by ``sequence_mis``. A term whose
    weight overflows float64 is ``+-inf`` (its probability under μ is then tiny: the
    expectations below combine the two in log space).
    """
    task = _check_task(task)
    z_pi = task.check_logits(learner_logits, "learner_logits")
    z_mu = task.check_logits(sampler_logits, "sampler_logits")
    check_choice(estimator, "estimator", sorted(ESTIMATORS))
    lw, mult = _log_coefficients(task, z_pi, z_mu, estimator, cap, low, high)
    return _combine(lw, mult, token_scores(task, z_pi))


def _expectation_inputs(task: TokenTask, learner_logits: Any, sampler_logits: Any, estimator: str,
                        kw: dict[str, Any]) -> tuple[TokenTask, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    unknown = set(kw) - {"cap", "low", "high"}
    if unknown:
        first = sorted(unknown)[0]
        raise ValueError(f"{first}: expected one of the keywords cap, low, high, got {first!r}")
    task = _check_task(task)
    z_pi = task.check_logits(learner_logits, "learner_logits")
    z_mu = task.check_logits(sampler_logits, "sampler_logits")
    check_choice(estimator, "estimator", sorted(ESTIMATORS))
    lw, mult = _log_coefficients(task, z_pi, z_mu, estimator, kw.get("cap"), kw.get("low"), kw.get("high"))
    log_mu = token_log_probs(task, z_mu).sum(axis=-1)
    return task, lw, mult, token_scores(task, z_pi), log_mu


def expected_gradient(task: TokenTask, learner_logits: Any, sampler_logits: Any, estimator: str,
                      **kw: Any) -> np.ndarray:
    """E_{y∼μ}[g(y)] exactly (enumeration), shape ``[n_prefixes, V]``.

    Each term μ(y) c_t(y) score_t is formed as exp(log μ(y) + log weight) (log space), so the
    expectation is finite wherever the true one is, even when single terms overflow.
    """
    task, lw, mult, scores, log_mu = _expectation_inputs(task, learner_logits, sampler_logits, estimator, kw)
    per_seq = _combine(lw, mult, scores, log_mu)  # μ(y) g(y), [N, P, V]
    flat_lw = np.zeros(per_seq.shape)
    return _weighted_sum_over_sequences(per_seq, flat_lw)


def _weighted_sum_over_sequences(values: np.ndarray, log_w: np.ndarray) -> np.ndarray:
    from reference_impls.importance import _weighted_sum

    return _weighted_sum(values, log_w, axis=0)


def relative_bias(task: TokenTask, learner_logits: Any, sampler_logits: Any, estimator: str, **kw: Any) -> float:
    """‖E_μ[g] − ∇J‖₂ / ‖∇J‖₂ (Frobenius norms over the logit table); undefined (ValueError) when ∇J = 0."""
    g = expected_gradient(task, learner_logits, sampler_logits, estimator, **kw)
    ref = true_gradient(task, learner_logits)
    norm = float(np.linalg.norm(ref))
    if norm == 0.0:
        raise ValueError("learner_logits: expected a policy with a non-zero true gradient (the relative bias "
                         "divides by its norm), got grad J = 0")
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.linalg.norm(g - ref) / norm)


def estimator_covariance(task: TokenTask, learner_logits: Any, sampler_logits: Any, estimator: str,
                         **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean ``[D]`` and covariance ``[D, D]`` of the flattened single-sample estimate under μ.

    The covariance is Σ_y (√μ(y) (g(y) − mean)) (√μ(y) (g(y) − mean))ᵀ with √μ(y) g(y) formed in
    log space; it is ``inf`` only where the true second moment overflows.
    """
    task, lw, mult, scores, log_mu = _expectation_inputs(task, learner_logits, sampler_logits, estimator, kw)
    N = task.n_sequences
    mean = _weighted_sum_over_sequences(_combine(lw, mult, scores, log_mu), np.zeros((N, *scores.shape[2:])))
    mean = mean.reshape(-1)
    if not np.all(np.isfinite(mean)):
        raise ValueError("sampler_logits: expected a sampler under which the estimator's mean fits in float64, "
                         "got one where it overflows (the covariance is not representable)")
    root = _combine(lw, mult, scores, 0.5 * log_mu).reshape(N, -1)  # √μ(y) g(y)
    with np.errstate(over="ignore", invalid="ignore"):
        c = root - np.exp(0.5 * log_mu)[:, None] * mean[None]
        cov = c.T @ c
    if np.any(np.isnan(cov)):
        raise ValueError("sampler_logits: expected a sampler under which the estimator's second moment fits in "
                         "float64, got one where it overflows with terms of both signs (the covariance is not "
                         "representable)")
    return mean, cov


def sample_sequences(task: TokenTask, logits: Any, rng: np.random.Generator, n: int) -> np.ndarray:
    """``[n]`` indices of sequences drawn i.i.d. from P_π (rows of :attr:`TokenTask.sequences`)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    n = check_positive_int(n, "n")
    check_count("n", {"n": n}, MAX_TABLE_ENTRIES, "a number of samples")
    p = sequence_probs(task, logits)
    return rng.choice(task.n_sequences, size=n, p=p / p.sum())


# --------------------------------------------------------------------------- softmax bandit flows


def _bandit_inputs(probs: Any, actions: Any, coefficients: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = check_simplex(as_float_array(probs, "probs", ndim=1), "probs")
    a = np.asarray(actions)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
        raise ValueError(f"actions: expected a 1-d array of integer actions, got {a.dtype} of shape {a.shape}")
    if np.any((a < 0) | (a >= p.size)):
        raise ValueError(f"actions: expected actions in [0, {p.size}), got {a.tolist()}")
    c = as_float_array(coefficients, "coefficients", ndim=1)
    if c.shape != a.shape:
        raise ValueError(f"coefficients: expected shape {a.shape} (the shape of actions), got {c.shape}")
    return p, a, c


def logit_step(probs: Any, actions: Any, coefficients: Any) -> np.ndarray:
    """Δz/η = Σ_i c_i (e_{y_i} − π): the logit change of one gradient-ascent step on Σ_i c_i log π(y_i).

    For the importance-weighted policy gradient c_i = w_i r_i (or w_i (r_i − b) with a baseline).
    """
    dz, k = _scaled_logit_step(*_bandit_inputs(probs, actions, coefficients))
    with np.errstate(over="ignore"):
        return np.ldexp(dz, k)


def _scaled_logit_step(p: np.ndarray, a: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, int]:
    """``(dz / 2^k, k)``: the step formed from ``c / 2^k`` (exact scaling), so that ``sum c`` of
    coefficients near the float64 limit neither overflows nor gives ``inf - inf``."""
    k = int(pow2_exponent(c))
    cs = np.ldexp(c, -k)
    dz = -cs.sum() * p
    np.add.at(dz, a, cs)
    return dz, k


def first_order_flow(probs: Any, actions: Any, coefficients: Any) -> np.ndarray:
    """dπ/η = π ⊙ (Δz − (π·Δz) 1) with Δz from :func:`logit_step` (softmax Jacobian; sums to 0)."""
    p, a, c = _bandit_inputs(probs, actions, coefficients)
    dz, k = _scaled_logit_step(p, a, c)
    with np.errstate(over="ignore"):
        return np.ldexp(p * (dz - p @ dz), k)


# --------------------------------------------------------------------------- variable-length responses


def _n_tree_sequences(vocab: int, horizon: int, eos: bool) -> int:
    """Number of responses of a :class:`TokenTree`: ``vocab**horizon`` without EOS; with EOS, those ending
    in EOS at step t = 1 … horizon (``vocab**(t-1)`` each, ``(vocab**horizon - 1) / (vocab - 1)`` in all)
    plus ``vocab**horizon`` of full length. Sizes past the enumeration limit are compared in logarithms
    (``MAX_SEQUENCES + 1`` is returned for them), so a huge argument is refused at once."""
    if vocab == 1:
        return horizon + 1 if eos else 1
    if horizon * math.log2(vocab) > math.log2(MAX_SEQUENCES) + 1:
        return MAX_SEQUENCES + 1
    full = vocab**horizon
    return (full - 1) // (vocab - 1) + full if eos else full


@dataclass(frozen=True, eq=False)
class TokenTree:
    """Every response of a tabular autoregressive model with **variable lengths**, enumerated.

    Tokens ``0 … vocab−1`` are ordinary; with ``eos`` the token ``vocab`` ends the response
    (end-of-sequence, included in the response as its last token). A response stops at EOS or
    after ``horizon`` tokens. A policy is a logit table ``logits[p, k]``, one softmax row over the
    ``n_tokens`` tokens per non-terminal prefix ``prefixes[p]`` (row 0 is the empty prefix).
    Unlike :class:`TokenTask` (fixed length, environment positions, a reward table) this is
    the response tree a sequence loss averages over, with padding after the end.

    Build one with :func:`token_tree`; direct construction is validated.

    Attributes:
      vocab: number of ordinary tokens (≥ 1).
      horizon: maximal response length (≥ 1).
      eos: whether token ``vocab`` is an end-of-sequence token.
      prefixes: the non-terminal prefixes, in breadth-first order (the rows of a logit table).
      prefix: ``[N, horizon]`` int, row of the logit table used at step t (0 on padding).
      token: ``[N, horizon]`` int, the token emitted at step t (0 on padding).
      mask: ``[N, horizon]`` bool, True on real tokens (a response's length is its row sum).
    """

    vocab: int
    horizon: int
    eos: bool
    prefixes: tuple[tuple[int, ...], ...]
    prefix: np.ndarray
    token: np.ndarray
    mask: np.ndarray

    def __post_init__(self) -> None:
        vocab = check_positive_int(self.vocab, "vocab")
        horizon = check_positive_int(self.horizon, "horizon")
        if not isinstance(self.eos, bool | np.bool_):
            raise ValueError(f"eos: expected a bool, got {type(self.eos).__name__} {self.eos!r}")
        eos = bool(self.eos)
        n_tok = vocab + (1 if eos else 0)
        try:
            prefixes = tuple(tuple(int(v) for v in p) for p in self.prefixes)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"prefixes: expected a sequence of token tuples, got {type(self.prefixes).__name__} "
                             f"{self.prefixes!r:.80}") from None
        if not prefixes or prefixes[0] != ():
            raise ValueError(f"prefixes: expected the empty prefix first, got {self.prefixes!r:.80}")
        if any(len(p) >= horizon or any(v < 0 or v >= vocab for v in p) for p in prefixes):
            raise ValueError(f"prefixes: expected fewer than {horizon} ordinary tokens in [0, {vocab}) each, "
                             f"got {self.prefixes!r:.80}")
        arrays = {}
        for name, want in (("prefix", np.integer), ("token", np.integer), ("mask", np.bool_)):
            a = np.asarray(getattr(self, name))
            if a.ndim != 2 or a.shape[1] != horizon or not np.issubdtype(a.dtype, want):
                raise ValueError(f"{name}: expected a [N, {horizon}] {want.__name__} array, got {a.dtype} {a.shape}")
            arrays[name] = a
        prefix, token, mask = arrays["prefix"], arrays["token"], arrays["mask"]
        if not prefix.shape[0] == token.shape[0] == mask.shape[0] >= 1:
            raise ValueError(f"mask: expected prefix, token and mask with the same N >= 1 rows, got "
                             f"{prefix.shape[0]}, {token.shape[0]}, {mask.shape[0]}")
        if not (mask[:, 0].all() and (mask[:, 1:] <= mask[:, :-1]).all()):
            raise ValueError("mask: expected each row to be True on a non-empty initial segment, then False")
        if (prefix < 0).any() or (prefix >= len(prefixes)).any():
            raise ValueError(f"prefix: expected row indices in [0, {len(prefixes)}), "
                             f"got {prefix.min()} … {prefix.max()}")
        if (token < 0).any() or (token >= n_tok).any():
            raise ValueError(f"token: expected tokens in [0, {n_tok}), got {token.min()} … {token.max()}")
        object.__setattr__(self, "vocab", vocab)
        object.__setattr__(self, "horizon", horizon)
        object.__setattr__(self, "eos", eos)
        object.__setattr__(self, "prefixes", prefixes)

    @property
    def n_tokens(self) -> int:
        """Columns of a logit table: ``vocab`` (+1 for EOS)."""
        return self.vocab + (1 if self.eos else 0)

    @property
    def n_seq(self) -> int:
        """Number of responses N."""
        return int(self.mask.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        """``[N]`` the length of each response (EOS included)."""
        return self.mask.sum(axis=-1)

    def check_logits(self, logits: Any, name: str = "logits") -> np.ndarray:
        """``logits`` as a float64 ``[len(prefixes), n_tokens]`` array of finite values (else ValueError)."""
        return as_float_array(logits, name, shape=(len(self.prefixes), self.n_tokens))

    def token_log_probs(self, logits: Any) -> np.ndarray:
        """``[N, horizon]`` log π(y_t | y_<t), 0 on padding."""
        lsm = log_softmax(self.check_logits(logits))
        return np.where(self.mask, lsm[self.prefix, self.token], 0.0)

    def seq_probs(self, logits: Any) -> np.ndarray:
        """``[N]`` π(y) of each response (sums to 1)."""
        return np.exp(self.token_log_probs(logits).sum(axis=-1))

    def token_log_probs_torch(self, torch: Any, logits: Any) -> Any:
        """The torch mirror of :meth:`token_log_probs` (differentiable in ``logits``, a tensor on any device);
        ``torch`` is the torch module (passed in, so this module does not import torch)."""
        want = (len(self.prefixes), self.n_tokens)
        if not hasattr(logits, "shape") or tuple(logits.shape) != want:
            raise ValueError(f"logits: expected a tensor of shape {want}, got {getattr(logits, 'shape', type(logits))}")
        lsm = torch.log_softmax(logits, dim=-1)
        pre = torch.as_tensor(self.prefix, device=logits.device)
        tok = torch.as_tensor(self.token, device=logits.device)
        m = torch.as_tensor(self.mask, device=logits.device)
        return torch.where(m, lsm[pre, tok], torch.zeros((), dtype=logits.dtype, device=logits.device))

    def token_scores(self, logits: Any) -> np.ndarray:
        """``[N, horizon, P*K]``: ∂ log π(y_t | y_<t) / ∂ logits, flattened (closed form e_token − softmax in
        the prefix's row; 0 on padding)."""
        pi = softmax(self.check_logits(logits))
        n_p, k = pi.shape
        out = np.zeros((*self.mask.shape, n_p * k))
        for i in range(self.n_seq):
            for t in range(self.horizon):
                if self.mask[i, t]:
                    p = self.prefix[i, t]
                    out[i, t, p * k:(p + 1) * k] = -pi[p]
                    out[i, t, p * k + self.token[i, t]] += 1.0
        return out


def token_tree(vocab: int = 2, horizon: int = 3, eos: bool = True) -> TokenTree:
    """Enumerate every response of length ≤ ``horizon`` over ``vocab`` ordinary tokens (ending at EOS when
    ``eos``; at most :data:`MAX_SEQUENCES` responses), responses in breadth-first order of their prefixes."""
    vocab = check_positive_int(vocab, "vocab")
    horizon = check_positive_int(horizon, "horizon")
    if not isinstance(eos, bool | np.bool_):
        raise ValueError(f"eos: expected a bool, got {type(eos).__name__} {eos!r}")
    if horizon > MAX_SEQUENCES or _n_tree_sequences(vocab, horizon, bool(eos)) > MAX_SEQUENCES:
        raise ValueError(f"horizon: expected at most {MAX_SEQUENCES} responses and prefixes to enumerate (the "
                         f"enumeration limit), got vocab={vocab}, horizon={horizon}, eos={bool(eos)}")
    k = vocab + (1 if eos else 0)
    prefixes: list[tuple[int, ...]] = [()]
    seqs: list[list[tuple[int, int]]] = []
    frontier: list[tuple[tuple[int, ...], list[tuple[int, int]]]] = [((), [])]
    while frontier:
        pre, steps = frontier.pop(0)
        p_idx = prefixes.index(pre)
        for tok in range(k):
            st_ = [*steps, (p_idx, tok)]
            if (eos and tok == vocab) or len(st_) == horizon:
                seqs.append(st_)
            else:
                new = (*pre, tok)
                prefixes.append(new)
                frontier.append((new, st_))
    n = len(seqs)
    prefix = np.zeros((n, horizon), dtype=np.int64)
    token = np.zeros((n, horizon), dtype=np.int64)
    mask = np.zeros((n, horizon), dtype=bool)
    for i, s in enumerate(seqs):
        for t, (p, tok) in enumerate(s):
            prefix[i, t], token[i, t], mask[i, t] = p, tok, True
    return TokenTree(vocab, horizon, bool(eos), tuple(prefixes), prefix, token, mask)
