"""Derivations: proofs checked line by line, next to :class:`~verify.registry.Claim`.

A :class:`Derivation` is an ordered chain of :class:`Step` s. Each step states a line (LaTeX), its
relation to what came before (``=``, ``≤``, ``<``, ``≈`` up to an O(·) term, ``⇒``; the first line
has relation ``""``), the :class:`Justification` that licenses it (a registered claim id such as
``PDL``; an algebraic identity; a named inequality: triangle, Jensen, Cauchy–Schwarz, data
processing, ...), and its checks.

Checks come in two forms:

* a :class:`StepCheck` computes a :class:`Comparison` (the two sides of the line on symbolic
  or numerical instances) *without* knowing the relation; :func:`judge` then applies the
  step's relation and its constant ``factor``. A planted fault (:func:`mutate_step`: a dropped
  factor, a reversed inequality) therefore changes the verdict of the very same numbers;
* a plain claim check (``check(ctx) -> Evidence``, e.g. ``pdl_symbolic``) cited as it stands.

Statuses are derived, never written (conventions of :func:`verify.registry.derive_status`):

* a step is ``verified`` when its justification is applicable (the claim is registered and
  yields the step's relation) and every decided check passed; ``refuted`` when a check found a
  counterexample or the justification cannot yield the relation; ``undecided`` when the
  justification is missing or unknown, or the step has no check, or no check decided;
* the chain is ``verified`` when every step is and the passing evidence spans
  ``min_kinds`` kinds; ``refuted`` at the **first failing step** otherwise (its counterexample
  is in that step's evidence); ``error`` if a check raised; ``undecided`` otherwise — a
  missing or unchecked justification never lets a chain pass.

Seed derivations (``kind="seed"``) quote each line verbatim (``Step.quote``) and are read by the
reading rule: each line in the seed's own notation as its author most plausibly meant it; a
strict ``<`` that fails only at equality is a note, not a failure.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import mpmath as mp
import sympy as sp

from verify.engine import check_name, run_check
from verify.harness import symbolic_zero
from verify.registry import (
    EVIDENCE_KINDS,
    PROFILES,
    STATUSES,
    Check,
    Claim,
    Context,
    Evidence,
    Source,
    _jsonable,
    derive_status,
    load_all,
)

#: Relations a line may have to the previous one ("" for the first line of a chain).
RELATIONS = ("", "=", "≤", "<", "≈", "⇒", "≥", ">")
#: Kinds of justification.
JUSTIFICATION_KINDS = ("claim", "identity", "inequality", "definition", "premise")
DERIVATION_KINDS = ("proof", "seed")
MUTATIONS = ("drop-factor", "reverse-inequality", "wrong-justification")

#: What each named justification can license (the relations it yields). Claims not listed
#: here cannot justify a step (their form is not catalogued): such a step is ``undecided``.
NAMED_JUSTIFICATIONS: dict[str, frozenset[str]] = {
    "algebra": frozenset({"=", "⇒"}),
    "calculus": frozenset({"=", "⇒"}),
    "definition": frozenset({"", "="}),
    "premise": frozenset({""}),
    "KKT conditions": frozenset({"⇒", "="}),
    "triangle": frozenset({"≤"}),
    "Jensen": frozenset({"≤"}),
    "Cauchy–Schwarz": frozenset({"≤"}),
    "data processing": frozenset({"≤"}),
    "coupling": frozenset({"≤", "="}),
    "Bernoulli": frozenset({"≤"}),
    "monotonicity": frozenset({"≤", "<"}),
}
CLAIM_RELATIONS: dict[str, frozenset[str]] = {
    "PDL": frozenset({"="}),
    "SURR-GRAD-EQ": frozenset({"", "="}),
    "SURR-APPROX-ERROR": frozenset({"="}),
    "PG-THEOREM": frozenset({"="}),
    "PINSKER": frozenset({"≤"}),
    "STATE-DRIFT-BOUND": frozenset({"≤"}),
    "TRPO-BOUND": frozenset({"≤", "≈"}),
    "KL-FISHER-2ND-ORDER": frozenset({"≈"}),
    "KKT-NATGRAD-STEP": frozenset({"=", "⇒"}),
    "IS-UNBIASED": frozenset({"="}),
    "MISMATCH-SEQ-IS-FIXES": frozenset({"="}),
    "MISMATCH-MULTITURN-TRAJ-IS": frozenset({"="}),
    "MISMATCH-TOKEN-IS-FAILS": frozenset({">"}),
}


@dataclass(frozen=True)
class Justification:
    """Why a line follows: ``kind`` in :data:`JUSTIFICATION_KINDS`, ``ref`` a claim id (kind
    ``claim``) or a name from :data:`NAMED_JUSTIFICATIONS`, ``detail`` a short gloss."""

    kind: str
    ref: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.kind not in JUSTIFICATION_KINDS:
            raise ValueError(f"kind: expected one of {JUSTIFICATION_KINDS}, got {self.kind!r}")
        if self.kind != "claim" and self.ref not in NAMED_JUSTIFICATIONS:
            raise ValueError(f"ref: expected a claim id or one of {sorted(NAMED_JUSTIFICATIONS)}, got {self.ref!r}")

    def label(self) -> str:
        base = f"claim `{self.ref}`" if self.kind == "claim" else self.ref
        return f"{base} ({self.detail})" if self.detail else base

    def allowed(self) -> frozenset[str] | None:
        """Relations this justification yields (None: not catalogued)."""
        if self.kind == "claim":
            return CLAIM_RELATIONS.get(self.ref)
        return NAMED_JUSTIFICATIONS[self.ref]


def by_claim(claim_id: str, detail: str = "") -> Justification:
    return Justification("claim", claim_id, detail)


def by_identity(name: str = "algebra", detail: str = "") -> Justification:
    return Justification("identity", name, detail)


def by_inequality(name: str, detail: str = "") -> Justification:
    return Justification("inequality", name, detail)


def by_definition(detail: str = "") -> Justification:
    return Justification("definition", "definition", detail)


def by_premise(detail: str = "") -> Justification:
    return Justification("premise", "premise", detail)


@dataclass
class Comparison:
    """The two sides of a line on some instances, independent of the relation asserted.

    ``lhs``/``rhs``: sympy expressions (symbolic) or equal-length sequences of numbers (float or
    mpmath). ``tol``: absolute slack allowed per instance (numeric), in units of ``scale``
    (a number or one per instance). ``order``: for ``≈``, the size of the O(·) term per instance,
    ordered from large to small. ``relation``: set only when this comparison checks a fixed side
    fact of the step (e.g. a premise or a derivative identity) rather than the line itself; then
    mutations do not apply to it. ``instances``: descriptions (for counterexamples).
    """

    kind: str
    lhs: Any
    rhs: Any
    summary: str
    tol: float = 1e-10
    scale: Any = 1.0
    order: Sequence[Any] | None = None
    relation: str | None = None
    instances: Sequence[Any] | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    symbols_positive: Sequence[Any] = ()
    sample_points: Sequence[dict[Any, Any]] = ()

    def __post_init__(self) -> None:
        if self.kind not in EVIDENCE_KINDS:
            raise ValueError(f"kind: expected one of {EVIDENCE_KINDS}, got {self.kind!r}")
        if self.relation is not None and self.relation not in RELATIONS:
            raise ValueError(f"relation: expected one of {RELATIONS}, got {self.relation!r}")


@dataclass(frozen=True)
class StepCheck:
    """A check of one line: ``compute(ctx)`` returns a :class:`Comparison` (or a list)."""

    name: str
    compute: Callable[[Context], Comparison | Sequence[Comparison]]


def step_check(name: str | None = None) -> Callable[[Callable[[Context], Any]], StepCheck]:
    """Decorator: turn ``fn(ctx) -> Comparison | [Comparison]`` into a :class:`StepCheck`."""

    def deco(fn: Callable[[Context], Any]) -> StepCheck:
        return StepCheck(name or fn.__name__, fn)

    return deco


@dataclass(frozen=True)
class Step:
    """One line of a derivation."""

    statement: str
    relation: str
    justification: Justification | None
    checks: tuple[StepCheck | Check, ...] = ()
    quote: str | None = None
    note: str = ""
    factor: float = 1.0
    mutation: str | None = None

    def __post_init__(self) -> None:
        if self.relation not in RELATIONS:
            raise ValueError(f"relation: expected one of {RELATIONS}, got {self.relation!r}")
        if not (math.isfinite(self.factor) and self.factor > 0):
            raise ValueError(f"factor: expected a positive finite number, got {self.factor!r}")
        object.__setattr__(self, "checks", tuple(self.checks))


@dataclass(frozen=True)
class Derivation:
    """A chain of steps proving (``kind="proof"``) or transcribing (``kind="seed"``) a result.

    ``proves``: claim ids the chain establishes (the report links it from them). ``repaired_by``:
    for a seed chain, the id of the verified chain that repairs it. ``expected``: the status the
    suite expects; ``expected_first_failing``: the step index expected to fail first (None if
    none). Both are compared with the derived values by the tests, never used to derive them.
    """

    id: str
    title: str
    source: Source
    steps: tuple[Step, ...]
    expected: str
    kind: str = "proof"
    proves: tuple[str, ...] = ()
    repaired_by: str | None = None
    expected_first_failing: int | None = None
    min_kinds: int = 2
    notes: str = ""
    reading: str = ""

    def __post_init__(self) -> None:
        if not self.id.startswith("DERIV-"):
            raise ValueError(f"id: expected an id starting with 'DERIV-', got {self.id!r}")
        if self.expected not in STATUSES:
            raise ValueError(f"expected: expected one of {STATUSES}, got {self.expected!r}")
        if self.kind not in DERIVATION_KINDS:
            raise ValueError(f"kind: expected one of {DERIVATION_KINDS}, got {self.kind!r}")
        if not self.steps:
            raise ValueError(f"steps: derivation {self.id} needs at least one step")
        if self.kind == "seed" and not self.source.seed_file:
            raise ValueError(f"source: seed derivation {self.id} must name the seed file")
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "proves", tuple(self.proves))


# --------------------------------------------------------------------------- registry

DERIVATIONS: dict[str, Derivation] = {}


def register(d: Derivation) -> Derivation:
    if d.id in DERIVATIONS and DERIVATIONS[d.id] is not d:
        raise ValueError(f"id: derivation {d.id!r} is already registered")
    DERIVATIONS[d.id] = d
    return d


def derivation(**kwargs: Any) -> Derivation:
    """Build and register a :class:`Derivation`."""
    return register(Derivation(**kwargs))


_LOADED = False


def load_derivations() -> dict[str, Derivation]:
    """Import :mod:`verify.derivations` (registering every chain) and validate references."""
    global _LOADED
    if not _LOADED:
        import importlib
        import pkgutil

        import verify.derivations as pkg

        for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            if not mod.name.startswith("_"):
                importlib.import_module(f"verify.derivations.{mod.name}")
        validate_derivations(DERIVATIONS)
        _LOADED = True
    return DERIVATIONS


def validate_derivations(reg: dict[str, Derivation]) -> None:
    """``proves`` and claim justifications name registered claims; ``repaired_by`` a registered chain."""
    claims = load_all()
    for d in reg.values():
        for c in d.proves:
            if c not in claims:
                raise ValueError(f"proves: derivation {d.id} names unknown claim {c!r}")
        if d.repaired_by is not None and d.repaired_by not in reg:
            raise ValueError(f"repaired_by: derivation {d.id} names unknown derivation {d.repaired_by!r}")
        for i, s in enumerate(d.steps):
            j = s.justification
            if j is not None and j.kind == "claim" and j.ref not in claims:
                raise ValueError(f"justification: step {i} of {d.id} cites unknown claim {j.ref!r}")


def ordered_derivation_ids(reg: dict[str, Derivation]) -> list[str]:
    """Proof chains first, then seed chains; registration order within each."""
    return sorted(reg, key=lambda i: (reg[i].kind != "proof", list(reg).index(i)))


# --------------------------------------------------------------------------- judging

_NEGATE = {"≤": "≥", "<": ">", "≥": "≤", ">": "<"}


def _num(x: Any) -> Any:
    return x if isinstance(x, mp.mpf) else float(x)


def _holds(rel: str, lhs: Any, rhs: Any, tol: Any) -> tuple[bool, bool]:
    """(holds within tol, holds only by equality for a strict relation)."""
    d = rhs - lhs
    if rel in ("=", "", "⇒"):
        return bool(abs(d) <= tol), False
    if rel == "≤":
        return bool(d >= -tol), False
    if rel == "≥":
        return bool(d <= tol), False
    if rel == "<":
        return bool(d > 0) or bool(abs(d) <= tol), not bool(d > 0)
    if rel == ">":
        return bool(d < 0) or bool(abs(d) <= tol), not bool(d < 0)
    raise ValueError(f"relation: {rel!r} cannot be judged on numbers")


def judge(c: Comparison, relation: str, factor: float = 1.0) -> Evidence:
    """Evidence that ``lhs REL factor*rhs`` holds on the comparison's instances."""
    rel = c.relation if c.relation is not None else relation
    f = 1.0 if c.relation is not None else factor
    figs: dict[str, Any] = dict(c.figures)
    if f != 1.0:
        figs["factor"] = f
    if isinstance(c.lhs, sp.Basic) or isinstance(c.rhs, sp.Basic):
        return _judge_symbolic(c, rel, f, figs)
    with mp.workdps(80):  # mpmath sides keep their digits: compare them above their own precision
        return _judge_numeric(c, rel, f, figs)


def _judge_numeric(c: Comparison, rel: str, f: float, figs: dict[str, Any]) -> Evidence:
    lhs = [_num(v) for v in c.lhs]
    rhs = [_num(v) * f for v in c.rhs]
    if len(lhs) != len(rhs) or not lhs:
        raise ValueError(f"comparison: expected equal non-empty lhs/rhs, got {len(lhs)} and {len(rhs)}")
    scale = list(c.scale) if isinstance(c.scale, list | tuple) else [c.scale] * len(lhs)
    if rel == "≈":
        return _judge_order(c, lhs, rhs, figs)
    bad, equal_only = [], 0
    worst_slack: Any = None
    worst_ratio = -math.inf
    for k, (a, b) in enumerate(zip(lhs, rhs)):
        ok, eq = _holds(rel, a, b, c.tol * float(scale[k]))
        if rel in ("≤", "<", "≥", ">"):
            slack = (b - a) if rel in ("≤", "<") else (a - b)
            if worst_slack is None or slack < worst_slack:
                worst_slack = slack
            if rel in ("≤", "<") and b != 0:
                worst_ratio = max(worst_ratio, float(a / b))
        else:
            err = abs(b - a) / float(scale[k])
            worst_slack = err if worst_slack is None else max(worst_slack, err)
        if not ok:
            bad.append(k)
        elif eq:
            equal_only += 1
    if rel in ("≤", "<", "≥", ">"):
        figs["worst_slack"] = float(worst_slack)
        if math.isfinite(worst_ratio):
            figs["worst_ratio"] = worst_ratio
    else:
        figs["max_residual"] = float(worst_slack)
    figs["instances"] = len(lhs)
    summary = c.summary
    if equal_only and not bad:
        figs["equality_cases"] = equal_only
        summary += f"; strict '{rel}' holds only with equality on {equal_only} instance(s) (reading rule: a note)"
    if bad:
        k = bad[0]
        ce = {"lhs": float(lhs[k]), "rhs": float(rhs[k]), "relation": rel}
        if c.instances is not None:
            ce["instance"] = c.instances[k]
        return Evidence(c.kind, False, f"{summary}: fails on {len(bad)} of {len(lhs)} instance(s)", figs,
                        counterexample=ce)
    return Evidence(c.kind, True, summary, figs)


def _judge_order(c: Comparison, lhs: list[Any], rhs: list[Any], figs: dict[str, Any]) -> Evidence:
    """``≈ up to O(order)``: |lhs - rhs| / order must stay bounded as order -> 0 (instances ordered
    from large to small order): the ratio at the smallest order may not exceed 10x the largest
    ratio seen at the larger orders."""
    if c.order is None or len(c.order) != len(lhs) or len(lhs) < 3:
        raise ValueError("order: '≈' needs at least 3 instances with an O(.) size each")
    ratios = [float(abs(b - a) / o) for a, b, o in zip(lhs, rhs, c.order)]
    head = max(ratios[: len(ratios) // 2]) if len(ratios) > 1 else ratios[0]
    tail = ratios[-1]
    figs.update({"remainder_over_order": ratios, "instances": len(lhs)})
    if not (tail <= 10 * head + 1e-30) or not all(math.isfinite(r) for r in ratios):
        return Evidence(c.kind, False, f"{c.summary}: the remainder is not O(.) (ratio grows from {head:.3g} to "
                        f"{tail:.3g})", figs, counterexample={"ratios": ratios,
                                                               "order": [float(o) for o in c.order]})
    return Evidence(c.kind, True, c.summary, figs)


def _rational_simplify(e: sp.Expr) -> sp.Expr:
    """Cancel to one rational function (fast and canonical for rational expressions); fall back to
    ``simplify`` only when that leaves something that is not structurally zero."""
    r = sp.cancel(sp.together(e))
    return r if r == 0 else sp.simplify(r)


def _judge_symbolic(c: Comparison, rel: str, f: float, figs: dict[str, Any]) -> Evidence:
    fac = sp.Rational(f).limit_denominator(10**6) if f != 1.0 else sp.Integer(1)
    diff = sp.sympify(c.rhs) * fac - sp.sympify(c.lhs)
    if rel in ("=", "", "⇒"):
        v = symbolic_zero(diff, simplifier=_rational_simplify)
        if v is None:
            return Evidence("symbolic", None, f"{c.summary}: sympy could not decide", figs)
        if v:
            return Evidence("symbolic", True, c.summary, figs)
        return Evidence("symbolic", False, f"{c.summary}: the two sides differ", figs,
                        counterexample=str(sp.simplify(diff))[:300])
    sign = 1 if rel in ("≤", "<") else -1
    expr = sp.simplify(sign * diff)
    # a numerical witness at exact rational points refutes; sympy's sign assumptions prove
    for pt in c.sample_points:
        val = expr.subs(pt)
        if val.is_number and val < 0:
            return Evidence("symbolic", False, f"{c.summary}: negative at an exact point", figs,
                            counterexample={"point": {str(k): str(v) for k, v in pt.items()}, "value": str(val)})
    nonneg = expr.is_nonnegative
    if nonneg is None:
        return Evidence("symbolic", None, f"{c.summary}: sympy could not decide the sign", figs)
    if nonneg:
        return Evidence("symbolic", True, c.summary, figs)
    return Evidence("symbolic", False, f"{c.summary}: sympy proves the sign is wrong", figs,
                    counterexample=str(expr)[:300])


# --------------------------------------------------------------------------- running


@dataclass
class StepResult:
    index: int
    status: str
    evidence: list[Evidence]
    justification_ok: bool | None
    justification_note: str


@dataclass
class DerivationResult:
    id: str
    title: str
    kind: str
    status: str
    expected: str
    first_failing_step: int | None
    steps: list[StepResult]
    kinds: list[str]
    expected_first_failing: int | None = None

    @property
    def matches(self) -> bool:
        return self.status == self.expected and self.first_failing_step == self.expected_first_failing


#: Comparisons computed per (derivation, step, check, profile, seed): they do not depend on the
#: relation or the factor, so mutants of a chain reuse them.
_CACHE: dict[tuple[Any, ...], list[Comparison]] = {}
_CITED: dict[tuple[Any, ...], list[Evidence]] = {}


def _pseudo_claim(did: str, index: int) -> Claim:
    """The engine's run_check only reads ``.id``: a step is run as claim ``<DERIV-ID>/<index>``."""

    @dataclass
    class _Ref:
        id: str

    return cast(Claim, _Ref(f"{did}/{index}"))


def _wrap(did: str, index: int, sc: StepCheck, relation: str, factor: float, profile: str, seed: int) -> Check:
    def run(ctx: Context) -> list[Evidence]:
        key = (did, index, sc.name, profile, seed)
        if key not in _CACHE:
            out = sc.compute(ctx)
            _CACHE[key] = [out] if isinstance(out, Comparison) else list(out)
        return [judge(c, relation, factor) for c in _CACHE[key]]

    kinds = {c.kind for c in _CACHE.get((did, index, sc.name, profile, seed), [])}
    run.check_name = sc.name  # type: ignore[attr-defined]
    run.check_kind = next(iter(kinds)) if len(kinds) == 1 else "exact"  # type: ignore[attr-defined]
    return run


def justification_verdict(step: Step) -> tuple[bool | None, str]:
    """(True: applicable; False: cannot yield the relation; None: missing or not catalogued)."""
    j = step.justification
    if j is None:
        return None, "justification missing"
    allowed = j.allowed()
    if allowed is None:
        return None, f"{j.label()}: the form of this claim is not catalogued"
    if j.kind == "claim" and j.ref not in load_all():
        return None, f"{j.label()}: unknown claim"
    weak = {"<": "≤", ">": "≥"}.get(step.relation)
    if step.relation not in allowed and weak in allowed:
        return True, f"strict '{step.relation}' read as '{weak}' (reading rule: equality cases are a note)"
    if step.relation not in allowed:
        rels = ", ".join(f"'{r}'" for r in sorted(allowed) if r) or "a first line"
        return False, f"{j.label()} yields {rels}, not '{step.relation}'"
    return True, ""


def run_step(d: Derivation, index: int, *, profile: str = "ci", seed: int = 0, device: str = "cpu") -> StepResult:
    step = d.steps[index]
    ok, note = justification_verdict(step)
    evidence: list[Evidence] = []
    pseudo = _pseudo_claim(d.id, index)
    for chk in step.checks:
        if isinstance(chk, StepCheck):
            wrapped = _wrap(d.id, index, chk, step.relation, step.factor, profile, seed)
            evidence.extend(run_check(pseudo, wrapped, profile=profile, seed=seed, device=device))
        else:  # a cited claim check: its evidence does not depend on a mutation either
            key = (d.id, index, check_name(chk), profile, seed, device)
            if key not in _CITED:
                _CITED[key] = run_check(pseudo, chk, profile=profile, seed=seed, device=device)
            evidence.extend(dataclasses.replace(e) for e in _CITED[key])
    if not step.checks:
        status = "undecided"
        note = (note + "; " if note else "") + "no check: the step is unchecked"
    else:
        status = derive_status(evidence, 1)
    if ok is False and status not in ("error",):
        status = "refuted"
    elif ok is None and status == "verified":
        status = "undecided"
    return StepResult(index, status, evidence, ok, note)


def chain_status(steps: Sequence[StepResult], min_kinds: int) -> tuple[str, int | None, list[str]]:
    """(status, first failing step index, passing evidence kinds) of a chain."""
    kinds = sorted({e.kind for s in steps for e in s.evidence if e.passed is True and not e.skipped},
                   key=EVIDENCE_KINDS.index)
    for s in steps:
        if s.status in ("refuted", "error"):
            return s.status, s.index, kinds
    if all(s.status == "verified" for s in steps):
        return ("verified" if len(kinds) >= min_kinds else "undecided"), None, kinds
    if all(s.status == "skipped" for s in steps):
        return "skipped", None, kinds
    return "undecided", None, kinds


def run_derivation(d: Derivation | str, *, profile: str = "ci", seed: int = 0, device: str = "cpu") -> DerivationResult:
    """Run every step of a chain (all of them, also after a failing one) and derive its status."""
    if isinstance(d, str):
        reg = load_derivations()
        if d not in reg:
            raise ValueError(f"id: unknown derivation {d!r}; known: {', '.join(sorted(reg))}")
        d = reg[d]
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {sorted(PROFILES)}, got {profile!r}")
    steps = [run_step(d, i, profile=profile, seed=seed, device=device) for i in range(len(d.steps))]
    status, first, kinds = chain_status(steps, d.min_kinds)
    return DerivationResult(d.id, d.title, d.kind, status, d.expected, first, steps, kinds, d.expected_first_failing)


def run_derivations(ids: Iterable[str] | None = None, *, profile: str = "ci", seed: int = 0,
                    device: str = "cpu") -> list[DerivationResult]:
    reg = load_derivations()
    order = ordered_derivation_ids(reg)
    if ids is not None:
        wanted = list(dict.fromkeys(ids))
        unknown = [i for i in wanted if i not in reg]
        if unknown:
            raise ValueError(f"ids: unknown derivation id(s) {', '.join(unknown)}")
        order = [i for i in order if i in set(wanted)]
    return [run_derivation(reg[i], profile=profile, seed=seed, device=device) for i in order]


# --------------------------------------------------------------------------- mutations

#: For a wrong-justification mutant: a catalogued justification that cannot yield the relation.
_WRONG = {"=": by_inequality("Jensen"), "⇒": by_inequality("Jensen"), "": by_inequality("triangle"),
          "≤": by_claim("PDL"), "<": by_claim("PDL"), "≥": by_claim("PDL"), ">": by_claim("PDL"),
          "≈": by_claim("PINSKER")}


def mutate_step(d: Derivation, index: int, kind: str, *, factor: float = 0.5) -> Derivation:
    """A copy of ``d`` with one step-level fault planted at ``index``:

    * ``drop-factor``: the line's right side is multiplied by ``factor`` (a dropped 2, a lost ½);
    * ``reverse-inequality``: ``≤``/``<`` become ``≥``/``>`` (and back);
    * ``wrong-justification``: the justification is replaced by one that cannot yield the relation.

    The copy keeps the id (so comparisons are reused) and records the mutation on the step.
    """
    if kind not in MUTATIONS:
        raise ValueError(f"kind: expected one of {MUTATIONS}, got {kind!r}")
    if not 0 <= index < len(d.steps):
        raise ValueError(f"index: expected 0 <= index < {len(d.steps)}, got {index}")
    s = d.steps[index]
    if kind == "drop-factor":
        if not (math.isfinite(factor) and factor > 0 and factor != 1):
            raise ValueError(f"factor: expected a positive number other than 1, got {factor!r}")
        new = dataclasses.replace(s, factor=s.factor * factor, mutation=f"drop-factor x{factor:g}")
    elif kind == "reverse-inequality":
        if s.relation not in _NEGATE:
            raise ValueError(f"index: step {index} of {d.id} has relation {s.relation!r}, not an inequality")
        new = dataclasses.replace(s, relation=_NEGATE[s.relation], mutation="reverse-inequality")
    else:
        new = dataclasses.replace(s, justification=_WRONG[s.relation], mutation="wrong-justification")
    steps = list(d.steps)
    steps[index] = new
    return dataclasses.replace(d, steps=tuple(steps))


# --------------------------------------------------------------------------- JSON


def step_entry(d: Derivation, r: StepResult) -> dict[str, Any]:
    s = d.steps[r.index]
    out: dict[str, Any] = {
        "index": r.index,
        "statement": s.statement,
        "relation": s.relation,
        "justification": None if s.justification is None else {
            "kind": s.justification.kind, "ref": s.justification.ref, "detail": s.justification.detail},
        "justification_applicable": r.justification_ok,
        "status": r.status,
        "methods": [e.to_json() for e in r.evidence],
    }
    if r.justification_note:
        out["justification_note"] = r.justification_note
    if s.quote is not None:
        out["quote"] = s.quote
    if s.note:
        out["note"] = s.note
    if s.mutation:
        out["mutation"] = s.mutation
    return cast(dict[str, Any], _jsonable(out))


def derivation_entry(d: Derivation, r: DerivationResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": d.id,
        "title": d.title,
        "kind": d.kind,
        "source": d.source.to_json(),
        "status": r.status,
        "expected": d.expected,
        "first_failing_step": r.first_failing_step,
        "expected_first_failing_step": d.expected_first_failing,
        "matches_expected": r.matches,
        "evidence_kinds": r.kinds,
        "proves": list(d.proves),
        "uses": sorted({s.justification.ref for s in d.steps
                        if s.justification is not None and s.justification.kind == "claim"}),
        "steps": [step_entry(d, s) for s in r.steps],
    }
    if d.repaired_by:
        out["repaired_by"] = d.repaired_by
    if d.reading:
        out["reading"] = d.reading
    if d.notes:
        out["notes"] = d.notes
    return out


__all__ = [
    "DERIVATIONS",
    "Comparison",
    "Derivation",
    "DerivationResult",
    "Justification",
    "Step",
    "StepCheck",
    "StepResult",
    "by_claim",
    "by_definition",
    "by_identity",
    "by_inequality",
    "by_premise",
    "derivation",
    "judge",
    "load_derivations",
    "mutate_step",
    "run_derivation",
    "run_derivations",
    "step_check",
]
