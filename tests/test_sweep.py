"""Dask executor and seed sweeps: same evidence as one process, no task lost to a killed worker, resumable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from verify import engine
from verify.sweep import SweepConfigError, render_markdown, summarize, sweep

ROOT = Path(__file__).resolve().parents[1]
FAST = ["PDL", "SURR-GRAD-EQ"]


def _evidence(results):
    return [(r.id, r.status, [e.to_json() for e in r.evidence]) for r in results]


def test_dask_run_gives_the_same_evidence_as_one_process():
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    from verify.dask_executor import DaskExecutor

    one = engine.run_claims(FAST, profile="debug", seed=3)
    on_dask = engine.run_claims(FAST, profile="debug", seed=3, executor=DaskExecutor(workers=2))
    assert _evidence(on_dask) == _evidence(one)


def test_killed_worker_loses_no_task(tmp_path):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    marker = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
               PGV_CLAIM_MODULES="_kill_claims", PGV_TEST_KILL_MARKER=str(marker))
    out = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, "-m", "verify", "sweep", "TEST-KILL-ONCE", "--seeds", "3",
                           "--executor", "dask", "--workers", "2", "--profile", "debug", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert marker.exists(), "the planted fault never ran: the test would pass without fault tolerance"
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["summary"]["tasks"] == 3
    assert doc["claims"][0]["counts"] == {"verified": 3}
    assert (out / "sweep.md").read_text().startswith("# Seed sweep")


def test_sweep_resumes_from_finished_tasks(tmp_path):
    out = tmp_path / "s"
    first = sweep(["PDL"], seeds=3, first_seed=5, profile="debug", out=out)
    assert first["summary"]["tasks"] == 3
    tasks = (out / "tasks.jsonl").read_text().splitlines()
    (out / "tasks.jsonl").write_text("\n".join(tasks[:1]) + "\n" + tasks[1][: len(tasks[1]) // 2])  # cut mid-line
    ran: list[int] = []
    again = sweep(["PDL"], seeds=3, first_seed=5, profile="debug", out=out, resume=True,
                  progress=lambda rec, done, total: ran.append(rec["seed"]))
    assert len(ran) == 2 and sorted(ran) == sorted(json.loads(t)["seed"] for t in tasks[1:])
    assert again == first
    with pytest.raises(SweepConfigError, match="--resume"):
        sweep(["PDL"], seeds=3, first_seed=5, profile="debug", out=out)
    with pytest.raises(SweepConfigError, match="another configuration"):
        sweep(["PDL"], seeds=4, first_seed=5, profile="debug", out=out, resume=True)


def _rec(cid, seed, status, expected, passed, ratio, alpha=None):
    figs = {"worst_ratio": ratio}
    if alpha is not None:
        figs["alpha"] = alpha
    return {"id": cid, "seed": seed, "status": status, "expected": expected,
            "methods": [{"check": "c", "kind": "monte-carlo" if alpha else "property", "passed": passed,
                         "summary": "s", "figures": figs, **({"counterexample": {"x": 1}} if passed is False else {})}]}


def test_summary_names_differing_seeds_extremes_and_false_alarms():
    recs = [_rec("PDL", 0, "verified", "verified", True, 0.5, 1e-4),
            _rec("PDL", 1, "refuted", "verified", False, 0.9, 1e-4),
            _rec("PDL", 2, "verified", "verified", True, 0.7, 1e-4)]
    doc = summarize(recs, profile="ci")
    c = doc["claims"][0]
    assert c["counts"] == {"verified": 2, "refuted": 1}
    assert [d["seed"] for d in c["differs"]] == [1]
    assert c["differs"][0]["reproduce"] == "python -m verify run PDL --profile ci --seed 1"
    assert c["differs"][0]["reason"]["counterexample"] == {"x": 1}
    assert c["figure_extremes"]["c.worst_ratio"] == {"min": 0.5, "min_seed": 0, "max": 0.9, "max_seed": 1}
    assert c["monte_carlo"]["c"] == {"runs": 3, "rejections": 1, "undecided": 0, "alpha": 1e-4}
    md = render_markdown(doc)
    assert "| [PDL](#pdl) | verified | 3 | verified 2, refuted 1 | 1 |" in md and '<a id="pdl"></a>' in md
    assert "python -m verify run PDL --profile ci --seed 1" in md


@pytest.mark.parametrize("args, word", [(["--seeds", "0"], "--seeds"), (["--seeds", "2", "--first-seed", "-1"],
                                                                          "--first-seed"),
                                        (["--seeds", "2", "--scheduler", "tcp://x:1"], "--scheduler"),
                                        (["--seeds", "2", "--workers", "0"], "--workers")])
def test_sweep_usage_errors_exit_2(tmp_path, args, word):
    proc = subprocess.run([sys.executable, "-m", "verify", "sweep", "PDL", *args, "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and word in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()


def test_make_executor_validates():
    with pytest.raises(ValueError, match="executor"):
        engine.make_executor("threads")
    with pytest.raises(ValueError, match="workers"):
        engine.make_executor("process", workers=0)
    assert isinstance(engine.make_executor("process", workers=1), engine.SequentialExecutor)
    assert isinstance(engine.make_executor("process", workers=2), engine.ProcessPoolExecutor)


def test_task_records_are_json_even_with_numpy_figures(monkeypatch):
    """A check that returns numpy scalars (np.bool_ passed, np.float64 figures) must not break the sweep's
    tasks.jsonl (found by a 10-seed sweep: 'Object of type bool is not JSON serializable')."""
    import numpy as np

    from verify import sweep as SW
    from verify.engine import ClaimResult
    from verify.registry import Evidence

    ev = Evidence("exact", np.True_, "numpy-typed", {"ratio": np.float64(0.5), "ok": np.bool_(True)})
    fake = ClaimResult(id="PDL", title="t", family="policy-gradient", kind="theorem", status="verified",
                       expected="verified", evidence=[ev])
    monkeypatch.setattr(SW, "run_claim", lambda *a, **k: fake)
    rec = SW.run_task(SW.SweepTask("PDL", 0, "debug"))
    assert json.loads(json.dumps(rec))["methods"][0] == {"check": "", "kind": "exact", "passed": True,
                                                         "summary": "numpy-typed",
                                                         "figures": {"ratio": 0.5, "ok": True}}
