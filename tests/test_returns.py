"""reference_impls.returns: fast versions equal the plain loops, golden values, episode-end semantics,
and input validation."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference_impls import _returns_loop as RL
from reference_impls import returns as R

PUBLIC = ("discounted_returns", "gae", "lambda_returns", "vtrace", "retrace")


@pytest.fixture(autouse=True, params=["numba", "numpy"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test in this module runs on both implementations of the public targets: the numba
    kernels (skipped where numba is not installed) and the numpy fallback, chosen per call with
    ``backend=`` (the module's public functions are replaced by ``partial(fn, backend=path)``)."""
    if request.param == "numba":
        pytest.importorskip("numba")
        assert R._NB is not None  # numba importable, so the kernels module must have loaded
    for name in PUBLIC:
        monkeypatch.setattr(R, name, functools.partial(getattr(R, name), backend=request.param))
    return str(request.param)


def random_inputs(rng: np.random.Generator, shape: tuple[int, ...], p_end: float = 0.15) -> dict[str, np.ndarray]:
    u = rng.random(shape)
    return {
        "rewards": rng.normal(size=shape),
        "values": rng.normal(size=shape),
        "next_values": rng.normal(size=shape),
        "log_rhos": rng.normal(scale=1.0, size=shape),
        "terminated": u < p_end / 2,
        "truncated": (u >= p_end / 2) & (u < p_end),
    }


SHAPES = [(1,), (2,), (7,), (3, 1), (3, 17), (2, 3, 33), (5, 64), (4, 129), (2, 300)]
GRID = [(0.0, 0.0), (0.5, 1.0), (0.9, 0.95), (0.99, 0.0), (1.0, 1.0), (1.0, 0.5)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gamma,lam", GRID)
def test_fast_equals_loop(shape: tuple[int, ...], gamma: float, lam: float) -> None:
    rng = np.random.default_rng(hash((shape, gamma, lam)) % 2**32)
    x = random_inputs(rng, shape)
    r, v, nv, lr, te, tr = (x[k] for k in ("rewards", "values", "next_values", "log_rhos", "terminated", "truncated"))
    tol = 1e-12 * shape[-1]
    np.testing.assert_allclose(R.discounted_returns(r, nv, te, tr, gamma),
                               RL.discounted_returns_loop(r, nv, te, tr, gamma), rtol=0, atol=tol)
    np.testing.assert_allclose(R.gae(r, v, nv, te, tr, gamma, lam), RL.gae_loop(r, v, nv, te, tr, gamma, lam),
                               rtol=0, atol=tol)
    for levels in [(1.0, 1.0, 1.0), (1.5, 0.7, 1.2), (np.inf, np.inf, np.inf), (0.5, 2.0, 0.0)]:
        vs, pg = R.vtrace(r, v, nv, lr, te, tr, gamma, lam, *levels)
        evs, epg = RL.vtrace_loop(r, v, nv, lr, te, tr, gamma, lam, *levels)
        np.testing.assert_allclose(vs, evs, rtol=0, atol=tol * 20)
        np.testing.assert_allclose(pg, epg, rtol=0, atol=tol * 20)
    np.testing.assert_allclose(R.retrace(r, v, nv, lr, te, tr, gamma, lam, 1.0),
                               RL.retrace_loop(r, v, nv, lr, te, tr, gamma, lam, 1.0), rtol=0, atol=tol * 20)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, 80), st.integers(1, 4), st.integers(0, 2**31 - 1), st.sampled_from([0.0, 0.3, 0.99, 1.0]))
def test_fast_equals_loop_hypothesis(T: int, B: int, seed: int, g: float) -> None:
    x = random_inputs(np.random.default_rng(seed), (B, T), p_end=0.3)
    args = [x[k] for k in ("rewards", "values", "next_values", "log_rhos", "terminated", "truncated")]
    vs, pg = R.vtrace(*args, g, 0.9, 1.3, 0.8, 1.0)
    evs, epg = RL.vtrace_loop(*args, g, 0.9, 1.3, 0.8, 1.0)
    assert np.max(np.abs(vs - evs)) < 1e-11
    assert np.max(np.abs(pg - epg)) < 1e-11


@pytest.mark.parametrize("shape", [(1, 1), (3, 2), (5, 31), (2, 64), (7, 300), (1000, 5)])
def test_scan_methods_agree(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape)
    a = rng.random(shape) * (rng.random(shape) > 0.1)
    a[..., -1] = 0.0
    # the plain loop of the recurrence
    ref = np.zeros_like(x)
    for t in reversed(range(shape[-1])):
        ref[..., t] = x[..., t] + (a[..., t] * ref[..., t + 1] if t + 1 < shape[-1] else 0.0)
    for method in ("loop", "reduction"):
        np.testing.assert_allclose(R.reverse_linear_scan(x, a, method=method), ref, rtol=0, atol=1e-12)


def test_scan_validation() -> None:
    with pytest.raises(ValueError, match=r"^method"):
        R.reverse_linear_scan(np.zeros(3), np.zeros(3), method="blocked")
    with pytest.raises(ValueError, match=r"^a:"):
        R.reverse_linear_scan(np.zeros(3), np.zeros(4))


# --------------------------------------------------------------------------- golden values and semantics


def test_golden_gae_three_steps() -> None:
    # hand-derived: gamma = 0.5, lam = 0.5, no episode end, next_values = values shifted, bootstrap 4 at the end.
    # delta = r + 0.5 * nv - v = [1 + 1 - 1, 0 + 1.5 - 2, 2 + 2 - 3] = [1, -0.5, 1]
    # A_2 = 1; A_1 = -0.5 + 0.25 * 1 = -0.25; A_0 = 1 + 0.25 * (-0.25) = 0.9375
    r, v, nv = np.array([1.0, 0.0, 2.0]), np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])
    no = np.zeros(3, dtype=bool)
    np.testing.assert_array_equal(R.gae(r, v, nv, no, no, 0.5, 0.5), [0.9375, -0.25, 1.0])
    # returns: G_2 = 2 + 0.5 * 4 = 4; G_1 = 0 + 0.5 * 4 = 2; G_0 = 1 + 0.5 * 2 = 2
    np.testing.assert_array_equal(R.discounted_returns(r, nv, no, no, 0.5), [2.0, 2.0, 4.0])


def test_termination_vs_truncation_at_one_step() -> None:
    r, nv = np.array([1.0, 1.0, 1.0]), np.array([0.0, 10.0, 0.0])
    no = np.zeros(3, dtype=bool)
    at1 = np.array([False, True, False])
    # terminated at 1: G_1 = 1 (no bootstrap), G_0 = 1 + 0.5 * 1 = 1.5
    np.testing.assert_array_equal(R.discounted_returns(r, nv, at1, no, 0.5), [1.5, 1.0, 1.0])
    # truncated at 1: G_1 = 1 + 0.5 * 10 = 6, G_0 = 1 + 0.5 * 6 = 4; G_2 = 1 + 0.5 * nv[2] = 1
    np.testing.assert_array_equal(R.discounted_returns(r, nv, no, at1, 0.5), [4.0, 6.0, 1.0])


def test_end_of_array_bootstraps_unless_terminated() -> None:
    r, nv = np.array([0.0, 1.0]), np.array([0.0, 8.0])
    no = np.zeros(2, dtype=bool)
    last = np.array([False, True])
    assert R.discounted_returns(r, nv, no, no, 0.5)[-1] == 1.0 + 0.5 * 8.0
    assert R.discounted_returns(r, nv, no, last, 0.5)[-1] == 1.0 + 0.5 * 8.0
    assert R.discounted_returns(r, nv, last, no, 0.5)[-1] == 1.0


def test_vtrace_pg_bootstraps_from_next_values_at_truncation() -> None:
    # pytorch/rl #4209: at an in-batch truncation the pg advantage must use next_values[t], not vs[t+1]
    r, v = np.array([0.0, 0.0]), np.array([0.0, 100.0])
    nv = np.array([3.0, 0.0])
    lr = np.zeros(2)
    trunc = np.array([True, False])
    no = np.zeros(2, dtype=bool)
    vs, pg = R.vtrace(r, v, nv, lr, no, trunc, 0.5)
    assert pg[0] == 0.5 * 3.0  # r + gamma * next_values[0] - V = 1.5, not 0.5 * vs[1]
    assert vs[0] == 1.5


def test_retrace_ignores_first_ratio_and_uses_next_trace() -> None:
    rng = np.random.default_rng(3)
    x = random_inputs(rng, (4, 9), p_end=0.0)
    args = [x[k] for k in ("rewards", "values", "next_values")]
    lr2 = x["log_rhos"].copy()
    lr2[:, 0] += 3.0
    a = R.retrace(*args, x["log_rhos"], x["terminated"], x["truncated"], 0.9)
    b = R.retrace(*args, lr2, x["terminated"], x["truncated"], 0.9)
    np.testing.assert_array_equal(a, b)
    # with all traces zero, Retrace is the one-step target r + gamma E_pi Q(x_{t+1})
    lam0 = R.retrace(*args, x["log_rhos"], x["terminated"], x["truncated"], 0.9, lam=0.0)
    np.testing.assert_allclose(lam0, x["rewards"] + 0.9 * x["next_values"], rtol=0, atol=1e-15)


def test_lambda_returns_is_values_plus_gae() -> None:
    x = random_inputs(np.random.default_rng(4), (3, 20))
    args = [x[k] for k in ("rewards", "values", "next_values", "terminated", "truncated")]
    np.testing.assert_array_equal(R.lambda_returns(*args, 0.9, 0.7), x["values"] + R.gae(*args, 0.9, 0.7))


def trfl_oracle_vs(r: np.ndarray, v: np.ndarray, bootstrap: float, ratios: np.ndarray, gamma: float) -> np.ndarray:
    """Transcription of the TRFL / scalable_agent `vtrace_test.py` ground truth (one sequence, no episode
    ends, rho_bar = c_bar = 1): note `np.prod(cs[s:t - 1])` where the paper has prod_{i=s}^{t-1}."""
    T = len(r)
    cs = np.minimum(ratios, 1.0)
    rhos = np.minimum(ratios, 1.0)
    nv = np.append(v[1:], bootstrap)
    out = np.empty(T)
    for s in range(T):
        acc = v[s]
        for t in range(s, T):
            acc += gamma ** (t - s) * np.prod(cs[s:t - 1]) * rhos[t] * (r[t] + gamma * nv[t] - v[t])
        out[s] = acc
    return out


def test_trfl_oracle_blind_spot() -> None:
    """The off-by-one oracle agrees with V-trace when every ratio is >= 1 (TRFL's test inputs) and
    disagrees once some ratio is < 1 -- which is why our inputs always contain ratios below 1."""
    rng = np.random.default_rng(5)
    T = 6
    r, v = rng.normal(size=T), rng.normal(size=T)
    nv = np.append(v[1:], 0.7)
    no = np.zeros(T, dtype=bool)
    ratios_ge1 = 1.0 + np.arange(T) / T  # as in TRFL: log_rhos = log(arange / T + 1)
    vs, _ = R.vtrace(r, v, nv, np.log(ratios_ge1), no, no, 0.9)
    assert np.max(np.abs(vs - trfl_oracle_vs(r, v, 0.7, ratios_ge1, 0.9))) < 1e-12
    ratios = np.array([0.3, 0.5, 2.0, 0.8, 0.4, 1.5])
    vs, _ = R.vtrace(r, v, nv, np.log(ratios), no, no, 0.9)
    assert np.max(np.abs(vs - trfl_oracle_vs(r, v, 0.7, ratios, 0.9))) > 1e-2


def test_float32_input_gives_float64() -> None:
    x = random_inputs(np.random.default_rng(6), (2, 5))
    r32 = x["rewards"].astype(np.float32)
    out = R.gae(r32, x["values"], x["next_values"], x["terminated"], x["truncated"], 0.9, 0.9)
    assert out.dtype == np.float64


def test_integer_flags_accepted() -> None:
    x = random_inputs(np.random.default_rng(7), (2, 5))
    args = [x[k] for k in ("rewards", "values", "next_values")]
    a = R.gae(*args, x["terminated"].astype(int), x["truncated"].astype(np.int8), 0.9, 0.9)
    b = R.gae(*args, x["terminated"], x["truncated"], 0.9, 0.9)
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- validation


def _base(shape: tuple[int, ...] = (2, 4)) -> dict[str, np.ndarray]:
    x = random_inputs(np.random.default_rng(8), shape, p_end=0.0)
    return x


CALLS = {
    "discounted_returns": lambda x, **kw: R.discounted_returns(
        x["rewards"], x["next_values"], x["terminated"], x["truncated"], kw.get("gamma", 0.9)),
    "gae": lambda x, **kw: R.gae(x["rewards"], x["values"], x["next_values"], x["terminated"], x["truncated"],
                                 kw.get("gamma", 0.9), kw.get("lam", 0.9)),
    "lambda_returns": lambda x, **kw: R.lambda_returns(x["rewards"], x["values"], x["next_values"], x["terminated"],
                                                       x["truncated"], kw.get("gamma", 0.9), kw.get("lam", 0.9)),
    "vtrace": lambda x, **kw: R.vtrace(x["rewards"], x["values"], x["next_values"], x["log_rhos"], x["terminated"],
                                       x["truncated"], kw.get("gamma", 0.9), kw.get("lam", 0.9),
                                       kw.get("rho_bar", 1.0), kw.get("c_bar", 1.0), kw.get("pg_rho_bar", 1.0)),
    "retrace": lambda x, **kw: R.retrace(x["rewards"], x["values"], x["next_values"], x["log_rhos"], x["terminated"],
                                         x["truncated"], kw.get("gamma", 0.9), kw.get("lam", 0.9),
                                         kw.get("c_bar", 1.0)),
}
ARG_NAMES = {  # the public name of each input for each function (retrace calls values q_values, ...)
    "retrace": {"values": "q_values", "next_values": "next_expected_q"},
}
USES = {
    "discounted_returns": ["rewards", "next_values"],
    "gae": ["rewards", "values", "next_values"],
    "lambda_returns": ["rewards", "values", "next_values"],
    "vtrace": ["rewards", "values", "next_values", "log_rhos"],
    "retrace": ["rewards", "values", "next_values", "log_rhos"],
}


@pytest.mark.parametrize("fn", list(CALLS))
def test_mismatched_lengths_name_the_argument(fn: str) -> None:
    for key in [*USES[fn][1:], "terminated", "truncated"]:
        x = _base()
        x[key] = x[key][:, :3]
        name = ARG_NAMES.get(fn, {}).get(key, key)
        with pytest.raises(ValueError, match=f"^{name}: expected shape"):
            CALLS[fn](x)


@pytest.mark.parametrize("fn", list(CALLS))
def test_flags_must_be_boolean(fn: str) -> None:
    for key in ("terminated", "truncated"):
        x = _base()
        x[key] = x[key].astype(float) + 0.5
        with pytest.raises(ValueError, match=f"^{key}: expected booleans"):
            CALLS[fn](x)


@pytest.mark.parametrize("fn", list(CALLS))
def test_both_flags_at_one_step(fn: str) -> None:
    x = _base()
    x["terminated"][1, 2] = True
    x["truncated"][1, 2] = True
    with pytest.raises(ValueError, match=r"^truncated: expected at most one of terminated/truncated.*\(1, 2\)"):
        CALLS[fn](x)


BAD_UNIT = [("gamma", -0.1), ("gamma", 1.01), ("gamma", float("nan")), ("lam", -1e-9), ("lam", 2.0)]


@pytest.mark.parametrize("fn,arg,value", [(fn, a, v) for fn in CALLS for a, v in BAD_UNIT
                                          if not (a == "lam" and fn == "discounted_returns")])
def test_gamma_lam_range(fn: str, arg: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{arg}: "):
        CALLS[fn](_base(), **{arg: value})


@pytest.mark.parametrize("level", ["rho_bar", "c_bar", "pg_rho_bar"])
def test_vtrace_levels(level: str) -> None:
    with pytest.raises(ValueError, match=f"^{level}: expected a non-negative"):
        CALLS["vtrace"](_base(), **{level: -1.0})
    with pytest.raises(ValueError, match=f"^{level}: expected a non-negative"):
        CALLS["vtrace"](_base(), **{level: float("nan")})
    CALLS["vtrace"](_base(), **{level: np.inf})  # inf = no clipping is allowed


def test_retrace_c_bar() -> None:
    with pytest.raises(ValueError, match=r"^c_bar: "):
        CALLS["retrace"](_base(), c_bar=-0.5)


@pytest.mark.parametrize("fn", list(CALLS))
def test_non_finite_scalar_and_empty(fn: str) -> None:
    x = _base()
    x["rewards"] = x["rewards"].copy()
    x["rewards"][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"^rewards: expected finite"):
        CALLS[fn](x)
    with pytest.raises(ValueError, match=r"^rewards: expected at least one time step"):
        CALLS[fn]({k: v[:, :0] for k, v in _base().items()})
    with pytest.raises(ValueError, match=r"^rewards: expected at least 1 dimension"):
        CALLS[fn]({k: v[0, 0] for k, v in _base().items()})


def test_inputs_are_not_modified() -> None:
    """The fast path works in place on its own temporaries only."""
    x = random_inputs(np.random.default_rng(9), (3, 70))
    before = {k: v.copy() for k, v in x.items()}
    for fn in CALLS.values():
        fn(x)
    R.reverse_linear_scan(x["rewards"], x["values"])
    for k, v in x.items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_float32_inputs_are_widened_exactly() -> None:
    """float32 inputs give the same float64 result as their exact float64 widening."""
    x = random_inputs(np.random.default_rng(10), (3, 50))
    x32 = {k: (v.astype(np.float32) if v.dtype != bool else v) for k, v in x.items()}
    x64 = {k: (v.astype(np.float64) if v.dtype != bool else v) for k, v in x32.items()}
    for name, fn in CALLS.items():
        a, b = fn(x32), fn(x64)
        for u, w in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            assert u.dtype == np.float64, name
            np.testing.assert_array_equal(u, w, err_msg=name)


# --------------------------------------------------------------------------- both paths: dispatch, layouts, dtypes


def test_dispatch_follows_the_flag(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The numba kernels run exactly when ``backend="numba"`` (so the numpy rows of this module really
    test the numpy path)."""
    calls: list[str] = []
    if R._NB is not None:
        for name in ("discounted_returns_kernel", "gae_kernel", "lambda_returns_kernel", "vtrace_kernel",
                     "retrace_kernel"):
            kernel = getattr(R._NB, name)
            monkeypatch.setattr(R._NB, name, lambda *a, _k=kernel, _n=name: calls.append(_n) or _k(*a))
    x = _base((3, 6))
    for fn in CALLS.values():
        fn(x)
    assert len(calls) == (5 if path == "numba" else 0)  # one kernel per public target


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (4, 1), (5, 2), (9, 40), (2, 2, 3, 17), (8, 300)])
def test_equals_loop_float32_and_float64(dtype: type, shape: tuple[int, ...]) -> None:
    """Both paths against the plain loops, within 1e-12 relative to the scale of the targets, on
    float32 and float64 inputs (float32 compared with the loops on its exact float64 widening),
    row counts that are and are not multiples of the kernels' row block, and leading batch axes."""
    rng = np.random.default_rng(abs(hash((shape, str(dtype)))) % 2**32)
    x = random_inputs(rng, shape, p_end=0.2)
    x = {k: (v.astype(dtype) if v.dtype != bool else v) for k, v in x.items()}
    w = {k: (v.astype(np.float64) if v.dtype != bool else v) for k, v in x.items()}
    r, v, nv, lr, te, tr = (x[k] for k in ("rewards", "values", "next_values", "log_rhos", "terminated", "truncated"))
    r6, v6, nv6, lr6 = (w[k] for k in ("rewards", "values", "next_values", "log_rhos"))

    def close(got: np.ndarray, want: np.ndarray) -> None:
        assert got.dtype == np.float64 and got.shape == want.shape
        scale = max(1.0, float(np.max(np.abs(want))))
        assert float(np.max(np.abs(got - want))) <= 1e-12 * scale

    close(R.discounted_returns(r, nv, te, tr, 0.97), RL.discounted_returns_loop(r6, nv6, te, tr, 0.97))
    close(R.gae(r, v, nv, te, tr, 0.97, 0.9), RL.gae_loop(r6, v6, nv6, te, tr, 0.97, 0.9))
    for g, lm in [(0.97, 0.9), (0.97, 0.0), (0.0, 0.5)]:  # gamma lam = 0: every step ends its recursion
        close(R.lambda_returns(r, v, nv, te, tr, g, lm), RL.gae_loop(r6, v6, nv6, te, tr, g, lm) + v6)
    close(R.discounted_returns(r, nv, te, tr, 0.0), RL.discounted_returns_loop(r6, nv6, te, tr, 0.0))
    for levels in [(1.0, 1.0, 1.0), (1.7, 0.6, 0.9), (np.inf, np.inf, np.inf), (0.0, 0.0, 0.0)]:
        vs, pg = R.vtrace(r, v, nv, lr, te, tr, 0.97, 0.8, *levels)
        evs, epg = RL.vtrace_loop(r6, v6, nv6, lr6, te, tr, 0.97, 0.8, *levels)
        close(vs, evs)
        close(pg, epg)
    for c_bar in (1.0, 0.5, np.inf):
        close(R.retrace(r, v, nv, lr, te, tr, 0.97, 0.8, c_bar), RL.retrace_loop(r6, v6, nv6, lr6, te, tr, 0.97, 0.8,
                                                                                   c_bar))


def test_non_contiguous_and_mixed_dtype_inputs() -> None:
    """Transposed views, strided slices and a mix of float32/float64/int inputs give the same result
    as contiguous float64 copies."""
    rng = np.random.default_rng(11)
    x = random_inputs(rng, (40, 9), p_end=0.2)
    xt = {k: np.ascontiguousarray(v.T).T for k, v in x.items()}  # Fortran-ordered views
    assert not xt["rewards"].flags.c_contiguous
    xs = {k: np.repeat(v, 2, axis=-1)[..., ::2] for k, v in x.items()}  # strided on the time axis
    xm = dict(x, rewards=x["rewards"].astype(np.float32).astype(np.float64), values=x["values"].astype(np.float32),
              next_values=np.round(x["next_values"] * 4).astype(np.int64))
    xm64 = {k: (v.astype(np.float64) if v.dtype != bool else v) for k, v in xm.items()}
    for name, fn in CALLS.items():
        for got, want in [(fn(xt), fn(x)), (fn(xs), fn(x)), (fn(xm), fn(xm64))]:
            for u, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
                np.testing.assert_array_equal(u, w, err_msg=name)


@pytest.mark.parametrize("fn", list(CALLS))
@pytest.mark.parametrize("where", [(0, 0), (1, 3), (2, 1)])
def test_non_finite_anywhere_names_the_argument(fn: str, where: tuple[int, int]) -> None:
    """NaN, +inf or -inf in any position of any input (first and last step, a row that is not the
    first) raises the same message on both paths; in particular a bad next value at a terminated
    step (where it is not used) and a bad first log-ratio of Retrace (also not used) are still
    rejected."""
    for key in USES[fn]:
        for bad in (np.nan, np.inf, -np.inf):
            x = _base((3, 4))
            x["terminated"][where] = True
            x[key] = x[key].copy()
            x[key][where] = bad
            name = ARG_NAMES.get(fn, {}).get(key, key)
            with pytest.raises(ValueError, match=f"^{name}: expected finite values, got 1 NaN/inf entry$"):
                CALLS[fn](x)


def test_first_error_wins_as_on_the_numpy_path() -> None:
    """With several faults at once, the error raised is the one the numpy path raises first
    (sequences in argument order, then flags, then gamma, lam and the levels)."""
    x = _base()
    x["values"] = x["values"].copy()
    x["values"][0, 1] = np.nan
    with pytest.raises(ValueError, match=r"^values: expected finite"):
        CALLS["gae"](x, gamma=2.0)
    y = _base()
    y["next_values"] = y["next_values"][:, :3]
    y["values"] = y["values"].copy()
    y["values"][0, 0] = np.inf
    with pytest.raises(ValueError, match=r"^values: expected finite"):
        CALLS["vtrace"](y)
    z = _base()
    z["terminated"][0, 0] = z["truncated"][0, 0] = True
    with pytest.raises(ValueError, match=r"^truncated: expected at most one"):
        CALLS["retrace"](z, lam=-1.0)
    with pytest.raises(ValueError, match=r"^lam: "):
        CALLS["retrace"](_base(), lam=-1.0, c_bar=-1.0)


def test_overflow_from_finite_inputs_is_not_an_error() -> None:
    """Finite inputs whose targets overflow are valid input: both paths return the same non-finite
    result instead of raising (the kernels' finiteness signal is only a hint)."""
    big = np.full((2, 3), 1e308)
    no = np.zeros((2, 3), dtype=bool)
    with np.errstate(over="ignore"):
        out = R.discounted_returns(big, big, no, no, 1.0)
    assert np.all(np.isinf(out)) and np.all(out > 0)
    np.testing.assert_array_equal(out, RL.discounted_returns_loop(big, big, no, no, 1.0))
    # exp(800) overflows to inf; the levels (1) clip it, so the targets are those of ratio 1 (log-ratio 0)
    lr = np.full((2, 3), 800.0)
    vs, pg = R.vtrace(np.ones((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)), lr, no, no, 0.9)
    evs, epg = RL.vtrace_loop(np.ones((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)), no, no, 0.9)
    np.testing.assert_array_equal(vs, evs)
    np.testing.assert_array_equal(pg, epg)


def _exp_or_inf(v: float) -> float:
    try:
        return math.exp(v)
    except OverflowError:
        return math.inf


def test_kernel_exp_matches_math_exp(path: str) -> None:
    """The vectorizable exp inside the V-trace/Retrace kernels: within 2 ulp (relative 4.5e-16) of
    ``math.exp`` over the whole float64 range, exact fallbacks (subnormal results, overflow to inf)."""
    if path != "numba":
        pytest.skip("kernel-level test (numba path only)")
    numba = pytest.importorskip("numba")
    from reference_impls import _returns_numba as NB

    @numba.njit
    def run(lr: np.ndarray, ratio: np.ndarray, bits: np.ndarray) -> None:
        NB._exp_row(lr, 0, lr.shape[1], ratio, 0, bits)

    rng = np.random.default_rng(12)
    x = np.concatenate([rng.normal(size=20000) * 3, rng.uniform(-760.0, 720.0, 20000),
                        [0.0, -0.0, 1e-300, -1e-300, 708.9, 709.0, 709.5, 709.78, 710.0, -708.0, -708.5, -745.2,
                         -800.0, 800.0]])[None, :]
    for lr in (x, x.astype(np.float32)):
        ratio, bits = np.empty(lr.shape), np.empty(lr.shape[1], dtype=np.int64)
        run(lr, ratio, bits)
        want = np.array([_exp_or_inf(float(v)) for v in lr[0]])
        got = ratio[0]
        normal = (want > 2.3e-308) & np.isfinite(want)
        assert float(np.max(np.abs(got[normal] - want[normal]) / want[normal])) <= 4.5e-16
        np.testing.assert_array_equal(got[~normal], want[~normal])


# --------------------------------------------------------------------------- the backend keyword


@pytest.mark.parametrize("name", PUBLIC)
def test_backend_keyword_paths_agree_and_reject_unknown(path: str, name: str) -> None:
    """Every value of ``backend`` gives the plain loops' result (the ``"loop"`` path is those loops behind
    the same validation); an unknown backend, or "numba" where numba is missing, is a ValueError naming it."""
    fn = getattr(R, name).func  # the unwrapped public function (the fixture wraps it in a partial)
    rng = np.random.default_rng(5)
    x = random_inputs(rng, (3, 9), p_end=0.25)
    args = {
        "discounted_returns": ("rewards", "next_values", "terminated", "truncated"),
        "gae": ("rewards", "values", "next_values", "terminated", "truncated"),
        "lambda_returns": ("rewards", "values", "next_values", "terminated", "truncated"),
        "vtrace": ("rewards", "values", "next_values", "log_rhos", "terminated", "truncated"),
        "retrace": ("rewards", "values", "next_values", "log_rhos", "terminated", "truncated"),
    }[name]
    scal = (0.9,) if name == "discounted_returns" else (0.9, 0.7)
    pos = [x[k] for k in args] + list(scal)
    want = fn(*pos, backend="loop")
    backends = ["auto", "numpy"] + (["numba"] if R._HAVE_NUMBA else [])
    for b in backends:
        got = fn(*pos, backend=b)
        for g_, w_ in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
            np.testing.assert_allclose(g_, w_, rtol=0, atol=1e-12)
    for bad in ("cuda", "NUMPY", None, 1):
        with pytest.raises(ValueError, match="backend"):
            fn(*pos, backend=bad)
    with pytest.raises(ValueError, match="gamma"):  # the loop path validates like the others
        fn(*pos[:-len(scal)], 1.5, *scal[1:], backend="loop")


def test_backend_numba_without_numba_names_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(R, "_HAVE_NUMBA", False)
    z = np.zeros(3)
    no = np.zeros(3, dtype=bool)
    with pytest.raises(ValueError, match=r"backend.*numba"):
        R.gae.func(z, z, z, no, no, 0.9, 0.9, backend="numba")
    assert R.gae.func(z, z, z, no, no, 0.9, 0.9, backend="auto").shape == (3,)  # auto falls back to numpy
