"""The conformance kit: one ``check`` with default settings (200 examples).

1. ``check(gae, "returns.gae")`` on a conforming implementation (the reference's loop ground
   truth), and on a buggy one (a termination bootstrapped), which adds shrinking, simplification
   and diagnosis against the bug catalogue. Target: well under a minute each on 2 cores.
2. The ratio to a baseline measured in the same run: calling the reference and the implementation
   once on each of 200 examples of the same kind (what any hand-written comparison costs), so the
   figure is the kit's overhead for drawing, shrinking and explaining.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from reference_impls import _returns_loop, returns
from verify.conformance import check


def _buggy(rewards, values, next_values, terminated, truncated, gamma, lam):
    te = np.asarray(terminated, bool)
    return returns.gae(rewards, values, next_values, np.zeros_like(te), te | np.asarray(truncated, bool), gamma, lam)


def _baseline(n: int) -> float:
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for i in range(n):
        T = [1, 5, 20, 200][i % 4]
        r, v, nv = rng.standard_normal((3, 2, T))
        te = rng.uniform(size=(2, T)) < 0.05
        tr = (rng.uniform(size=(2, T)) < 0.05) & ~te
        a = returns.gae(r, v, nv, te, tr, 0.99, 0.95)
        b = _returns_loop.gae_loop(r, v, nv, te, tr, 0.99, 0.95)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    return time.perf_counter() - t0


def run(quick: bool = False) -> str:
    n = 40 if quick else 200
    t0 = time.perf_counter()
    ok = check(_returns_loop.gae_loop, "returns.gae", examples=n)
    t_pass = time.perf_counter() - t0
    t0 = time.perf_counter()
    bad = check(_buggy, "returns.gae", examples=n)
    t_fail = time.perf_counter() - t0
    base = _baseline(n)
    assert ok.passed and not bad.passed and "gae:bootstrap-through-terminated" in bad.diagnosis
    return "\n".join([
        "## Conformance kit (`verify.conformance.check`)",
        "",
        f"One `check` of `returns.gae` with default settings ({n} examples, float64 and float32, T up to 400).",
        "",
        "| case | seconds | ratio to the baseline |",
        "|---|---|---|",
        f"| conforming implementation (loop ground truth) | {t_pass:.2f} | {t_pass / base:.1f}x |",
        f"| buggy implementation (+ shrink, simplify, diagnose) | {t_fail:.2f} | {t_fail / base:.1f}x |",
        f"| baseline: {n} hand-written comparisons | {base:.2f} | 1x |",
        "",
        "Target: each `check` well under 60 s on 2 cores.",
    ])


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
