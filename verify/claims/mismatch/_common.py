"""Helpers shared by several mismatch topic modules (fixtures, exact evaluators, constants)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import mpmath as mp
import numpy as np

from reference_impls import token_models as TM
from verify import stats as VS

FAMILY = "mismatch"


S0 = "000_df799f8b05dafca5.txt"


S3 = "003_aec5cba77cab1993.txt"


#: Per-test false-alarm rate of every Monte Carlo test in this family (suite budget <= 1e-3).
#: The Monte Carlo test of MISMATCH-SEQ-IS-FIXES; its alpha comes from the suite-wide budget (verify.stats).
MC_TEST = "MISMATCH-SEQ-IS-FIXES:seq_is_monte_carlo"


VS.register_test(MC_TEST, "sequence-IS gradient mean vs exact grad J (chi-square, exact covariance)")


#: Estimators of MISMATCH-TOKEN-IS-FAILS, in table order.
TABLE = ("sequence_is", "token_is", "prefix_is_return", "prefix_is_q", "token_q", "naive")


UNBIASED = ("sequence_is", "prefix_is_q")


CONVENTIONS = (
    "pi = learner (differentiated), mu = sampler (generated the data); rho_t = pi/mu on policy tokens",
    "w(y) = prod_t rho_t over policy tokens only (environment/tool tokens masked out; they cancel)",
    "J(pi) = E_{y~pi}[R(y)], terminal reward, no discount inside a sequence",
    "gradients w.r.t. the learner's logit table (one row per prefix); relative bias in Frobenius norm",
    "expectations are exact sums over all V^T sequences",
)


# --------------------------------------------------------------------------- instances


def instance(rng: np.random.Generator, V: int = 3, T: int = 3, roles: Sequence[bool] | None = None,
             noise: float = 0.3) -> tuple[TM.TokenTask, np.ndarray, np.ndarray]:
    """A random task, learner logits N(0, 1), sampler logits = learner + N(0, noise^2) ."""
    task = TM.random_task(rng, V, T, roles=roles)
    z = TM.random_logits(rng, task)
    return task, z, z + rng.normal(0.0, noise, size=z.shape)


def _kw(est: str, cap: float = 2.0) -> dict[str, Any]:
    if est in ("sequence_tis", "token_tis"):
        return {"cap": cap}
    if est == "sequence_mis":
        return {"low": 0.0, "high": cap}
    return {}


# --------------------------------------------------------------------------- independent mpmath evaluator


class MpTokenModel:
    """mpmath re-implementation of a token task (no code shared with reference_impls.token_models).

    All methods must run inside ``mp.workdps``. Logit tables are nested lists of mpf.
    """

    def __init__(self, task: TM.TokenTask) -> None:
        self.V, self.T, self.roles = task.vocab_size, task.length, task.roles
        self.seqs = [tuple(int(v) for v in row) for row in task.sequences]
        self.env = [[mp.mpf(float(x)) for x in row] for row in task.env_probs]
        self.R = [mp.mpf(float(x)) for x in task.rewards]
        # prefix row -> its length (position of the token it predicts)
        self.row_pos: list[int] = []
        for t in range(self.T):
            self.row_pos += [t] * self.V**t
        self.pids = [[self._row(y[:t]) for t in range(self.T)] for y in self.seqs]

    def _row(self, prefix: tuple[int, ...]) -> int:
        code = 0
        for v in prefix:
            code = code * self.V + v
        return (self.V ** len(prefix) - 1) // (self.V - 1) + code

    def conditionals(self, z: list[list[Any]]) -> list[list[Any]]:
        out = []
        for r, row in enumerate(z):
            if self.roles[self.row_pos[r]]:
                m = max(row)
                e = [mp.exp(v - m) for v in row]
                s = mp.fsum(e)
                out.append([v / s for v in e])
            else:
                out.append(self.env[r])
        return out

    def token_probs(self, z: list[list[Any]]) -> list[list[Any]]:
        c = self.conditionals(z)
        return [[c[self.pids[n][t]][y[t]] for t in range(self.T)] for n, y in enumerate(self.seqs)]

    def probs(self, z: list[list[Any]]) -> list[Any]:
        return [mp.fprod(tp) for tp in self.token_probs(z)]

    def J(self, z: list[list[Any]]) -> Any:
        return mp.fsum(p * r for p, r in zip(self.probs(z), self.R))

    def grad_fd(self, z: list[list[Any]], h: Any) -> list[list[Any]]:
        """Central differences of J over every logit (rows before environment tokens give 0)."""
        out = []
        for r in range(len(z)):
            row = []
            for a in range(self.V):
                zp = [list(x) for x in z]
                zm = [list(x) for x in z]
                zp[r][a] += h
                zm[r][a] -= h
                row.append((self.J(zp) - self.J(zm)) / (2 * h))
            out.append(row)
        return out

    def q_values(self, z: list[list[Any]]) -> list[list[Any]]:
        """Q^pi(y_<=t) by summing over continuations (brute force)."""
        p = self.probs(z)
        out = []
        for y in self.seqs:
            row = []
            for t in range(self.T):
                idx = [k for k, u in enumerate(self.seqs) if u[: t + 1] == y[: t + 1]]
                den = mp.fsum(p[k] for k in idx)
                row.append(mp.fsum(p[k] * self.R[k] for k in idx) / den)
            out.append(row)
        return out

    def expectation(self, z_pi: list[list[Any]], z_mu: list[list[Any]], estimator: str,
                    cap: Any = None) -> list[list[Any]]:
        """E_mu[g] for the estimators of TABLE (plus 'gspo', and 'token_tis' with ``cap``), in mpmath."""
        tp_pi, tp_mu = self.token_probs(z_pi), self.token_probs(z_mu)
        c_pi = self.conditionals(z_pi)
        mu = [mp.fprod(tp) for tp in tp_mu]
        pol = [t for t in range(self.T) if self.roles[t]]
        Q = self.q_values(z_pi) if estimator in ("prefix_is_q", "token_q") else None
        g = [[mp.mpf(0)] * self.V for _ in range(len(z_pi))]
        for n, y in enumerate(self.seqs):
            rho = [tp_pi[n][t] / tp_mu[n][t] if self.roles[t] else mp.mpf(1) for t in range(self.T)]
            w = mp.fprod(rho)
            for t in pol:
                if estimator == "sequence_is":
                    c = w * self.R[n]
                elif estimator == "token_is":
                    c = rho[t] * self.R[n]
                elif estimator == "token_tis":
                    c = min(rho[t], cap) * self.R[n]
                elif estimator == "prefix_is_return":
                    c = mp.fprod(rho[: t + 1]) * self.R[n]
                elif estimator == "prefix_is_q":
                    c = mp.fprod(rho[: t + 1]) * Q[n][t]  # type: ignore[index]
                elif estimator == "token_q":
                    c = rho[t] * Q[n][t]  # type: ignore[index]
                elif estimator == "naive":
                    c = self.R[n]
                elif estimator == "gspo":
                    c = w ** (mp.mpf(1) / len(pol)) * self.R[n]
                else:
                    raise ValueError(f"estimator: no mpmath version of {estimator!r}")
                row = self.pids[n][t]
                for a in range(self.V):
                    g[row][a] += mu[n] * c * ((1 if a == y[t] else 0) - c_pi[row][a])
        return g


def _mp(x: np.ndarray) -> list[list[Any]]:
    return [[mp.mpf(float(v)) for v in row] for row in np.asarray(x, dtype=np.float64)]


def _mp_norm(a: list[list[Any]]) -> Any:
    return mp.sqrt(mp.fsum(v**2 for row in a for v in row))


def _mp_diff(a: list[list[Any]], b: list[list[Any]]) -> list[list[Any]]:
    return [[x - y for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]


def constant_chi2_task(n_policy: int, p: np.ndarray, q: np.ndarray) -> tuple[TM.TokenTask, np.ndarray, np.ndarray]:
    """Alternating policy/environment task (V=2) whose policy tokens all have learner p and sampler q."""
    roles = tuple(k % 2 == 0 for k in range(2 * n_policy - 1))
    V, T = 2, len(roles)
    n_pref = (V**T - 1) // (V - 1)
    env = np.tile([0.3, 0.7], (n_pref, 1))
    rng = np.random.default_rng(n_policy)
    task = TM.TokenTask(V, roles, env, rng.uniform(-1, 1, size=V**T))
    return task, np.tile(np.log(p), (n_pref, 1)), np.tile(np.log(q), (n_pref, 1))


# ------------------------------------------ the blog's softmax bandit (pertinacity, puke)

K_BLOG = 10


W_BLOG = (Fraction(1, 2), Fraction(4))


R_BLOG = (Fraction(1), Fraction(1, 5))


def flow_fraction(probs: Sequence[Fraction], actions: Sequence[int], c: Sequence[Fraction]) -> list[Fraction]:
    """Exact (rational) first-order flow dpi/eta = pi (dz - pi.dz) with dz = sum_i c_i (e_{y_i} - pi)."""
    C = sum(c, Fraction(0))
    dz = [-C * p for p in probs]
    for a, ci in zip(actions, c):
        dz[a] += ci
    m = sum((p * d for p, d in zip(probs, dz)), Fraction(0))
    return [p * (d - m) for p, d in zip(probs, dz)]


def blog_coefficients(baseline: bool, clip: Fraction | None = None) -> list[Fraction]:
    w = [min(x, clip) if clip is not None else x for x in W_BLOG]
    b = (R_BLOG[0] + R_BLOG[1]) / 2 if baseline else Fraction(0)
    return [w[i] * (R_BLOG[i] - b) for i in range(2)]


def leak(flow: Sequence[float | Fraction], sampled: Sequence[int] = (0, 1)) -> Any:
    """Net mass moved to the unsampled actions."""
    return sum(f for k, f in enumerate(flow) if k not in sampled)


def _softmax_mp(z: list[Any]) -> list[Any]:
    m = max(z)
    e = [mp.exp(v - m) for v in z]
    s = mp.fsum(e)
    return [v / s for v in e]


def fd_flow_mp(probs: Sequence[float], actions: Sequence[int], c: Sequence[float], eta: Any) -> list[Any]:
    """(softmax(z + eta dz) - softmax(z)) / eta in mpmath (z = log probs), inside workdps."""
    z = [mp.log(mp.mpf(p)) for p in probs]
    pz = _softmax_mp(z)
    C = mp.fsum(mp.mpf(x) for x in c)
    dz = [-C * p for p in pz]
    for a, ci in zip(actions, c):
        dz[a] += mp.mpf(ci)
    pn = _softmax_mp([zi + eta * d for zi, d in zip(z, dz)])
    return [(a - b) / eta for a, b in zip(pn, pz)]


# --------------------------------------------------------------------------- plot helpers

PLOT_ESTIMATORS = ("naive", "token_is", "token_q", "prefix_is_return", "sequence_tis", "gspo", "sequence_is",
                   "prefix_is_q")


#: Legend words for the estimators (the keys are the estimator names of ``token_models``).
ESTIMATOR_WORDS = {
    "naive": "no correction", "token_is": "per-token IS", "token_q": "per-token IS, learner's Q",
    "prefix_is_return": "prefix-product IS, return", "sequence_tis": "sequence IS truncated at 2",
    "gspo": "GSPO ratio", "sequence_is": "sequence IS", "prefix_is_q": "prefix-product IS, learner's Q",
}


def _pyplot() -> Any:
    """matplotlib, imported only when a figure is drawn (the claims import without it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
