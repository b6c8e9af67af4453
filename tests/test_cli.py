"""`python -m verify` end to end: list, run, unknown ids, --json, workers, determinism, SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
IDS = ["PDL", "SURR-GRAD-EQ"]


def run(*args, env=None, cwd=None, check=False):
    e = dict(os.environ)
    e.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "verify", *args], capture_output=True, text=True, env=e, cwd=cwd,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


def read_tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()
            and p.name != "run-metadata.json"}


def test_list():
    p = run("list", check=True)
    assert "PDL" in p.stdout and "SURR-GRAD-EQ" in p.stdout
    rows = json.loads(run("list", "--json", check=True).stdout)
    assert {r["id"] for r in rows} >= set(IDS)


def test_run_one_claim():
    p = run("run", "SURR-GRAD-EQ", "--profile", "debug")
    assert p.returncode == 0, p.stderr
    assert "SURR-GRAD-EQ" in p.stdout and "verified" in p.stdout
    assert "[1/1] SURR-GRAD-EQ: verified" in p.stderr  # plain progress on a non-terminal stderr


def test_unknown_id_is_usage_error():
    p = run("run", "NO-SUCH-ID")
    assert p.returncode == 2
    assert "NO-SUCH-ID" in p.stderr
    assert run("run", "--workers", "0", "PDL").returncode == 2
    assert run("frobnicate").returncode == 2


def test_json_output_is_only_json():
    p = run("run", "PDL", "--profile", "debug", "--json", check=True)
    data = json.loads(p.stdout)
    assert data[0]["id"] == "PDL" and data[0]["status"] == "verified"
    assert {m["kind"] for m in data[0]["methods"]} >= {"symbolic", "high-precision", "property"}


def test_mismatch_exits_1(tmp_path):
    p = run("run", "TEST-SLOW-FAST", env={"PGV_CLAIM_MODULES": "_mismatch_claims", "PYTHONPATH": str(HERE)})
    assert p.returncode == 1, p.stderr


def test_reports_are_byte_identical_and_worker_independent(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    run("run", *IDS, "--report-dir", str(a), "--no-plots", check=True)
    run("run", *IDS, "--report-dir", str(b), "--no-plots", check=True)
    run("run", *IDS, "--report-dir", str(c), "--no-plots", "--workers", "2", check=True)
    ta, tb, tc = read_tree(a), read_tree(b), read_tree(c)
    assert set(ta) == {"README.md", "claims.json", "policy-gradient.md"}
    assert ta == tb == tc
    # timings live in the separate metadata file only
    meta = json.loads((a / "run-metadata.json").read_text())
    assert set(meta["claim_seconds"]) == set(IDS)
    assert "seconds" not in (a / "README.md").read_text()


def test_report_subcommand_rerenders(tmp_path):
    run("run", *IDS, "--report-dir", str(tmp_path), "--no-plots", check=True)
    before = read_tree(tmp_path)
    (tmp_path / "README.md").write_text("clobbered")
    run("report", "--report-dir", str(tmp_path), "--no-plots", check=True)
    assert read_tree(tmp_path) == before
    assert run("report", "--report-dir", str(tmp_path / "empty")).returncode == 2


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_mid_run_leaves_previous_reports_intact(tmp_path):
    run("run", "PDL", "--report-dir", str(tmp_path), "--no-plots", check=True)
    before = read_tree(tmp_path)
    env = dict(os.environ, PGV_CLAIM_MODULES="_slow_claims", PYTHONPATH=str(HERE))
    proc = subprocess.Popen([sys.executable, "-m", "verify", "run", "PDL", "TEST-SLOW", "--report-dir", str(tmp_path)],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    seen = ""
    while "[1/2] PDL" not in seen and time.monotonic() < deadline:  # PDL done; now inside the slow claim
        seen += proc.stderr.readline()
    assert "[1/2] PDL" in seen
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "previous reports left intact" in err
    assert read_tree(tmp_path) == before
    assert not list(tmp_path.glob(".tmp-*"))
