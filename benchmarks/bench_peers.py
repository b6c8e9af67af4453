"""Peers side by side: GAE and V-trace from ours, rlax, torchrl and a plain torch loop, one thread.

Per operation (GAE; V-trace), shape ``(B, T)`` in {(1024, 256), (256, 1024)} and input dtype in
{float32, float64}, ns per element of:

* the same-bytes anchor: a compiled elementwise pass that reads the inputs our function reads (the float
  sequences in their dtype, the two bool flag arrays) and writes its float64 outputs -- the same bytes,
  no recurrence (the definition of ``bench_returns.py``; GAE: three floats in, one float64 out;
  V-trace: four floats in, two float64 out). Needs numba; without it there is no anchor and no ratio;
* ours: :mod:`reference_impls.returns` on the compiled (numba) path and on the numpy path (selected with
  the ``backend=`` keyword),
  and the torch mirror :mod:`reference_impls.torch.returns` on CPU tensors (its default path);
* rlax: ``jax.jit(jax.vmap(f))`` over the batch of ``rlax.truncated_generalized_advantage_estimation``
  (``values`` of length T + 1, ``discount_t = gamma (1 - terminated_t)``), of ``rlax.vtrace`` (vs only;
  ``rho_tm1 = exp(log_rhos)``) and of ``rlax.vtrace_td_error_and_advantage`` (vs and pg advantages);
* torchrl: ``generalized_advantage_estimate`` (its loop), ``vec_generalized_advantage_estimate`` and
  ``vtrace_advantage_estimate`` of ``torchrl.objectives.value.functional`` on ``[B, T, 1]`` tensors
  (``done = terminated``; ``log_pi = log_rhos``, ``log_mu = 0``);
* a plain torch loop over time (time-major ``[T, B]`` tensors, one vectorized step per t).

Episode ends: terminations only (about 0.5% of the steps), no truncations, because the peers' conventions
for truncation differ (rlax has no done flags: a termination is a zero discount, and a mid-sequence
truncation cannot bootstrap from a separate value). With terminations only every implementation above
computes the same numbers. Every timed call is first checked against our float64 reference (the per-element
loops of :mod:`reference_impls._returns_loop` on the same inputs upcast to float64); a call that is off
by more than ``TOL`` is reported and not timed. A peer that does not import is reported as not installed,
with the import error.

Timing: one thread (``torch.set_num_threads(1)``, ``XLA_FLAGS`` with
``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``, OMP/MKL/OPENBLAS/NUMBA threads 1;
the environment variables only take effect when set before the libraries load, as ``tox -e bench`` does).
Interleaved repeats: repeat k runs every implementation once, in an order rotated by k, so drifts of the
machine hit all alike; one "run" is as many back-to-back calls as fill about ``TARGET_S`` seconds
(calibrated once), timed with ``time.process_time`` (CPU time of all the process's threads: it counts work
jax or torch hand to worker threads and leaves out time the process is preempted on a shared machine).
Figures: the median over repeats of the time per call, the min-max spread, and the ratio of the medians to
the anchor's median.
"""

from __future__ import annotations

import functools
import importlib
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_returns (the shared same-bytes anchors)

from reference_impls import _returns_loop as RL
from reference_impls import returns as R

GAMMA, LAM = 0.99, 0.95
SHAPES = [(1024, 256), (256, 1024)]
DTYPES: list[Any] = [np.float32, np.float64]
OPS = ["gae", "vtrace"]
OP_TITLE = {"gae": "GAE", "vtrace": "V-trace"}
#: Fraction of steps that end an episode by termination (there are no truncations, see the docstring).
TERM_RATE = 0.005
#: Largest accepted max |peer - float64 reference| / max(1, max |reference|). Convention mismatches give
#: errors of order 1; float32 rounding over these horizons gives about 1e-6.
TOL = 1e-4
TARGET_S = 0.02
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def one_thread() -> None:
    """Ask every library for one thread (environment variables act only on libraries not yet loaded)."""
    for k in THREAD_ENV:
        os.environ.setdefault(k, "1")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " " + XLA_ONE_THREAD).strip()
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def import_peer(name: str) -> tuple[Any, str]:
    """``(module, "")`` or ``(None, "ExceptionType: message")`` when it does not import."""
    try:
        return importlib.import_module(name), ""
    except Exception as e:  # a broken install raises more than ImportError; report whatever it is
        return None, f"{type(e).__name__}: {e}"


def have_numba() -> bool:
    return bool(R._HAVE_NUMBA)


def ours(fn: Callable[..., Any], backend: str, *args: Any, **kw: Any) -> Callable[[], Any]:
    """``fn(*args, **kw)`` on our ``backend`` ("numba" or "numpy"), chosen with the ``backend=`` keyword."""
    return lambda: fn(*args, backend=backend, **kw)


def make_inputs(B: int, T: int, dtype: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """Batch-major ``[B, T]`` inputs; ``next_values[:, t] = values[:, t + 1]``; terminations only."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(B, T))
    nv = np.empty_like(v)
    nv[:, :-1] = v[:, 1:]
    nv[:, -1] = rng.normal(size=B)
    return {"rewards": rng.normal(size=(B, T)).astype(dtype), "values": v.astype(dtype),
            "next_values": nv.astype(dtype), "log_rhos": (0.5 * rng.normal(size=(B, T))).astype(dtype),
            "terminated": rng.random((B, T)) < TERM_RATE, "truncated": np.zeros((B, T), dtype=bool)}


def reference(op: str, x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Our float64 reference (per-element loops) on the inputs upcast to float64."""
    f = {k: np.asarray(val, dtype=np.float64) for k, val in x.items() if k not in ("terminated", "truncated")}
    te, tr = x["terminated"], x["truncated"]
    if op == "gae":
        return {"adv": RL.gae_loop(f["rewards"], f["values"], f["next_values"], te, tr, GAMMA, LAM)}
    vs, pg = RL.vtrace_loop(f["rewards"], f["values"], f["next_values"], f["log_rhos"], te, tr, GAMMA)
    return {"vs": vs, "pg": pg}


class Impl:
    """One timed implementation: ``fn()`` does the whole call; ``view(out)`` maps its output to float64
    ``[B, T]`` arrays named like :func:`reference`'s (None for the anchor, which computes no target).

    (A plain class, not a dataclass: ``benchmarks/run.py`` loads this file without registering it as a
    module, which dataclasses need.)
    """

    def __init__(self, name: str, fn: Callable[[], Any] | None,
                 view: Callable[[Any], dict[str, np.ndarray]] | None = None, note: str = "") -> None:
        self.name = name
        self.fn = fn
        self.view = view
        self.note = note  # why it is not timed (not installed, wrong values, ...)
        self.err: float | None = None
        self.times: list[float] = []


# --------------------------------------------------------------------------- the anchor (same bytes)


def anchors() -> dict[str, Any] | None:
    """Compiled elementwise passes with GAE's and V-trace's memory traffic (None without numba): the
    same-bytes anchors of :mod:`bench_returns`, so both benchmarks divide by the same pass."""
    from bench_returns import _anchors

    an = _anchors()
    return None if an is None else {"gae": an["three"], "vtrace": an["four_two"]}


# --------------------------------------------------------------------------- the plain torch loop


def torch_loop_gae(torch: Any, r: Any, v: Any, nv: Any, nonterminal: Any) -> Any:
    """The common implementation: time-major ``[T, B]``, one vectorized step per t."""
    T = r.shape[0]
    adv = torch.empty_like(r)
    last = torch.zeros_like(r[0])
    for t in range(T - 1, -1, -1):
        delta = r[t] + GAMMA * nv[t] * nonterminal[t] - v[t]
        last = delta + (GAMMA * LAM) * nonterminal[t] * last
        adv[t] = last
    return adv


def torch_loop_vtrace(torch: Any, r: Any, v: Any, nv: Any, log_rhos: Any, nonterminal: Any) -> Any:
    """V-trace vs with rho_bar = c_bar = 1, time-major ``[T, B]``, one step per t."""
    rho = torch.exp(log_rhos).clamp(max=1.0)
    delta = rho * (r + GAMMA * nonterminal * nv - v)
    coef = GAMMA * rho * nonterminal
    T = r.shape[0]
    out = torch.empty_like(r)
    acc = torch.zeros_like(r[0])
    for t in range(T - 1, -1, -1):
        acc = torch.addcmul(delta[t], coef[t], acc)
        out[t] = v[t] + acc
    return out


# --------------------------------------------------------------------------- the candidates


def _np64(t: Any) -> np.ndarray:
    return np.asarray(t.detach().cpu().double().numpy() if hasattr(t, "detach") else t, dtype=np.float64)


def candidates(op: str, x: dict[str, np.ndarray], torch: Any = None,
               peers: dict[str, tuple[Any, str]] | None = None) -> list[Impl]:
    """Every implementation of ``op`` on ``x`` (layout adapters prepared here, outside the timed calls).

    ``peers`` maps "rlax" and "torchrl" to :func:`import_peer`'s result (imported here when None).
    """
    if peers is None:
        peers = {name: import_peer(name) for name in ("rlax", "torchrl")}
    r, v, nv, lr, te, tr = (x[k] for k in ("rewards", "values", "next_values", "log_rhos", "terminated",
                                           "truncated"))
    B, T = r.shape
    out: list[Impl] = []
    an = anchors()
    if an is None:
        out.append(Impl("ANCHOR same-bytes elementwise pass", None, note="not available (numba not installed)"))
    elif op == "gae":
        o1 = np.empty((B, T))
        out.append(Impl("ANCHOR same-bytes elementwise pass", lambda: an["gae"](r, v, nv, te, tr, o1)))
    else:
        o1, o2 = np.empty((B, T)), np.empty((B, T))
        out.append(Impl("ANCHOR same-bytes elementwise pass", lambda: an["vtrace"](r, v, nv, lr, te, tr, o1, o2)))

    def pair(o: Any) -> dict[str, np.ndarray]:
        return {"vs": _np64(o[0]), "pg": _np64(o[1])}

    def single(key: str) -> Callable[[Any], dict[str, np.ndarray]]:
        return lambda o: {key: _np64(o)}

    view_ours = single("adv") if op == "gae" else pair
    for backend in ("numba", "numpy"):
        label = f"ours `returns.{op}`, {'compiled (numba)' if backend == 'numba' else 'numpy'} path"
        if backend == "numba" and not have_numba():
            out.append(Impl(label, None, note="not available (numba not installed)"))
        elif op == "gae":
            out.append(Impl(label, ours(R.gae, backend, r, v, nv, te, tr, GAMMA, LAM), view_ours))
        else:
            out.append(Impl(label, ours(R.vtrace, backend, r, v, nv, lr, te, tr, GAMMA), view_ours))

    if torch is None:
        out.append(Impl("ours torch CPU; plain torch loop", None, note="torch not installed"))
    else:
        from reference_impls.torch import returns as TR

        t = {k: torch.from_numpy(val) for k, val in x.items()}
        if op == "gae":
            out.append(Impl(f"ours torch CPU `torch.returns.{op}` (default path)",
                            lambda: TR.gae(t["rewards"], t["values"], t["next_values"], t["terminated"],
                                           t["truncated"], GAMMA, LAM), view_ours))
        else:
            out.append(Impl(f"ours torch CPU `torch.returns.{op}` (default path)",
                            lambda: TR.vtrace(t["rewards"], t["values"], t["next_values"], t["log_rhos"],
                                              t["terminated"], t["truncated"], GAMMA), view_ours))
        tm = {k: torch.from_numpy(np.ascontiguousarray(val.T)) for k, val in x.items()}
        nonterm = torch.from_numpy(np.ascontiguousarray((~te).T).astype(r.dtype))
        if op == "gae":
            out.append(Impl("plain torch loop over time (time-major)",
                            lambda: torch_loop_gae(torch, tm["rewards"], tm["values"], tm["next_values"], nonterm),
                            lambda o: {"adv": _np64(o).T}))
        else:
            out.append(Impl("plain torch loop over time (time-major, vs only)",
                            lambda: torch_loop_vtrace(torch, tm["rewards"], tm["values"], tm["next_values"],
                                                      tm["log_rhos"], nonterm),
                            lambda o: {"vs": _np64(o).T}))

    rlax, rlax_err = peers["rlax"]
    if rlax is None:
        out.append(Impl("rlax", None, note=f"not installed ({rlax_err})"))
    else:
        out += _rlax_candidates(op, rlax, x)
    torchrl, torchrl_err = peers["torchrl"]
    if torchrl is None:
        out.append(Impl("torchrl", None, note=f"not installed ({torchrl_err})"))
    elif torch is not None:
        out += _torchrl_candidates(op, torch, x)
    return out


def _rlax_candidates(op: str, rlax: Any, x: dict[str, np.ndarray]) -> list[Impl]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # float64 inputs stay float64; float32 arrays stay float32
    r, v, nv, lr, te = (x[k] for k in ("rewards", "values", "next_values", "log_rhos", "terminated"))
    dt = r.dtype
    disc = jnp.asarray((GAMMA * (~te)).astype(dt))
    jr, jv, jnv = jnp.asarray(r), jnp.asarray(v), jnp.asarray(nv)
    if op == "gae":
        values = jnp.asarray(np.concatenate([v, nv[:, -1:]], axis=1))  # [B, T + 1]; values[:, 1:] == nv
        lam = jnp.asarray(LAM, dtype=dt)
        f = jax.jit(jax.vmap(lambda r_t, d_t, vals: rlax.truncated_generalized_advantage_estimation(
            r_t, d_t, lam, vals)))
        return [Impl("rlax `truncated_generalized_advantage_estimation` (jit, vmap)",
                     lambda: f(jr, disc, values).block_until_ready(), lambda o: {"adv": np.asarray(o, np.float64)})]
    rho = jnp.asarray(np.exp(lr))
    g = jax.jit(jax.vmap(lambda v_tm1, v_t, r_t, d_t, rho_tm1: rlax.vtrace(v_tm1, v_t, r_t, d_t, rho_tm1)))
    h = jax.jit(jax.vmap(lambda v_tm1, v_t, r_t, d_t, rho_tm1: rlax.vtrace_td_error_and_advantage(
        v_tm1, v_t, r_t, d_t, rho_tm1)[:2]))

    def h_call() -> Any:
        errors, pg = h(jv, jnv, jr, disc, rho)
        pg.block_until_ready()
        return errors, pg

    v64 = v.astype(np.float64)
    return [Impl("rlax `vtrace` (jit, vmap; vs only)", lambda: g(jv, jnv, jr, disc, rho).block_until_ready(),
                 lambda o: {"vs": np.asarray(o, np.float64) + v64}),
            Impl("rlax `vtrace_td_error_and_advantage` (jit, vmap; vs and pg)", h_call,
                 lambda o: {"vs": np.asarray(o[0], np.float64) + v64, "pg": np.asarray(o[1], np.float64)})]


def _torchrl_candidates(op: str, torch: Any, x: dict[str, np.ndarray]) -> list[Impl]:
    from torchrl.objectives.value import functional as F

    t = {k: torch.from_numpy(val).unsqueeze(-1) for k, val in x.items()}  # [B, T, 1], time_dim=-2
    done = t["terminated"]

    def adv(o: Any) -> dict[str, np.ndarray]:
        return {"adv": _np64(o[0].squeeze(-1))}

    if op == "gae":
        return [Impl(f"torchrl `{fn.__name__}`",
                     functools.partial(fn, GAMMA, LAM, t["values"], t["next_values"], t["rewards"], done, done), adv)
                for fn in (F.generalized_advantage_estimate, F.vec_generalized_advantage_estimate)]
    zero = torch.zeros_like(t["log_rhos"])
    return [Impl("torchrl `vtrace_advantage_estimate` (vs and pg)",
                 lambda: F.vtrace_advantage_estimate(GAMMA, t["log_rhos"], zero, t["values"], t["next_values"],
                                                     t["rewards"], done, done),
                 lambda o: {"vs": _np64(o[1].squeeze(-1)), "pg": _np64(o[0].squeeze(-1))})]


# --------------------------------------------------------------------------- verification and timing


def verify(impls: list[Impl], ref: dict[str, np.ndarray]) -> None:
    """Call each implementation once (this also compiles) and record its max error relative to the
    reference's scale; an implementation off by more than ``TOL`` gets a note and is not timed."""
    for impl in impls:
        if impl.fn is None:
            continue
        try:
            out = impl.fn()
        except Exception as e:  # a peer that crashes on these inputs is reported, not hidden
            impl.note, impl.fn = f"failed: {type(e).__name__}: {e}", None
            continue
        if impl.view is None:
            continue
        got = impl.view(out)
        err = 0.0
        for key, val in got.items():
            want = ref[key]
            err = max(err, float(np.max(np.abs(val - want))) / max(1.0, float(np.max(np.abs(want)))))
        impl.err = err
        if not err <= TOL:
            impl.note, impl.fn = f"wrong values: max relative error {err:.1e} > {TOL:.0e}; not timed", None


def time_interleaved(impls: list[Impl], repeats: int, target_s: float = TARGET_S) -> None:
    """Fill ``impl.times`` with ``repeats`` per-call times, repeat k running every implementation once in an
    order rotated by k; one run is as many calls as fill about ``target_s`` seconds, after at least 5 ms
    of untimed calls (so that none is timed cold: inputs evicted by the implementation before it, or vector
    units still warming up after scalar code; the module docstring of ``bench_returns`` gives the measurement)."""
    from bench_returns import warm_up

    live = [i for i in impls if i.fn is not None]
    calls = []
    for impl in live:
        assert impl.fn is not None
        t0 = time.process_time()
        impl.fn()
        one = max(time.process_time() - t0, 1e-6)
        calls.append(max(1, min(1000, round(target_s / one))))
    n = len(live)
    for k in range(repeats):
        for j in range(n):
            idx = (k + j) % n
            impl, m = live[idx], calls[idx]
            fn = impl.fn
            assert fn is not None
            warm_up(fn)  # untimed: inputs in cache, vector units at full speed (bench_returns.warm_up)
            t0 = time.process_time()
            for _ in range(m):
                fn()
            impl.times.append((time.process_time() - t0) / m)


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in ("numpy", "numba", "torch", "jax", "jaxlib", "rlax", "torchrl", "tensordict"):
        mod, _ = import_peer(name)
        versions.append(f"{name} {getattr(mod, '__version__', '?') if mod is not None else 'not installed'}")
    torch, _ = import_peer("torch")
    threads = ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in THREAD_ENV)
    return (f"Machine: {platform.platform()}, {cpu} ({os.cpu_count()} logical CPUs), Python "
            f"{platform.python_version()}; {', '.join(versions)}. Threads: {threads}, "
            f"XLA_FLAGS={os.environ.get('XLA_FLAGS', 'unset')!r}"
            + (f", torch.get_num_threads()={torch.get_num_threads()}" if torch is not None else "") + ".")


def _table(impls: list[Impl], n: int) -> list[str]:
    anchor = impls[0]
    a_med = float(np.median(anchor.times)) if anchor.times else None
    rows = ["| implementation | ns/el (median) | spread min-max ns/el | ratio to anchor | max rel. error |",
            "|---|---|---|---|---|"]
    for impl in impls:
        if not impl.times:
            rows.append(f"| {impl.name} | {impl.note} | | | |")
            continue
        ts = np.asarray(impl.times) / n * 1e9
        med = float(np.median(impl.times))
        ratio = f"{med / a_med:.2f}x" if a_med else "n/a"
        err = "" if impl.err is None else f"{impl.err:.1e}"
        rows.append(f"| {impl.name} | {med / n * 1e9:.3f} | {ts.min():.3f}-{ts.max():.3f} | {ratio} | {err} |")
    return rows


def _summary(op: str, results: list[tuple[str, list[Impl], int]]) -> list[str]:
    """One table for ``op``: a row per implementation, a column per (shape, dtype): ns/el (ratio to anchor);
    then, per column, how the compiled path compares with the fastest peer (rlax or torchrl)."""
    labels = [label for label, _, _ in results]
    names = [i.name for i in results[0][1]]
    rows = ["| implementation | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for k, name in enumerate(names):
        cells = []
        for _, impls, n in results:
            impl, anchor = impls[k], impls[0]
            if not impl.times:
                cells.append(impl.note.split("(")[0].split(":")[0].strip())
                continue
            med = float(np.median(impl.times))
            ratio = f" ({med / float(np.median(anchor.times)):.1f}x)" if anchor.times else ""
            cells.append(f"{med / n * 1e9:.2f}{ratio}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    vs = []
    for label, impls, _ in results:
        mine = [i for i in impls if i.name.startswith("ours") and "compiled" in i.name and i.times]
        peers = [i for i in impls if i.name.startswith(("rlax", "torchrl")) and i.times]
        if mine and peers:
            best = min(peers, key=lambda i: float(np.median(i.times)))
            vs.append(f"{label}: {float(np.median(best.times)) / float(np.median(mine[0].times)):.1f}x "
                      f"(fastest peer: {best.name.split(' (')[0]})")
    if vs:
        rows += ["", "Fastest peer's time / our compiled path's time: " + "; ".join(vs) + "."]
    return rows


def run(quick: bool = False) -> str:
    one_thread()
    torch, _ = import_peer("torch")
    if torch is not None:
        torch.set_num_threads(1)
    peers = {name: import_peer(name) for name in ("rlax", "torchrl")}
    repeats = 3 if quick else 9
    shapes = [(64, 32)] if quick else SHAPES
    lines = ["## Peers side by side: GAE and V-trace (ours, rlax, torchrl, a torch loop), one thread", "",
             f"gamma = {GAMMA}, lambda = {LAM}, V-trace with rho_bar = c_bar = 1 (lambda = 1); terminations "
             f"only ({TERM_RATE:.1%} of the steps, no truncations: the peers' truncation conventions differ). "
             "Each row is checked against our float64 reference first (error column: max |x - ref| / max(1, "
             f"max |ref|); over {TOL:.0e} means wrong values, not timed). Median over {repeats} interleaved "
             "repeats (rotating order; each timed run follows at least 5 ms of untimed calls of the same "
             "implementation, so that none is timed cold) of the CPU time per call, min-max spread, ratio to the "
             "median of the "
             "same-bytes anchor (a compiled elementwise pass reading the inputs our function reads and writing "
             "its float64 outputs) measured in the same run. rlax: `jax.jit` of the function vmapped over the "
             "batch; torchrl: `[B, T, 1]` tensors, `done = terminated`.", "", machine(), ""]
    details: list[str] = ["### Details: spread and errors", ""]
    for op in OPS:
        results: list[tuple[str, list[Impl], int]] = []
        for B, T in shapes:
            for dtype in DTYPES:
                x = make_inputs(B, T, dtype)
                impls = candidates(op, x, torch, peers)
                verify(impls, reference(op, x))
                time_interleaved(impls, repeats, 0.002 if quick else TARGET_S)
                results.append((f"{B}x{T} {np.dtype(dtype).name}", impls, B * T))
                title = f"**{OP_TITLE[op]}, B = {B}, T = {T}, {np.dtype(dtype).name} inputs**"
                details += [title, "", *_table(impls, B * T), ""]
        lines += [f"### {OP_TITLE[op]}: ns/el (ratio to the same-bytes anchor), medians", "",
                  *_summary(op, results), ""]
    return "\n".join(lines + details)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
