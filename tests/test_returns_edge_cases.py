"""Numerical edge cases of the value targets, on every execution path (numba kernels, numpy fallback,
plain-loop ground truth, torch doubling scan and torch time-major loop, and torch ``method="auto"``,
which on CPU tensors without autograd runs the compiled kernels zero-copy).

Reproducers of issue 11 item 8 (overflowed importance ratios with ``c_bar = inf``, gamma or lambda 0),
issue 14 item 1 (episodes are independent under overflow: a cut selects, it never multiplies by 0)
and issue 14 item 2 (V-trace pg advantages free of the cancellation ``vs_{t+1} - next_values[t]``).

The expected values are exact: the plain recursions of :mod:`reference_impls._returns_loop` run on
:class:`fractions.Fraction`, with an overflowed ratio ``exp(800)`` replaced by the finite rational
``10**347`` (every case below has an answer that does not depend on that value, or one that
overflows float64 either way), then rounded once to float64 (``+-inf`` past the largest float).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from reference_impls import _returns_loop as _RL
from reference_impls import returns as R

RL: Any = _RL  # called with unpacked argument lists below

PATHS = ["numba", "numpy", "loop", "torch-scan", "torch-loop", "torch-auto"]
N_FLOATS = {"discounted_returns": 2, "gae": 3, "lambda_returns": 3, "vtrace": 4, "retrace": 4}
INF = math.inf
BIG_LOG = 800.0  # exp(800) overflows float64 (largest ~ exp(709.78))


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest) -> str:
    """The execution path of a call: numba/numpy through the public ``backend=`` keyword, the loop
    ground truth called directly (no validation), torch through the mirror with an explicit ``method``."""
    name = str(request.param)
    if name == "numba":
        pytest.importorskip("numba")
        assert R._NB is not None
    if name.startswith("torch"):
        pytest.importorskip("torch")
    return name


def call(path: str, fn: str, floats: Sequence[Sequence[float]], term: Sequence[int], trunc: Sequence[int],
         *scalars: float) -> tuple[np.ndarray, ...]:
    """``fn`` on one path; float64 numpy results as a tuple (one entry, two for vtrace)."""
    xs = [np.asarray(f, dtype=np.float64) for f in floats]
    te, tr = np.asarray(term, dtype=bool), np.asarray(trunc, dtype=bool)
    if path in ("numba", "numpy"):
        out = getattr(R, fn)(*xs, te, tr, *scalars, backend=path)
    elif path == "loop":
        if fn == "lambda_returns":
            out = RL.gae_loop(*xs, te, tr, *scalars) + xs[1]
        else:
            out = getattr(RL, f"{fn}_loop")(*xs, te, tr, *scalars)
    else:
        import torch

        from reference_impls.torch import returns as _TR
        TR: Any = _TR
        ts = [torch.as_tensor(x) for x in xs]
        out = getattr(TR, fn)(*ts, torch.as_tensor(te), torch.as_tensor(tr), *scalars,
                              method=path.removeprefix("torch-"))
        out = tuple(o.numpy() for o in out) if isinstance(out, tuple) else out.numpy()
    return out if isinstance(out, tuple) else (out,)


def _exact_ratio(log_rho: float) -> Fraction:
    return Fraction(10) ** 347 if log_rho >= BIG_LOG else Fraction(math.exp(log_rho))


def _to_float(x: Fraction) -> float:
    try:
        return float(x)
    except OverflowError:
        return INF if x > 0 else -INF


def _frac(x: float) -> Any:
    return x if math.isinf(x) else Fraction(x)


def exact(fn: str, floats: Sequence[Sequence[float]], term: Sequence[int], trunc: Sequence[int],
          *scalars: float) -> tuple[np.ndarray, ...]:
    """The exact answer, rounded once to float64 (module docstring)."""
    fl = [[Fraction(v) for v in f] for f in floats]
    te, tr = [bool(v) for v in term], [bool(v) for v in trunc]
    sc = [_frac(s) for s in scalars]
    res: Any
    if fn == "discounted_returns":
        res = (RL.discounted_returns_seq(*fl, te, tr, *sc),)
    elif fn == "gae":
        res = (RL.gae_seq(*fl, te, tr, *sc),)
    elif fn == "lambda_returns":
        res = ([a + v for a, v in zip(RL.gae_seq(*fl, te, tr, *sc), fl[1], strict=True)],)
    else:
        ratios = [_exact_ratio(v) for v in floats[3]]
        seq: Callable[..., Any] = RL.vtrace_seq if fn == "vtrace" else RL.retrace_seq
        res = seq(fl[0], fl[1], fl[2], ratios, te, tr, *sc)
        res = tuple(res) if fn == "vtrace" else (res,)
    return tuple(np.array([_to_float(v) for v in r]) for r in res)


def assert_matches(got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...], rtol: float = 1e-13,
                   atol: float = 1e-13) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert not np.any(np.isnan(g)), f"NaN in {g} (want {w})"
        np.testing.assert_array_equal(np.isinf(g), np.isinf(w), err_msg=f"got {g}, want {w}")
        fin = np.isfinite(w)
        np.testing.assert_array_equal(g[~fin], w[~fin])
        np.testing.assert_allclose(g[fin], w[fin], rtol=rtol, atol=atol)


R3 = [0.5, -1.25, 2.0]
V3 = [0.25, 1.5, -0.75]
NV3 = [1.5, -0.75, 0.5]

# --------------------------------------------------------------------------- issue 11 item 8: overflowed ratios

CASES_RATIO: list[tuple[str, list[list[float]], list[int], list[int], tuple[float, ...]]] = [
    # V-trace, c_bar = inf, log rho = 800 at a terminated step (numpy/torch gave NaN: 0 * inf)
    ("vtrace", [R3, V3, NV3, [0.3, BIG_LOG, -0.2]], [0, 1, 0], [0, 0, 0], (0.9, 1.0, 1.0, INF, 1.0)),
    ("vtrace", [R3, V3, NV3, [0.3, BIG_LOG, -0.2]], [0, 0, 0], [0, 1, 0], (0.9, 0.8, 1.0, INF, 1.0)),
    # gamma = 0 or lambda = 0 with c_bar = inf: the trace gamma lam c_t is 0 (gave NaN on every path)
    ("vtrace", [R3, V3, NV3, [BIG_LOG, BIG_LOG, 0.1]], [0, 0, 0], [0, 0, 0], (0.0, 1.0, 1.0, INF, 1.0)),
    ("vtrace", [R3, V3, NV3, [BIG_LOG, BIG_LOG, 0.1]], [0, 0, 0], [0, 0, 0], (0.9, 0.0, 1.0, INF, 1.0)),
    ("retrace", [R3, V3, NV3, [0.1, BIG_LOG, BIG_LOG]], [0, 0, 0], [0, 0, 0], (0.0, 1.0, INF)),
    ("retrace", [R3, V3, NV3, [0.1, BIG_LOG, BIG_LOG]], [0, 0, 0], [0, 0, 0], (0.9, 0.0, INF)),
    # an unclipped overflowed ratio times a TD error / advantage of exactly 0 is 0
    ("vtrace", [[1.0, 0.0, 0.5], [1.0, 0.5, 0.0], [0.0, 0.5, 0.0], [0.0, BIG_LOG, BIG_LOG]], [0, 0, 0], [0, 0, 0],
     (1.0, 1.0, INF, INF, INF)),
    # Retrace: the trace of a step after a termination is not used (torch gave NaN: inf * 0)
    ("retrace", [R3, V3, NV3, [0.1, 0.2, BIG_LOG]], [0, 1, 0], [0, 0, 0], (0.9, 1.0, INF)),
    # ... and where the answer overflows, every path says so with the same sign (not NaN)
    ("retrace", [[0.0, -1.0], [0.0, 0.0], [0.0, 0.0], [0.0, BIG_LOG]], [0, 0], [0, 0], (1.0, 1.0, INF)),
    ("retrace", [[0.0, -1.0, 0.5], [0.0] * 3, [0.0] * 3, [0.0, BIG_LOG, 0.0]], [0, 0, 0], [0, 0, 0], (1.0, 1.0, INF)),
    ("vtrace", [[0.0, -1.0, 0.5], [0.0] * 3, [0.0] * 3, [BIG_LOG, 0.0, 0.0]], [0, 0, 0], [0, 0, 0],
     (1.0, 1.0, 1.0, INF, 1.0)),
]


@pytest.mark.parametrize("case", CASES_RATIO, ids=lambda c: f"{c[0]}-{c[4]}")
def test_overflowed_ratio(path: str, case: Any) -> None:
    fn, floats, term, trunc, scalars = case
    assert_matches(call(path, fn, floats, term, trunc, *scalars), exact(fn, floats, term, trunc, *scalars))


@pytest.mark.parametrize("row", [0, 3, 9])
@pytest.mark.parametrize("dense", [False, True])
def test_overflow_cases_inside_a_batch(path: str, row: int, dense: bool) -> None:
    """Every case above as one row of an 11-row batch (the compiled kernels work on tiles of 8 rows and
    recompute a tile whose result is not finite; with many episode ends (``dense``) the one-coefficient
    targets take the multiply-add route): the case's row and every ordinary row are right."""
    rng = np.random.default_rng(row)
    for fn, floats, term, trunc, scalars in CASES_RATIO + CASES_CUT:
        T = len(term)
        n = N_FLOATS[fn]
        batch = [rng.normal(size=(11, T)) for _ in range(n)]
        te = np.zeros((11, T), dtype=bool)
        tr = np.zeros((11, T), dtype=bool)
        te[1, 1] = True
        tr[5, 0] = True
        if dense:
            te[2, :] = True
        for k in range(n):
            batch[k][row] = floats[k]
        te[row], tr[row] = np.asarray(term, dtype=bool), np.asarray(trunc, dtype=bool)
        got = call(path, fn, batch, te, tr, *scalars)  # type: ignore[arg-type]
        for b in range(11):
            want = exact(fn, [x[b].tolist() for x in batch], te[b].tolist(), tr[b].tolist(), *scalars)
            assert_matches(tuple(g[b] for g in got), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", ["discounted_returns", "gae", "lambda_returns", "vtrace", "retrace"])
def test_overflow_in_a_long_batch(path: str, fn: str) -> None:
    """An overflow behind an episode end in one row of an 8 x 64 tile with few episode ends (the compiled
    one-coefficient targets then select at each end instead of multiplying by a coefficient array)."""
    rng = np.random.default_rng(11)
    T = 64
    batch = [rng.normal(size=(8, T)) for _ in range(N_FLOATS[fn])]
    batch[0][3, :3] = [1.0, 1e308, 1e308]
    te = np.zeros((8, T), dtype=bool)
    tr = np.zeros((8, T), dtype=bool)
    te[3, 0] = True
    tr[6, 40] = True
    scalars = {"discounted_returns": (1.0,), "gae": (1.0, 1.0), "lambda_returns": (1.0, 1.0),
               "vtrace": (1.0, 1.0, 1.0, INF, 1.0), "retrace": (1.0, 1.0, INF)}[fn]
    got = call(path, fn, batch, te, tr, *scalars)  # type: ignore[arg-type]
    for b in range(8):
        want = exact(fn, [x[b].tolist() for x in batch], te[b].tolist(), tr[b].tolist(), *scalars)
        assert_matches(tuple(g[b] for g in got), want, rtol=1e-12, atol=1e-12)
    assert np.isfinite(got[0][3, 0])  # the earlier episode survives the overflow behind it


def test_loop_exp_does_not_raise() -> None:
    """The loop ground truth takes exp of log-ratios past 709 (math.exp raised OverflowError)."""
    vs, pg = RL.vtrace_loop(R3, V3, NV3, [0.0, 710.0, 1e4], [0, 0, 0], [0, 0, 0], 0.9, 1.0, 1.0, 1.0, 1.0)
    assert np.all(np.isfinite(vs)) and np.all(np.isfinite(pg))


# --------------------------------------------------------------------------- issue 14 item 1: episodes independent

BIG = [1.0, 1e308, 1e308]
Z3 = [0.0, 0.0, 0.0]
CASES_CUT: list[tuple[str, list[list[float]], list[int], list[int], tuple[float, ...]]] = []
for _te, _tr, _nv in [([1, 0, 0], [0, 0, 0], Z3), ([0, 0, 0], [1, 0, 0], [2.0, 0.0, 0.0])]:
    for _sign in (1.0, -1.0):
        _r = [1.0, _sign * 1e308, _sign * 1e308]
        CASES_CUT += [
            ("discounted_returns", [_r, _nv], _te, _tr, (1.0,)),
            ("gae", [_r, Z3, _nv], _te, _tr, (1.0, 1.0)),
            ("lambda_returns", [_r, Z3, _nv], _te, _tr, (1.0, 0.5)),
            ("vtrace", [_r, Z3, _nv, Z3], _te, _tr, (1.0, 1.0, 1.0, 1.0, 1.0)),
            ("retrace", [_r, Z3, _nv, Z3], _te, _tr, (1.0, 1.0, 1.0)),
        ]
# an overflow that starts in the values / bootstrap of the later episode
CASES_CUT += [
    ("gae", [[1.0, 0.0, 0.0], [0.0, -1e308, 0.0], [0.0, 1e308, 0.0]], [1, 0, 0], [0, 0, 0], (1.0, 1.0)),
    ("vtrace", [[1.0, 1e308, 0.0], Z3, [0.0, 1e308, 0.0], Z3], [1, 0, 0], [0, 0, 0],
     (1.0, 1.0, 1.0, 1.0, 1.0)),
]


@pytest.mark.parametrize("case", CASES_CUT, ids=lambda c: f"{c[0]}-{c[2]}{c[3]}-{c[1][0][1]:g}")
def test_episodes_independent_under_overflow(path: str, case: Any) -> None:
    fn, floats, term, trunc, scalars = case
    got = call(path, fn, floats, term, trunc, *scalars)
    want = exact(fn, floats, term, trunc, *scalars)
    assert all(np.isfinite(w[0]) for w in want)  # the first episode's answer is finite ...
    assert_matches(got, want)  # ... and every path gives it, and the same infinities after it


def test_issue_example_discounted_returns(path: str) -> None:
    """The issue's reproducer verbatim: G_0 was NaN on numpy and numba, 1 on torch."""
    (g,) = call(path, "discounted_returns", [BIG, Z3], [1, 0, 0], [0, 0, 0], 0.99)
    assert g[0] == 1.0 and g[1] == np.inf


# --------------------------------------------------------------------------- issue 14 item 2: no cancellation


@pytest.mark.parametrize("big", [1e10, 1e17, 1e300])
def test_vtrace_pg_independent_of_dropped_next_value(path: str, big: float) -> None:
    """Inside an episode ``pg_t = rho_t (r_t + gamma vs_{t+1} - values[t])``: ``next_values[t]`` drops out.
    Computed as ``td_t + gamma (vs_{t+1} - next_values[t])`` it cancelled (1e17: numpy 0.0, numba -2.22)."""
    rng = np.random.default_rng(3)
    T = 5
    r, v, nv, lr = (rng.normal(size=T) for _ in range(4))
    nv[0] = big
    floats = [r.tolist(), v.tolist(), nv.tolist(), lr.tolist()]
    term, trunc = [0] * T, [0] * T
    scalars = (0.9, 0.95, 1.2, 0.9, 1.1)
    vs, pg = call(path, "vtrace", floats, term, trunc, *scalars)
    evs, epg = exact("vtrace", floats, term, trunc, *scalars)
    np.testing.assert_allclose(pg, epg, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(vs, evs, rtol=1e-13, atol=1e-13 * big)


# --------------------------------------------------------------------------- float flags (issue 13 item 6)

def _flags_call(path: str, te: Any, tr: Any) -> np.ndarray:
    rng = np.random.default_rng(5)
    r, v, nv = (rng.normal(size=(2, 6)) for _ in range(3))
    if path.startswith("torch"):
        import torch

        from reference_impls.torch import returns as TR
        r_t, v_t, nv_t = (torch.as_tensor(x) for x in (r, v, nv))
        return TR.gae(r_t, v_t, nv_t, te, tr, 0.9, 0.8, method=path.removeprefix("torch-")).numpy()
    return R.gae(r, v, nv, te, tr, 0.9, 0.8, backend="numba" if path == "numba" else "numpy")


@pytest.mark.parametrize("flag_dtype", ["float32", "float64", "int8", "int64", "bool"])
def test_float_flags_holding_0_1_accepted(path: str, flag_dtype: str) -> None:
    if path == "loop":
        pytest.skip("the loop ground truth does not validate")
    te = np.zeros((2, 6))
    te[0, 2] = 1
    tr = np.zeros((2, 6))
    tr[1, 3] = 1
    want = _flags_call("numpy", te.astype(bool), tr.astype(bool))
    te_in: Any
    tr_in: Any
    if path.startswith("torch"):
        import torch
        te_in, tr_in = (torch.as_tensor(x.astype(flag_dtype)) for x in (te, tr))
    else:
        te_in, tr_in = te.astype(flag_dtype), tr.astype(flag_dtype)
    np.testing.assert_allclose(_flags_call(path, te_in, tr_in), want, rtol=0, atol=1e-14)


@pytest.mark.parametrize("bad", [0.5, 2.0, -1.0, np.nan, np.inf])
@pytest.mark.parametrize("which", ["terminated", "truncated"])
def test_float_flags_other_values_rejected(path: str, bad: float, which: str) -> None:
    if path == "loop":
        pytest.skip("the loop ground truth does not validate")
    flags: dict[str, Any] = {"terminated": np.zeros((2, 6)), "truncated": np.zeros((2, 6))}
    flags[which][1, 4] = bad
    if path.startswith("torch"):
        import torch
        flags = {k: torch.as_tensor(x) for k, x in flags.items()}
    with pytest.raises(ValueError, match=which):
        _flags_call(path, flags["terminated"], flags["truncated"])
