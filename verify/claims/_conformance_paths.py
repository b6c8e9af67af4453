"""Checks that run the conformance kit on the reference's own execution paths (issue 12, item 4).

A user's call of ``reference_impls.returns.gae`` runs the numba kernel when numba is installed and
the numpy scan otherwise; ``reference_impls.torch`` mirrors every sequence-level function in the
input's dtype. These checks run :func:`verify.conformance.check` -- the same hunted inputs, shrinking
and tolerance a user gets -- on each path, and are attached to the PATHS-* claim of each family
(beside that claim's exact and property checks against the papers' definitions):

* returns targets (PATHS-RETURNS): the numba path (``backend="numba"``, when numba is importable), the
  numpy path (``backend="numpy"``) and the torch mirror (float64 and float32) against the plain-loop
  ground truth of :mod:`reference_impls._returns_loop`; the loop ground truth against the public function;
* losses, divergences, mismatch and importance targets (PATHS-LOSSES, PATHS-DIVERGENCES, PATHS-MISMATCH,
  PATHS-IMPORTANCE): the torch mirror (float64 and float32) against the numpy reference.

Each check also runs a catalogued bug of one of its targets through the same ``check`` and requires it to
be caught; a control not caught (too few examples under a small profile) makes the check undecided,
never refuted.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from reference_impls import _returns_loop as L
from reference_impls import returns as R
from verify.conformance import adapters, check
from verify.harness import check as evidence_check
from verify.mutants import CATALOGUE
from verify.registry import CheckSkipped, Context, Evidence

RETURNS_TARGETS = ("discounted_returns", "gae", "lambda_returns", "vtrace", "retrace")
OTHER_TARGETS = ("divergences.kl_estimator", "losses.ppo_clip_objective", "losses.clip_fraction", "losses.aggregate",
                 "losses.grpo_advantages", "losses.rloo_advantages", "losses.gspo_sequence_ratio",
                 "losses.gspo_objective", "losses.kl_penalized_objective", "losses.sapo_objective",
                 "mismatch.token_is_weights", "mismatch.sequence_is_weights", "mismatch.sequence_mask_weights",
                 "mismatch.gspo_ratio", "importance.trajectory_is", "importance.per_decision_is",
                 "importance.ordinary_is", "importance.self_normalized_is", "importance.truncated_is",
                 "importance.effective_sample_size")


def _loop(name: str) -> Callable[..., Any]:
    if name == "lambda_returns":
        def lam_ret(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
                    lam: float) -> Any:
            adv = L.gae_loop(rewards, values, next_values, terminated, truncated, gamma, lam)
            return adv + np.asarray(values, dtype=np.float64)
        return lam_ret
    return getattr(L, f"{name}_loop")  # type: ignore[no-any-return]


def _backend_path(name: str, on: bool) -> Callable[..., Any]:
    fn = getattr(R, name)

    def path(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, backend="numba" if on else "numpy", **kwargs)

    return path


def _torch_path(target: str) -> Callable[..., Any] | None:
    try:
        mod, _, attr = target.rpartition(".")
        return adapters.torch_tensors(getattr(importlib.import_module(f"reference_impls.torch.{mod}"), attr), target)
    except ImportError:
        return None


def _run(ctx: Context, cases: list[tuple[str, str, Callable[..., Any], Callable[..., Any] | None]],
         control: tuple[str, Callable[..., Any]]) -> Evidence:
    n = ctx.profile.max_examples
    seed = ctx.sub_seed("paths")
    figures: dict[str, Any] = {"examples_per_path": n, "seed": seed}
    failures = []
    for label, target, fn, reference in cases:
        res = check(fn, target, examples=n, seed=seed, reference=reference)
        figures[label] = {"conforms": res.passed, "examples": res.examples, "max_abs_error": res.max_abs_error}
        if not res.passed:
            failures.append(f"{label}: {res}")
    target, bug = control
    ctl = check(bug, target, examples=n, seed=seed)
    figures["negative_control"] = {"target": target, "caught": not ctl.passed, "diagnosis": list(ctl.diagnosis)}
    if failures:  # a path differs: a counterexample, shrunk and re-checked by check itself
        return Evidence("property", False, "; ".join(failures), figures, counterexample=failures[0])
    if ctl.passed:  # too few examples to catch the planted bug: underpowered, so undecided, never refuted
        return Evidence("property", None, f"every path conforms on {n} examples, but the negative control "
                        f"({target}) was not caught with so few examples: the check is underpowered", figures)
    summary = (f"{len(cases)} paths conform on {n} hunted examples each; the planted bug in the negative control "
               f"is caught ({', '.join(ctl.diagnosis) or 'not named'})")
    return Evidence("property", True, summary, figures)


@evidence_check("property")
def returns_paths_conform(ctx: Context) -> Evidence:
    """numba, numpy and torch (float64, float32) paths against the loop ground truth; the loop against the public
    function; negative control: a termination bootstrapped (gae:bootstrap-through-terminated) must be caught."""
    cases: list[tuple[str, str, Callable[..., Any], Callable[..., Any] | None]] = []
    for name in RETURNS_TARGETS:
        target = f"returns.{name}"
        loop = _loop(name)
        if R._NB is not None:
            cases.append((f"{name}/numba", target, _backend_path(name, True), loop))
        cases.append((f"{name}/numpy", target, _backend_path(name, False), loop))
        torch_fn = _torch_path(target)
        if torch_fn is not None:
            cases.append((f"{name}/torch", target, torch_fn, loop))
        cases.append((f"{name}/loop", target, loop, None))
    return _run(ctx, cases, ("returns.gae", CATALOGUE["gae:bootstrap-through-terminated"].fn))


def torch_mirror_conforms(module: str) -> Callable[[Context], Evidence]:
    """A check: the torch mirror of every target of ``module`` (``losses``, ``divergences``, ``mismatch`` or
    ``importance``) against the numpy reference (float64 and float32); negative control: the first catalogued
    bug of one of those targets must be caught."""
    targets = [t for t in OTHER_TARGETS if t.startswith(module + ".")]
    dotted = {f"reference_impls.{t}": t for t in targets}
    control = next(m for m in CATALOGUE.values() if m.target in dotted)

    @evidence_check("property", name=f"torch_mirror_conforms_{module}")
    def run(ctx: Context) -> Evidence:
        cases: list[tuple[str, str, Callable[..., Any], Callable[..., Any] | None]] = []
        for target in targets:
            fn = _torch_path(target)
            if fn is not None:
                cases.append((f"{target}/torch", target, fn, None))
        if not cases:
            raise CheckSkipped("torch is not installed")
        return _run(ctx, cases, (dotted[control.target], control.fn))

    return run
