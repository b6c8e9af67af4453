"""Exact MDP evaluation and trajectory enumeration.

1. Batched exact evaluation (S = 10, A = 4, 10,000 MDPs): per-MDP time of one batched
   ``numpy.linalg.solve`` / ``torch.linalg.solve`` against a per-MDP Python loop over
   :func:`reference_impls.mdp.expected_return` (the baseline). Target <= 10 us per MDP.
2. Enumeration (S = 3, A = 2, H = 8: 5,038,848 trajectories): trajectories per second of
   :func:`reference_impls.enumeration.enumerate_trajectories`, against a memory-traffic
   anchor (filling the same number of bytes with ``np.copyto``). Target >= 25M/s.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_time

from reference_impls import enumeration as E
from reference_impls import mdp as M


def _batch(n: int, S: int, A: int, rng: np.random.Generator):
    P = rng.dirichlet(np.ones(S), size=(n, S, A))
    R = rng.uniform(-1, 1, size=(n, S, A))
    mu = rng.dirichlet(np.ones(S), size=n)
    pi = rng.dirichlet(np.ones(A), size=(n, S))
    return P, R, mu, pi


def batched_numpy(P, R, mu, pi, gamma):
    P_pi = np.einsum("bsa,bsat->bst", pi, P)
    r_pi = np.einsum("bsa,bsa->bs", pi, R)
    eye = np.eye(P.shape[1])
    V = np.linalg.solve(eye - gamma * P_pi, r_pi[..., None])[..., 0]
    return np.einsum("bs,bs->b", mu, V)


def run(quick: bool = False) -> str:
    rng = np.random.default_rng(0)
    n, S, A, gamma = (1000 if quick else 10_000), 10, 4, 0.9
    P, R, mu, pi = _batch(n, S, A, rng)
    n_loop = 200 if quick else 1000
    mdps = [M.FiniteMDP(P[i], R[i], mu[i], gamma) for i in range(n_loop)]

    def loop():
        return [M.expected_return(mdps[i], pi[i]) for i in range(n_loop)]

    t_loop = best_time(loop, repeat=3) / n_loop
    t_np = best_time(lambda: batched_numpy(P, R, mu, pi, gamma), repeat=5) / n
    J_np = batched_numpy(P[:n_loop], R[:n_loop], mu[:n_loop], pi[:n_loop], gamma)
    assert np.allclose(J_np, loop(), atol=1e-10)
    rows = [("per-MDP Python loop (`mdp.expected_return`, validated)", t_loop, 1.0),
            ("batched numpy (`np.linalg.solve` on [B, S, S])", t_np, t_loop / t_np)]
    try:
        import torch

        from reference_impls.torch import mdp as TM

        torch.set_num_threads(1)
        tP, tR, tmu, tpi = (torch.from_numpy(x) for x in (P, R, mu, pi))
        t_t = best_time(lambda: TM.expected_return(tP, tR, tmu, gamma, tpi), repeat=5) / n
        rows.append(("batched torch CPU (`reference_impls.torch.mdp.expected_return`, validated)", t_t, t_loop / t_t))
    except ImportError:
        rows.append(("batched torch CPU", float("nan"), float("nan")))

    out = ["## Exact MDP evaluation and enumeration", "",
           f"### Batched exact evaluation: S = {S}, A = {A}, {n:,} MDPs, float64, one thread for torch", "",
           "| implementation | µs per MDP | speed-up vs loop |", "|---|---|---|"]
    out += [f"| {name} | {t * 1e6:.2f} | {r:.1f}× |" for name, t, r in rows]
    out += ["", "Target ≤ 10 µs per MDP (published reference points: 5–8 µs batched numpy/torch).", ""]

    # enumeration
    S, A, H = 3, 2, (6 if quick else 8)
    mdp = M.random_mdp(rng, S, A, 0.9)
    pol = M.softmax(rng.normal(size=(S, A)))
    n_traj = S ** (H + 1) * A**H
    t_enum = best_time(lambda: E.enumerate_trajectories(mdp, pol, H), repeat=5)
    nbytes = n_traj * (8 + (H + 1) + H)  # float64 probability + uint8 states and actions
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    t_copy = best_time(lambda: np.copyto(dst, src), repeat=5)
    out += [f"### Exact enumeration: S = {S}, A = {A}, H = {H} ({n_traj:,} trajectories)", "",
            "| measure | value |", "|---|---|",
            f"| trajectories per second | {n_traj / t_enum / 1e6:.1f} M/s |",
            f"| time | {t_enum * 1e3:.1f} ms |",
            f"| memory-traffic anchor (copy of the same {nbytes / 1e6:.0f} MB) | {t_copy * 1e3:.1f} ms |",
            f"| enumeration / anchor | {t_enum / t_copy:.1f}× |", "",
            "Target ≥ 25M trajectories/s (published reference points: 26M/s vectorized numpy breadth-first, "
            "57M/s a compiled depth-first kernel)."]
    return "\n".join(out)
