"""Building blocks for checks: the ``@check`` decorator, hypothesis-driven property
checks with targeted search, and three-valued symbolic comparison.
"""

from __future__ import annotations

import contextlib
import importlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import hypothesis
import sympy as sp
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from sympy.core import random as sympy_random

from verify.registry import EVIDENCE_KINDS, Context, Evidence

F = TypeVar("F", bound=Callable[..., Any])


def check(kind: str, name: str | None = None) -> Callable[[F], F]:
    """Mark a function as a check of the given evidence kind (used when it skips or raises)."""
    if kind not in EVIDENCE_KINDS:
        raise ValueError(f"kind: expected one of {EVIDENCE_KINDS}, got {kind!r}")

    def deco(fn: F) -> F:
        fn.check_kind = kind  # type: ignore[attr-defined]
        fn.check_name = name or fn.__name__  # type: ignore[attr-defined]
        return fn

    return deco


class Violation(AssertionError):
    """Raised inside a property body when the statement fails on this example."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


_hyp_providers: Any
try:  # hypothesis >= 6.131 mixes constants found in already-imported local modules into generation
    _hyp_providers = importlib.import_module("hypothesis.internal.conjecture.providers")
    _NO_CONSTANTS = _hyp_providers.Constants()
except (ImportError, AttributeError):  # pragma: no cover - older or restructured hypothesis
    _hyp_providers = None


@contextlib.contextmanager
def _process_independent_generation() -> Iterator[None]:
    """Make generation depend on the seed only, not on which modules this process imported.

    Hypothesis draws, with small probability, constants harvested from local modules in
    ``sys.modules``; which of those are loaded depends on the claims that ran earlier in the
    process, so a claim's evidence could differ between a sequential and a pooled run. The
    harvest is switched off (and its cache emptied) while a property check runs.
    """
    if _hyp_providers is None or not hasattr(_hyp_providers, "_get_local_constants"):
        yield
        return
    saved = _hyp_providers._get_local_constants
    _hyp_providers._get_local_constants = lambda: _NO_CONSTANTS
    _hyp_providers.CONSTANTS_CACHE.cache.clear()
    try:
        yield
    finally:
        _hyp_providers._get_local_constants = saved
        _hyp_providers.CONSTANTS_CACHE.cache.clear()


def property_evidence(
    ctx: Context,
    strategy: st.SearchStrategy[Any],
    body: Callable[[Any], float | None],
    *,
    summary: str,
    kind: str = "property",
    examples: Sequence[Any] = (),
    target_label: str = "ratio",
    max_examples: int | None = None,
    confirm: Callable[[Any], bool | None] | None = None,
) -> Evidence:
    """Run ``body`` on hypothesis examples drawn from ``strategy``.

    ``body(x)`` raises :class:`Violation` (or ``AssertionError``) when the statement fails
    on ``x``; it may return a float (e.g. ``gap / bound`` of an inequality) that
    ``hypothesis.target`` pushes upward, and whose maximum is reported as
    ``worst_ratio``. ``examples`` are explicit rows run first (``@example``).

    Deterministic: the search is seeded from ``ctx.sub_seed()`` with no database, and it does not
    depend on what else ran in the process (see :func:`_process_independent_generation`).

    ``confirm(x)``, when given, re-checks the (shrunk) counterexample independently -- exactly or at
    high precision: ``True`` confirms the refutation, ``False`` turns it into *undecided* (a float64
    artefact is not a counterexample), ``None`` keeps the refutation and records it as unconfirmed.
    """
    count = [0]
    worst: list[Any] = [-math.inf, None]
    failing: list[Any] = [None]

    def run_body(x: Any) -> None:
        count[0] += 1
        try:
            r = body(x)
        except AssertionError:
            failing[0] = x  # the last failing call is hypothesis' final replay of the shrunk example
            raise
        if r is not None:
            r = float(r)
            if math.isfinite(r):
                hypothesis.target(r, label=target_label)
                if r > worst[0]:
                    worst[0], worst[1] = r, x

    n = max_examples if max_examples is not None else ctx.profile.max_examples
    test = hypothesis.given(strategy)(run_body)
    for ex in reversed(list(examples)):
        test = hypothesis.example(ex)(test)
    test = hypothesis.settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=False,
        print_blob=False,
        report_multiple_bugs=False,  # one counterexample is a refutation; never an ExceptionGroup
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink),
    )(test)
    test = hypothesis.seed(ctx.sub_seed("hypothesis"))(test)
    figures: dict[str, Any] = {"seed": ctx.seed, "max_examples": n, "explicit_examples": len(examples)}
    try:
        with _process_independent_generation():
            test()
    except AssertionError as exc:  # Violation is an AssertionError
        details = getattr(exc, "details", {})
        msg = getattr(exc, "message", str(exc))
        figures["examples_run"] = count[0]
        if confirm is not None and failing[0] is not None:
            confirmed = confirm(failing[0])
            figures["counterexample_confirmed"] = confirmed
            if confirmed is False:
                return Evidence(kind, None, f"{summary}: a float64 counterexample ({msg}) was NOT confirmed by the "
                                "independent re-check: undecided", figures, counterexample=details or msg)
        return Evidence(kind, False, f"{summary}: counterexample found: {msg}", figures, counterexample=details or msg)
    figures["examples_run"] = count[0]
    if worst[1] is not None:
        figures[f"worst_{target_label}"] = worst[0]
    return Evidence(kind, True, summary, figures)


def symbolic_zero(expr: sp.Expr, *, simplifier: Callable[[sp.Expr], sp.Expr] = sp.simplify) -> bool | None:
    """Three-valued test that ``expr`` is identically zero.

    ``True`` if the simplified expression is structurally 0 or ``expr.equals(0)`` is
    True; ``False`` if ``equals`` proves it non-zero; ``None`` if sympy cannot decide.
    Deterministic: sympy's random test points are seeded before every call.
    """
    e = simplifier(sp.sympify(expr))
    if e == 0:
        return True
    # ``equals`` tests at random numerical points; seed sympy's generator so that the verdict
    # (and the report) does not depend on what ran earlier in the process.
    sympy_random.seed(0)
    res = e.equals(0)
    if res is None:
        return None
    return bool(res)


def symbolic_evidence(expr: sp.Expr, summary: str, **figures: Any) -> Evidence:
    """Evidence that ``expr`` vanishes identically (``None`` from sympy is *undecided*)."""
    verdict = symbolic_zero(expr)
    if verdict is None:
        return Evidence("symbolic", None, f"{summary}: sympy could not decide", figures)
    if verdict:
        return Evidence("symbolic", True, summary, figures)
    return Evidence("symbolic", False, f"{summary}: expression is not identically zero", figures,
                    counterexample=str(sp.simplify(expr))[:500])
