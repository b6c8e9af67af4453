"""``python -m verify``: list claims, run them, write the reports.

Exit codes: 0 when every derived status equals its expected verdict, 1 when one does not
(or when ``report`` finds a recorded status its evidence does not give), 2 on a usage error
(an unknown claim id or family, a bad option value, an unreadable ``claims.json``), 130 on
SIGINT and 143 on SIGTERM (workers are terminated first; the previous reports stay intact).

Subcommands live in :data:`COMMANDS` (name -> :class:`Command`); a new one is a function
that adds its arguments and a handler, registered with :func:`command`.

Only the standard library is imported at module level, and ``--help``, usage errors and
``list`` never import the claim modules (so not sympy, torch, numba or matplotlib either):
claim metadata comes from the static index in :mod:`verify.catalog`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from verify.catalog import PLUGIN_VAR, Catalog, claims_meta, listed_families, plugin_modules, plural

if TYPE_CHECKING:
    from verify.engine import ClaimResult

DEFAULT_REPORT_DIR = Path("reports")  # relative to the working directory (tox runs in the project root)
PROFILE_NAMES = ("debug", "dev", "ci", "thorough")  # verify.registry.PROFILES (a test keeps them equal)
MAX_SEED = 2**63 - 1


class UsageError(Exception):
    """A bad argument value found after parsing: printed as ``error: ...``, exit 2."""


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by the SIGTERM handler (so cleanup runs as for Ctrl-C)."""


# --------------------------------------------------------------------------- command table


@dataclass(frozen=True)
class Command:
    """A subcommand: ``configure`` adds its arguments, ``handler`` runs it and returns the exit code."""

    name: str
    help: str
    description: str
    configure: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def add_command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None],
                handler: Callable[[argparse.Namespace], int], description: str = "") -> Command:
    """Register a subcommand (later registrations of the same name replace earlier ones)."""
    cmd = Command(name, help, description or help, configure, handler)
    COMMANDS[name] = cmd
    return cmd


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m verify",
                                 description="Verify policy-gradient claims and write reports.",
                                 epilog=f"Extra claim modules: name them, comma-separated, in {PLUGIN_VAR}.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description)
        cmd.configure(p)
    return ap


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**63 - 1], got {v}")
    return v


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


# --------------------------------------------------------------------------- list


def _configure_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--family", default=None, metavar="F",
                   help="only this family: one of " + ", ".join(listed_families()))
    p.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_list(args: argparse.Namespace) -> int:
    cat = _catalog()
    if args.family is not None and args.family not in cat.families:
        raise UsageError(f"--family: unknown family {args.family!r}; valid families: {', '.join(cat.families)}")
    rows = [c for c in cat.claims if args.family is None or c["family"] == args.family]
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return 0
    w = max([len(c["id"]) for c in rows] + [2])
    for c in rows:
        print(f"{c['id']:<{w}}  {c['family']:<20} {c['kind']:<15} expected {c['expected']:<10} {c['title']}")
    print(plural(len(rows), "claim"), file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- run


def _configure_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", nargs="*", metavar="ID", help="claim ids to run, case-insensitive (default: all)")
    p.add_argument("--profile", default="ci", choices=PROFILE_NAMES, help="effort profile (default: ci)")
    p.add_argument("--seed", type=_seed, default=None,
                   help="base seed, 0 <= N < 2**63 (default: 0; a fresh random seed, printed, under "
                        "--profile thorough)")
    p.add_argument("--workers", type=_positive, default=1,
                   help="processes to use (default: 1; at most the number of CPUs)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="torch device handed to the checks (Context.device); exits 2 if cuda is asked for and "
                        "absent. The built-in claims run their torch-mirror checks on CPU whatever this says, so "
                        "it affects only plug-in checks that read ctx.device (the GPU tests are `tox -e gpu`)")
    _configure_executor(p)
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout (nothing else)")
    p.add_argument("--report-dir", default=None, metavar="DIR",
                   help="where to write reports (default: reports/ for a full run; a run of selected ids "
                        "writes no report unless this is given)")
    p.add_argument("--no-report", action="store_true", help="do not write reports")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")


def _configure_executor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", default="process", choices=("process", "dask"),
                   help="process (default): this process for one worker, else a pool of spawned processes; "
                        "dask: a Dask LocalCluster of --workers processes, or the cluster at --scheduler "
                        "(needs the `dask` extra)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="with --executor dask: submit to this scheduler (e.g. tcp://host:8786) instead of "
                        "starting a LocalCluster")


def _executor(args: argparse.Namespace, workers: int) -> Any:
    """The engine executor the command line asks for (``None``: the engine's own process pool)."""
    if args.scheduler is not None and args.executor != "dask":
        raise UsageError(f"--scheduler: only --executor dask takes a scheduler address, got {args.scheduler!r}")
    if args.executor == "process":
        return None
    try:
        from verify.dask_executor import DaskExecutor
    except ImportError as exc:
        raise UsageError(f"--executor dask: {exc}") from None
    return DaskExecutor(workers=workers, scheduler=args.scheduler)


def _clamp_workers(requested: int, tasks: int) -> int:
    cpus = os.cpu_count() or 1
    workers = requested
    if workers > cpus:
        print(f"--workers {requested}: this machine has {plural(cpus, 'CPU')}; using {cpus}", file=sys.stderr)
        workers = cpus
    return max(1, min(workers, tasks))  # never more processes than tasks


def _split_derivation_ids(ids: list[str]) -> tuple[list[str] | None, list[str]]:
    """``(derivation ids or None for all, claim ids)``: ``DERIV-*`` ids (any case) select derivations."""
    if not ids:
        return None, []
    derivs = [i.upper() for i in ids if i.upper().startswith("DERIV-")]
    return derivs, [i for i in ids if not i.upper().startswith("DERIV-")]


def cmd_run(args: argparse.Namespace) -> int:
    cat = _catalog()
    ids = cat.ids
    deriv_ids, claim_ids = _split_derivation_ids(args.ids)
    if args.ids:
        ids, errors = cat.resolve(claim_ids) if claim_ids else ([], [])
        if deriv_ids:
            from verify.derivation_report import check_ids

            try:
                check_ids(deriv_ids)
            except ValueError as exc:
                errors = [*errors, str(exc)]
        if errors:
            raise UsageError("\n".join(errors) + "\n(see `python -m verify list`)")
    workers = _clamp_workers(args.workers, len(ids))
    executor = _executor(args, workers)
    if args.device == "cuda":
        _require_cuda()
    report_dir = args.report_dir
    if report_dir is None and not args.ids:
        report_dir = str(DEFAULT_REPORT_DIR)
    if args.no_report:
        report_dir = None
    if report_dir is not None:
        check_report_dir(report_dir)
        if not args.no_plots and not _importable("matplotlib"):
            raise UsageError("--report-dir: the report's figures need matplotlib, which is not installed; install "
                             "the `reports` extra (pip install -e '.[reports]') or pass --no-plots")

    from verify.engine import run_claims
    from verify.registry import PROFILES

    if args.seed is None:
        fresh = PROFILES[args.profile].fresh_seeds
        args.seed = int.from_bytes(os.urandom(4), "little") if fresh else 0
        if fresh:
            print(f"profile {args.profile}: fresh seed {args.seed} (rerun with --seed {args.seed})", file=sys.stderr)
    t0 = time.perf_counter()
    progress = _Progress(len(ids), sys.stderr)
    try:
        results = run_claims(ids, profile=args.profile, seed=args.seed, workers=workers, device=args.device,
                             executor=executor, progress=progress) if ids else []
    finally:
        progress.close()
    from verify.derivation_report import run_selected, summary_table

    derivs = run_selected(deriv_ids, profile=args.profile, seed=args.seed, device=args.device)
    wall = time.perf_counter() - t0
    from verify.report import claim_entry, host, write_reports

    if report_dir is not None:
        meta = {"host": host(), "profile": args.profile, "seed": args.seed, "workers": workers, "device": args.device,
                "wall_seconds": wall, "claim_seconds": {r.id: r.seconds for r in results},
                "family_seconds": _family_seconds(results)}
        write_reports(results, report_dir, profile=args.profile, seed=args.seed, metadata=meta,
                      plots=not args.no_plots, derivations=derivs or None)
        print(f"reports written to {report_dir}", file=sys.stderr)
    if args.json:
        print(json.dumps([claim_entry(r) for r in results], indent=1, ensure_ascii=False))
    else:
        if results:
            _summary_table(results, sys.stdout)
        if derivs:
            print("\n" + "\n".join(summary_table(derivs)))
    return 0 if all(r.matches for r in results) and all(d.matches for d in derivs) else 1


def _importable(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _require_cuda() -> None:
    try:
        import torch
    except ImportError:
        raise UsageError("--device cuda: torch is not installed (pip install '.[torch]')") from None
    if not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available on this machine (torch "
                         f"{torch.__version__}); use --device cpu")


def check_report_dir(path: str) -> None:
    """Fail early (before any claim runs) when reports could not be written to ``path``.

    Reports are committed by renaming a staging directory created next to ``path``, so
    ``path`` must be a directory (or not exist yet) and its parent must be writable.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"--report-dir: {path} exists and is not a directory")
    anc = p.absolute()
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise UsageError(f"--report-dir: {path} cannot be created: {anc} is not a directory")
    parent = p.resolve().parent if p.exists() else anc
    for d in ([p] if p.exists() else []) + [parent]:
        if not os.access(d, os.W_OK | os.X_OK):
            raise UsageError(f"--report-dir: {d} is not writable")
    try:  # the permission bits can lie (read-only mounts, root): try it
        tempfile.TemporaryDirectory(prefix=".pgv-probe-", dir=parent).cleanup()
    except OSError as exc:
        raise UsageError(f"--report-dir: cannot write next to {path}: {exc.strerror or exc}") from None


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
    from verify.report import STATUS_ICON, claim_entry, reason_lines

    w = max([len(r.id) for r in results] + [2])
    print(f"{'ID':<{w}}  {'status':<10}  {'expected':<10}  ok  title", file=stream)
    for r in results:
        ok = "yes" if r.matches else "NO"
        print(f"{r.id:<{w}}  {STATUS_ICON[r.status]} {r.status:<8}  {r.expected:<10}  {ok:<3} {r.title}", file=stream)
    explained = [r for r in results if r.status in ("refuted", "undecided", "error")]
    if explained:
        print("\nWhy:", file=stream)
        for r in explained:
            for line in reason_lines(claim_entry(r)):
                print(line, file=stream)
    bad = [r for r in results if not r.matches]
    print(f"\n{plural(len(results), 'claim')}, {len(bad)} differ{'s' if len(bad) == 1 else ''} "
          "from the expected verdict.", file=stream)


def _family_seconds(results: list[ClaimResult]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in results:
        out[r.family] = out.get(r.family, 0.0) + r.seconds
    return out


# --------------------------------------------------------------------------- sweep


def _configure_sweep(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", nargs="*", metavar="ID", help="claim ids to sweep, case-insensitive (default: all)")
    p.add_argument("--seeds", type=_positive, required=True, metavar="N", help="how many consecutive seeds")
    p.add_argument("--first-seed", type=_seed, default=0, metavar="S", help="the first seed (default: 0)")
    p.add_argument("--profile", default="ci", choices=PROFILE_NAMES, help="effort profile (default: ci)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device handed to the checks")
    p.add_argument("--workers", type=_positive, default=1,
                   help="processes to use (default: 1; at most the number of CPUs unless --scheduler is given)")
    _configure_executor(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (tasks.jsonl, sweep.json, sweep.md)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --out")


def cmd_sweep(args: argparse.Namespace) -> int:
    cat = _catalog()
    ids = cat.ids
    if args.ids:
        ids, errors = cat.resolve(args.ids)
        if errors:
            raise UsageError("\n".join(errors) + "\n(see `python -m verify list`)")
    if args.device == "cuda":
        _require_cuda()
    tasks = len(ids) * args.seeds
    workers = args.workers if args.scheduler is not None else _clamp_workers(args.workers, tasks)
    executor = _executor(args, workers)
    from verify.engine import ProcessPoolExecutor, SequentialExecutor
    from verify.sweep import SweepConfigError, print_progress, sweep

    if executor is None:
        executor = SequentialExecutor() if workers == 1 else ProcessPoolExecutor(workers)
    t0 = time.perf_counter()
    try:
        doc = sweep(ids, seeds=args.seeds, first_seed=args.first_seed, profile=args.profile, out=args.out,
                    executor=executor, resume=args.resume, device=args.device, progress=print_progress)
    except SweepConfigError as exc:
        raise UsageError(f"--{exc}") from None
    except KeyboardInterrupt:
        print(f"interrupted: finished tasks are in {args.out}/tasks.jsonl; continue with --resume", file=sys.stderr)
        raise
    s = doc["summary"]
    print(f"{plural(s['tasks'], 'task')} over {plural(s['claims'], 'claim')} in {time.perf_counter() - t0:.0f} s; "
          f"{s['tasks_differing']} differ from the expected verdict; wrote {args.out}/sweep.md", file=sys.stderr)
    return 0 if s["tasks_differing"] == 0 else 1


# --------------------------------------------------------------------------- mutate


def _configure_mutate(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", nargs="*", metavar="MUTANT_ID", help="mutant ids to run (default: the whole catalogue)")
    p.add_argument("--list", action="store_true", help="list the catalogue and exit")
    p.add_argument("--profile", default="ci", choices=PROFILE_NAMES, help="effort profile (default: ci)")
    p.add_argument("--seed", type=_seed, default=0, help="base seed of the claims (default: 0)")
    p.add_argument("--workers", type=_positive, default=1,
                   help="processes to use (default: 1; at most the number of CPUs)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device handed to the checks")
    p.add_argument("--report-dir", default=None, metavar="DIR",
                   help="where to write mutation.md/json (default: reports/ for the whole catalogue; a run of "
                        "selected ids writes no report unless this is given)")


def cmd_mutate(args: argparse.Namespace) -> int:
    from verify.mutate import UnknownMutantError, catalogue, resolve_mutants, run_mutants, write_reports

    if args.list:
        for m in catalogue().values():
            print(f"{m.id:<55} {m.family:<20} {m.target}")
        return 0
    try:
        ids = resolve_mutants(args.ids or None)
    except UnknownMutantError as exc:
        raise UsageError(str(exc)) from None
    if args.device == "cuda":
        _require_cuda()
    report_dir = args.report_dir if (args.report_dir is not None or args.ids) else str(DEFAULT_REPORT_DIR)
    if report_dir is not None:
        check_report_dir(report_dir)
    workers = _clamp_workers(args.workers, len(ids))
    t0 = time.perf_counter()

    def progress(res: Any, done: int, total: int) -> None:
        verdict = f"killed by {', '.join(res.killed_by)}" if res.killed_by else "SURVIVES"
        print(f"[{done}/{total}] {res.id}: {verdict} ({res.seconds:.1f}s)", file=sys.stderr, flush=True)

    results = run_mutants(ids, profile=args.profile, seed=args.seed, workers=workers, device=args.device,
                          progress=progress)
    wall = time.perf_counter() - t0
    if report_dir is not None:
        write_reports(results, report_dir, profile=args.profile, seed=args.seed)
        print(f"mutation report written to {report_dir}", file=sys.stderr)
    survivors = [r.id for r in results if not r.killed]
    print(f"{len(results) - len(survivors)} of {plural(len(results), 'mutant')} killed by a claim "
          f"({plural(workers, 'worker')}, {wall:.0f} s)")
    for i in survivors:
        print(f"survives: {i}")
    return 0 if not survivors else 1


# --------------------------------------------------------------------------- report


def _configure_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report-dir", default=str(DEFAULT_REPORT_DIR), metavar="DIR")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")


def cmd_report(args: argparse.Namespace) -> int:
    path = Path(args.report_dir) / "claims.json"
    if not path.is_file():
        raise UsageError(f"--report-dir: no claims.json in {args.report_dir}; run `python -m verify run` first")
    check_report_dir(args.report_dir)
    _catalog()  # announces plug-ins
    from verify.report import ReportFormatError, rerender

    try:
        doc, flagged = rerender(args.report_dir, plots=not args.no_plots)
    except ReportFormatError as exc:
        raise UsageError(f"claims.json: {exc}") from None
    for line in flagged:
        print(f"error: claims.json: {line}", file=sys.stderr)
    print(f"re-rendered {plural(len(doc['claims']), 'claim')} into {args.report_dir}", file=sys.stderr)
    return 1 if flagged or doc["summary"]["mismatches"] else 0


# --------------------------------------------------------------------------- index


def _configure_index(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true", help="only check: exit 1 when the index is stale")


def cmd_index(args: argparse.Namespace) -> int:
    from verify.catalog import INDEX_PATH, index_text

    text = index_text()
    current = INDEX_PATH.read_text(encoding="utf-8") if INDEX_PATH.exists() else ""
    if args.check:
        print(f"{INDEX_PATH}: {'fresh' if text == current else 'stale'}", file=sys.stderr)
        return 0 if text == current else 1
    INDEX_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {INDEX_PATH}", file=sys.stderr)
    return 0


add_command("list", "list registered claims (fast: reads the static index)", _configure_list, cmd_list)
add_command("run", "run claims (all by default) and write the reports", _configure_run, cmd_run,
            "Run claims (all by default). A full run writes reports/; a run of selected ids writes no "
            "report unless --report-dir is given. --json prints the results as JSON on stdout. For each "
            "refuted or undecided claim the summary says why and shows the counterexample.")
add_command("sweep", "run claims under many seeds; write DIR/sweep.json and DIR/sweep.md", _configure_sweep,
            cmd_sweep, "Run every (claim, seed) pair as one task on a process pool or Dask; write DIR/tasks.jsonl "
            "(resumable with --resume), DIR/sweep.json and DIR/sweep.md. Exit 0 when every task gave its expected "
            "verdict, 1 otherwise.")
add_command("mutate", "plant catalogued bugs (verify/mutants) and record which claims catch them",
            _configure_mutate, cmd_mutate,
            "Plant each catalogued bug class in every execution path, run the claims of its family, and write "
            "reports/mutation.md and reports/mutation.json. Exit 0 when every mutant is killed by a claim.")
add_command("report", "re-render the markdown from reports/claims.json", _configure_report, cmd_report,
            "Re-render the markdown (and figures) from claims.json. Statuses are re-derived from the "
            "recorded evidence; a recorded status the evidence does not give is reported (exit 1).")
add_command("index", "rewrite verify/_index.json (the claim metadata `list` reads)", _configure_index, cmd_index)


# --------------------------------------------------------------------------- main

_announced = False


def _catalog() -> Catalog:
    """Claim metadata; names the plug-in modules (``PGV_CLAIM_MODULES``) on stderr once."""
    global _announced
    mods = plugin_modules()
    if mods and not _announced:
        print(f"plug-in claim modules ({PLUGIN_VAR}): {', '.join(mods)}", file=sys.stderr)
        _announced = True
    return claims_meta()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = COMMANDS[args.command].handler
    in_main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        return handler(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("terminated: workers stopped, previous reports left intact", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted: previous reports left intact", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`list | head`): stop quietly, and keep the interpreter's final
        # flush of stdout from raising again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
