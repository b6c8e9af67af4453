"""Smoke tests of the peer and GPU benchmarks: no timing is asserted (speed is measured by the benchmarks).

What is checked: the verification helper of ``benchmarks/bench_peers.py`` accepts every installed peer's
values on tiny inputs and rejects them against a perturbed reference (so it can fail); a missing peer is
reported with its import error; ``benchmarks/run.py --device`` is validated; the GPU benchmark says
"not run" without a CUDA device, and its code path runs (and verifies) on CPU tensors.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"_smoke_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


BP = _load("bench_peers")

try:
    import torch
except ImportError:  # pragma: no cover - torch is an optional extra
    torch = None  # type: ignore[assignment]

#: name prefix of the benchmark rows of each peer -> the module that must import for them to exist
PEERS = {"rlax": "rlax", "torchrl": "torchrl", "plain torch loop": "torch"}


def _peers() -> dict[str, tuple[Any, str]]:
    return {name: BP.import_peer(name) for name in ("rlax", "torchrl")}


def _rows(prefix: str, op: str, x: dict[str, np.ndarray]) -> list[Any]:
    mod, err = BP.import_peer(PEERS[prefix])
    if mod is None:
        pytest.skip(f"{PEERS[prefix]} not installed ({err})")
    return [i for i in BP.candidates(op, x, torch, _peers()) if i.name.startswith(prefix)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", BP.OPS)
@pytest.mark.parametrize("prefix", list(PEERS))
def test_installed_peer_passes_verification(prefix: str, op: str, dtype: Any) -> None:
    x = BP.make_inputs(3, 40, dtype, seed=1)
    x["terminated"][:, [7, 23]] = True  # episode ends inside the sequences for sure
    rows = _rows(prefix, op, x)
    assert rows, f"no benchmark row for {prefix}"
    BP.verify(rows, BP.reference(op, x))
    for row in rows:
        assert row.fn is not None, row.note
        assert row.err is not None and row.err <= BP.TOL


@pytest.mark.parametrize("op", BP.OPS)
@pytest.mark.parametrize("prefix", list(PEERS))
def test_verification_rejects_a_wrong_reference(prefix: str, op: str) -> None:
    """Negative control: against the reference for a different gamma the peer must be marked wrong, not timed."""
    x = BP.make_inputs(3, 40, np.float64, seed=2)
    rows = _rows(prefix, op, x)
    gamma = BP.GAMMA
    try:
        BP.GAMMA = 0.9
        wrong = BP.reference(op, x)
    finally:
        BP.GAMMA = gamma
    BP.verify(rows, wrong)
    for row in rows:
        assert row.fn is None and row.note.startswith("wrong values"), row.name


@pytest.mark.parametrize("op", BP.OPS)
def test_ours_pass_verification_and_a_missing_peer_is_reported(op: str) -> None:
    x = BP.make_inputs(2, 30, np.float32, seed=3)
    missing = {"rlax": (None, "ModuleNotFoundError: No module named 'rlax'"),
               "torchrl": (None, "ModuleNotFoundError: No module named 'torchrl'")}
    rows = BP.candidates(op, x, torch, missing)
    BP.verify(rows, BP.reference(op, x))
    ours = [r for r in rows if r.name.startswith("ours")]
    assert ours and all(r.fn is not None or "not available" in r.note for r in ours)
    table = "\n".join(BP._table(rows, 60))
    assert "| rlax | not installed (ModuleNotFoundError: No module named 'rlax') |" in table
    assert "| torchrl | not installed (ModuleNotFoundError: No module named 'torchrl') |" in table


def test_device_flag_is_validated(capsys: pytest.CaptureFixture[str]) -> None:
    run = _load("run")
    with pytest.raises(SystemExit) as exc:
        run.main(["--device", "tpu", "--out", os.devnull])
    assert exc.value.code == 2
    assert "--device" in capsys.readouterr().err


def test_gpu_bench_says_not_run_without_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    G = _load("bench_gpu")
    assert "not run (benchmarks run with `--device cpu`" in G.run(device="cpu")
    if torch is not None and torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the GPU benchmark would run")
    assert G.main(["--device", "cuda"]) == 0
    assert "not run (" in capsys.readouterr().out


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_gpu_bench_code_path_runs_on_cpu_tensors() -> None:
    G = _load("bench_gpu")
    text = "\n".join(G.measure("cpu", 6, 12, 1))
    assert "wrong values" not in text and "failed:" not in text
    assert text.count("ANCHOR") == 2 and "ours `torch.returns.gae`, method='auto'" in text


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_gpu_script_exits_0_and_says_not_run_without_cuda() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the script would run the GPU tests")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", str(ROOT / ".ci" / "gpu-tests")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "not run (no CUDA device" in proc.stdout


def test_ours_selects_the_path_by_keyword() -> None:
    seen: list[Any] = []

    def with_keyword(a: int, *, backend: str = "auto") -> int:
        seen.append(backend)
        return a

    assert BP.ours(with_keyword, "numpy", 1)() == 1 and BP.ours(with_keyword, "numba", 2)() == 2
    assert seen == ["numpy", "numba"]
