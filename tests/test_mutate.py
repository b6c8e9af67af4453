"""``python -m verify mutate``: a sample of the catalogue, one mutant per kind of execution path, is
killed by a claim (not a unit test); usage errors exit 2; the report is byte-reproducible.

The sample runs in this process (workers=1) under the ``debug`` profile to stay well under a minute;
``reports/mutation.json`` holds the full catalogue under ``ci``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from reference_impls import returns as R
from verify import cli
from verify.mutate import report_json, run_mutants

SAMPLE = [
    "kl_estimator:k3-inverted-ratio",  # numpy public function
    "torch.kl_estimator:k3-inverted-ratio",  # torch mirror only
    "ppo_clip_objective:dual-clip-positive-advantages",
    "torch.ppo_clip_objective:dual-clip-positive-advantages",
    "_td:bootstrap-through-terminated",  # the numpy fallback only (numba installed or not)
    "gae_seq:truncation-as-termination",  # the loop ground truth only
]
if R._HAVE_NUMBA:
    SAMPLE.append("gae_kernel:truncation-as-termination")  # the numba kernel only


def test_sample_of_mutants_is_killed_by_claims() -> None:
    with warnings.catch_warnings():
        # an unmutated claim off its verdict (as when the call recorder broke the PATHS-* claims, which then
        # 'error'ed) would count any decided status under a mutant as a kill: the assertions below would be hollow
        warnings.filterwarnings("error", message="unmutated claims off their expected verdict")
        results = run_mutants(SAMPLE, profile="debug", workers=1)
    assert sorted(r.id for r in results) == sorted(SAMPLE)
    for r in results:
        assert r.killed_by, f"{r.id} survives: no claim of {r.family} caught it"
        assert all(not k.startswith("test_") for k in r.killed_by)
    path_only = {r.id: r.killed_by for r in results if r.id.startswith(("_td:", "gae_seq:", "gae_kernel:", "torch."))}
    for mid, kb in path_only.items():  # a fault in one path is seen by a claim that runs that path
        assert any(k.startswith("PATHS-") for k in kb), mid


def test_report_is_deterministic_and_has_the_contract_fields(tmp_path: Path) -> None:
    results = run_mutants(["tv:missing-half"], profile="debug", workers=1)
    doc = report_json(results, profile="debug", seed=0)
    m = doc["mutants"][0]
    assert {"id", "target", "description", "killed_by"} <= set(m)
    assert m["target"] == "reference_impls.divergences.tv" and m["killed_by"] == sorted(m["killed_by"])
    rc = cli.main(["mutate", "tv:missing-half", "--profile", "debug", "--report-dir", str(tmp_path)])
    assert rc == 0
    first = (tmp_path / "mutation.json").read_bytes()
    assert json.loads(first)["mutants"][0]["id"] == "tv:missing-half"
    assert "seconds" not in first.decode()
    cli.main(["mutate", "tv:missing-half", "--profile", "debug", "--report-dir", str(tmp_path)])
    assert (tmp_path / "mutation.json").read_bytes() == first
    assert "tv:missing-half" in (tmp_path / "mutation.md").read_text()


def test_unknown_mutant_id_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["mutate", "gae:not-a-bug"]) == 2
    assert "gae:not-a-bug" in capsys.readouterr().err


def test_bad_workers_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:  # argparse rejects it before anything runs
        cli.main(["mutate", "tv:missing-half", "--workers", "0"])
    assert exc.value.code == 2 and "--workers" in capsys.readouterr().err
