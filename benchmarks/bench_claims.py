"""Wall time of each claim family under the ``ci`` profile, one process, sequentially.

The baseline is the whole registry's time in the same run: each family's share is the ratio
that matters (issue budget: the policy-gradient + trust-region families under 5 minutes on the
CI machine). Absolute seconds depend on the machine and its load. The claims' verdicts are not
looked at (the test suite checks them; under the ``debug`` profile of ``--quick`` some checks
are underpowered on purpose), so a benchmark never fails because of a verdict.
"""

from __future__ import annotations

import time

from verify.engine import run_claim
from verify.registry import load_all, ordered_ids


def run(quick: bool = False) -> str:
    reg = load_all()
    profile = "debug" if quick else "ci"
    per_family: dict[str, float] = {}
    counts: dict[str, int] = {}
    for cid in ordered_ids(reg):
        t0 = time.perf_counter()
        run_claim(cid, profile=profile, seed=0)  # timed only: verdicts are the test suite's business
        dt = time.perf_counter() - t0
        fam = reg[cid].family
        per_family[fam] = per_family.get(fam, 0.0) + dt
        counts[fam] = counts.get(fam, 0) + 1
    total = sum(per_family.values())
    out = [f"## Claim families: wall time under the `{profile}` profile (one process, sequential)", "",
           "| family | claims | seconds | share of the whole registry |", "|---|---|---|---|"]
    out += [f"| {f} | {counts[f]} | {t:.1f} | {t / total:.1%} |" for f, t in per_family.items()]
    out += [f"| **all** | {sum(counts.values())} | {total:.1f} | 100% |", ""]
    pg_tr = per_family.get("policy-gradient", 0.0) + per_family.get("trust-region", 0.0)
    out.append(f"Policy-gradient + trust-region families: {pg_tr:.1f} s (budget: 300 s on 2 cores).")
    return "\n".join(out)
