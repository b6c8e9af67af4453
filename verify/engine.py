"""Running claims: contexts, executors (sequential or a process pool) and results.

:func:`run_claims` is the library entry point (the documented public API). Results are independent of
the executor: each check gets a seed derived from ``(seed, claim id, check name)`` only,
and results are returned in registry order whatever order they finish in.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from verify.registry import (
    PROFILES,
    REGISTRY,
    Check,
    CheckSkipped,
    Claim,
    Context,
    Evidence,
    derive_status,
    load_all,
    ordered_ids,
)


class UnknownClaimError(ValueError):
    """An id that is not in the registry was asked for."""


@dataclass
class ClaimResult:
    """A claim's derived status and the evidence behind it."""

    id: str
    title: str
    family: str
    kind: str
    status: str
    expected: str
    evidence: list[Evidence]
    uses: tuple[str, ...] = ()
    corrects: str | None = None
    fully_verified: bool = False
    blocked_by: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def matches(self) -> bool:
        return self.status == self.expected


def check_name(check: Check) -> str:
    """The name a check is reported under (its ``check_name`` attribute or ``__name__``)."""
    name = getattr(check, "check_name", None) or getattr(check, "__name__", None)
    if name is None and hasattr(check, "func"):  # functools.partial
        name = getattr(check.func, "__name__", "check")
    return str(name or "check")


def check_kind(check: Check) -> str:
    return str(getattr(check, "check_kind", "exact"))


def run_check(claim: Claim, check: Check, *, profile: str, seed: int, device: str) -> list[Evidence]:
    """Run one check under its own context; exceptions become ``error`` evidence."""
    name = check_name(check)
    ctx = Context(claim.id, name, PROFILES[profile], seed, device)
    try:
        out = check(ctx)
    except CheckSkipped as exc:
        return [Evidence(check_kind(check), None, f"not run: {exc}", check=name, skipped=True)]
    except Exception as exc:  # a raising check is an 'error' status, never a pass
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return [Evidence(check_kind(check), None, f"check raised {tb}", check=name, error=tb)]
    items = [out] if isinstance(out, Evidence) else list(out)
    if not items or not all(isinstance(e, Evidence) for e in items):
        msg = f"check returned {type(out).__name__}, expected Evidence or a non-empty list of Evidence"
        return [Evidence(check_kind(check), None, msg, check=name, error=msg)]
    for e in items:
        e.check = e.check or name
    return items


def run_claim(claim_id: str, profile: str = "ci", seed: int = 0, device: str = "cpu") -> ClaimResult:
    """Run every check of one claim (in this process) and derive its status."""
    reg = load_all()
    claim = reg[claim_id]
    t0 = time.perf_counter()
    evidence: list[Evidence] = []
    for chk in claim.checks:
        evidence.extend(run_check(claim, chk, profile=profile, seed=seed, device=device))
    return ClaimResult(
        id=claim.id,
        title=claim.title,
        family=claim.family,
        kind=claim.kind,
        status=derive_status(evidence, claim.min_kinds),
        expected=claim.expected,
        evidence=evidence,
        uses=claim.uses,
        corrects=claim.corrects,
        seconds=time.perf_counter() - t0,
    )


def _run_claim_args(args: tuple[str, str, int, str]) -> ClaimResult:
    return run_claim(*args)


class Executor(Protocol):
    """Runs ``fn`` over ``items`` and yields the results in any order.

    A distributed engine plugs in by implementing this one method.
    """

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]: ...


class SequentialExecutor:
    """Runs everything in this process, in order."""

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        for it in items:
            yield fn(it)


def _ignore_sigint() -> None:
    """Worker initializer: the parent decides what an interrupt means (it terminates the
    workers), so a Ctrl-C sent to the whole process group prints no worker tracebacks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ProcessPoolExecutor:
    """Runs claims in ``workers`` fresh (spawned) processes.

    When the consumer stops early (an exception, KeyboardInterrupt, or the CLI's SIGTERM
    handler raising one), the workers are terminated and reaped before the exception
    propagates: no claim keeps running in an orphaned process.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers: expected a positive integer, got {workers}")
        self.workers = workers

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        ctx = multiprocessing.get_context("spawn")
        pool = cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_ignore_sigint)
        futures = [pool.submit(fn, it) for it in items]
        try:
            for fut in cf.as_completed(futures):
                yield fut.result()
        except BaseException:
            terminate_pool(pool)
            raise
        pool.shutdown(wait=True)


def terminate_pool(pool: cf.ProcessPoolExecutor, grace: float = 5.0) -> None:
    """Cancel what has not started, terminate the running workers and reap them."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # no public accessor before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + grace
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)


EXECUTORS = ("process", "dask")


def make_executor(kind: str = "process", *, workers: int = 1, scheduler: str | None = None) -> Executor:
    """The executor named ``kind``: ``"process"`` (this process for one worker, else a process pool) or
    ``"dask"`` (a Dask LocalCluster of ``workers`` processes, or the cluster at ``scheduler``)."""
    if kind not in EXECUTORS:
        raise ValueError(f"executor: expected one of {EXECUTORS}, got {kind!r}")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers: expected a positive integer, got {workers!r}")
    if kind == "dask":
        from verify.dask_executor import DaskExecutor

        return DaskExecutor(workers=workers, scheduler=scheduler)
    if scheduler is not None:
        raise ValueError(f"scheduler: only the dask executor takes a scheduler address, got {scheduler!r}")
    return SequentialExecutor() if workers == 1 else ProcessPoolExecutor(workers)


def resolve_ids(ids: Iterable[str] | None) -> list[str]:
    """Registry-ordered ids to run; unknown ids raise :class:`UnknownClaimError`."""
    reg = load_all()
    order = ordered_ids(reg)
    if ids is None:
        return order
    wanted = list(dict.fromkeys(ids))
    unknown = [i for i in wanted if i not in reg]
    if unknown:
        raise UnknownClaimError(f"ids: unknown claim id(s) {', '.join(unknown)}; see `python -m verify list`")
    keep = set(wanted)
    return [i for i in order if i in keep]


def link_results(results: dict[str, ClaimResult]) -> None:
    """Fill ``fully_verified`` and ``blocked_by``: a claim is fully verified when it and every
    claim it uses, transitively, are verified (claims not run count as not verified)."""
    reg = load_all()
    memo: dict[str, bool] = {}

    def full(i: str) -> bool:
        if i not in memo:
            r = results.get(i)
            memo[i] = r is not None and r.status == "verified" and all(full(u) for u in reg[i].uses)
        return memo[i]

    for i, r in results.items():
        r.fully_verified = full(i)
        r.blocked_by = [u for u in reg[i].uses if not full(u)]


def run_claims(
    ids: Iterable[str] | None = None,
    *,
    profile: str = "ci",
    seed: int = 0,
    workers: int = 1,
    device: str = "cpu",
    executor: Executor | None = None,
    progress: Callable[[ClaimResult, int, int], None] | None = None,
) -> list[ClaimResult]:
    """Run claims (all, or ``ids``) and return one :class:`ClaimResult` each, in registry order.

    ``workers > 1`` uses a process pool; ``executor`` overrides both. ``progress`` is
    called after each claim with ``(result, done, total)``.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {sorted(PROFILES)}, got {profile!r}")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    todo = resolve_ids(ids)
    if executor is None:
        executor = SequentialExecutor() if workers <= 1 else ProcessPoolExecutor(workers)
    # longest-first helps the pool; order does not affect results
    items = [(i, profile, seed, device) for i in todo]
    results: dict[str, ClaimResult] = {}
    for res in executor.run(_run_claim_args, items):
        results[res.id] = res
        if progress is not None:
            progress(res, len(results), len(todo))
    link_results(results)
    return [results[i] for i in todo]


__all__ = [
    "EXECUTORS",
    "REGISTRY",
    "ClaimResult",
    "Executor",
    "ProcessPoolExecutor",
    "SequentialExecutor",
    "UnknownClaimError",
    "make_executor",
    "run_claim",
    "run_claims",
]
