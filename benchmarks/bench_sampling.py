"""Batched trajectory sampling across many tabular MDPs, and the exact-moment computation (issue 5).

Figures are ratios against a per-step Python loop measured in the same run; the exact-moment
row times enumeration of all S^(H+1) A^H trajectories for S=3, A=2, H=8 (5,038,848) plus the
trajectory-IS and PDIS moments computed from them (target < 1 s). One thread.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_time

from reference_impls import enumeration as E
from reference_impls import importance as I
from reference_impls import mdp as M
from reference_impls import sampling as SM


def _loop_sampler(P: np.ndarray, mu0: np.ndarray, pol: np.ndarray, H: int, E_: int, rng: np.random.Generator) -> None:
    """Baseline: one episode and one step at a time, scalar inverse-CDF draws."""
    B, S, A, _ = P.shape
    cpi = np.cumsum(pol, axis=-1).tolist()
    cP = np.cumsum(P, axis=-1).tolist()
    c0 = np.cumsum(mu0, axis=-1).tolist()
    u = rng.random((B, E_, 2 * H + 1)).tolist()
    for b in range(B):
        for e in range(E_):
            uu = u[b][e]
            s = next((k for k, c in enumerate(c0[b][:-1]) if uu[0] < c), S - 1)
            for t in range(H):
                row = cpi[b][s]
                a = next((k for k, c in enumerate(row[:-1]) if uu[1 + 2 * t] < c), A - 1)
                prow = cP[b][s][a]
                s = next((k for k, c in enumerate(prow[:-1]) if uu[2 + 2 * t] < c), S - 1)


def _cache_resident(quick: bool) -> str:
    """The compiled sampler where its CDF tables fit in L2 (10 MDPs, S=10, A=4: 32 KB of CDF entries).

    Uniform generation (two float64 per transition by numpy's PCG64) is part of every call and is
    timed on its own as the floor of any sampler that consumes this stream.
    """
    rng = np.random.default_rng(3)
    B, S, A, H, E_ = 10, 10, 4, 20, 1000 if quick else 10000
    P = rng.dirichlet(np.ones(S), size=(B, S, A))
    mu0 = rng.dirichlet(np.ones(S), size=B)
    pol = rng.dirichlet(np.ones(A), size=(B, S))
    n_tr = B * E_ * H
    reps = 3 if quick else 7
    g = np.random.default_rng(4)
    t_u = best_time(lambda: g.random((H, 2, B * E_)), repeat=reps)
    rows = [("uniform generation alone (2 float64 per transition, PCG64)", t_u),
            ("numpy batched inverse CDF", best_time(lambda: SM.sample_batched(P, mu0, pol, H, E_, g, backend="numpy"),
                                                    repeat=reps))]
    if SM._NB is not None:
        rows.append(("compiled batched inverse CDF", best_time(
            lambda: SM.sample_batched(P, mu0, pol, H, E_, g, backend="numba"), repeat=reps)))
    lines = [f"### Cache-resident tables: {B} MDPs, S={S}, A={A}, {E_} episodes each, H={H} "
             f"({n_tr:,} transitions per call, 1 thread)", "",
             "| implementation | time | M transitions/s | ratio to uniform generation |", "|---|---|---|---|"]
    for name, t in rows:
        lines.append(f"| {name} | {t * 1e3:.2f} ms | {n_tr / t / 1e6:.1f} | {t / t_u:.2f}x |")
    lines += ["", "Target (issue 15): >= 100 M transitions/s on the compiled path, one thread, cache-resident."]
    return "\n".join(lines)


def run(quick: bool = False) -> str:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rng = np.random.default_rng(0)
    B, S, A, H = (100, 10, 4, 20) if quick else (1000, 10, 4, 20)
    E_ = 20 if quick else 100
    P = rng.dirichlet(np.ones(S), size=(B, S, A))
    mu0 = rng.dirichlet(np.ones(S), size=B)
    pol = rng.dirichlet(np.ones(A), size=(B, S))
    n_tr = B * E_ * H
    reps = 2 if quick else 5
    t_np = best_time(lambda: SM.sample_batched(P, mu0, pol, H, E_, rng, backend="numpy"), repeat=reps)
    Bl = max(1, B // 50)
    t_loop = best_time(lambda: _loop_sampler(P[:Bl], mu0[:Bl], pol[:Bl], H, E_, rng), repeat=2) * (B / Bl)
    rows = [("per-step Python loop (baseline, extrapolated from "
             f"{Bl} MDPs)", t_loop), ("numpy batched inverse CDF (`backend=\"numpy\"`)", t_np)]
    if SM._NB is not None:
        rows.append(("compiled batched inverse CDF (`backend=\"numba\"`, same draws as numpy)",
                     best_time(lambda: SM.sample_batched(P, mu0, pol, H, E_, rng, backend="numba"), repeat=reps)))
    try:
        import torch

        torch.set_num_threads(1)
        from reference_impls.torch import sampling as TS

        Pt, mt, pt = (torch.tensor(x) for x in (P, mu0, pol))
        g = torch.Generator().manual_seed(0)
        rows.append(("torch batched inverse CDF, CPU (reference_impls.torch.sampling)",
                     best_time(lambda: TS.sample_batched(Pt, mt, pt, H, E_, g), repeat=reps)))
    except ImportError:
        pass
    lines = ["## Batched trajectory sampling (issue 5)", "",
             f"{B} MDPs, S={S}, A={A}, {E_} episodes each, H={H}: {n_tr:,} transitions per call, 1 thread.", "",
             "| implementation | time | M transitions/s | speed-up vs loop |", "|---|---|---|---|"]
    for name, t in rows:
        lines.append(f"| {name} | {t * 1e3:.1f} ms | {n_tr / t / 1e6:.2f} | {t_loop / t:.1f}x |")
    lines.append("")
    lines.append("Target: >= 5 M transitions/s on one core for the batched samplers.")
    lines += ["", _cache_resident(quick)]
    # exact moments, S=3, A=2, H=8
    mdp = M.random_mdp(np.random.default_rng(1), 3, 2, 0.9)
    pi = M.softmax(np.random.default_rng(2).normal(size=(3, 2)))
    mu = 0.5 * pi + 0.25
    Hx = 6 if quick else 8

    def exact_moments() -> tuple[float, float]:
        traj = E.enumerate_trajectories(mdp, mu, Hx)
        lp, blp = traj.step_log_probs(pi), traj.step_log_probs(mu)
        v_is = I.trajectory_is(traj.rewards, lp, blp, 1.0)
        v_pd = I.per_decision_is(traj.rewards, lp, blp, 1.0)
        return float(traj.variance(v_is)), float(traj.variance(v_pd))

    t_ex = best_time(exact_moments, repeat=1 if quick else 3)
    v_is, v_pd = exact_moments()
    t_dp = best_time(lambda: I.exact_is_moments(mdp, pi, mu, Hx, 1.0), number=20, repeat=3)
    dp = I.exact_is_moments(mdp, pi, mu, Hx, 1.0)
    agree = max(abs(dp["var_is"] - v_is), abs(dp["var_pdis"] - v_pd))
    n_traj = 3 ** (Hx + 1) * 2**Hx
    lines += ["", f"### Exact moments, S=3, A=2, H={Hx} (target < 1 s at H=8)", "",
              "| method | time | Var[IS] | Var[PDIS] |", "|---|---|---|---|",
              f"| enumeration of all {n_traj:,} trajectories + per-trajectory IS/PDIS + weighted moments | "
              f"{t_ex:.2f} s | {v_is:.6f} | {v_pd:.6f} |",
              f"| dynamic programming over states (`importance.exact_is_moments`, O(H S^2 A)) | {t_dp * 1e3:.3f} ms "
              f"| {dp['var_is']:.6f} | {dp['var_pdis']:.6f} |", "",
              f"The two exact methods agree to {agree:.1e}; DP is {t_ex / t_dp:,.0f}x faster."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
