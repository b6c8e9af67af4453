"""PATHS-MISMATCH: the numpy and torch paths of reference_impls.mismatch against elementwise definitions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from reference_impls import mismatch as MM
from verify.claims._conformance_paths import torch_mirror_conforms
from verify.claims._paths import Case, Inputs, _np_torch, _path_checks
from verify.registry import Source, claim

# --------------------------------------------------------------------------- mismatch


def _mm_inputs(lp: list[list[float]], slp: list[list[float]], mask: list[list[bool]]) -> Inputs:
    return {"lp": np.asarray(lp), "slp": np.asarray(slp), "mask": np.asarray(mask), "cap": 1.6, "low": 0.5,
            "high": 1.8}


_MM_HANDCRAFTED = (
    _mm_inputs([[-0.2, -1.5, -0.7, -2.0], [-0.1, -0.3, -3.0, -0.9], [-0.4, -0.4, -0.1, -0.2]],
               [[-0.9, -0.4, -0.7, -1.2], [-1.6, -0.3, -0.2, -2.2], [-0.5, -0.6, -0.3, -0.2]],
               [[True, False, True, True], [True, True, False, True], [True, True, True, True]]),
)


def _draw_mm(rng: np.random.Generator) -> Inputs:
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 7)))
    m = rng.random(shape) < 0.7
    m[:, 0] = True
    return {"lp": -rng.exponential(size=shape), "slp": -rng.exponential(size=shape), "mask": m,
            "cap": float(rng.uniform(0.5, 3)), "low": float(rng.uniform(0, 0.9)), "high": float(rng.uniform(1.1, 4))}


def _mm_cases() -> list[Case]:
    def seqw(i: Inputs) -> list[float]:
        return [math.exp(sum(a - b for a, b, m in zip(x, y, z) if m))
                for x, y, z in zip(i["lp"].tolist(), i["slp"].tolist(), i["mask"].tolist())]

    def args(i: Inputs) -> list[Any]:
        return [i["lp"], i["slp"], i["mask"]]

    def tok(i: Inputs, cap: float | None) -> np.ndarray:
        return np.asarray([[min(math.exp(a - b), cap if cap else math.inf) if m else 0.0 for a, b, m in zip(x, y, z)]
                           for x, y, z in zip(i["lp"].tolist(), i["slp"].tolist(), i["mask"].tolist())])

    return [
        Case("mismatch.token_is_weights", _np_torch(MM, "mismatch", "token_is_weights", args),
             lambda i, e: tok(i, None), _MM_HANDCRAFTED, _draw_mm),
        Case("mismatch.token_is_weights[cap]", _np_torch(MM, "mismatch", "token_is_weights",
                                                         lambda i: [*args(i), i["cap"]]),
             lambda i, e: tok(i, i["cap"]), _MM_HANDCRAFTED, _draw_mm),
        Case("mismatch.sequence_is_weights", _np_torch(MM, "mismatch", "sequence_is_weights", args),
             lambda i, e: np.asarray(seqw(i)), _MM_HANDCRAFTED, _draw_mm),
        Case("mismatch.sequence_is_weights[cap]",
             _np_torch(MM, "mismatch", "sequence_is_weights", lambda i: [*args(i), i["cap"]]),
             lambda i, e: np.minimum(np.asarray(seqw(i)), i["cap"]), _MM_HANDCRAFTED, _draw_mm),
        Case("mismatch.sequence_mask_weights",
             _np_torch(MM, "mismatch", "sequence_mask_weights", lambda i: [*args(i), i["low"], i["high"]]),
             lambda i, e: np.asarray([w if i["low"] <= w <= i["high"] else 0.0 for w in seqw(i)]),
             _MM_HANDCRAFTED, _draw_mm),
        Case("mismatch.gspo_ratio", _np_torch(MM, "mismatch", "gspo_ratio", args),
             lambda i, e: np.asarray([math.exp(sum(a - b for a, b, m in zip(x, y, z) if m) / sum(z))
                                      for x, y, z in zip(i["lp"].tolist(), i["slp"].tolist(), i["mask"].tolist())]),
             _MM_HANDCRAFTED, _draw_mm),
    ]


claim(
    id="PATHS-MISMATCH",
    title="Every path of the learner-sampler corrections equals the definition (numpy, torch)",
    statement=r"Token IS weights (plain and truncated), sequence IS weights $\prod_t \rho_t$ over policy tokens "
              r"(plain and truncated), masked IS and GSPO's geometric-mean ratio, in numpy and in the torch mirror, "
              r"equal their definitions token by token, to $10^{-9}$ of scale.",
    source=Source("Ionides 2008; Zheng et al. 2025 (GSPO)"
                  "; the documented execution paths of reference_impls (backend= and the torch mirror)"),
    family="mismatch",
    kind="implementation",
    expected="verified",
    checks=(*_path_checks(_mm_cases, "mismatch paths"), torch_mirror_conforms("mismatch")),
    conventions=("rho_t = pi/mu on policy tokens (mask 1), environment tokens excluded",),
)
