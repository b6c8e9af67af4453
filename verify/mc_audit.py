"""Audit of the Monte Carlo checks: run each over many seeds and count how it decided.

Every Monte Carlo check tests an estimator that is correct (so a rejection is a false alarm)
and a negative control that is biased (so a non-rejection is a miss). Running each check
over ``--seeds`` seeds under a profile measures both rates; the result is committed as
``verify/data/mc_audit.json`` and shown beside each check's evidence (figures ``audit_*``),
so the report states the observed false-alarm and miss counts without rerunning them.

Reproduce (about ten minutes on one core)::

    python -m verify.mc_audit --seeds 100 --profile ci

Expected: false alarms 0 (each test runs at alpha = 5e-6; over 100 seeds the chance of any
is <= 5e-4), misses 0 (sample sizes are designed for power 0.9999 against the control).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verify import stats as VS
from verify.engine import check_kind, check_name, run_check
from verify.registry import Check, Claim, load_all, ordered_ids

#: Where the committed audit lives (read by :func:`verify.stats.audit_figures`).
AUDIT_PATH = VS.AUDIT_PATH
COMMAND = "python -m verify.mc_audit --seeds {seeds} --profile {profile}"


def monte_carlo_checks() -> list[tuple[Claim, Check]]:
    """Every registered check of kind ``monte-carlo``, in registry order."""
    reg = load_all()
    return [(reg[i], chk) for i in ordered_ids(reg) for chk in reg[i].checks if check_kind(chk) == "monte-carlo"]


def audit(seeds: Sequence[int], profile: str = "ci") -> dict[str, Any]:
    """Run every Monte Carlo check at every seed; count passes, false alarms, misses, undecided and errors."""
    if not seeds:
        raise ValueError("seeds: expected at least one seed, got none")
    rows: dict[str, Any] = {}
    for claim, chk in monte_carlo_checks():
        counts = {"passed": 0, "false_alarms": 0, "control_misses": 0, "underpowered": 0, "errors": 0}
        false_alarm_seeds: list[int] = []
        miss_seeds: list[int] = []
        min_power = 1.0
        min_p = 1.0
        for s in seeds:
            for ev in run_check(claim, chk, profile=profile, seed=int(s), device="cpu"):
                f = ev.figures
                if ev.error is not None:
                    counts["errors"] += 1
                elif ev.passed is True:
                    counts["passed"] += 1
                elif ev.passed is False:
                    counts["false_alarms"] += 1
                    false_alarm_seeds.append(int(s))
                elif f.get("control_power", 1.0) < VS.DEFAULT_POWER:
                    counts["underpowered"] += 1
                else:
                    counts["control_misses"] += 1
                    miss_seeds.append(int(s))
                if "control_power" in f:
                    min_power = min(min_power, float(f["control_power"]))
                if "p_value" in f:
                    min_p = min(min_p, float(f["p_value"]))
        rows[f"{claim.id}:{check_name(chk)}"] = {
            **counts, "false_alarm_seeds": false_alarm_seeds, "miss_seeds": miss_seeds,
            "min_control_power": min_power, "min_p_value": min_p}
    return {
        "profile": profile,
        "seeds": [int(seeds[0]), int(seeds[-1])],
        "n_seeds": len(seeds),
        "alpha_per_test": VS.PER_TEST_ALPHA,
        "command": COMMAND.format(seeds=len(seeds), profile=profile),
        "checks": rows,
    }


def _round(x: Any) -> Any:
    """Figures at the precision they are guaranteed to (p-values and powers to 3 significant digits)."""
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v) for v in x]
    if isinstance(x, float):
        return float(f"{x:.3g}")
    return x


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m verify.mc_audit", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100, help="number of seeds 0..N-1 (default 100)")
    ap.add_argument("--profile", default="ci", help="profile (default ci)")
    ap.add_argument("--out", default=str(AUDIT_PATH), help="where to write the JSON")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        print(f"error: --seeds: expected a positive integer, got {args.seeds}", file=sys.stderr)
        return 2
    result = _round(audit(list(range(args.seeds)), args.profile))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    bad = {k: v for k, v in result["checks"].items() if v["false_alarms"] or v["errors"]}
    for k, v in result["checks"].items():
        print(f"{k}: passed {v['passed']}, false alarms {v['false_alarms']}, misses {v['control_misses']}, "
              f"underpowered {v['underpowered']}, errors {v['errors']}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
