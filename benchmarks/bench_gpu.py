"""GPU: GAE and V-trace at (B, T) = (4096, 1024), float32, on a CUDA device.

``python benchmarks/run.py --only gpu --device cuda`` or ``python benchmarks/bench_gpu.py`` (what
``tox -e gpu`` / ``.ci/gpu-tests`` run after the GPU tests). Without ``--device cuda`` or without a CUDA
device the section says "not run" and nothing is timed.

Compared on the device, on the same float32 inputs (terminations only, as in ``bench_peers.py``):

* the same-bytes anchor: ``torch.add(a, b, out=c)`` over float32 tensors sized so that it moves the bytes
  our torch mirror must move (GAE: three float32 inputs, two bool flags, one float32 output = 18 B/el;
  V-trace: four float32 inputs, two flags, two float32 outputs = 26 B/el; the anchor moves 12 B per
  element of its own);
* ours: :mod:`reference_impls.torch.returns` (default path on CUDA: the doubling scan) and its
  ``method="loop"``;
* torchrl: ``vec_generalized_advantage_estimate``, ``generalized_advantage_estimate`` and
  ``vtrace_advantage_estimate`` on ``[B, T, 1]`` tensors;
* a plain torch loop over time (time-major).

Every call is first checked against our float64 reference computed on the CPU (``reference_impls.returns``);
timing: CUDA events around as many back-to-back calls as fill about 10 ms, after ``torch.cuda.synchronize()``;
the median over interleaved repeats (repeat k runs every implementation once, order rotated by k), the
min-max spread and the ratio to the anchor's median.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_peers as BP

from reference_impls import returns as R

SHAPE = (4096, 1024)
#: Bytes per element the torch mirror must move with float32 inputs and outputs (see the docstring).
OP_BYTES = {"gae": 18, "vtrace": 26}
ANCHOR_BYTES = 12
TITLE = "## GPU: GAE and V-trace on the device (ours torch mirror, torchrl, a same-bytes pass)"


def reference64(op: str, x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Our float64 reference on the CPU (the public functions; the per-element loops are too slow here)."""
    f = {k: np.asarray(val, dtype=np.float64) for k, val in x.items() if k not in ("terminated", "truncated")}
    te, tr = x["terminated"], x["truncated"]
    if op == "gae":
        return {"adv": R.gae(f["rewards"], f["values"], f["next_values"], te, tr, BP.GAMMA, BP.LAM)}
    vs, pg = R.vtrace(f["rewards"], f["values"], f["next_values"], f["log_rhos"], te, tr, BP.GAMMA)
    return {"vs": vs, "pg": pg}


def device_candidates(op: str, torch: Any, device: str, x: dict[str, np.ndarray],
                      torchrl: tuple[Any, str]) -> list[BP.Impl]:
    """The implementations of ``op`` on ``device`` (inputs moved there beforehand)."""
    from reference_impls.torch import returns as TR

    B, T = x["rewards"].shape
    t = {k: torch.from_numpy(val).to(device) for k, val in x.items()}
    n_anchor = math.ceil(B * T * OP_BYTES[op] / ANCHOR_BYTES)
    a, b = torch.ones(n_anchor, device=device), torch.ones(n_anchor, device=device)
    c = torch.empty(n_anchor, device=device)
    out = [BP.Impl(f"ANCHOR `torch.add(a, b, out=c)`, float32, {OP_BYTES[op]} B/el of the op",
                   lambda: torch.add(a, b, out=c))]
    args = [t["rewards"], t["values"], t["next_values"]]
    if op == "vtrace":
        args.append(t["log_rhos"])
    args += [t["terminated"], t["truncated"], BP.GAMMA]
    fn = TR.gae if op == "gae" else TR.vtrace
    if op == "gae":
        args.append(BP.LAM)

        def view(o: Any) -> dict[str, np.ndarray]:
            return {"adv": BP._np64(o)}
    else:
        def view(o: Any) -> dict[str, np.ndarray]:
            return {"vs": BP._np64(o[0]), "pg": BP._np64(o[1])}

    for method in ("auto", "loop"):
        out.append(BP.Impl(f"ours `torch.returns.{op}`, method={method!r}",
                           functools.partial(fn, *args, method=method), view))
    tm = {k: v.T.contiguous() for k, v in t.items()}
    nonterm = (~tm["terminated"]).to(tm["rewards"].dtype)
    if op == "gae":
        out.append(BP.Impl("plain torch loop over time (time-major)",
                           lambda: BP.torch_loop_gae(torch, tm["rewards"], tm["values"], tm["next_values"], nonterm),
                           lambda o: {"adv": BP._np64(o).T}))
    else:
        out.append(BP.Impl("plain torch loop over time (time-major, vs only)",
                           lambda: BP.torch_loop_vtrace(torch, tm["rewards"], tm["values"], tm["next_values"],
                                                        tm["log_rhos"], nonterm),
                           lambda o: {"vs": BP._np64(o).T}))
    mod, err = torchrl
    if mod is None:
        out.append(BP.Impl("torchrl", None, note=f"not installed ({err})"))
        return out
    from torchrl.objectives.value import functional as F

    t3 = {k: v.unsqueeze(-1) for k, v in t.items()}
    done = t3["terminated"]
    if op == "gae":
        for f in (F.vec_generalized_advantage_estimate, F.generalized_advantage_estimate):
            out.append(BP.Impl(f"torchrl `{f.__name__}`",
                               functools.partial(f, BP.GAMMA, BP.LAM, t3["values"], t3["next_values"], t3["rewards"],
                                                 done, done),
                               lambda o: {"adv": BP._np64(o[0].squeeze(-1))}))
    else:
        zero = torch.zeros_like(t3["log_rhos"])
        out.append(BP.Impl("torchrl `vtrace_advantage_estimate` (vs and pg)",
                           lambda: F.vtrace_advantage_estimate(BP.GAMMA, t3["log_rhos"], zero, t3["values"],
                                                               t3["next_values"], t3["rewards"], done, done),
                           lambda o: {"vs": BP._np64(o[1].squeeze(-1)), "pg": BP._np64(o[0].squeeze(-1))}))
    return out


def time_device(torch: Any, device: str, impls: list[BP.Impl], repeats: int, target_s: float = 0.01) -> None:
    """Interleaved repeats; CUDA events on a CUDA device, the process CPU time elsewhere."""
    cuda = device.startswith("cuda")

    def once(fn: Callable[[], Any], m: int) -> float:
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            for _ in range(m):
                fn()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end)) / 1e3 / m
        t0 = time.process_time()
        for _ in range(m):
            fn()
        return (time.process_time() - t0) / m

    live = [i for i in impls if i.fn is not None]
    calls = [max(1, min(1000, round(target_s / max(once(i.fn, 1), 1e-7)))) for i in live if i.fn is not None]
    for k in range(repeats):
        for j in range(len(live)):
            idx = (k + j) % len(live)
            fn = live[idx].fn
            assert fn is not None
            live[idx].times.append(once(fn, calls[idx]))


def measure(device: str, B: int, T: int, repeats: int) -> list[str]:
    """The tables for GAE and V-trace at ``(B, T)`` on ``device`` (any torch device; the GPU run uses cuda)."""
    import torch

    torchrl = BP.import_peer("torchrl")
    lines: list[str] = []
    for op in BP.OPS:
        x = BP.make_inputs(B, T, np.float32)
        impls = device_candidates(op, torch, device, x, torchrl)
        BP.verify(impls, reference64(op, x))
        time_device(torch, device, impls, repeats)
        lines += [f"**{'GAE' if op == 'gae' else 'V-trace'}, B = {B}, T = {T}, float32, device {device}**", ""]
        lines += [*BP._table(impls, B * T), ""]
    return lines


def run(quick: bool = False, device: str = "cpu") -> str:
    if device != "cuda":
        return (f"{TITLE}\n\nnot run (benchmarks run with `--device {device}`; "
                "`python benchmarks/run.py --only gpu --device cuda` runs it on a CUDA device)\n")
    torch, err = BP.import_peer("torch")
    if torch is None or not torch.cuda.is_available():
        why = f"torch not installed: {err}" if torch is None else "no CUDA device"
        return f"{TITLE}\n\nnot run ({why})\n"
    B, T = (256, 128) if quick else SHAPE
    lines = [TITLE, "", f"Device: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA "
             f"{torch.version.cuda}. " + BP.machine(), ""]
    return "\n".join(lines + measure("cuda", B, T, 3 if quick else 9))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    ap.add_argument("--quick", action="store_true", help="small shape (smoke test)")
    args = ap.parse_args(argv)
    print(run(quick=args.quick, device=args.device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
