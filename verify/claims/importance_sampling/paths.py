"""PATHS-IMPORTANCE: the numpy and torch paths of reference_impls.importance against elementwise definitions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from reference_impls import importance as I
from verify.claims._conformance_paths import torch_mirror_conforms
from verify.claims._paths import Case, Inputs, _np_torch, _path_checks, _per_row, _rows2
from verify.registry import Source, claim


def _is_inputs(lp: list[list[float]], blp: list[list[float]], r: list[list[float]]) -> Inputs:
    return {"lp": np.asarray(lp), "blp": np.asarray(blp), "r": np.asarray(r), "gamma": 0.9, "level": 1.5}


_IS_HANDCRAFTED = (
    _is_inputs([[-0.2, -1.5, -0.7, -2.0], [-0.1, -0.3, -3.0, -0.9]],
               [[-0.9, -0.4, -0.7, -1.2], [-1.6, -0.3, -0.2, -2.2]],
               [[1.0, -2.0, 0.5, 3.0], [0.25, 1.0, -1.0, 2.0]]),
    _is_inputs([[-0.5, -0.6, -0.2]], [[-1.5, -0.1, -0.9]], [[2.0, 1.0, -1.0]]),
)


def _draw_is(rng: np.random.Generator) -> Inputs:
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 9)))
    return {"lp": -rng.exponential(size=shape), "blp": -rng.exponential(size=shape), "r": rng.normal(size=shape),
            "gamma": float(rng.choice([0.0, 0.5, 0.9, 1.0])), "level": float(rng.choice([0.5, 1.0, 2.5]))}


def _is_cases() -> list[Case]:
    def w(lp: list[float], blp: list[float]) -> list[float]:
        return [math.exp(a - b) for a, b in zip(lp, blp)]

    def traj(r: list[float], lp: list[float], blp: list[float], g: float) -> float:
        return math.prod(w(lp, blp)) * sum(g ** t * x for t, x in enumerate(r))

    def pdis(r: list[float], lp: list[float], blp: list[float], g: float) -> float:
        ws = w(lp, blp)
        return sum(g ** t * math.prod(ws[:t + 1]) * r[t] for t in range(len(r)))

    def ordinary(r: list[float], lp: list[float], blp: list[float]) -> float:
        return sum(a * b for a, b in zip(w(lp, blp), r)) / len(r)

    def snis(r: list[float], lp: list[float], blp: list[float]) -> float:
        ws = w(lp, blp)
        return sum(a * b for a, b in zip(ws, r)) / sum(ws)

    def tis(r: list[float], lp: list[float], blp: list[float], c: float) -> float:
        return sum(min(a, c) * b for a, b in zip(w(lp, blp), r)) / len(r)

    def ess(ws: list[float]) -> float:
        return sum(ws) ** 2 / sum(x * x for x in ws)

    def lr(i: Inputs) -> list[Any]:
        return [i["lp"], i["blp"]]

    return [
        Case("importance.importance_weights", _np_torch(I, "importance", "importance_weights", lr),
             lambda i, e: np.exp(np.asarray(i["lp"]) - np.asarray(i["blp"])) * 1.0, _IS_HANDCRAFTED, _draw_is),
        Case("importance.cumulative_importance_weights",
             _np_torch(I, "importance", "cumulative_importance_weights", lr),
             lambda i, e: np.asarray([[math.prod(w(a, b)[:t + 1]) for t in range(len(a))]
                                      for a, b in zip(_rows2(i["lp"]), _rows2(i["blp"]))]), _IS_HANDCRAFTED, _draw_is),
        Case("importance.trajectory_importance_weights",
             _np_torch(I, "importance", "trajectory_importance_weights", lr),
             lambda i, e: _per_row(lambda a, b: math.prod(w(a, b)), i["lp"], i["blp"]), _IS_HANDCRAFTED, _draw_is),
        Case("importance.trajectory_is",
             _np_torch(I, "importance", "trajectory_is", lambda i: [i["r"], i["lp"], i["blp"], i["gamma"]]),
             lambda i, e: _per_row(lambda r, a, b: traj(r, a, b, i["gamma"]), i["r"], i["lp"], i["blp"]),
             _IS_HANDCRAFTED, _draw_is),
        Case("importance.per_decision_is",
             _np_torch(I, "importance", "per_decision_is", lambda i: [i["r"], i["lp"], i["blp"], i["gamma"]]),
             lambda i, e: _per_row(lambda r, a, b: pdis(r, a, b, i["gamma"]), i["r"], i["lp"], i["blp"]),
             _IS_HANDCRAFTED, _draw_is),
        Case("importance.ordinary_is", _np_torch(I, "importance", "ordinary_is", lambda i: [i["r"], i["lp"], i["blp"]]),
             lambda i, e: _per_row(ordinary, i["r"], i["lp"], i["blp"]), _IS_HANDCRAFTED, _draw_is),
        Case("importance.self_normalized_is",
             _np_torch(I, "importance", "self_normalized_is", lambda i: [i["r"], i["lp"], i["blp"]]),
             lambda i, e: _per_row(snis, i["r"], i["lp"], i["blp"]), _IS_HANDCRAFTED, _draw_is),
        Case("importance.truncated_is",
             _np_torch(I, "importance", "truncated_is", lambda i: [i["r"], i["lp"], i["blp"], i["level"]]),
             lambda i, e: _per_row(lambda r, a, b: tis(r, a, b, i["level"]), i["r"], i["lp"], i["blp"]),
             _IS_HANDCRAFTED, _draw_is),
        Case("importance.effective_sample_size",
             _np_torch(I, "importance", "effective_sample_size",
                       lambda i: [np.exp(np.asarray(i["lp"]) - np.asarray(i["blp"]))]),
             lambda i, e: _per_row(lambda a, b: ess(w(a, b)), i["lp"], i["blp"]), _IS_HANDCRAFTED, _draw_is),
    ]


claim(
    id="PATHS-IMPORTANCE",
    title="Every path of the importance-sampling estimators equals the definition (numpy, torch)",
    statement=r"Importance weights, prefix and trajectory weights, trajectory and per-decision IS, ordinary, "
              r"self-normalized and truncated IS and Kong's ESS, in numpy and in the torch mirror, equal their "
              r"definitions (Precup et al. 2000; Kong 1992) computed element by element, to $10^{-9}$ of scale.",
    source=Source("Precup, Sutton & Singh 2000; Kong 1992; Ionides 2008"
                  "; the documented execution paths of reference_impls (backend= and the torch mirror)"),
    family="importance-sampling",
    kind="implementation",
    expected="verified",
    checks=(*_path_checks(_is_cases, "importance-sampling paths"), torch_mirror_conforms("importance")),
    conventions=("weights w = exp(log pi - log mu); samples on the last axis",),
)
