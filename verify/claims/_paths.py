"""Every execution path under a claim: each public reference function, run through every path a call
can take, equals an independent definition written here.

The paths are: for :mod:`reference_impls.returns`, every ``backend=`` (``numba`` where installed,
``numpy``, ``loop``) and the torch mirror; for the other modules, the numpy function and its torch
mirror (torch on CPU in float64, and on CUDA too when the run's device is ``cuda``). A fault in only
one path -- the torch mirror, the numpy fallback where numba is installed, the loop ground truth --
makes the claim of its family refuted, not only a unit test red (``python -m verify mutate`` measures
this with the mutant catalogue, :mod:`verify.mutants`).

The definitions are plain Python written from the papers' formulas, independent of every path:
direct sums (V-trace eq. 1 and Retrace eq. 3 as sums of discounted, trace-weighted TD errors, not the
backward recursions the paths use), truncated power series for the MDP quantities (not linear solves),
loops over elements for the losses. Each claim has two kinds of evidence: ``exact`` -- handcrafted
inputs that hit every case (episode ends of both kinds at the first, middle and last step, ratios on
both sides of every clip level, both advantage signs, masked tokens), with the returns definitions in
exact rational arithmetic on the inputs' float values; and ``property`` -- hypothesis-drawn random
inputs of random shapes compared with the float definition. Tolerance: ``1e-9`` relative to the
result's scale (rounding is ~1e-15; every fault the catalogue plants moves a result by far more).

This module holds the shared machinery; each family's path claim is in ``verify/claims/<family>/paths.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence

#: Largest admissible ``|path - definition| / max(1, |definition|)``.
TOL = 1e-9


Inputs = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """One function: its paths, its definition, handcrafted inputs and a random-input generator."""

    name: str
    paths: Callable[[Inputs, list[str]], dict[str, Any]]  # inputs, torch devices -> {path: output}
    definition: Callable[[Inputs, bool], Any]  # inputs, exact (Fractions) -> output
    handcrafted: tuple[Inputs, ...]
    draw: Callable[[np.random.Generator], Inputs]


# --------------------------------------------------------------------------- helpers


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # the torch mirror is optional; its paths are then not run
        return None
    return torch


def _devices(ctx: Context) -> list[str]:
    if _torch() is None:
        return []
    return ["cpu", "cuda"] if ctx.device == "cuda" else ["cpu"]


def _t(x: Any, dev: str) -> Any:
    torch = _torch()
    a = np.asarray(x)
    if a.dtype == bool:
        return torch.as_tensor(a.copy(), device=dev)
    return torch.as_tensor(np.array(a, dtype=np.float64), device=dev)  # a writable copy


def _np(x: Any) -> np.ndarray:
    if isinstance(x, tuple):
        return np.concatenate([_np(u).reshape(-1) for u in x])
    if hasattr(x, "detach"):
        return np.asarray(x.detach().cpu().numpy(), dtype=np.float64)
    return np.asarray(x, dtype=np.float64)


def _compare(case: Case, inp: Inputs, devices: list[str], exact: bool) -> float:
    """Largest scaled error over the paths; raises :class:`Violation` naming the path that differs."""
    want = _np(case.definition(inp, exact))
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    worst = 0.0
    for path, out in case.paths(inp, devices).items():
        got = _np(out)
        if got.shape != want.shape:
            raise Violation(f"{case.name} [{path}]: shape {got.shape}, definition {want.shape}",
                            function=case.name, path=path)
        err = float(np.max(np.abs(got - want))) / scale if want.size else 0.0
        if not err <= TOL:  # NaN counts as a difference
            raise Violation(f"{case.name} [{path}] differs from the definition by {err:.3g} (relative)",
                            function=case.name, path=path, error=err,
                            inputs={k: _short(v) for k, v in inp.items()})
        worst = max(worst, err)
    return worst


def _with(keys: tuple[str, ...], last: Any, i: Inputs) -> list[Any]:
    """The inputs ``keys`` in order, then ``last`` (a fixed option such as the estimator's kind)."""
    return [*(i[k] for k in keys), last]


def _scalar_def(fn: Callable[[Inputs, Any], Any], option: Any, i: Inputs, exact: bool) -> np.ndarray:
    return np.asarray(fn(i, option))


def _kl_est_def(fk: Callable[[float], float], i: Inputs, exact: bool) -> np.ndarray:
    return np.asarray([fk(b - a) for a, b in zip(i["log_p"], i["log_q"])])


def _short(v: Any) -> Any:
    a = np.asarray(v)
    return a.tolist() if a.size <= 64 else f"array of shape {a.shape}"


def _path_checks(family_cases: Callable[[], list[Case]], what: str) -> tuple[Callable[..., Evidence], ...]:
    @check("exact", "handcrafted_inputs_every_path")
    def handcrafted(ctx: Context) -> Evidence:
        devices = _devices(ctx)
        cases = family_cases()
        n, worst = 0, 0.0
        try:
            for case in cases:
                for inp in case.handcrafted:
                    worst = max(worst, _compare(case, inp, devices, exact=True))
                    n += 1
        except Violation as v:
            return Evidence("exact", False, f"{what}: a path differs from the definition on handcrafted inputs: "
                            f"{v.message}", {"inputs_run": n}, counterexample=v.details)
        return Evidence("exact", True, f"{what}: every path equals the definition on {n} handcrafted inputs",
                        {"functions": len(cases), "inputs": n, "torch_devices": devices,
                         "max_rel_error_below": 1e-12 if worst < 1e-12 else TOL})

    @check("property", "random_inputs_every_path")
    def random_inputs(ctx: Context) -> Evidence:
        devices = _devices(ctx)
        cases = family_cases()

        def body(seed: int) -> float:
            rng = np.random.default_rng(seed)
            return max(_compare(case, case.draw(rng), devices, exact=False) for case in cases) / TOL

        ev = property_evidence(ctx, st.integers(0, 2**32 - 1), body, target_label="error_over_tolerance",
                               summary=f"{what}: every path equals the definition on random inputs of random shapes",
                               max_examples=max(5, ctx.profile.max_examples // 3))
        ev.figures["functions"] = len(cases)
        ev.figures["torch_devices"] = devices
        ev.figures.pop("worst_error_over_tolerance", None)  # rounding-level: not a reproducible figure
        return ev

    return handcrafted, random_inputs


# --------------------------------------------------------------------------- importance sampling


def _torch_mod(name: str) -> Any:
    import importlib

    return importlib.import_module(f"reference_impls.torch.{name}")


def _np_torch(np_mod: Any, t_name: str, fn: str, args: Callable[[Inputs], list[Any]],
              kw: Callable[[Inputs], dict[str, Any]] = lambda i: {}) -> Callable[[Inputs, list[str]], dict[str, Any]]:
    def paths(inp: Inputs, devices: list[str]) -> dict[str, Any]:
        out = {"numpy": getattr(np_mod, fn)(*args(inp), **kw(inp))}
        for dev in devices:
            tm = _torch_mod(t_name)
            targs = [_t(a, dev) if isinstance(a, np.ndarray) else a for a in args(inp)]
            tkw = {k: (_t(a, dev) if isinstance(a, np.ndarray) else a) for k, a in kw(inp).items()}
            out[f"torch {dev}"] = getattr(tm, fn)(*targs, **tkw)
        return out

    return paths


def _rows2(a: Any) -> list[list[float]]:
    x = np.asarray(a, dtype=np.float64)
    return [list(map(float, row)) for row in x.reshape(-1, x.shape[-1])]


def _per_row(fn: Callable[..., Any], *arrs: Any) -> np.ndarray:
    return np.asarray([fn(*cols) for cols in zip(*(_rows2(a) for a in arrs))])
