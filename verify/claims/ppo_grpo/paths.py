"""PATHS-LOSSES: the numpy and torch paths of reference_impls.losses against loops over elements."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from reference_impls import losses as L
from verify.claims._conformance_paths import torch_mirror_conforms
from verify.claims._paths import Case, Inputs, _np_torch, _path_checks, _rows2, _scalar_def, _torch_mod, _with
from verify.registry import Source, claim

# --------------------------------------------------------------------------- losses


def _loss_inputs(ratios: list[float], adv: list[float], mask: list[bool]) -> Inputs:
    old = np.linspace(-1.5, -0.2, len(ratios))
    return {"lp": old + np.log(np.asarray(ratios)), "old": old, "adv": np.asarray(adv), "mask": np.asarray(mask),
            "eps": (0.2, 0.28), "dual": 2.5, "kl": np.abs(np.sin(np.arange(len(ratios)))) * 0.1, "beta": 0.7,
            "rewards": np.asarray([[1.0, 0.0, 0.0, 1.0, 1.0], [0.2, 0.9, 0.4, 0.4, 0.0]]),
            "values": np.asarray([[0.5, -1.0, 2.0, 0.25], [1.5, 0.0, -0.5, 3.0]]),
            "vmask": np.asarray([[True, True, False, False], [True, True, True, True]])}


_LOSS_HANDCRAFTED = (
    # ratios below, inside and above the asymmetric band, each with both advantage signs; one masked element
    _loss_inputs([0.5, 0.5, 0.9, 1.1, 1.35, 1.35, 3.0, 0.7, 1.0, 1.5],
                 [1.0, -2.0, 0.5, -1.0, 2.0, -0.5, 1.5, 0.75, -0.3, -3.0],
                 [True, True, True, False, True, True, True, True, True, True]),
)


def _draw_loss(rng: np.random.Generator) -> Inputs:
    n = int(rng.integers(2, 12))
    old = -rng.exponential(size=n)
    m = rng.random(n) < 0.8
    m[0] = True
    B, Tn = int(rng.integers(1, 4)), int(rng.integers(1, 6))
    vm = rng.random((B, Tn)) < 0.7
    vm[:, 0] = True
    return {"lp": old + rng.normal(scale=0.5, size=n), "old": old, "adv": rng.normal(size=n), "mask": m,
            "eps": (float(rng.uniform(0.05, 0.4)), float(rng.uniform(0.05, 0.4))), "dual": float(rng.uniform(1.5, 4)),
            "kl": rng.exponential(scale=0.1, size=n), "beta": float(rng.uniform(0, 2)),
            "rewards": rng.integers(0, 2, size=(2, int(rng.integers(2, 7)))).astype(float) + rng.normal(size=1) * 0.01
            * rng.integers(0, 2),
            "values": rng.normal(size=(B, Tn)), "vmask": vm}


def _ppo_def(i: Inputs, dual: float | None) -> np.ndarray:
    lo, hi = i["eps"]
    out = []
    for a, b, A in zip(i["lp"], i["old"], i["adv"]):
        r = math.exp(a - b)
        v = min(r * A, min(max(r, 1 - lo), 1 + hi) * A)
        if dual is not None and A < 0:
            v = max(v, dual * A)
        out.append(v)
    return np.asarray(out)


def _clipfrac_def(i: Inputs, definition: str) -> float:
    lo, hi = i["eps"]
    n = k = 0
    for a, b, A, m in zip(i["lp"], i["old"], i["adv"], i["mask"]):
        if not m:
            continue
        r = math.exp(a - b)
        n += 1
        if definition == "ratio-outside":
            k += r > 1 + hi or r < 1 - lo
        else:
            k += (A > 0 and r > 1 + hi) or (A < 0 and r < 1 - lo)
    return k / n


def _agg_def(i: Inputs, mode: str) -> float:
    rows = [[v for v, m in zip(vr, mr) if m] for vr, mr in zip(i["values"].tolist(), i["vmask"].tolist())]
    if mode == "token-mean":
        return sum(map(sum, rows)) / sum(map(len, rows))
    if mode == "seq-mean-token-mean":
        return sum(sum(r) / len(r) for r in rows) / len(rows)
    if mode == "seq-mean-token-sum":
        return sum(sum(r) for r in rows) / len(rows)
    return sum(sum(r) for r in rows) / len(rows) / i["values"].shape[-1]


def _grpo_def(i: Inputs, std: str | None) -> np.ndarray:
    out = []
    for row in _rows2(i["rewards"]):
        n = len(row)
        mu = sum(row) / n
        if std is None:
            out.append([x - mu for x in row])
            continue
        ddof = 1 if std == "sample" else 0
        s = math.sqrt(sum((x - mu) ** 2 for x in row) / (n - ddof)) + 1e-6
        out.append([(x - mu) / s for x in row])
    return np.asarray(out)


def _losses_cases() -> list[Case]:
    def ppo_args(i: Inputs) -> list[Any]:
        return [i["lp"], i["old"], i["adv"], i["eps"]]

    cases = [
        Case("losses.ppo_clip_objective", _np_torch(L, "losses", "ppo_clip_objective", ppo_args),
             lambda i, e: _ppo_def(i, None), _LOSS_HANDCRAFTED, _draw_loss),
        Case("losses.ppo_clip_objective[dual_clip]",
             _np_torch(L, "losses", "ppo_clip_objective", lambda i: [*ppo_args(i), i["dual"]]),
             lambda i, e: _ppo_def(i, i["dual"]), _LOSS_HANDCRAFTED, _draw_loss),
        Case("losses.kl_penalized_objective",
             _np_torch(L, "losses", "kl_penalized_objective", lambda i: [i["lp"], i["old"], i["adv"], i["kl"],
                                                                         i["beta"]]),
             lambda i, e: np.asarray([math.exp(a - b) * A - i["beta"] * k
                                      for a, b, A, k in zip(i["lp"], i["old"], i["adv"], i["kl"])]),
             _LOSS_HANDCRAFTED, _draw_loss),
        Case("losses.rloo_advantages", _np_torch(L, "losses", "rloo_advantages", lambda i: [i["rewards"]]),
             lambda i, e: np.asarray([[x - (sum(row) - x) / (len(row) - 1) for x in row]
                                      for row in _rows2(i["rewards"])]),
             _LOSS_HANDCRAFTED, _draw_loss),
        Case("losses.gspo_sequence_ratio",
             _np_torch(L, "losses", "gspo_sequence_ratio", lambda i: [i["lp"][None], i["old"][None], i["mask"][None]]),
             lambda i, e: np.asarray([math.exp(sum(a - b for a, b, m in zip(i["lp"], i["old"], i["mask"]) if m)
                                               / int(np.sum(i["mask"])))]), _LOSS_HANDCRAFTED, _draw_loss),
    ]
    for d in L.CLIP_FRACTION_DEFINITIONS:
        cases.append(Case(f"losses.clip_fraction[{d}]",
                          _np_torch(L, "losses", "clip_fraction", functools.partial(_with, ("lp", "old", "adv", "eps",
                                                                                            "mask"), d)),
                          functools.partial(_scalar_def, _clipfrac_def, d), _LOSS_HANDCRAFTED, _draw_loss))
    for mode in L.AGGREGATION_MODES:
        cases.append(Case(f"losses.aggregate[{mode}]",
                          _np_torch(L, "losses", "aggregate", functools.partial(_with, ("values", "vmask"), mode)),
                          functools.partial(_scalar_def, _agg_def, mode), _LOSS_HANDCRAFTED, _draw_loss))
    for std in ("sample", "population", None):
        cases.append(Case(f"losses.grpo_advantages[std={std}]",
                          _np_torch(L, "losses", "grpo_advantages", functools.partial(_with, ("rewards",), std)),
                          functools.partial(_scalar_def, _grpo_def, std), _LOSS_HANDCRAFTED, _draw_loss))
    kl_grid = (0.001, 0.0066, 0.0067, 0.01, 0.014, 0.0151, 0.02, 0.2)

    def adaptive_paths(i: Inputs, devices: list[str]) -> dict[str, Any]:
        out = {"numpy": np.asarray([L.adaptive_kl_coefficient(1.3, k, 0.01) for k in kl_grid])}
        if devices:
            tl = _torch_mod("losses")
            out["torch"] = np.asarray([float(tl.adaptive_kl_coefficient(1.3, k, 0.01)) for k in kl_grid])
        return out

    def adaptive_def(i: Inputs, e: bool) -> np.ndarray:
        return np.asarray([1.3 / 2 if k < 0.01 / 1.5 else 1.3 * 2 if k > 0.015 else 1.3 for k in kl_grid])

    cases.append(Case("losses.adaptive_kl_coefficient", adaptive_paths, adaptive_def, _LOSS_HANDCRAFTED, _draw_loss))
    return cases


claim(
    id="PATHS-LOSSES",
    title="Every path of the PPO / GRPO losses equals the definition (numpy, torch)",
    statement=r"The PPO clipped objective (asymmetric $\epsilon$, dual clip on $A<0$ only), the KL-penalised "
              r"objective, both clip-fraction definitions, the four aggregation modes, GRPO (sample, population, "
              r"no std) and RLOO advantages, GSPO's sequence ratio and PPO's adaptive KL rule, in numpy and in the "
              r"torch mirror, equal their definitions element by element, to $10^{-9}$ of scale.",
    source=Source("Schulman et al. 2017, eqs. 7-8; Ye et al. 2020; Shao et al. 2024; Zheng et al. 2025; "
                  "the documented execution paths of reference_impls (backend= and the torch mirror)"),
    family="ppo-grpo",
    kind="implementation",
    expected="verified",
    checks=(*_path_checks(_losses_cases, "loss paths"), torch_mirror_conforms("losses")),
    conventions=("r = exp(log_probs - old_log_probs); objectives are maximised",),
)
