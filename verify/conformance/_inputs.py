"""Hypothesis strategies that draw one example (reference parameter name -> value) per target.

Each strategy draws the *structure* of an example with hypothesis (shapes, where episodes end,
gamma and lambda, clip levels, which family of values) and the bulk numbers from a numpy
generator seeded by a drawn integer, so long sequences cost one draw, and shrinking moves
towards short sequences, no batch axis, simple patterns and small integer values.

The classic failure points are explicit choices that hypothesis tries early and shrinks
towards: an episode that ends at the first or the last step, terminated and truncated
steps in one sequence (adjacent, or several of each), long sequences (T = 200 or 400, where
(gamma lambda)^k underflows to nothing that matters), gamma and lambda at 0 and 1, log-ratios
at the clip-band edges, far outside them and extreme (|log r| up to 60 in float64), all-masked
and single-token sequences, constant GRPO groups, and float32 as well as float64 inputs.
Float32 examples keep every result representable in float32 (|log r| is bounded), so a
float32 implementation is never asked for a number float32 cannot hold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

Example = dict[str, Any]

#: Which parameters are time sequences (moved by ``time_major``) -- everything array-valued is.
FLOAT_DTYPES = (np.float64, np.float32)


def _rng(draw: st.DrawFn) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="rng seed"))


def _shape(draw: st.DrawFn, t_max_long: bool = True, t_min: int = 1) -> tuple[int, ...]:
    short = st.integers(t_min, 8)
    lengths = [short, st.integers(max(t_min, 9), 40)]
    if t_max_long:
        lengths.append(st.sampled_from([200, 400]))
    T = draw(st.one_of(*lengths), label="T")
    batch = draw(st.sampled_from([(), (2,), (3,), (2, 2)]), label="batch")
    return (*batch, T)


def _values(draw: st.DrawFn, rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, name: str,
            *, positive: bool = False) -> np.ndarray:
    kind = draw(st.sampled_from(["ints", "normal", "wide", "zeros"]), label=f"{name} values")
    if kind == "ints":
        x = rng.integers(0 if positive else -3, 4, size=shape).astype(np.float64)
    elif kind == "normal":
        x = rng.standard_normal(shape)
    elif kind == "wide":
        x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, size=shape)
    else:
        x = np.zeros(shape)
    if positive:
        x = np.abs(x)
    return np.asarray(x, dtype=dtype)


def _dtype(draw: st.DrawFn, dtypes: tuple[Any, ...]) -> Any:
    return draw(st.sampled_from(dtypes), label="dtype")


def _unit(draw: st.DrawFn, name: str, common: tuple[float, ...]) -> float:
    return float(draw(st.one_of(st.sampled_from(common), st.floats(0.0, 1.0)), label=name))


# --------------------------------------------------------------------------- episodes


EPISODE_PATTERNS = ("none", "term-last", "trunc-last", "term-first", "trunc-first", "term-trunc-adjacent",
                    "trunc-term-adjacent", "random", "dense")


def _flags(draw: st.DrawFn, rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    pattern = draw(st.sampled_from(EPISODE_PATTERNS), label="episode ends")
    T = shape[-1]
    term = np.zeros(shape, dtype=bool)
    trunc = np.zeros(shape, dtype=bool)
    if pattern == "term-last":
        term[..., -1] = True
    elif pattern == "trunc-last":
        trunc[..., -1] = True
    elif pattern == "term-first":
        term[..., 0] = True
    elif pattern == "trunc-first":
        trunc[..., 0] = True
    elif pattern in ("term-trunc-adjacent", "trunc-term-adjacent"):
        i = int(rng.integers(0, T))
        a, b = (term, trunc) if pattern == "term-trunc-adjacent" else (trunc, term)
        a[..., i] = True
        if i + 1 < T:
            b[..., i + 1] = True
    elif pattern in ("random", "dense"):
        p = 0.1 if pattern == "random" else 0.4
        u = rng.uniform(size=shape)
        term = u < p / 2
        trunc = (u >= p / 2) & (u < p)
    return term, trunc


def _next_values(draw: st.DrawFn, rng: np.random.Generator, values: np.ndarray, term: np.ndarray,
                 trunc: np.ndarray, consistent: bool, name: str = "next_values") -> np.ndarray:
    """Next values: ``values[t + 1]`` inside episodes when consistent; fresh numbers at ends."""
    if not consistent:
        consistent = draw(st.booleans(), label=f"{name} consistent")
    nv = _values(draw, rng, values.shape, values.dtype, name)
    if consistent:
        inside = ~(term | trunc)
        inside[..., -1] = False
        shifted = np.zeros_like(values)
        shifted[..., :-1] = values[..., 1:]
        nv = np.where(inside, shifted, nv).astype(values.dtype)
    return nv


def _log_ratios(draw: st.DrawFn, rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, name: str,
                *, bound32: float = 5.0, edges: tuple[float, ...] = ()) -> np.ndarray:
    kind = draw(st.sampled_from(["zero", "small", "mixed", "far", "edges", "extreme", "tiny"]), label=name)
    big = 60.0 if dtype == np.float64 else bound32
    if kind == "zero":
        x = np.zeros(shape)
    elif kind == "small":
        x = rng.normal(0.0, 0.3, size=shape)
    elif kind == "mixed":
        x = rng.normal(0.0, 1.5, size=shape)
    elif kind == "far":
        x = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(1.0, min(5.0, big), size=shape)
    elif kind == "edges" and edges:
        base = np.log(rng.choice(np.asarray(edges), size=shape))
        # exact ties only in float64: float32 rounding of the inputs puts a tie on either side of an edge
        offsets = [-1e-6, 0.0, 1e-6, -1e-3, 1e-3] if dtype == np.float64 else [-1e-3, 1e-3, -1e-2, 1e-2]
        x = base + rng.choice(offsets, size=shape)
    elif kind == "extreme":
        x = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(min(20.0, big / 2), big, size=shape)
    elif kind == "tiny":
        x = rng.choice([-1.0, 1.0], size=shape) * 10.0 ** rng.uniform(-9, -3, size=shape)
    else:
        x = rng.normal(0.0, 1.0, size=shape)
    return x


def _log_probs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return -rng.exponential(1.0, size=shape)


# --------------------------------------------------------------------------- families


def returns_example(params: tuple[str, ...], fixed: dict[str, Any], requires: frozenset[str],
                dtypes: tuple[Any, ...] = FLOAT_DTYPES) -> st.SearchStrategy[Example]:
    """Strategy for the returns targets (gae, vtrace, retrace, discounted_returns, lambda_returns)."""

    @st.composite
    def strat(draw: st.DrawFn) -> Example:
        rng = _rng(draw)
        dtype = _dtype(draw, dtypes)
        shape = _shape(draw)
        term, trunc = _flags(draw, rng, shape)
        ex: Example = {"terminated": term, "truncated": trunc}
        value_name = "q_values" if "q_values" in params else "values"
        next_name = "next_expected_q" if "next_expected_q" in params else "next_values"
        ex["rewards"] = _values(draw, rng, shape, dtype, "rewards")
        if value_name in params:
            ex[value_name] = _values(draw, rng, shape, dtype, value_name)
            ex[next_name] = _next_values(draw, rng, ex[value_name], term, trunc,
                                         "consistent-next-values" in requires, next_name)
        else:
            ex[next_name] = _values(draw, rng, shape, dtype, next_name)
        levels_inf = False
        for lv in ("rho_bar", "c_bar", "pg_rho_bar"):
            if lv in params and lv not in fixed:
                ex[lv] = float(draw(st.sampled_from([1.0, 0.5, 2.0, math.inf, 1.5]), label=lv))
            level = fixed.get(lv, ex.get(lv, 1.0))
            levels_inf = levels_inf or (lv in params and level is not None and float(level) == math.inf)
        if "log_rhos" in params:
            # an unclipped trace multiplies ratios along the sequence: keep products representable
            bound = 5.0 if (levels_inf or dtype == np.float32) else 60.0
            lr = _log_ratios(draw, rng, shape, np.float64 if bound > 5 else np.float32, "log_rhos", bound32=bound)
            if levels_inf:
                lr = np.clip(lr, -5.0, 5.0 / max(1.0, math.sqrt(shape[-1])))
            ex["log_rhos"] = lr.astype(dtype)
        if "gamma" in params:
            ex["gamma"] = _unit(draw, "gamma", (0.5, 0.99, 0.0, 1.0, 0.9))
        if "lam" in params:
            ex["lam"] = _unit(draw, "lam", (0.5, 0.95, 0.0, 1.0))
        return ex

    return strat()


def ratio_example(params: tuple[str, ...], fixed: dict[str, Any], requires: frozenset[str],
                dtypes: tuple[Any, ...] = FLOAT_DTYPES) -> st.SearchStrategy[Example]:
    """Strategy for PPO-style targets: log_probs, old_log_probs, advantages, clip levels, masks."""

    @st.composite
    def strat(draw: st.DrawFn) -> Example:
        rng = _rng(draw)
        dtype = _dtype(draw, dtypes)
        shape = _shape(draw, t_max_long=False)
        ex: Example = {}
        if "clip_eps" in params:
            ex["clip_eps"] = fixed.get("clip_eps", draw(st.one_of(
                st.sampled_from([0.2, (0.2, 0.28), 0.1, 0.5, (0.1, 0.3)]), st.floats(0.01, 0.9)), label="clip_eps"))
        eps = ex.get("clip_eps", 0.2)
        lo, hi = (eps, eps) if not isinstance(eps, tuple | list) else (float(eps[0]), float(eps[1]))
        if "dual_clip" in params:
            ex["dual_clip"] = fixed.get("dual_clip", draw(st.sampled_from([None, 3.0, 1.5, 10.0]), label="dual_clip"))
        c = ex.get("dual_clip")
        edges = (1.0 - lo, 1.0 + hi) + ((float(c),) if c else ())
        old = _log_probs(rng, shape)
        lr = _log_ratios(draw, rng, shape, dtype, "log ratio", bound32=15.0, edges=edges)
        ex["old_log_probs"] = old.astype(dtype)
        ex["log_probs"] = (old + lr).astype(dtype)
        if "advantages" in params:
            ex["advantages"] = _values(draw, rng, shape, dtype, "advantages")
        if "kl" in params:
            ex["kl"] = _values(draw, rng, shape, dtype, "kl", positive=True)
        if "beta" in params:
            ex["beta"] = float(draw(st.sampled_from([0.1, 0.0, 1.0, 3.0]), label="beta"))
        if "mask" in params:
            ex["mask"] = draw(st.sampled_from(["none", "ones", "random"]), label="mask")
            if ex["mask"] == "none":
                ex["mask"] = None
            elif ex["mask"] == "ones":
                ex["mask"] = np.ones(shape, dtype=bool)
            else:
                m = rng.uniform(size=shape) < 0.6
                m.reshape(-1)[int(rng.integers(0, m.size))] = True
                ex["mask"] = m
        if "definition" in params:
            ex["definition"] = draw(st.sampled_from(["ratio-outside", "clipped-branch"]), label="definition")
        for tau in ("tau_pos", "tau_neg"):
            if tau in params:
                ex[tau] = float(draw(st.sampled_from([1.0, 1.05, 0.5, 2.0]), label=tau))
        return ex

    return strat()


def kl_example(params: tuple[str, ...], fixed: dict[str, Any], requires: frozenset[str],
                dtypes: tuple[Any, ...] = FLOAT_DTYPES) -> st.SearchStrategy[Example]:
    """Strategy for ``divergences.kl_estimator``: log p, log q (log r near 0, moderate, extreme) and kind."""

    @st.composite
    def strat(draw: st.DrawFn) -> Example:
        rng = _rng(draw)
        dtype = _dtype(draw, dtypes)
        shape = _shape(draw, t_max_long=False)
        lp = _log_probs(rng, shape)
        lr = _log_ratios(draw, rng, shape, dtype, "log r", bound32=15.0)
        ex: Example = {"log_p": lp.astype(dtype), "log_q": (lp + lr).astype(dtype)}
        if "kind" in params:
            ex["kind"] = draw(st.sampled_from(["k1", "k2", "k3"]), label="kind")
        return ex

    return strat()


def _policy_mask(draw: st.DrawFn, rng: np.random.Generator, shape: tuple[int, ...], *, rows_nonempty: bool,
                 as_float: bool) -> np.ndarray:
    kind = draw(st.sampled_from(["ones", "random", "prefix", "single", "all-masked-row"]), label="mask")
    if kind == "ones":
        m = np.ones(shape, dtype=bool)
    elif kind == "random":
        m = rng.uniform(size=shape) < 0.6
    elif kind == "prefix":  # right padding
        lengths = rng.integers(1, shape[-1] + 1, size=shape[:-1])
        m = np.arange(shape[-1]) < np.asarray(lengths)[..., None]
    elif kind == "single":
        m = np.zeros(shape, dtype=bool)
        m[..., int(rng.integers(0, shape[-1]))] = True
    else:
        m = rng.uniform(size=shape) < 0.6
        m.reshape(-1, shape[-1])[0] = False
    if rows_nonempty:
        rows = m.reshape(-1, shape[-1])
        empty = ~rows.any(axis=-1)
        rows[empty, 0] = True
    return m.astype(np.float64) if as_float else m


def mask_example(params: tuple[str, ...], fixed: dict[str, Any], requires: frozenset[str],
                 dtypes: tuple[Any, ...] = FLOAT_DTYPES, *, rows_nonempty: bool) -> st.SearchStrategy[Example]:
    """Strategy for the mismatch targets and ``losses.aggregate`` / GSPO: token log-probs and a mask."""

    @st.composite
    def strat(draw: st.DrawFn) -> Example:
        rng = _rng(draw)
        dtype = _dtype(draw, dtypes)
        shape = _shape(draw, t_max_long=False)
        ex: Example = {}
        a_name, b_name = (("learner_log_probs", "sampler_log_probs") if "learner_log_probs" in params
                          else ("log_probs", "old_log_probs"))
        if a_name in params:
            b = _log_probs(rng, shape)
            # float32: keep sequence sums of log-ratios inside float32's exp range (|sum| <= 64)
            lr = _log_ratios(draw, rng, shape, dtype, "log ratio", bound32=4.0)
            ex[b_name] = b.astype(dtype)
            ex[a_name] = (b + lr).astype(dtype)
        if "values" in params:
            ex["values"] = _values(draw, rng, shape, dtype, "values")
        ex["mask"] = _policy_mask(draw, rng, shape, rows_nonempty=rows_nonempty, as_float="float-mask" in requires)
        if "advantages" in params:  # GSPO: one advantage per sequence
            ex["advantages"] = _values(draw, rng, shape[:-1], dtype, "advantages")
        if "clip_eps" in params:
            ex["clip_eps"] = draw(st.sampled_from([0.2, (0.2, 0.28), 0.05]), label="clip_eps")
        if "cap" in params:
            ex["cap"] = draw(st.sampled_from([None, 2.0, 1.0, 0.5, 10.0]), label="cap")
        if "low" in params:
            ex["low"], ex["high"] = draw(st.sampled_from([(0.5, 2.0), (0.0, 1.5), (0.1, 10.0), (1.0, 1.0)]),
                                         label="low, high")
        if "mode" in params:
            ex["mode"] = draw(st.sampled_from(["token-mean", "seq-mean-token-mean", "seq-mean-token-sum",
                                               "seq-mean-token-sum-norm"]), label="mode")
        return ex

    return strat()


def group_example(params: tuple[str, ...], fixed: dict[str, Any], requires: frozenset[str],
                dtypes: tuple[Any, ...] = FLOAT_DTYPES) -> st.SearchStrategy[Example]:
    """Strategy for GRPO / RLOO advantages: rewards ``[..., G]`` (binary, integer, real, constant groups)."""

    @st.composite
    def strat(draw: st.DrawFn) -> Example:
        rng = _rng(draw)
        dtype = _dtype(draw, dtypes)
        G = draw(st.integers(2, 8), label="group size")
        batch = draw(st.sampled_from([(), (2,), (3,)]), label="batch")
        shape = (*batch, G)
        kind = draw(st.sampled_from(["binary", "ints", "normal", "constant"]), label="rewards")
        if kind == "binary":
            r = rng.integers(0, 2, size=shape).astype(np.float64)
        elif kind == "ints":
            r = rng.integers(-3, 4, size=shape).astype(np.float64)
        elif kind == "normal":
            r = rng.standard_normal(shape)
        else:
            r = np.broadcast_to(rng.integers(-2, 3, size=(*batch, 1)), shape).astype(np.float64)
        ex: Example = {"rewards": r.astype(dtype)}
        if "std" in params:
            ex["std"] = draw(st.sampled_from(["sample", "population", None]), label="std")
        if "eps" in params:
            ex["eps"] = float(draw(st.sampled_from([1e-6, 1e-4, 0.1]), label="eps"))
        return ex

    return strat()


def importance_example(params: tuple[str, ...], fixed: dict[str, Any], requires: frozenset[str],
                dtypes: tuple[Any, ...] = FLOAT_DTYPES) -> st.SearchStrategy[Example]:
    """Strategy for the importance-sampling estimators: rewards or values, log pi, log mu, gamma, level."""

    @st.composite
    def strat(draw: st.DrawFn) -> Example:
        rng = _rng(draw)
        dtype = _dtype(draw, dtypes)
        shape = _shape(draw, t_max_long=False)
        ex: Example = {}
        for name in ("rewards", "values"):
            if name in params:
                ex[name] = _values(draw, rng, shape, dtype, name)
        if "weights" in params:
            w = _values(draw, rng, shape, dtype, "weights", positive=True)
            w.reshape(-1, shape[-1])[:, 0] += 1  # every row needs a non-zero weight
            ex["weights"] = w
        if "behavior_log_probs" in params:
            b = _log_probs(rng, shape)
            lr = _log_ratios(draw, rng, shape, dtype, "log ratio", bound32=4.0)
            ex["behavior_log_probs"] = b.astype(dtype)
            ex["log_probs"] = (b + lr).astype(dtype)
        if "gamma" in params:
            ex["gamma"] = _unit(draw, "gamma", (0.5, 0.99, 0.0, 1.0))
        if "level" in params:
            ex["level"] = draw(st.sampled_from([2.0, "ionides", 1.0, 0.5, 10.0]), label="level")
        return ex

    return strat()
