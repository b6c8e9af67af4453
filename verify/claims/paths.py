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
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import strategies as st

from reference_impls import divergences as D
from reference_impls import gradients as G
from reference_impls import importance as I
from reference_impls import losses as L
from reference_impls import mdp as M
from reference_impls import mismatch as MM
from reference_impls import returns as R
from reference_impls import trust_region as TR
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim

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


# --------------------------------------------------------------------------- returns: definitions


def _end(te: list[bool], tr: list[bool], t: int) -> int:
    """The last step of the stretch that starts at t (an episode end or T - 1)."""
    e = t
    while not te[e] and not tr[e] and e + 1 < len(te):
        e += 1
    return e


def _num(exact: bool) -> Callable[[float], Any]:
    return Fraction if exact else float


def _rows(inp: Inputs, *keys: str) -> list[list[list[Any]]]:
    arrs = [np.asarray(inp[k]) for k in keys]
    T = arrs[0].shape[-1]
    return [[list(a.reshape(-1, T)[b]) for a in arrs] for b in range(arrs[0].reshape(-1, T).shape[0])]


def _def_returns(inp: Inputs, exact: bool) -> np.ndarray:
    f = _num(exact)
    g = f(inp["gamma"])
    out = []
    for r, nv, te, tr in _rows(inp, "rewards", "next_values", "terminated", "truncated"):
        T = len(r)
        row = []
        for t in range(T):
            e = _end(te, tr, t)
            s = sum((g ** (k - t) * f(r[k]) for k in range(t, e + 1)), f(0))
            if not te[e]:
                s += g ** (e - t + 1) * f(nv[e])
            row.append(float(s))
        out.append(row)
    return np.asarray(out).reshape(np.shape(inp["rewards"]))


def _td(f: Callable[[float], Any], g: Any, r: list[Any], v: list[Any], nv: list[Any], te: list[bool], k: int) -> Any:
    return f(r[k]) + (0 if te[k] else g * f(nv[k])) - f(v[k])


def _def_gae(inp: Inputs, exact: bool, plus_values: bool = False) -> np.ndarray:
    f = _num(exact)
    g, lm = f(inp["gamma"]), f(inp["lam"])
    out = []
    for r, v, nv, te, tr in _rows(inp, "rewards", "values", "next_values", "terminated", "truncated"):
        row = []
        for t in range(len(r)):
            e = _end(te, tr, t)
            s = sum(((g * lm) ** (k - t) * _td(f, g, r, v, nv, te, k) for k in range(t, e + 1)), f(0))
            row.append(float(s + f(v[t])) if plus_values else float(s))
        out.append(row)
    return np.asarray(out).reshape(np.shape(inp["rewards"]))


def _ratio(f: Callable[[float], Any], lr: float) -> Any:
    return f(math.exp(lr))


def _clip(f: Callable[[float], Any], x: Any, level: float) -> Any:
    return x if level == math.inf else min(x, f(level))


def _def_vtrace(inp: Inputs, exact: bool) -> tuple[np.ndarray, np.ndarray]:
    """Espeholt et al. (2018) eq. (1) as a sum, and the pg advantages of Remark 1/sec. 4.2."""
    f = _num(exact)
    g, lm = f(inp["gamma"]), f(inp["lam"])
    vs_out, pg_out = [], []
    for r, v, nv, lr, te, tr in _rows(inp, "rewards", "values", "next_values", "log_rhos", "terminated", "truncated"):
        T = len(r)
        ratio = [_ratio(f, x) for x in lr]
        rho = [_clip(f, x, inp["rho_bar"]) for x in ratio]
        c = [lm * _clip(f, x, inp["c_bar"]) for x in ratio]
        vs = []
        for s in range(T):
            e = _end(te, tr, s)
            total, prod = f(0), f(1)
            for t in range(s, e + 1):
                total += g ** (t - s) * prod * rho[t] * _td(f, g, r, v, nv, te, t)
                prod *= c[t]
            vs.append(f(v[s]) + total)
        pg = []
        for t in range(T):
            q = vs[t + 1] if _end(te, tr, t) > t else f(nv[t])
            boot = 0 if te[t] else g * q
            pg.append(_clip(f, ratio[t], inp["pg_rho_bar"]) * (f(r[t]) + boot - f(v[t])))
        vs_out.append([float(x) for x in vs])
        pg_out.append([float(x) for x in pg])
    shape = np.shape(inp["rewards"])
    return np.asarray(vs_out).reshape(shape), np.asarray(pg_out).reshape(shape)


def _def_retrace(inp: Inputs, exact: bool) -> np.ndarray:
    """Munos et al. (2016) eq. (3) as a sum: ``G_s = Q_s + sum_t gamma^{t-s} (prod_{i=s+1}^t c_i) delta_t``."""
    f = _num(exact)
    g, lm = f(inp["gamma"]), f(inp["lam"])
    out = []
    for r, q, nq, lr, te, tr in _rows(inp, "rewards", "values", "next_values", "log_rhos", "terminated", "truncated"):
        c = [lm * _clip(f, _ratio(f, x), inp["c_bar"]) for x in lr]
        row = []
        for s in range(len(r)):
            e = _end(te, tr, s)
            total, prod = f(0), f(1)
            for t in range(s, e + 1):
                if t > s:
                    prod *= c[t]
                total += g ** (t - s) * prod * _td(f, g, r, q, nq, te, t)
            row.append(float(f(q[s]) + total))
        out.append(row)
    return np.asarray(out).reshape(np.shape(inp["rewards"]))


def _returns_paths(fn: str, inp: Inputs, devices: list[str]) -> dict[str, Any]:
    args = _returns_args(fn, inp)
    out: dict[str, Any] = {}
    for b in (["numba"] if R._HAVE_NUMBA else []) + ["numpy", "loop"]:
        out[f"numpy backend={b}"] = getattr(R, fn)(*args, backend=b)
    if devices:
        from reference_impls.torch import returns as TRET

        for dev in devices:
            targs = [_t(a, dev) if isinstance(a, np.ndarray) else a for a in args]
            out[f"torch {dev}"] = getattr(TRET, fn)(*targs)
            if dev == "cpu":  # method="auto" on CPU runs the compiled kernels: run the torch implementation too
                for m in ("loop", "scan"):
                    out[f"torch {dev} method={m}"] = getattr(TRET, fn)(*targs, method=m)
    return out


def _returns_args(fn: str, inp: Inputs) -> list[Any]:
    r, v, nv, lr, te, tr = (inp[k] for k in ("rewards", "values", "next_values", "log_rhos", "terminated",
                                             "truncated"))
    g, lm = inp["gamma"], inp["lam"]
    if fn == "discounted_returns":
        return [r, nv, te, tr, g]
    if fn in ("gae", "lambda_returns"):
        return [r, v, nv, te, tr, g, lm]
    if fn == "vtrace":
        return [r, v, nv, lr, te, tr, g, lm, inp["rho_bar"], inp["c_bar"], inp["pg_rho_bar"]]
    return [r, v, nv, lr, te, tr, g, lm, inp["c_bar"]]


def _returns_inputs(rewards: list[list[float]], log_rhos: list[list[float]], ends: list[str], gamma: float,
                    lam: float, rho_bar: float, c_bar: float, pg_rho_bar: float) -> Inputs:
    """``ends``: one string per row, ``.`` no end, ``x`` terminated, ``|`` truncated at that step."""
    r = np.asarray(rewards, dtype=np.float64)
    k = np.arange(r.size, dtype=np.float64).reshape(r.shape)
    return {"rewards": r, "values": np.round(np.sin(k) * 2.0, 3), "next_values": np.round(np.cos(1.7 * k) * 3.0, 3),
            "log_rhos": np.asarray(log_rhos, dtype=np.float64),
            "terminated": np.asarray([[ch == "x" for ch in e] for e in ends]),
            "truncated": np.asarray([[ch == "|" for ch in e] for e in ends]),
            "gamma": gamma, "lam": lam, "rho_bar": rho_bar, "c_bar": c_bar, "pg_rho_bar": pg_rho_bar}


_RETURNS_HANDCRAFTED = (
    # ends at the first, middle and last steps; ratios above and below every level; c_bar != rho_bar != 1
    _returns_inputs([[1.0, -0.5, 2.0, 0.25, -1.0, 0.5, 1.5], [0.5, 1.0, -2.0, 1.0, 0.75, -0.25, 2.0]],
                    [[0.4, -0.7, 1.1, 0.05, -1.3, 0.9, -0.2], [1.6, 0.3, -0.4, -2.0, 0.7, 0.2, 1.2]],
                    ["..x.|..", "x..|..x"], 0.9, 0.8, 1.3, 0.7, 0.9),
    _returns_inputs([[1.0, 2.0, 3.0, -1.0, 0.5]], [[0.9, -0.3, 0.6, 0.0, -1.1]], ["|...."], 1.0, 1.0,
                    math.inf, math.inf, math.inf),
    _returns_inputs([[0.3, -0.6, 1.2, 0.7]], [[0.2, 0.5, -0.5, 0.1]], [".x.."], 0.0, 0.5, 1.0, 1.0, 1.0),
    _returns_inputs([[0.3, -0.6, 1.2, 0.7, 0.1, -0.4]], [[1.2, 0.5, -0.5, 0.8, 2.0, -0.3]], ["...|.."], 0.95, 0.0,
                    2.0, 0.5, 1.5),
)


def _draw_returns(rng: np.random.Generator) -> Inputs:
    shape = tuple(int(x) for x in rng.integers(1, 5, size=int(rng.integers(1, 3))))
    shape = (*shape[:-1], int(rng.integers(1, 24)))
    u = rng.random(shape)
    p = float(rng.choice([0.0, 0.1, 0.3]))
    levels = [float(rng.choice([0.5, 1.0, 1.7, math.inf])) for _ in range(3)]
    return {"rewards": rng.normal(size=shape), "values": rng.normal(size=shape),
            "next_values": rng.normal(size=shape), "log_rhos": rng.normal(scale=0.8, size=shape),
            "terminated": u < p / 2, "truncated": (u >= p / 2) & (u < p),
            "gamma": float(rng.choice([0.0, 0.5, 0.9, 0.99, 1.0])), "lam": float(rng.choice([0.0, 0.7, 0.95, 1.0])),
            "rho_bar": levels[0], "c_bar": levels[1], "pg_rho_bar": levels[2]}


def _returns_cases() -> list[Case]:
    defs: dict[str, Callable[[Inputs, bool], Any]] = {
        "discounted_returns": _def_returns, "gae": _def_gae,
        "lambda_returns": lambda i, e: _def_gae(i, e, plus_values=True),
        "vtrace": _def_vtrace, "retrace": _def_retrace}
    return [Case(f"returns.{fn}", functools.partial(_returns_paths, fn), d, _RETURNS_HANDCRAFTED, _draw_returns)
            for fn, d in defs.items()]


claim(
    id="PATHS-RETURNS",
    title="Every path of the value targets equals the definition (numba, numpy, loop, torch)",
    statement=r"For `discounted_returns`, `gae`, `lambda_returns`, `vtrace` and `retrace`, every execution path "
              r"(`backend=` numba where installed, numpy, loop; the torch mirror on CPU, and on CUDA under "
              r"`--device cuda`) equals the direct sums of the papers (GAE eq. 16, V-trace eq. 1, Retrace eq. 3) "
              r"with Gymnasium episode ends, to $10^{-9}$ of the result's scale.",
    source=Source("Schulman et al. 2016, eq. 16; Espeholt et al. 2018, eq. 1; Munos et al. 2016, eq. 3; "
                  "CONTRACT.md (execution paths)"),
    family="value-targets",
    kind="implementation",
    expected="verified",
    checks=_path_checks(_returns_cases, "returns paths"),
    conventions=("terminated: no bootstrap; truncated and the last step: bootstrap from next_values",
                 "log_rhos = log pi - log mu; levels may be inf"),
    notes="A fault planted in one path only (a numba kernel, the numpy fallback, the loop ground truth, or the "
          "torch mirror) refutes this claim: see `reports/mutation.md`.",
)


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


def _rows2(a: Any) -> list[list[float]]:
    x = np.asarray(a, dtype=np.float64)
    return [list(map(float, row)) for row in x.reshape(-1, x.shape[-1])]


def _per_row(fn: Callable[..., Any], *arrs: Any) -> np.ndarray:
    return np.asarray([fn(*cols) for cols in zip(*(_rows2(a) for a in arrs))])


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
    source=Source("Precup, Sutton & Singh 2000; Kong 1992; Ionides 2008; CONTRACT.md (execution paths)"),
    family="importance-sampling",
    kind="implementation",
    expected="verified",
    checks=_path_checks(_is_cases, "importance-sampling paths"),
    conventions=("weights w = exp(log pi - log mu); samples on the last axis",),
)


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
    source=Source("Schulman 2020, 'Approximating KL divergence'; CONTRACT.md (execution paths)"),
    family="kl-estimators",
    kind="implementation",
    expected="verified",
    checks=_path_checks(_div_cases, "divergence paths"),
    conventions=("KL(p||q) in nats; TV = 1/2 L1",),
)


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
                  "CONTRACT.md (execution paths)"),
    family="ppo-grpo",
    kind="implementation",
    expected="verified",
    checks=_path_checks(_losses_cases, "loss paths"),
    conventions=("r = exp(log_probs - old_log_probs); objectives are maximised",),
)


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
    source=Source("Ionides 2008; Zheng et al. 2025 (GSPO); CONTRACT.md (execution paths)"),
    family="mismatch",
    kind="implementation",
    expected="verified",
    checks=_path_checks(_mm_cases, "mismatch paths"),
    conventions=("rho_t = pi/mu on policy tokens (mask 1), environment tokens excluded",),
)


# --------------------------------------------------------------------------- exact MDP quantities


def _mdp_inputs(rng: np.random.Generator) -> Inputs:
    m = M.random_mdp(rng, n_states=int(rng.integers(2, 5)), n_actions=int(rng.integers(2, 4)),
                     gamma=float(rng.choice([0.0, 0.5, 0.8, 0.9])))
    return {"mdp": m, "logits": rng.normal(size=(m.n_states, m.n_actions))}


def _series(i: Inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """V, the unnormalized visitation and Q by summing ``gamma^t`` terms until they are below 1e-17."""
    m, pi = i["mdp"], M.softmax(i["logits"])
    P = np.einsum("sa,sat->st", pi, m.transitions)
    r = (pi * m.rewards).sum(-1)
    V = np.zeros(m.n_states)
    rho = np.zeros(m.n_states)
    term_v, dist, disc = r.copy(), m.initial.copy(), 1.0
    while disc > 1e-17:
        V += disc * term_v
        rho += disc * dist
        term_v, dist, disc = P @ term_v, dist @ P, disc * m.gamma
    Q = m.rewards + m.gamma * m.transitions @ V
    return V, rho, Q


def _mdp_cases() -> list[Case]:
    def mdp_paths(fn: str, policy: bool = True) -> Callable[[Inputs, list[str]], dict[str, Any]]:
        def paths(i: Inputs, devices: list[str]) -> dict[str, Any]:
            m = i["mdp"]
            arg = M.softmax(i["logits"]) if policy else i["logits"]
            out = {"numpy": getattr(G if fn == "policy_gradient" else M, fn)(m, arg)}
            for dev in devices:
                tm = _torch_mod("mdp")
                out[f"torch {dev}"] = getattr(tm, fn)(_t(m.transitions, dev), _t(m.rewards, dev),
                                                      _t(m.initial, dev), m.gamma, _t(arg, dev))
            return out

        return paths

    hand = tuple(_mdp_inputs(np.random.default_rng(s)) for s in (3, 11))

    def pg_def(i: Inputs, e: bool) -> np.ndarray:
        V, rho, Q = _series(i)
        pi = M.softmax(i["logits"])
        return rho[:, None] * pi * (Q - V[:, None])

    def surrogate_paths(i: Inputs, devices: list[str]) -> dict[str, Any]:
        m, z = i["mdp"], i["logits"]
        z_old = z + np.cos(np.arange(z.size)).reshape(z.shape)
        return {"numpy": np.asarray([G.surrogate(m, z, z_old), *G.surrogate_gradient(m, z, z_old).ravel()])}

    def surrogate_def(i: Inputs, e: bool) -> np.ndarray:
        # TRPO eq. 3: L_old(new) = J(old) + sum_s rho_old(s) sum_a pi_new(a|s) A_old(s, a), and its logit gradient
        z = i["logits"]
        old = {"mdp": i["mdp"], "logits": z + np.cos(np.arange(z.size)).reshape(z.shape)}
        V, rho, Q = _series(old)
        A = Q - V[:, None]
        pi = M.softmax(z)
        value = i["mdp"].initial @ V + rho @ np.sum(pi * A, axis=1)
        grad = rho[:, None] * pi * (A - np.sum(pi * A, axis=1, keepdims=True))
        return np.asarray([value, *grad.ravel()])

    return [
        Case("mdp.state_values", mdp_paths("state_values"), lambda i, e: _series(i)[0], hand, _mdp_inputs),
        Case("mdp.action_values", mdp_paths("action_values"), lambda i, e: _series(i)[2], hand, _mdp_inputs),
        Case("mdp.visitation", mdp_paths("visitation"), lambda i, e: _series(i)[1], hand, _mdp_inputs),
        Case("mdp.occupancy", mdp_paths("occupancy"), lambda i, e: (1 - i["mdp"].gamma) * _series(i)[1], hand,
             _mdp_inputs),
        Case("mdp.expected_return", mdp_paths("expected_return"), lambda i, e: i["mdp"].initial @ _series(i)[0],
             hand, _mdp_inputs),
        Case("gradients.policy_gradient", mdp_paths("policy_gradient", policy=False), pg_def, hand, _mdp_inputs),
        Case("gradients.surrogate", surrogate_paths, surrogate_def, hand, _mdp_inputs),
    ]


claim(
    id="PATHS-MDP",
    title="Every path of the exact MDP quantities equals the discounted series (numpy, torch)",
    statement=r"$V^\pi$, $Q^\pi$, the visitation $\sum_t \gamma^t P(s_t=s)$, the normalized occupancy "
              r"$(1-\gamma)\sum_t\gamma^t P(s_t=s)$, $J$, the policy gradient "
              r"$\rho^\pi(s)\pi(a|s)A^\pi(s,a)$ and TRPO's surrogate $L_{\pi_{old}}$ (eq. 3) with its gradient, "
              r"in numpy and in the torch mirror (linear solves), equal the truncated power series of their "
              r"definitions, to $10^{-9}$ of scale.",
    source=Source("Sutton et al. 1999, Theorem 1; Kakade & Langford 2002; Schulman et al. 2015, eq. 3; "
                  "CONTRACT.md (execution paths)"),
    family="policy-gradient",
    kind="implementation",
    expected="verified",
    checks=_path_checks(_mdp_cases, "MDP paths"),
    conventions=("occupancy normalized, visitation unnormalized; the policy gradient includes gamma^t",),
)


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
