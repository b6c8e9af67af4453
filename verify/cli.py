"""``python -m verify``: list claims, run them, write the reports.

Exit codes: 0 when every derived status equals its expected verdict, 1 when one does not,
2 on a usage error (including an unknown claim id).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from verify.engine import ClaimResult, UnknownClaimError, resolve_ids, run_claims
from verify.registry import PROFILES, load_all, ordered_ids
from verify.report import STATUS_ICON, claim_entry, rerender, write_reports

DEFAULT_REPORT_DIR = Path("reports")  # relative to the working directory (tox runs in the project root)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m verify",
                                 description="Verify policy-gradient claims and write reports.")
    sub = ap.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="list registered claims")
    p_list.add_argument("--family", default=None, help="only this family")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")

    p_run = sub.add_parser("run", help="run claims (all by default) and write the reports")
    p_run.add_argument("ids", nargs="*", metavar="ID", help="claim ids to run (default: all)")
    p_run.add_argument("--profile", default="ci", choices=sorted(PROFILES), help="effort profile (default: ci)")
    p_run.add_argument("--seed", type=int, default=None,
                       help="base seed (default: 0; a fresh random seed, printed, under --profile thorough)")
    p_run.add_argument("--workers", type=int, default=1, help="processes to use (default: 1)")
    p_run.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device for device checks")
    p_run.add_argument("--json", action="store_true", help="print results as JSON on stdout (nothing else)")
    p_run.add_argument("--report-dir", default=None,
                       help="where to write reports (default: reports/ for a full run; a run of selected ids "
                            "writes no report unless this is given)")
    p_run.add_argument("--no-report", action="store_true", help="do not write reports")
    p_run.add_argument("--no-plots", action="store_true", help="skip the figures")

    p_mut = sub.add_parser("mutate", help="plant catalogued bugs (verify/mutants) and record which claims catch them")
    p_mut.add_argument("ids", nargs="*", metavar="MUTANT_ID", help="mutant ids to run (default: the whole catalogue)")
    p_mut.add_argument("--list", action="store_true", help="list the catalogue and exit")
    p_mut.add_argument("--profile", default="ci", choices=sorted(PROFILES), help="effort profile (default: ci)")
    p_mut.add_argument("--seed", type=int, default=0, help="base seed of the claims (default: 0)")
    p_mut.add_argument("--workers", type=int, default=1, help="processes to use (default: 1)")
    p_mut.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device for device checks")
    p_mut.add_argument("--report-dir", default=None,
                       help="where to write mutation.md/json (default: reports/ for the whole catalogue; a run of "
                            "selected ids writes no report unless this is given)")

    p_rep = sub.add_parser("report", help="re-render the markdown from reports/claims.json")
    p_rep.add_argument("--report-dir", default=str(DEFAULT_REPORT_DIR))
    p_rep.add_argument("--no-plots", action="store_true")
    return ap


class _Progress:
    """Progress on stderr: rich when stderr is a terminal and rich is installed, else plain lines."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.stream = stream
        self.total = total
        self.rich: Any = None
        interactive = stream.isatty() and os.environ.get("TTY_INTERACTIVE", "1") != "0" and "NO_COLOR" not in os.environ
        if interactive:
            try:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

                self.rich = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     console=Console(file=stream), transient=True)
                self.task = self.rich.add_task("claims", total=total)
                self.rich.start()
            except ImportError:
                self.rich = None

    def __call__(self, res: ClaimResult, done: int, total: int) -> None:
        flag = "" if res.matches else f"  (expected {res.expected})"
        if self.rich is not None:
            self.rich.update(self.task, advance=1, description=f"{res.id}: {res.status}")
        else:
            print(f"[{done}/{total}] {res.id}: {res.status}{flag} ({res.seconds:.1f}s)", file=self.stream, flush=True)

    def close(self) -> None:
        if self.rich is not None:
            self.rich.stop()


def _summary_table(results: list[ClaimResult], stream: TextIO) -> None:
    w = max([len(r.id) for r in results] + [2])
    print(f"{'ID':<{w}}  {'status':<10}  {'expected':<10}  ok  title", file=stream)
    for r in results:
        ok = "yes" if r.matches else "NO"
        print(f"{r.id:<{w}}  {STATUS_ICON[r.status]} {r.status:<8}  {r.expected:<10}  {ok:<3} {r.title}", file=stream)
    bad = [r for r in results if not r.matches]
    print(f"\n{len(results)} claims, {len(bad)} differ from the expected verdict.", file=stream)


def cmd_list(args: argparse.Namespace) -> int:
    reg = load_all()
    ids = [i for i in ordered_ids(reg) if args.family is None or reg[i].family == args.family]
    if args.json:
        rows = [{"id": i, "title": reg[i].title, "family": reg[i].family, "kind": reg[i].kind,
                 "expected": reg[i].expected, "uses": list(reg[i].uses), "corrects": reg[i].corrects} for i in ids]
        print(json.dumps(rows, indent=1))
        return 0
    w = max([len(i) for i in ids] + [2])
    for i in ids:
        c = reg[i]
        print(f"{i:<{w}}  {c.family:<20} {c.kind:<15} expected {c.expected:<10} {c.title}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    try:
        ids = resolve_ids(args.ids or None)
    except UnknownClaimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"error: --workers: expected a positive integer, got {args.workers}", file=sys.stderr)
        return 2
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "little") if PROFILES[args.profile].fresh_seeds else 0
        if PROFILES[args.profile].fresh_seeds:
            print(f"profile {args.profile}: fresh seed {args.seed} (rerun with --seed {args.seed})", file=sys.stderr)
    t0 = time.perf_counter()
    progress = _Progress(len(ids), sys.stderr)
    try:
        results = run_claims(ids, profile=args.profile, seed=args.seed, workers=args.workers, device=args.device,
                             progress=progress)
    finally:
        progress.close()
    wall = time.perf_counter() - t0
    report_dir = args.report_dir
    if report_dir is None and not args.ids:
        report_dir = str(DEFAULT_REPORT_DIR)
    if report_dir is not None and not args.no_report:
        meta = {"profile": args.profile, "seed": args.seed, "workers": args.workers, "device": args.device,
                "wall_seconds": wall, "claim_seconds": {r.id: r.seconds for r in results},
                "family_seconds": _family_seconds(results)}
        write_reports(results, report_dir, profile=args.profile, seed=args.seed, metadata=meta,
                      plots=not args.no_plots)
        print(f"reports written to {report_dir}", file=sys.stderr)
    if args.json:
        print(json.dumps([claim_entry(r) for r in results], indent=1, ensure_ascii=False))
    else:
        _summary_table(results, sys.stdout)
    return 0 if all(r.matches for r in results) else 1


def _family_seconds(results: list[ClaimResult]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in results:
        out[r.family] = out.get(r.family, 0.0) + r.seconds
    return out


def cmd_report(args: argparse.Namespace) -> int:
    path = Path(args.report_dir) / "claims.json"
    if not path.exists():
        print(f"error: --report-dir: no claims.json in {args.report_dir}; run `python -m verify run` first",
              file=sys.stderr)
        return 2
    doc = rerender(args.report_dir, plots=not args.no_plots)
    print(f"re-rendered {len(doc['claims'])} claims into {args.report_dir}", file=sys.stderr)
    return 0 if doc["summary"]["mismatches"] == 0 else 1


def cmd_mutate(args: argparse.Namespace) -> int:
    from verify.mutate import UnknownMutantError, catalogue, resolve_mutants, run_mutants, write_reports

    if args.list:
        for m in catalogue().values():
            print(f"{m.id:<55} {m.family:<20} {m.target}")
        return 0
    try:
        ids = resolve_mutants(args.ids or None)
    except UnknownMutantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"error: --workers: expected a positive integer, got {args.workers}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()

    def progress(res: Any, done: int, total: int) -> None:
        verdict = f"killed by {', '.join(res.killed_by)}" if res.killed_by else "SURVIVES"
        print(f"[{done}/{total}] {res.id}: {verdict} ({res.seconds:.1f}s)", file=sys.stderr, flush=True)

    results = run_mutants(ids, profile=args.profile, seed=args.seed, workers=args.workers, device=args.device,
                          progress=progress)
    wall = time.perf_counter() - t0
    report_dir = args.report_dir if (args.report_dir is not None or args.ids) else str(DEFAULT_REPORT_DIR)
    if report_dir is not None:
        write_reports(results, report_dir, profile=args.profile, seed=args.seed)
        print(f"mutation report written to {report_dir}", file=sys.stderr)
    survivors = [r.id for r in results if not r.killed]
    n = len(results)
    print(f"{n - len(survivors)} of {n} mutant{'s' if n != 1 else ''} killed by a claim "
          f"({args.workers} worker{'s' if args.workers != 1 else ''}, {wall:.0f} s)")
    for i in survivors:
        print(f"survives: {i}")
    return 0 if not survivors else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"list": cmd_list, "run": cmd_run, "report": cmd_report, "mutate": cmd_mutate}[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted: previous reports left intact", file=sys.stderr)
        return 130
