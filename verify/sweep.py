"""Seed sweeps: every (claim, seed) pair is one task; the verdicts and extreme figures over seeds.

A referee is only as good as its search: a fixed CI seed exercises one corner of each
hypothesis search and one draw of each Monte Carlo test. ``python -m verify sweep`` runs the
chosen claims under ``--seeds N`` consecutive seeds (from ``--first-seed``) on any
:class:`~verify.engine.Executor` (a local process pool or Dask) and writes

* ``DIR/tasks.jsonl`` — one line per finished task, appended as results stream back, so an
  interrupted sweep resumes from the tasks already done (``--resume``);
* ``DIR/sweep.json`` — per claim: seeds run, verdict counts, every seed whose verdict differs
  from the expected one (with its counterexample and the command that reproduces it), the
  extreme value over seeds of every numeric figure, and Monte Carlo rejection counts against
  the α each check states;
* ``DIR/sweep.md`` — the same for a person.

Neither summary file carries timings or host names: the same tasks give the same bytes.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verify.catalog import anchor, plural
from verify.engine import Executor, SequentialExecutor, resolve_ids, run_claim
from verify.registry import PROFILES, STATUSES, _jsonable, load_all

SWEEP_SCHEMA_VERSION = 1
TASKS_FILE = "tasks.jsonl"
CONFIG_FILE = "sweep-config.json"


class SweepConfigError(ValueError):
    """The output folder holds a different sweep, or a sweep that --resume was not asked to continue."""


@dataclass(frozen=True)
class SweepTask:
    """One (claim, seed) pair under a profile."""

    claim_id: str
    seed: int
    profile: str
    device: str = "cpu"


def run_task(task: SweepTask) -> dict[str, Any]:
    """Run one claim under one seed; returns a JSON-able record (evidence included)."""
    res = run_claim(task.claim_id, profile=task.profile, seed=task.seed, device=task.device)
    return {
        "id": res.id,
        "seed": task.seed,
        "status": res.status,
        "expected": res.expected,
        "methods": _jsonable([e.to_json() for e in res.evidence]),
    }


def _validate(seeds: int, first_seed: int, profile: str) -> None:
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ValueError(f"seeds: expected a positive integer, got {seeds!r}")
    if not isinstance(first_seed, int) or isinstance(first_seed, bool) or first_seed < 0:
        raise ValueError(f"first_seed: expected a non-negative integer, got {first_seed!r}")
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {sorted(PROFILES)}, got {profile!r}")


def _read_done(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    done: dict[tuple[str, int], dict[str, Any]] = {}
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by an interruption: that task runs again
        done[(rec["id"], int(rec["seed"]))] = rec
    return done


def sweep(
    ids: Iterable[str] | None,
    *,
    seeds: int,
    first_seed: int = 0,
    profile: str = "ci",
    out: str | Path,
    executor: Executor | None = None,
    resume: bool = False,
    device: str = "cpu",
    progress: Callable[[dict[str, Any], int, int], None] | None = None,
) -> dict[str, Any]:
    """Run every (claim, seed) task not already done, then write ``sweep.json`` and ``sweep.md``.

    Returns the summary document (the content of ``sweep.json``).
    """
    _validate(seeds, first_seed, profile)
    todo_ids = resolve_ids(ids)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SweepConfigError(f"out: expected a directory, got the file {out}")
    out.mkdir(parents=True, exist_ok=True)
    config = {"ids": todo_ids, "seeds": seeds, "first_seed": first_seed, "profile": profile, "device": device}
    cfg_path, tasks_path = out / CONFIG_FILE, out / TASKS_FILE
    if tasks_path.exists():
        if not resume:
            raise SweepConfigError(f"out: {out} already holds a sweep; pass --resume to continue it or choose "
                                   f"another --out")
        old = json.loads(cfg_path.read_text()) if cfg_path.exists() else None
        if old != config:
            raise SweepConfigError(f"out: {out} holds a sweep of another configuration ({old}); --resume needs the "
                                   f"same ids, seeds, first seed, profile and device")
    cfg_path.write_text(json.dumps(config, indent=1) + "\n")
    done = _read_done(tasks_path)
    tasks = [SweepTask(i, s, profile, device) for i in todo_ids for s in range(first_seed, first_seed + seeds)
             if (i, s) not in done]
    total = len(todo_ids) * seeds
    executor = executor or SequentialExecutor()
    with tasks_path.open("a") as fh:
        for rec in executor.run(run_task, tasks):
            done[(rec["id"], rec["seed"])] = rec
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
            fh.flush()
            if progress is not None:
                progress(rec, len(done), total)
    doc = summarize([done[(i, s)] for i in todo_ids for s in range(first_seed, first_seed + seeds)],
                    profile=profile, device=device)
    (out / "sweep.json").write_text(json.dumps(doc, indent=1, sort_keys=False, ensure_ascii=False) + "\n")
    (out / "sweep.md").write_text(render_markdown(doc))
    return doc


# --------------------------------------------------------------------------- summary


def _numeric(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _first_failure(methods: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    for m in methods:
        if m.get("error") is not None or m.get("passed") is False:
            return {k: m[k] for k in ("check", "kind", "summary", "counterexample", "error") if k in m}
    for m in methods:
        if m.get("passed") is None and not m.get("skipped"):
            return {k: m[k] for k in ("check", "kind", "summary") if k in m}
    return None


def summarize(records: Sequence[dict[str, Any]], *, profile: str, device: str = "cpu") -> dict[str, Any]:
    """Per claim: verdict counts, seeds that differ from the expected verdict, extreme figures, MC rejections."""
    by_claim: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_claim.setdefault(rec["id"], []).append(rec)
    claims = []
    for cid, recs in by_claim.items():
        recs = sorted(recs, key=lambda r: r["seed"])
        counts = Counter(r["status"] for r in recs)
        differs = [{"seed": r["seed"], "status": r["status"], "reason": _first_failure(r["methods"]),
                    "reproduce": f"python -m verify run {cid} --profile {profile} --seed {r['seed']}"
                    + ("" if device == "cpu" else f" --device {device}")}
                   for r in recs if r["status"] != r["expected"]]
        extremes: dict[str, dict[str, Any]] = {}
        mc: dict[str, dict[str, Any]] = {}
        for r in recs:
            for m in r["methods"]:
                for name, v in (m.get("figures") or {}).items():
                    x = _numeric(v)
                    if x is None:
                        continue
                    key = f"{m['check']}.{name}"
                    e = extremes.setdefault(key, {"min": x, "min_seed": r["seed"], "max": x, "max_seed": r["seed"]})
                    if x < e["min"]:
                        e["min"], e["min_seed"] = x, r["seed"]
                    if x > e["max"]:
                        e["max"], e["max_seed"] = x, r["seed"]
                if m.get("kind") == "monte-carlo" and not m.get("skipped"):
                    c = mc.setdefault(m["check"], {"runs": 0, "rejections": 0, "undecided": 0, "alpha": None})
                    c["runs"] += 1
                    c["rejections"] += m.get("passed") is False
                    c["undecided"] += m.get("passed") is None
                    alpha = _numeric((m.get("figures") or {}).get("alpha"))
                    if alpha is not None:
                        c["alpha"] = alpha if c["alpha"] is None else max(c["alpha"], alpha)
        claims.append({
            "id": cid,
            "expected": recs[0]["expected"],
            "seeds_run": len(recs),
            "counts": {s: counts[s] for s in STATUSES if counts[s]},
            "differs": differs,
            "figure_extremes": dict(sorted(extremes.items())),
            "monte_carlo": dict(sorted(mc.items())),
        })
    reg = load_all()
    titles = {c["id"]: reg[c["id"]].title if c["id"] in reg else c["id"] for c in claims}
    for c in claims:
        c["title"] = titles[c["id"]]
    seeds = sorted({r["seed"] for r in records})
    return {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "profile": profile,
        "device": device,
        "seeds": {"count": len(seeds), "first": seeds[0] if seeds else None, "last": seeds[-1] if seeds else None},
        "summary": {"claims": len(claims), "tasks": len(records),
                    "tasks_differing": sum(len(c["differs"]) for c in claims),
                    "claims_differing": sum(1 for c in claims if c["differs"])},
        "claims": claims,
    }


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _is_headline(name: str) -> bool:
    n = name.rsplit(".", 1)[-1].lower()
    return any(w in n for w in ("ratio", "error", "residual", "gap", "slack", "bias"))


def render_markdown(doc: dict[str, Any]) -> str:
    """``sweep.md``: the summary table, then one section per claim that differs or has headline figures."""
    s = doc["summary"]
    seeds = doc["seeds"]
    lines = [
        "# Seed sweep",
        "",
        "<!-- generated by `python -m verify sweep`: do not edit by hand -->",
        "",
        f"Profile `{doc['profile']}`, device `{doc['device']}`, {plural(seeds['count'], 'seed')} "
        f"({seeds['first']}–{seeds['last']}); {plural(s['claims'], 'claim')}, "
        f"{s['tasks']} tasks. **{s['tasks_differing']}** task(s) in **{s['claims_differing']}** claim(s) gave a "
        "verdict other than the expected one.",
        "",
        f"Reproduce: `python -m verify sweep --seeds {seeds['count']} --first-seed {seeds['first']} "
        f"--profile {doc['profile']}" + ("" if doc["device"] == "cpu" else f" --device {doc['device']}")
        + " --out DIR` (add `--executor dask --workers N` to spread it over processes).",
        "",
        "| claim | expected | seeds | verdicts | differing seeds |",
        "|---|---|---|---|---|",
    ]
    def heads_of(c: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in c["figure_extremes"].items() if _is_headline(k)}

    def has_section(c: dict[str, Any]) -> bool:
        return bool(c["differs"] or heads_of(c) or c["monte_carlo"])

    for c in doc["claims"]:
        verdicts = ", ".join(f"{k} {v}" for k, v in c["counts"].items())
        diff = ", ".join(str(d["seed"]) for d in c["differs"][:10]) + (" …" if len(c["differs"]) > 10 else "")
        name = f"[{c['id']}](#{anchor(c['id'])})" if has_section(c) else c["id"]
        lines.append(f"| {name} | {c['expected']} | {c['seeds_run']} | {verdicts} | {diff or '—'} |")
    lines.append("")
    for c in doc["claims"]:
        heads = heads_of(c)
        if not has_section(c):
            continue
        lines += [f'<a id="{anchor(c["id"])}"></a>', "", f"## {c['id']}", "", c["title"], ""]
        for d in c["differs"]:
            why = d["reason"] or {}
            lines.append(f"- seed {d['seed']}: **{d['status']}** — {why.get('summary', '')} "
                         f"(`{d['reproduce']}`)")
            if "counterexample" in why:
                lines.append(f"  - counterexample: `{json.dumps(why['counterexample'], sort_keys=True)[:400]}`")
        if c["differs"]:
            lines.append("")
        if heads:
            lines += ["| figure | min (seed) | max (seed) |", "|---|---|---|"]
            for k, e in heads.items():
                lines.append(f"| `{k}` | {_fmt(e['min'])} ({e['min_seed']}) | {_fmt(e['max'])} ({e['max_seed']}) |")
            lines.append("")
        if c["monte_carlo"]:
            lines += ["| Monte Carlo check | runs | rejections | undecided | stated α | expected false alarms |",
                      "|---|---|---|---|---|---|"]
            for k, m in c["monte_carlo"].items():
                exp = "—" if m["alpha"] is None else _fmt(m["alpha"] * m["runs"])
                alpha = "—" if m["alpha"] is None else _fmt(m["alpha"])
                lines.append(f"| `{k}` | {m['runs']} | {m['rejections']} | {m['undecided']} | {alpha} | {exp} |")
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def print_progress(rec: dict[str, Any], done: int, total: int) -> None:
    flag = "" if rec["status"] == rec["expected"] else f"  (expected {rec['expected']})"
    print(f"[{done}/{total}] {rec['id']} seed {rec['seed']}: {rec['status']}{flag}", file=sys.stderr, flush=True)


__all__ = ["SweepConfigError", "SweepTask", "render_markdown", "run_task", "summarize", "sweep"]
