"""The claims registry: what a claim is, what a check returns, and how a status is derived.

A :class:`Claim` states something (a theorem from a paper, a seed document's sentence as
written, or its correction) and carries *checks*: callables ``check(ctx) -> Evidence``
(or a list of them). The status is never written by hand; :func:`derive_status`
computes it from the evidence the checks produced:

* ``error``      a check raised an unexpected exception;
* ``skipped``    every check was skipped (e.g. needs a GPU this machine lacks);
* ``refuted``    some check found a counterexample or an exact discrepancy;
* ``verified``   every decided check passed and the passing evidence spans at least
                 ``claim.min_kinds`` distinct kinds (2 for theorems by default);
* ``undecided``  otherwise (sympy could not decide, or too few independent kinds).

The verdict the suite *expects* is stored separately (``Claim.expected``); the test
suite fails when the derived status differs from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EVIDENCE_KINDS = ("symbolic", "high-precision", "exact", "property", "monte-carlo")
STATUSES = ("verified", "refuted", "undecided", "error", "skipped")
CLAIM_KINDS = ("theorem", "seed-statement", "correction", "implementation")


class CheckSkipped(Exception):
    """Raised by a check that cannot run here (for example: no CUDA device)."""


@dataclass(frozen=True)
class Source:
    """Where a statement comes from.

    ``citation`` names the paper (author, year, equation) or the seed document by its
    readable title and line (:mod:`verify.seeds`); for a seed statement ``seed_file`` is
    the seed's file name and ``quote`` the line as written there.
    """

    citation: str
    quote: str | None = None
    seed_file: str | None = None
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass
class Evidence:
    """The outcome of one check.

    Attributes:
      kind: one of :data:`EVIDENCE_KINDS`.
      passed: ``True`` (the statement holds on this evidence), ``False`` (a
        counterexample or exact discrepancy was found), ``None`` (undecided, e.g.
        sympy's three-valued ``equals`` returned ``None``).
      summary: one human-readable line.
      figures: numbers that back the verdict (max error, worst ratio, examples run,
        seed, alpha, samples, detectable effect, ...). JSON-serialisable.
      counterexample: the counterexample or discrepancy, when ``passed`` is ``False``.
      check: name of the check that produced it (filled in by the engine).
      skipped / error: set by the engine when the check was skipped or raised.
    """

    kind: str
    passed: bool | None
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)
    counterexample: Any = None
    check: str = ""
    skipped: bool = False
    error: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVIDENCE_KINDS:
            raise ValueError(f"kind: expected one of {EVIDENCE_KINDS}, got {self.kind!r}")
        if self.passed not in (True, False, None):
            raise ValueError(f"passed: expected True, False or None, got {self.passed!r}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.check,
            "kind": self.kind,
            "passed": None if self.passed is None else bool(self.passed),  # numpy bools are not JSON
            "summary": self.summary,
            "figures": _jsonable(self.figures),
        }
        if self.counterexample is not None:
            out["counterexample"] = _jsonable(self.counterexample)
        if self.skipped:
            out["skipped"] = True
        if self.error is not None:
            out["error"] = self.error
        return out


Check = Callable[["Context"], "Evidence | Sequence[Evidence]"]


@dataclass(frozen=True)
class Claim:
    """A registered statement and the checks that decide it.

    Attributes:
      id: short id, e.g. ``"PDL"``; seed statements use ``SEED-...`` ids.
      title: short human title.
      statement: the statement in LaTeX (GitHub ``$...$`` syntax).
      source: :class:`Source`.
      family: report page it belongs to (e.g. ``"policy-gradient"``).
      expected: the verdict the suite expects (a status).
      checks: the checks; each returns :class:`Evidence` or a sequence of them.
      kind: ``theorem``, ``seed-statement``, ``correction`` or ``implementation``.
      conventions, assumptions: plain-text lists shown in the report.
      uses: ids of claims this one relies on ("fully verified" needs them all).
      corrects: for a corrected statement, the id of the seed statement it replaces.
      min_kinds: distinct passing evidence kinds needed for ``verified``.
      notes: free text for the report (markdown).
      reading: for a statement judged under the reading rule (:mod:`verify.reading_rule`),
        how the rule decided its reading (shown on its report page).
    """

    id: str
    title: str
    statement: str
    source: Source
    family: str
    expected: str
    checks: tuple[Check, ...]
    kind: str = "theorem"
    conventions: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    corrects: str | None = None
    min_kinds: int = 2
    notes: str = ""
    reading: str = ""

    def __post_init__(self) -> None:
        if self.expected not in STATUSES:
            raise ValueError(f"expected: expected one of {STATUSES}, got {self.expected!r}")
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"kind: expected one of {CLAIM_KINDS}, got {self.kind!r}")
        if not self.checks:
            raise ValueError(f"checks: claim {self.id} needs at least one check")
        if self.kind == "seed-statement" and not (self.source.seed_file and self.source.quote):
            raise ValueError(f"source: seed statement {self.id} must name the seed file and quote the line")
        object.__setattr__(self, "checks", tuple(self.checks))
        object.__setattr__(self, "conventions", tuple(self.conventions))
        object.__setattr__(self, "assumptions", tuple(self.assumptions))
        object.__setattr__(self, "uses", tuple(self.uses))


@dataclass(frozen=True)
class Profile:
    """How hard the checks work: hypothesis examples and Monte Carlo sample scale."""

    name: str
    max_examples: int
    mc_scale: float = 1.0
    fresh_seeds: bool = False


PROFILES: dict[str, Profile] = {
    "debug": Profile("debug", max_examples=10, mc_scale=0.25),
    "dev": Profile("dev", max_examples=30, mc_scale=0.5),
    "ci": Profile("ci", max_examples=60, mc_scale=1.0),
    "thorough": Profile("thorough", max_examples=1000, mc_scale=4.0, fresh_seeds=True),
}


def stable_hash(*parts: Any) -> int:
    """A 32-bit hash of ``parts`` that is identical across processes and runs."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:4], "little")


@dataclass(frozen=True)
class Context:
    """What a check receives: the profile, a seed for this check, and the device."""

    claim_id: str
    check_name: str
    profile: Profile
    seed: int
    device: str = "cpu"

    def rng(self, *stream: Any) -> np.random.Generator:
        """A generator for this check (and optional sub-stream), reproducible from the seed."""
        return np.random.default_rng([self.seed, stable_hash(self.claim_id, self.check_name, *stream)])

    def sub_seed(self, *stream: Any) -> int:
        """An integer seed for this check (e.g. for ``hypothesis.seed`` or torch)."""
        return stable_hash(self.seed, self.claim_id, self.check_name, *stream)


def derive_status(evidence: Sequence[Evidence], min_kinds: int) -> str:
    """The status implied by the evidence (see module docstring)."""
    if any(e.error is not None for e in evidence):
        return "error"
    active = [e for e in evidence if not e.skipped]
    if not active:
        return "skipped"
    if any(e.passed is False for e in active):
        return "refuted"
    kinds = {e.kind for e in active if e.passed is True}
    return "verified" if len(kinds) >= min_kinds else "undecided"


# --------------------------------------------------------------------------- registry

REGISTRY: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    """Add a claim; ids are unique."""
    if claim.id in REGISTRY and REGISTRY[claim.id] is not claim:
        raise ValueError(f"id: claim {claim.id!r} is already registered")
    REGISTRY[claim.id] = claim
    return claim


def claim(**kwargs: Any) -> Claim:
    """Build and register a :class:`Claim` (keyword arguments as its fields)."""
    return register(Claim(**kwargs))


_LOADED = False


def load_all() -> dict[str, Claim]:
    """Import every module and package of :mod:`verify.claims` (sorted by name), registering their claims.

    A family package (``verify/claims/<family>/``) imports its topic modules from its ``__init__`` in a
    fixed order, which is the order of its claims on the report page; a plain module registers its own.
    Extra claim modules (your own claims, or test fixtures) are imported too when named,
    comma-separated, in the environment variable ``PGV_CLAIM_MODULES``.
    """
    global _LOADED
    if not _LOADED:
        import verify.claims as pkg

        for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            if not mod.name.startswith("_"):
                importlib.import_module(f"verify.claims.{mod.name}")
        for name in filter(None, (m.strip() for m in os.environ.get("PGV_CLAIM_MODULES", "").split(","))):
            importlib.import_module(name)
        validate_registry(REGISTRY)
        _LOADED = True
    return REGISTRY


def validate_registry(reg: dict[str, Claim]) -> None:
    """Every ``uses``/``corrects`` names a registered claim, and ``uses`` has no cycles."""
    for c in reg.values():
        for u in c.uses:
            if u not in reg:
                raise ValueError(f"uses: claim {c.id} uses unknown claim {u!r}")
        if c.corrects is not None and c.corrects not in reg:
            raise ValueError(f"corrects: claim {c.id} corrects unknown claim {c.corrects!r}")
    state: dict[str, int] = {}

    def visit(i: str, path: tuple[str, ...]) -> None:
        if state.get(i) == 2:
            return
        if state.get(i) == 1:
            raise ValueError(f"uses: dependency cycle {' -> '.join((*path, i))}")
        state[i] = 1
        for u in reg[i].uses:
            visit(u, (*path, i))
        state[i] = 2

    for i in reg:
        visit(i, ())


def ordered_ids(reg: dict[str, Claim]) -> list[str]:
    """Claim ids ordered by family, then registration order."""
    fam_order: dict[str, int] = {}
    for c in reg.values():
        fam_order.setdefault(c.family, len(fam_order))
    pos = {cid: k for k, cid in enumerate(reg)}
    return sorted(reg, key=lambda i: (FAMILY_ORDER.get(reg[i].family, 100 + fam_order[reg[i].family]), pos[i]))


#: Order of report pages.
FAMILY_ORDER = {
    name: k
    for k, name in enumerate(
        [
            "policy-gradient",
            "trust-region",
            "importance-sampling",
            "ppo-grpo",
            "kl-estimators",
            "value-targets",
            "mismatch",
            "engine",
        ]
    )
}


@dataclass(frozen=True)
class Plot:
    """A figure for a family's report page: ``make()`` returns a matplotlib Figure.

    Plots must be deterministic (computed exactly or from fixed seeds): the PNG is
    regenerated with every report.
    """

    family: str
    name: str
    caption: str
    make: Callable[[], Any]


PLOTS: dict[str, Plot] = {}


def plot(family: str, name: str, caption: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Register a plot for the report page of ``family``; ``name`` is the PNG file stem."""

    def deco(fn: Callable[[], Any]) -> Callable[[], Any]:
        if name in PLOTS and PLOTS[name].make is not fn:
            raise ValueError(f"name: plot {name!r} is already registered")
        PLOTS[name] = Plot(family, name, caption, fn)
        return fn

    return deco


def _jsonable(x: Any) -> Any:
    """Convert numpy scalars/arrays and tuples into plain JSON types."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.bool_ | bool):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating | float):
        v = float(x)
        if v != v or v in (float("inf"), float("-inf")):
            return str(v)
        return v
    if x is None or isinstance(x, str | int):
        return x
    return str(x)
