"""PATHS-DIVERGENCES: the numpy and torch paths of reference_impls.divergences against elementwise definitions."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from reference_impls import divergences as D
from verify.claims._conformance_paths import torch_mirror_conforms
from verify.claims._paths import Case, Inputs, _kl_est_def, _np_torch, _path_checks, _per_row, _with
from verify.registry import Source, claim

# --------------------------------------------------------------------------- divergences


def _div_inputs(p: list[list[float]], q: list[list[float]], lp: list[float], lq: list[float]) -> Inputs:
    return {"p": np.asarray(p), "q": np.asarray(q), "log_p": np.asarray(lp), "log_q": np.asarray(lq)}


_DIV_HANDCRAFTED = (
    _div_inputs([[0.5, 0.3, 0.2], [0.1, 0.0, 0.9]], [[0.2, 0.2, 0.6], [0.3, 0.4, 0.3]],
                [-0.1, -2.3, -0.7, -1.2, -0.05], [-1.4, -0.3, -0.7, -3.1, -0.9]),
)


def _draw_div(rng: np.random.Generator) -> Inputs:
    k = int(rng.integers(2, 6))
    n = int(rng.integers(1, 4))
    p = rng.dirichlet(np.ones(k), size=n)
    q = rng.dirichlet(np.ones(k), size=n) * 0.9 + 0.1 / k
    return {"p": p, "q": q, "log_p": -rng.exponential(size=7), "log_q": -rng.exponential(size=7)}


def _div_cases() -> list[Case]:
    def kl(p: list[float], q: list[float]) -> float:
        return sum(a * math.log(a / b) for a, b in zip(p, q) if a > 0)

    def pq(i: Inputs) -> list[Any]:
        return [i["p"], i["q"]]

    est = {"k1": lambda x: -x, "k2": lambda x: 0.5 * x * x, "k3": lambda x: math.exp(x) - 1.0 - x}
    cases = [
        Case("divergences.kl", _np_torch(D, "divergences", "kl", pq), lambda i, e: _per_row(kl, i["p"], i["q"]),
             _DIV_HANDCRAFTED, _draw_div),
        Case("divergences.tv", _np_torch(D, "divergences", "tv", pq),
             lambda i, e: _per_row(lambda p, q: 0.5 * sum(abs(a - b) for a, b in zip(p, q)), i["p"], i["q"]),
             _DIV_HANDCRAFTED, _draw_div),
        Case("divergences.l1", _np_torch(D, "divergences", "l1", pq),
             lambda i, e: _per_row(lambda p, q: sum(abs(a - b) for a, b in zip(p, q)), i["p"], i["q"]),
             _DIV_HANDCRAFTED, _draw_div),
        Case("divergences.chi2", _np_torch(D, "divergences", "chi2", pq),
             lambda i, e: _per_row(lambda p, q: sum((a - b) ** 2 / b for a, b in zip(p, q)), i["p"], i["q"]),
             _DIV_HANDCRAFTED, _draw_div),
    ]
    for kind, fk in est.items():
        cases.append(Case(f"divergences.kl_estimator[{kind}]",
                          _np_torch(D, "divergences", "kl_estimator",
                                    functools.partial(_with, ("log_p", "log_q"), kind)),
                          functools.partial(_kl_est_def, fk), _DIV_HANDCRAFTED, _draw_div))
    return cases


claim(
    id="PATHS-DIVERGENCES",
    title="Every path of the divergences and KL estimators equals the definition (numpy, torch)",
    statement=r"$\mathrm{KL}(p\|q)$, $\mathrm{TV} = \frac12\|p-q\|_1$, $\ell_1$, $\chi^2$ and the sample "
              r"estimators k1 $= -\log r$, k2 $= \frac12(\log r)^2$, k3 $= (r-1) - \log r$ with "
              r"$r = q(x)/p(x)$, $x \sim p$ (Schulman 2020), in numpy and in the torch mirror, equal their "
              r"definitions to $10^{-9}$ of scale.",
    source=Source("Schulman 2020, 'Approximating KL divergence'"
                  "; the documented execution paths of reference_impls (backend= and the torch mirror)"),
    family="kl-estimators",
    kind="implementation",
    expected="verified",
    checks=(*_path_checks(_div_cases, "divergence paths"), torch_mirror_conforms("divergences")),
    conventions=("KL(p||q) in nats; TV = 1/2 L1",),
)
