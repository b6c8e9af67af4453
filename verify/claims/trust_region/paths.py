"""PATHS-TRUST-REGION: the numpy and torch paths of reference_impls.trust_region against independent definitions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from reference_impls import trust_region as TR
from verify.claims._paths import Case, Inputs, _path_checks
from verify.registry import Source, claim

# --------------------------------------------------------------------------- trust region


def _tr_inputs(rng: np.random.Generator) -> Inputs:
    n = int(rng.integers(2, 6))
    A = rng.normal(size=(n, n))
    return {"F": A @ A.T + 0.1 * np.eye(n), "g": rng.normal(size=n), "delta": float(rng.uniform(1e-3, 0.1))}


def _tr_cases() -> list[Case]:
    def solve(i: Inputs) -> list[float]:
        """``F^{-1} g`` by Gauss-Jordan elimination with partial pivoting, in plain Python."""
        n = len(i["g"])
        aug = [[*map(float, i["F"][k]), float(i["g"][k])] for k in range(n)]
        for c in range(n):
            p = max(range(c, n), key=lambda k: abs(aug[k][c]))
            aug[c], aug[p] = aug[p], aug[c]
            for k in range(n):
                if k != c:
                    f = aug[k][c] / aug[c][c]
                    aug[k] = [a - f * b for a, b in zip(aug[k], aug[c])]
        return [aug[k][n] / aug[k][k] for k in range(n)]

    def step_def(i: Inputs, e: bool) -> np.ndarray:
        # maximize g.s subject to 1/2 s^T F s <= delta: s = sqrt(2 delta / g^T F^-1 g) F^-1 g
        x = solve(i)
        gx = sum(a * b for a, b in zip(i["g"], x))
        return np.asarray(x) * math.sqrt(2 * i["delta"] / gx)

    def step_paths(i: Inputs, devices: list[str]) -> dict[str, Any]:
        return {"numpy": TR.natural_gradient_step(i["g"], i["F"], i["delta"])}

    def cg_paths(i: Inputs, devices: list[str]) -> dict[str, Any]:
        F = i["F"]
        return {"numpy": TR.conjugate_gradient(lambda v: F @ v, i["g"], iterations=4 * len(i["g"]), tolerance=1e-14)}

    def cg_def(i: Inputs, e: bool) -> np.ndarray:
        return np.asarray(solve(i))

    hand = tuple(_tr_inputs(np.random.default_rng(s)) for s in (1, 2))
    return [Case("trust_region.natural_gradient_step", step_paths, step_def, hand, _tr_inputs),
            Case("trust_region.conjugate_gradient", cg_paths, cg_def, hand, _tr_inputs)]


claim(
    id="PATHS-TRUST-REGION",
    title="The natural-gradient step and conjugate gradients equal their definitions",
    statement=r"`natural_gradient_step(g, F, delta)` is $\sqrt{2\delta / g^\top F^{-1} g}\,F^{-1} g$ and "
              r"`conjugate_gradient` (run to convergence) is $F^{-1} g$, with $F^{-1} g$ computed here by "
              r"Gauss-Jordan elimination in plain Python, to $10^{-9}$ of scale.",
    source=Source("Schulman et al. 2015 (TRPO), Appendix C; Hestenes & Stiefel 1952"),
    family="trust-region",
    kind="implementation",
    expected="verified",
    checks=_path_checks(_tr_cases, "trust-region solvers"),
    conventions=("the KL model is 1/2 s^T F s <= delta",),
)
