"""``python -m verify mutate``: plant each catalogued bug class and record which claims catch it.

For every mutant of :mod:`verify.mutants` the claims of its family run with the mutant planted
(:func:`verify.mutants.plant`, inside the worker process); a claim *kills* the mutant when its derived
status differs from its unmutated status (the expected verdict, unless a claim is already off it) and is
decided (``refuted``/``error``, or ``verified`` where a refutation was expected) -- ``undecided`` and
``skipped`` never count, and unit tests never count.
Mutants run in parallel in spawned processes; results do not depend on the number of workers (each
check's seed depends only on the base seed and its claim and check names).

Writes ``mutation.json`` (top-level ``mutants`` list: ``id``, ``target``, ``description``, ``family``,
``killed_by`` (sorted claim ids), ``claims_run``, ``statuses`` of the claims that changed) and
``mutation.md``; both byte-reproducible (no timings).
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import json
import multiprocessing
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verify.registry import PROFILES, load_all, ordered_ids

SCHEMA_VERSION = 1
NOT_KILLS = ("undecided", "skipped")


class UnknownMutantError(ValueError):
    """A mutant id that is not in the catalogue was asked for."""


@dataclass
class MutantResult:
    id: str
    target: str
    description: str
    family: str
    claims_run: list[str]
    killed_by: list[str]
    changed: dict[str, str] = field(default_factory=dict)  # claim id -> status under the mutant (kills only)
    seconds: float = 0.0

    @property
    def killed(self) -> bool:
        return bool(self.killed_by)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "target": self.target, "description": self.description, "family": self.family,
                "killed_by": self.killed_by, "claims_run": self.claims_run,
                "statuses": {k: self.changed[k] for k in sorted(self.changed)}}


def catalogue() -> dict[str, Any]:
    from verify.mutants import CATALOGUE

    return CATALOGUE


def resolve_mutants(ids: Iterable[str] | None) -> list[str]:
    """Catalogue-ordered ids; unknown ids raise :class:`UnknownMutantError`."""
    cat = catalogue()
    if ids is None:
        return list(cat)
    wanted = list(dict.fromkeys(ids))
    unknown = [i for i in wanted if i not in cat]
    if unknown:
        raise UnknownMutantError(f"ids: unknown mutant id(s) {', '.join(unknown)}; "
                                 f"see `python -m verify mutate --list`")
    keep = set(wanted)
    return [i for i in cat if i in keep]


def family_claims(family: str) -> list[str]:
    reg = load_all()
    return [i for i in ordered_ids(reg) if reg[i].family == family]


class _RecordingDict(dict[str, Any]):
    """A bound-constant table that records which keys are read (and by which claim)."""

    def __init__(self, data: dict[str, Any], log: Callable[[str], None]) -> None:
        super().__init__(data)
        self._log = log

    def __getitem__(self, key: str) -> Any:
        self._log(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._log(key)
        return super().get(key, default)


def trace_family(family: str, profile: str = "ci", seed: int = 0, device: str = "cpu"
                 ) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Run the family's claims once, unmutated, with every catalogued target of the family wrapped by a
    recorder: ``target -> ids of the claims that call (or read) it``, and the unmutated status of each claim.

    A claim that never reaches a target cannot be changed by a fault planted there (everything it
    computes before its first call is unaffected, and the runs are deterministic), so a mutant only
    needs the claims that reach its target. This cuts a full ``mutate`` run several-fold.
    """
    import contextlib

    from verify.engine import run_claim
    from verify.mutants import Mutant, plant
    from verify.mutants._core import _ITEM, resolve

    ids = family_claims(family)
    targets = sorted({m.target for m in catalogue().values() if m.family == family})
    current = [""]
    seen: dict[str, set[str]] = {t: set() for t in targets}
    baseline: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        tables: dict[str, list[tuple[str, str]]] = {}
        for t in targets:
            item = _ITEM.match(t)
            if item is not None:
                tables.setdefault(item["obj"], []).append((item["key"], t))
                continue
            mod, attr = resolve(t)
            orig = getattr(mod, attr)

            @functools.wraps(orig)  # keeps the signature: callers that bind arguments by name see the target's
            def recorder(*a: Any, _t: str = t, _o: Any = orig, **k: Any) -> Any:
                seen[_t].add(current[0])
                return _o(*a, **k)

            stack.enter_context(plant(Mutant(f"trace:{t}", t, "call recorder", recorder, family)))
        for obj, keys in tables.items():
            mod, attr = resolve(obj)
            table = getattr(mod, attr)
            by_key = {k: t for k, t in keys}

            def log(key: str, _by: dict[str, str] = by_key) -> None:
                if key in _by:
                    seen[_by[key]].add(current[0])

            setattr(mod, attr, _RecordingDict(table, log))
            stack.callback(setattr, mod, attr, table)
        for cid in ids:
            current[0] = cid
            baseline[cid] = run_claim(cid, profile=profile, seed=seed, device=device).status
    return {t: [i for i in ids if i in seen[t]] for t in targets}, baseline


def run_mutant(mutant_id: str, profile: str = "ci", seed: int = 0, device: str = "cpu",
               claims: list[str] | None = None, baseline: dict[str, str] | None = None) -> MutantResult:
    """Plant one mutant (in this process) and run the claims of its family under it (or ``claims``,
    the family's claims that reach its target, from :func:`trace_family`). A claim kills the mutant when its
    status moves off its unmutated status (``baseline``; by default the expected verdict) to a decided one."""
    from verify.engine import run_claim
    from verify.mutants import plant

    reg = load_all()
    m = catalogue()[mutant_id]
    ids = family_claims(m.family) if claims is None else list(claims)
    t0 = time.perf_counter()
    changed: dict[str, str] = {}
    with plant(m):
        for cid in ids:
            status = run_claim(cid, profile=profile, seed=seed, device=device).status
            before = reg[cid].expected if baseline is None else baseline.get(cid, reg[cid].expected)
            if status != before and status not in NOT_KILLS:
                changed[cid] = status
    return MutantResult(m.id, m.target, m.description, m.family, ids, sorted(changed), changed,
                        time.perf_counter() - t0)


def _run_args(args: tuple[str, str, int, str, list[str] | None, dict[str, str] | None]) -> MutantResult:
    return run_mutant(*args)


def _trace_args(args: tuple[str, str, int, str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    return trace_family(*args)


def run_mutants(ids: Iterable[str] | None = None, *, profile: str = "ci", seed: int = 0, workers: int = 1,
                device: str = "cpu", progress: Callable[[MutantResult, int, int], None] | None = None,
                trace: bool = True) -> list[MutantResult]:
    """Run every mutant of ``ids`` (default: the whole catalogue); results in catalogue order.

    With ``trace`` (the default) each family's claims first run once unmutated to find which of them
    reach each target (:func:`trace_family`), and each mutant then runs only those; ``trace=False``
    runs every claim of the family for every mutant (same kills, slower).
    """
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {sorted(PROFILES)}, got {profile!r}")
    if workers < 1:
        raise ValueError(f"workers: expected a positive integer, got {workers}")
    todo = resolve_mutants(ids)
    cat = catalogue()
    results: dict[str, MutantResult] = {}

    def done(res: MutantResult) -> None:
        results[res.id] = res
        if progress is not None:
            progress(res, len(results), len(todo))

    families = sorted({cat[i].family for i in todo})
    ctx = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) if workers > 1 else None
    try:
        # phase 1: which claims of each family reach each target (one unmutated run per family)
        callers: dict[str, list[str]] = {}
        baseline: dict[str, str] = {}
        if trace:
            targs = [(f, profile, seed, device) for f in families]
            traced = pool.map(_trace_args, targs) if pool is not None else map(_trace_args, targs)
            for table, statuses in traced:
                callers.update(table)
                baseline.update(statuses)
        reg = load_all()
        off = [f"{i} ({baseline[i]}, expected {reg[i].expected})" for i in sorted(baseline)
               if baseline[i] != reg[i].expected]
        if off:  # kills are then measured against the unmutated status, not the expected verdict
            warnings.warn(f"unmutated claims off their expected verdict: {', '.join(off)}", stacklevel=2)
        # phase 2: each mutant against the claims that reach its target
        items = [(i, profile, seed, device, callers.get(cat[i].target) if trace else None,
                  baseline if trace else None) for i in todo]
        if pool is None:
            for it in items:
                done(_run_args(it))
        else:
            for fut in cf.as_completed([pool.submit(_run_args, it) for it in items]):
                done(fut.result())
    finally:
        if pool is not None:
            pool.shutdown()
    return [results[i] for i in todo]


# --------------------------------------------------------------------------- reports


def report_json(results: list[MutantResult], *, profile: str, seed: int) -> dict[str, Any]:
    survivors = [r.id for r in results if not r.killed]
    targets = {r.target for r in results if "[" not in r.target}
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": "python -m verify mutate",
        "profile": profile,
        "seed": seed,
        "summary": {"mutants": len(results), "killed": len(results) - len(survivors), "survivors": survivors,
                    "functions": len(targets),
                    "torch_mutants": sum(r.id.startswith("torch.") for r in results)},
        "mutants": [r.to_json() for r in results],
    }


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def report_markdown(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    lines = [
        "# Mutation report: the suite's detection power",
        "",
        "Each row is a bug class from the catalogue (`verify/mutants/`), planted where a user's fault would sit "
        "-- a public function (every `backend=` then carries it), one execution path only (a numba kernel, the "
        "numpy fallback, the loop ground truth, the torch mirror), or a bound's constant shrunk. The claims of "
        "the mutant's family then run with it planted; a claim **kills** it when its status moves off the "
        "expected verdict to a decided one (refuted or error; `undecided` never counts). Unit tests do not count.",
        "",
        f"Profile `{doc['profile']}`, seed {doc['seed']}. **{s['killed']} of {s['mutants']} mutants killed** "
        f"({s['functions']} functions, {s['torch_mutants']} torch-mirror mutants)."
        + (f" Survivors: {', '.join('`' + i + '`' for i in s['survivors'])}." if s["survivors"] else ""),
        "",
        "Reproduce a row: `python -m verify mutate ID --profile " + doc["profile"] + "`. Each mutant runs the claims "
        "of its family that reach its target (found by one unmutated run of the family with every target wrapped "
        "by a call recorder; a claim that never reaches the target cannot change); kills are changes from that "
        "unmutated status. Mutants of the numba kernels "
        "are catalogued only where numba is installed, those of the torch mirror only where torch is.",
        "",
        "| mutant | target | family | killed by | bug |",
        "|---|---|---|---|---|",
    ]
    for m in doc["mutants"]:
        kb = ", ".join(f"`{k}`" for k in m["killed_by"]) or "**survives**"
        lines.append(f"| `{m['id']}` | `{m['target']}` | {m['family']} | {kb} | {_md_escape(m['description'])} |")
    return "\n".join(lines) + "\n"


def write_reports(results: list[MutantResult], report_dir: str | Path, *, profile: str, seed: int) -> None:
    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = report_json(results, profile=profile, seed=seed)
    (out / "mutation.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=False) + "\n",
                                       encoding="utf-8")
    (out / "mutation.md").write_text(report_markdown(doc), encoding="utf-8")
