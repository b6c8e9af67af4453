"""``check`` / ``assert_conforms``: compare an implementation with a reference function on hunted inputs."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed
from hypothesis.errors import Unsatisfiable

from verify.conformance import _targets
from verify.conformance._targets import LOG_INPUTS, Target

#: The rounding allowance: ``K (T + 1) (1 + L) eps`` times the element's scale (see :data:`TOLERANCE_RULE`).
K_ROUNDING = 8.0

TOLERANCE_RULE = (
    "|got - ref| <= atol + rtol |ref| + 8 (T + 1) (1 + L) eps (|ref| + S + L) elementwise, with eps the machine "
    "epsilon of the example's input dtype (2.2e-16 float64, 1.2e-7 float32), T the sequence length, L the "
    "largest |log-probability| input and S the largest |non-log float input| of the example: a rounding "
    "allowance that grows with the inputs' scale, the recursion length and the exponent range, so a correct "
    "float32 implementation conforms, while every catalogued bug class differs by O(1) relative to S"
)

_NAMES: dict[str, Any] = {"float64": np.float64, "float32": np.float32}


class _Mismatch(Exception):
    """Raised inside the shrinking run for a failing example."""


@dataclass
class _Record:
    args: dict[str, Any]  # every reference parameter -> value (fixed and held included)
    expected: Any
    got: Any  # None when fn raised
    error: str | None  # fn's exception, if any
    fail: list[np.ndarray] | None  # per-output elementwise failure masks (None: structural failure)
    abs_err: float
    rel_err: float
    dtype: str

    @property
    def failed(self) -> bool:
        return self.error is not None or self.fail is None or any(bool(f.any()) for f in self.fail)


@dataclass
class ConformanceResult:
    """The outcome of :func:`check`. ``str(result)`` explains it for a person."""

    target: str
    passed: bool
    examples: int
    max_abs_error: float
    max_rel_error: float
    counterexample: dict[str, Any] | None
    expected: Any = None
    got: Any = None
    diagnosis: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    failing_examples: int = 0
    error: str | None = None
    tolerance: str = ""
    held: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    diagnosis_descriptions: dict[str, str] = field(default_factory=dict)
    time_major: bool = False
    _plan: Any = field(default=None, repr=False)
    _ref: Any = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return self.passed

    def reproduce(self, fn: Callable[..., Any]) -> tuple[Any, Any]:
        """Re-run the counterexample through the reference and ``fn`` (called as ``check`` calls it).

        Returns ``(expected, got)`` as numpy values. Raises ``ValueError`` when the result passed.
        """
        if self.counterexample is None:
            raise ValueError("counterexample: expected a failed result with a counterexample, got a passing result")
        ref = self._ref if self._ref is not None else _targets.get(self.target).ref
        expected = _to_numpy(ref(**self.counterexample))
        return expected, _call(fn, self._plan, self.counterexample, self.time_major, expected)

    def __str__(self) -> str:
        head = f"{self.target}: "
        if self.passed:
            return (head + f"conforms on {self.examples} examples (max |error| {self.max_abs_error:.3g}, "
                    f"max relative error {self.max_rel_error:.3g}).\nTolerance: {self.tolerance}")
        lines = [head + f"does NOT conform: {self.failing_examples} of {self.examples} examples differ "
                 f"(max |error| {_fmt(self.max_abs_error)}, max relative error {_fmt(self.max_rel_error)})."]
        if self.error:
            lines.append(f"fn raised on the counterexample: {self.error}")
        for w in self.where:
            lines.append(f"Where: {w}")
        if self.held:
            lines.append("Held at the reference's defaults (fn does not take them): "
                         + ", ".join(f"{k}={v!r}" for k, v in self.held.items()))
        lines.append("Minimal counterexample (shrunk):")
        for k, v in (self.counterexample or {}).items():
            lines.append(f"  {k} = {_show(v)}")
        lines.append(f"  expected (reference) = {_show(self.expected)}")
        lines.append(f"  got (fn)             = {_show(self.got)}")
        if self.diagnosis:
            lines.append("Diagnosis: fn's outputs equal those of these catalogued bugs on every example tried:")
            for d in self.diagnosis:
                lines.append(f"  {d}: {self.diagnosis_descriptions.get(d, '')}")
        else:
            lines.append("Diagnosis: no catalogued bug class reproduces fn's outputs on every example tried.")
        lines.append(f"Tolerance: {self.tolerance}")
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.3g}"


def _show(v: Any) -> str:
    if isinstance(v, tuple) and any(isinstance(x, np.ndarray) for x in v):
        return "(" + ", ".join(_show(x) for x in v) + ")"
    if isinstance(v, np.ndarray):
        if v.dtype == bool:
            body = np.array2string(v.astype(int), separator=", ", threshold=40)
            return f"{body} (bool)"
        body = np.array2string(v, separator=", ", precision=6, threshold=40, max_line_width=110)
        return f"{body} ({v.dtype})" if v.dtype != np.float64 else body
    return repr(v)


# --------------------------------------------------------------------------- calling fn


@dataclass(frozen=True)
class _Plan:
    positional: tuple[str, ...]  # passed positionally, in this order
    keyword: tuple[str, ...]  # drawn, passed by keyword (after a fixed parameter)
    fixed: tuple[str, ...]  # passed by keyword with the fixed value
    held: tuple[str, ...]  # not passed: held at the reference default


def _plan(fn: Callable[..., Any], target: Target, fixed: dict[str, Any]) -> _Plan:
    params = target.params
    unknown = [k for k in fixed if k not in target.signature.parameters]
    if unknown:
        raise ValueError(f"fixed: expected parameters of reference_impls.{target.name} {list(params)}, "
                         f"got unknown {unknown}")
    drawn = [p for p in params if p not in fixed]
    first_fixed = min((params.index(k) for k in fixed if k in params), default=len(params))
    pos = [p for p in drawn if params.index(p) < first_fixed]
    kw = [p for p in drawn if params.index(p) >= first_fixed]
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        ps = list(sig.parameters.values())
        var_pos = any(p.kind is p.VAR_POSITIONAL for p in ps)
        var_kw = any(p.kind is p.VAR_KEYWORD for p in ps)
        names = {p.name for p in ps}
        if not var_pos:
            slots = [p for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in fixed]
            pos = pos[:len(slots)]
        if not var_kw:
            kw = [p for p in kw if p in names]
        missing = [k for k in fixed if not var_kw and k not in names]
        if missing:
            raise ValueError(f"fixed: {missing} are passed to fn by keyword, but fn accepts no such parameter "
                             f"(its signature is {sig})")
    defaults = target.defaults()
    held = [p for p in drawn if p not in pos and p not in kw]
    required = [p for p in held if p not in defaults]
    if required:
        raise ValueError(f"fn: expected a function that accepts the reference parameters {list(params)} in this "
                         f"order (fix the others by keyword), but it cannot take the required {required}")
    return _Plan(tuple(pos), tuple(kw), tuple(fixed), tuple(held))


def _to_numpy(x: Any) -> Any:
    if isinstance(x, tuple | list):
        return tuple(_to_numpy(v) for v in x)
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) in ("torch.bfloat16", "torch.float16"):
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _call(fn: Callable[..., Any], plan: _Plan, args: dict[str, Any], time_major: bool, expected: Any) -> Any:
    def lay(v: Any) -> Any:
        if time_major and isinstance(v, np.ndarray) and v.ndim >= 1:
            return np.moveaxis(v, -1, 0)
        return v

    out = fn(*[lay(args[p]) for p in plan.positional], **{p: lay(args[p]) for p in plan.keyword + plan.fixed})
    got = _to_numpy(out)
    if time_major:
        seq_ndim = max((np.ndim(v) for v in args.values() if isinstance(v, np.ndarray)), default=0)

        def back(g: Any, e: Any) -> Any:
            return np.moveaxis(g, 0, -1) if np.ndim(e) == seq_ndim and np.ndim(g) >= 1 else g

        got = tuple(back(g, e) for g, e in zip(got, expected)) if isinstance(expected, tuple) else back(got, expected)
    return got


# --------------------------------------------------------------------------- comparing


def _example_scale(args: dict[str, Any]) -> tuple[float, float, int, float]:
    """(S, L, T, eps) of an example (see :data:`TOLERANCE_RULE`)."""
    S, L, T, eps = 0.0, 0.0, 1, float(np.finfo(np.float64).eps)
    for k, v in args.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.size:
            fin = np.abs(v[np.isfinite(v)])
            m = float(fin.max()) if fin.size else 0.0
            if k in LOG_INPUTS:
                L = max(L, m)
            else:
                S = max(S, m)
            T = max(T, int(v.shape[-1]) if v.ndim else 1)
            eps = max(eps, float(np.finfo(v.dtype).eps))
    return S, L, T, eps


def _dtype_name(args: dict[str, Any]) -> str:
    kinds = {str(v.dtype) for v in args.values() if isinstance(v, np.ndarray) and v.dtype.kind == "f"}
    return "float32" if "float32" in kinds else "float64"


def _compare(expected: Any, got: Any, args: dict[str, Any], rtol: float, atol: float, floor_eps: float = 0.0,
             target: Target | None = None) -> tuple[list[np.ndarray] | None, float, float, str | None]:
    """Elementwise failure masks per output, max abs and rel error, and a structural problem (if any).
    A target with ``ties`` (an output that jumps) adds the example's tie allowance to the tolerance."""
    exp_t = expected if isinstance(expected, tuple) else (expected,)
    got_t = got if isinstance(got, tuple) else (got,)
    if isinstance(expected, tuple) != isinstance(got, tuple) or len(exp_t) != len(got_t):
        n_got = len(got_t) if isinstance(got, tuple) else "one"
        n_exp = len(exp_t) if isinstance(expected, tuple) else "one"
        return None, math.inf, math.inf, f"fn returned {n_got} output(s), the reference {n_exp}"
    S, L, T, eps = _example_scale(args)
    ties = target.ties(args, eps) if target is not None and target.ties is not None else 0.0
    eps = max(eps, floor_eps)
    fails, mabs, mrel = [], 0.0, 0.0
    for i, (e, g) in enumerate(zip(exp_t, got_t)):
        e = np.asarray(e, dtype=np.float64)
        try:
            g = np.asarray(g, dtype=np.float64)
        except (TypeError, ValueError):
            return None, math.inf, math.inf, f"output {i}: fn returned {type(g).__name__}, not numbers"
        if g.shape != e.shape:
            return None, math.inf, math.inf, f"output {i}: fn returned shape {g.shape}, the reference {e.shape}"
        both_inf = np.isinf(e) & (e == g)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.where(both_inf, 0.0, np.abs(g - e))
        diff = np.where(np.isnan(diff), np.inf, diff)
        tol = atol + ties + rtol * np.abs(e) + K_ROUNDING * (T + 1) * (1 + L) * eps * (
            np.where(np.isinf(e), 0, np.abs(e)) + S + L)
        fail = diff > tol
        fails.append(fail)
        if diff.size:
            mabs = max(mabs, float(diff.max()))
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(diff == 0, 0.0, diff / (np.abs(e) + max(atol, 1e-300)))
            mrel = max(mrel, float(np.nan_to_num(rel, nan=math.inf).max()))
    return fails, mabs, mrel, None


# --------------------------------------------------------------------------- the catalogue


def _catalogue(target: Target) -> list[Any]:
    """Catalogued bug classes of ``target`` (:mod:`verify.mutants`): the diagnosis vocabulary."""
    from verify import mutants

    return list(mutants.mutants_for(target.dotted))


# --------------------------------------------------------------------------- check


def check(fn: Callable[..., Any], target: str, *, examples: int = 200, seed: int = 0, rtol: float = 1e-10,
          atol: float = 1e-12, time_major: bool = False, dtypes: Sequence[str] = ("float64", "float32"),
          reference: Callable[..., Any] | None = None, precision: str | None = None,
          **fixed: Any) -> ConformanceResult:
    """Check that ``fn`` computes what ``reference_impls.<target>`` computes, on inputs that hunt for bugs.

    ``fn`` is called positionally in the reference's argument order; parameters given in ``**fixed``
    (e.g. ``kind="k3"``, ``gamma=0.99``) are passed by keyword with that value, and drawn parameters
    that come after a fixed one are passed by keyword too. Optional reference parameters that ``fn``
    does not accept (its signature is shorter) are held at the reference's defaults and named in the
    result. ``time_major=True``: array arguments reach ``fn`` as ``[T, ...]`` and per-step outputs come
    back the same way. ``dtypes`` chooses the input dtypes drawn ("float64", "float32").
    ``reference`` replaces the reference by a variant with its signature (for example the reference
    with a peer library's documented clamp applied), to show that a named convention difference
    explains every difference; the inputs, tolerance and diagnosis are those of ``target``.
    ``precision="float32"`` judges every example at float32 rounding (eps = 1.2e-7 in the tolerance),
    for implementations that compute in float32 inside whatever the input dtype.

    Inputs come from hypothesis (``examples`` of them, reproducible from ``seed``); a failure is shrunk
    to a minimal counterexample, then simplified further (entries zeroed, flags cleared) while it still
    fails. Tolerance: see :data:`TOLERANCE_RULE`. Raises ``ValueError`` on an unknown target, unknown
    fixed parameters, bad ``examples`` / ``dtypes``, or a ``fn`` that cannot take a required parameter.
    """
    tgt = _targets.get(target)
    if not callable(fn):
        raise ValueError(f"fn: expected a callable, got {type(fn).__name__}")
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise ValueError(f"examples: expected a positive int, got {examples!r}")
    bad = [d for d in dtypes if d not in _NAMES]
    if bad or not dtypes:
        raise ValueError(f"dtypes: expected a non-empty subset of {sorted(_NAMES)}, got {list(dtypes)!r}")
    for name, v in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(v, int | float) and v >= 0 and math.isfinite(v)):
            raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}")
    if precision is not None and precision not in _NAMES:
        raise ValueError(f"precision: expected None or one of {sorted(_NAMES)}, got {precision!r}")
    floor_eps = float(np.finfo(_NAMES[precision]).eps) if precision else 0.0
    plan = _plan(fn, tgt, fixed)
    defaults = tgt.defaults()
    requires = frozenset(getattr(fn, "_conformance_requires", frozenset()))
    strategy = tgt.strategy(tgt.params, fixed, requires, tuple(_NAMES[d] for d in dtypes))
    if reference is not None and not callable(reference):
        raise ValueError(f"reference: expected None or a callable, got {type(reference).__name__}")
    ref = tgt.ref if reference is None else reference
    records: list[_Record] = []

    def complete(ex: dict[str, Any]) -> dict[str, Any]:
        args = {p: ex[p] if p in ex else defaults.get(p) for p in tgt.params}
        for p in plan.held:
            args[p] = defaults[p]
        args.update(fixed)
        return args

    def run(args: dict[str, Any]) -> _Record | None:
        try:
            expected = _to_numpy(ref(**args))
        except ValueError as exc:
            if any(k in str(exc).split(":")[0] for k in fixed):
                raise ValueError(f"fixed: the reference rejects the fixed arguments: {exc}") from exc
            return None  # an input outside the reference's domain: not an example
        exp_t = expected if isinstance(expected, tuple) else (expected,)
        if any(np.isnan(np.asarray(e, dtype=np.float64)).any() for e in exp_t):
            return None
        dt = _dtype_name(args)
        try:
            got = _call(fn, plan, args, time_major, expected)
        except Exception as exc:  # any failure of fn is a finding
            return _Record(args, expected, None, f"{type(exc).__name__}: {exc}", None, math.inf, math.inf, dt)
        fails, mabs, mrel, problem = _compare(expected, got, args, rtol, atol, floor_eps, tgt)
        return _Record(args, expected, got, problem, fails, mabs, mrel, dt)

    cfg = dict(database=None, deadline=None, derandomize=False, suppress_health_check=list(HealthCheck),
               max_examples=examples, print_blob=False, report_multiple_bugs=False)

    @hyp_seed(seed)
    @settings(phases=[Phase.generate], **cfg)  # type: ignore[arg-type]
    @given(strategy)
    def explore(ex: dict[str, Any]) -> None:
        rec = run(complete(ex))
        if rec is not None:
            records.append(rec)

    try:
        explore()
    except Unsatisfiable as exc:
        raise ValueError(f"fixed: no valid example could be drawn for {tgt.name} with {fixed!r}: {exc}") from exc
    tried = len(records)
    failing = [r for r in records if r.failed]
    tol_text = f"atol={atol:g}, rtol={rtol:g}; {TOLERANCE_RULE}"
    if precision:
        tol_text += f"; judged at {precision} rounding (precision={precision!r})"
    held = {p: defaults[p] for p in plan.held}
    mabs = max((r.abs_err for r in records), default=0.0)
    mrel = max((r.rel_err for r in records), default=0.0)
    if not failing:
        return ConformanceResult(tgt.name, True, tried, mabs, mrel, None, tolerance=tol_text, held=held,
                                 fixed=dict(fixed), time_major=time_major, _plan=plan, _ref=reference)

    # ---- shrink: the same seeded generation, now failing on the first mismatch
    shrunk: list[_Record] = []

    @hyp_seed(seed)
    @settings(phases=[Phase.generate, Phase.shrink], **cfg)  # type: ignore[arg-type]
    @given(strategy)
    def shrink(ex: dict[str, Any]) -> None:
        rec = run(complete(ex))
        if rec is not None:
            shrunk.append(rec)
            if rec.failed:
                raise _Mismatch

    try:
        shrink()
    except _Mismatch:
        pass
    fails_b = [r for r in shrunk if r.failed]
    minimal = fails_b[-1] if fails_b else min(failing, key=lambda r: _size(r.args))
    minimal = _simplify(minimal, run)
    every = records + shrunk
    diagnosis, descriptions = _diagnose(tgt, every, rtol, atol, floor_eps)
    return ConformanceResult(
        tgt.name, False, tried, mabs, mrel, minimal.args, expected=minimal.expected, got=minimal.got,
        diagnosis=diagnosis, where=_where(tgt, records, failing), failing_examples=len(failing),
        error=minimal.error, tolerance=tol_text, held=held, fixed=dict(fixed),
        diagnosis_descriptions=descriptions, time_major=time_major, _plan=plan, _ref=reference)


def _size(args: dict[str, Any]) -> int:
    return sum(int(v.size) for v in args.values() if isinstance(v, np.ndarray))


def _simplify(rec: _Record, run: Callable[[dict[str, Any]], _Record | None], budget: int = 200) -> _Record:
    """Zero float entries and clear flags one at a time while the example still fails (greedy)."""
    best = rec
    tries = 0
    for k in list(best.args):
        v = best.args[k]
        if not isinstance(v, np.ndarray) or v.size == 0:
            continue
        cands: list[tuple[tuple[Any, ...], Any]]
        if v.dtype == bool:
            cands = [(idx, False) for idx in zip(*np.nonzero(v))]
        elif v.dtype.kind == "f":
            whole = dict(best.args)
            whole[k] = np.zeros_like(v)
            tries += 1
            r = run(whole)
            if r is not None and r.failed:
                best = r
                continue
            cands = [(idx, 0.0) for idx in zip(*np.nonzero(v))]
            frac = list(zip(*np.nonzero(v != np.round(v))))
            cands += [(idx, float(np.sign(v[idx]))) for idx in frac]
            cands += [(idx, float(np.round(v[idx]))) for idx in frac]
        else:
            continue
        for idx, val in cands:
            if tries >= budget:
                return best
            cur = best.args[k].copy()
            if cur[idx] == val:
                continue
            cur[idx] = val
            trial = dict(best.args)
            trial[k] = cur
            tries += 1
            r = run(trial)
            if r is not None and r.failed:
                best = r
    return best


def _where(tgt: Target, records: list[_Record], failing: list[_Record]) -> tuple[str, ...]:
    out: list[str] = []
    f32 = [r for r in records if r.dtype == "float32"]
    f64 = [r for r in records if r.dtype == "float64"]
    nf32 = sum(r.failed for r in f32)
    nf64 = sum(r.failed for r in f64)
    if nf32 and not nf64 and f64:
        out.append(f"only in float32: {nf32} of {len(f32)} float32 examples differ, all {len(f64)} float64 "
                   "examples conform")
    elif nf64 and not nf32 and f32:
        out.append(f"only in float64: {nf64} of {len(f64)} float64 examples differ, all {len(f32)} float32 "
                   "examples conform")
    else:
        out.append(f"in float64 ({nf64} of {len(f64)} examples) and float32 ({nf32} of {len(f32)})")
    raised = [r for r in failing if r.fail is None]
    if raised:
        out.append(f"{len(raised)} failing examples are errors or wrong shapes, e.g. {raised[0].error}")
    # example-level settings shared by every failing example but not by every example
    for k in failing[0].args:
        vals = {repr(r.args[k]) for r in failing}
        if len(vals) == 1 and not isinstance(failing[0].args[k], np.ndarray):
            allv = {repr(r.args[k]) for r in records}
            if len(allv) > 1:
                out.append(f"only when {k} = {next(iter(vals))} (the examples with other values conform)")
    # elementwise regions
    counts: dict[str, int] = {}
    total = 0
    for r in failing:
        if r.fail is None:
            continue
        for fmask in r.fail:
            if not fmask.any():
                continue
            if tgt.family == "returns" and fmask.ndim >= 1:
                # a backward recursion carries an error to every earlier step: attribute it to where it
                # starts, the latest differing step of each sequence
                last = fmask.shape[-1] - 1 - np.argmax(fmask[..., ::-1], axis=-1)
                origin = np.zeros_like(fmask)
                np.put_along_axis(origin, last[..., None], True, axis=-1)
                fmask = origin & fmask.any(axis=-1, keepdims=True)
            total += int(fmask.sum())
            for label, region in tgt.regions(r.args, fmask.shape).items():
                if region.shape == fmask.shape:
                    counts[label] = counts.get(label, 0) + int((fmask & region).sum())
    unit = ("differing sequences, located where the difference starts (the latest differing step; a backward "
            "recursion carries it to every earlier step)" if tgt.family == "returns" else "differing elements")
    if total and counts:
        only = [lab for lab, c in counts.items() if c == total]
        if only:
            out.append(f"only at {' / '.join(only)} ({total} {unit})")
        else:
            parts = ", ".join(f"{lab}: {c}" for lab, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c)
            out.append(f"{total} {unit}, by region: {parts}")
    return tuple(out)


def _diagnose(tgt: Target, records: list[_Record], rtol: float, atol: float, floor_eps: float = 0.0
              ) -> tuple[tuple[str, ...], dict[str, str]]:
    usable = [r for r in records if r.got is not None and r.error is None]
    if not usable:
        return (), {}
    found: list[str] = []
    desc: dict[str, str] = {}
    for m in _catalogue(tgt):
        ok = True
        for r in usable:
            try:
                out = _to_numpy(m.fn(**r.args))
            except Exception:  # a mutant that cannot run this example does not match it
                ok = False
                break
            fails, _, _, problem = _compare(out, r.got, r.args, rtol, atol, floor_eps, tgt)
            if problem is not None or fails is None or any(f.any() for f in fails):
                ok = False
                break
        if ok:
            found.append(m.id)
            desc[m.id] = m.description
    return tuple(found), desc


def assert_conforms(fn: Callable[..., Any], target: str, **same: Any) -> None:
    """``check(fn, target, **same)``; raises ``AssertionError(str(result))`` when it does not conform."""
    result = check(fn, target, **same)
    if not result.passed:
        raise AssertionError(str(result))
