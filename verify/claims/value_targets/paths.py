"""PATHS-RETURNS: every execution path of reference_impls.returns (numba, numpy, loop ground truth, torch)
against direct sums.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from reference_impls import returns as R
from verify.claims._conformance_paths import returns_paths_conform
from verify.claims._paths import Case, Inputs, _path_checks, _t
from verify.registry import Source, claim

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
                  "the documented execution paths of reference_impls (backend= and the torch mirror)"),
    family="value-targets",
    kind="implementation",
    expected="verified",
    checks=(*_path_checks(_returns_cases, "returns paths"), returns_paths_conform),
    conventions=("terminated: no bootstrap; truncated and the last step: bootstrap from next_values",
                 "log_rhos = log pi - log mu; levels may be inf"),
    notes="A fault planted in one path only (a numba kernel, the numpy fallback, the loop ground truth, or the "
          "torch mirror) refutes this claim: see `reports/mutation.md`.",
)
